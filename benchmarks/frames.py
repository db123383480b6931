"""Encrypted history records to the two history frames: synctools vs the naive loop.

    .venv/bin/python benchmarks/frames.py                 # 100,000 then 1,000,000 records
    .venv/bin/python benchmarks/frames.py --n 100000      # just one size
    .venv/bin/python benchmarks/frames.py --no-naive      # skip the (slow, hungry) naive loop

End to end means BSO payload JSON strings in, typed pages + visits frames out. The naive
loop decrypts one record at a time (KeyBundle.decrypt: json.loads of the payload, HMAC,
AES, json.loads of the cleartext) and builds both frames with pd.DataFrame(list_of_dicts).

Memory: Python's tracemalloc peak during the conversion (numpy and Arrow report their
buffers to it), measured in a separate run because tracing slows everything down, and
the process' peak RSS growth (Linux: /proc/self/clear_refs resets the high-water mark).
Both are compared to the payload bytes (the sum of the payload strings' lengths).
Goals (issue 6): >= 100,000 records/s, >= 4x the naive loop, peak <= 3x payload bytes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
import tracemalloc
from typing import Any

import pandas as pd

from synctools.frames import frames_from_bsos
from synctools.protocol.crypto import KeyBundle

DAY_US = 86_400 * 1_000_000
EPOCH_US = 1_764_000_000 * 1_000_000  # late 2025: one year of browsing before it
# Weights of transition types 1..9 (link, typed, bookmark, embed, redirects, download, framed, reload).
TYPE_WEIGHTS = (60, 14, 4, 1, 3, 6, 1, 2, 9)
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def make_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """History records shaped as Firefox writes them: up to 20 visits each, skewed."""
    rng = random.Random(seed)
    sites = [f"www.site{k}.example" for k in range(2000)]
    out = []
    for i in range(n):
        rid = "".join(rng.choices(ALPHABET, k=12))
        site = sites[min(int(rng.paretovariate(1.2)) - 1, len(sites) - 1)]
        nvisits = min(20, 1 + int(rng.expovariate(1 / 3)))
        last = EPOCH_US - rng.randrange(365 * DAY_US)
        visits = []
        for _ in range(nvisits):
            visits.append({"date": last, "type": rng.choices(range(1, 10), TYPE_WEIGHTS)[0]})
            last -= rng.randrange(DAY_US * 7)
        out.append(
            {
                "id": rid,
                "histUri": f"https://{site}/articles/{i}/{rid.lower()}",
                "title": f"Article {i} on {site}",
                "visits": visits,
            }
        )
    return out


def make_bsos(records: list[dict[str, Any]], bundle: KeyBundle) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "modified": 1_795_695_132.67 + (i % 1000) / 100,
            "sortindex": len(r["visits"]),
            "payload": json.dumps(bundle.encrypt(r), separators=(",", ":")),
        }
        for i, r in enumerate(records)
    ]


def naive(bsos: list[dict[str, Any]], bundle: KeyBundle) -> tuple[pd.DataFrame, pd.DataFrame]:
    pages, visits = [], []
    for b in bsos:
        rec = bundle.decrypt(json.loads(b["payload"]), b["id"])
        pages.append(rec)
        for v in rec.get("visits", ()):
            visits.append({"id": rec["id"], **v})
    return pd.DataFrame(pages), pd.DataFrame(visits)


def ours(
    bsos: list[dict[str, Any]], bundle: KeyBundle, workers: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = frames_from_bsos("history", bsos, bundle, progress=False, workers=workers)
    return frames.main, frames.visits


def _status(key: str, pid: int | str = "self") -> int | None:
    """A /proc/<pid>/status field in bytes (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _descendants() -> list[int]:
    """Our child processes and theirs (the forkserver and the pool's workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            ppid = _status("PPid", entry)
            if ppid is not None:
                parents.setdefault(ppid // 1024, []).append(int(entry))
    out, todo = [], [os.getpid()]
    while todo:
        kids = parents.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def _reset_peaks(pids: list[int | str]) -> dict[int | str, int]:
    """Reset each process' peak RSS; return its current RSS."""
    base = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            continue
        rss = _status("VmRSS", pid)
        if rss is not None:
            base[pid] = rss
    return base


def _peak_growth(base: dict[int | str, int]) -> int | None:
    grown = [(_status("VmHWM", pid) or rss) - rss for pid, rss in base.items()]
    return sum(grown) if grown else None


def timed(fn: Any, *args: Any) -> tuple[float, Any, int | None, int | None]:
    """(seconds, result, peak RSS growth here, peak RSS growth of our child processes)."""
    gc.collect()
    here = _reset_peaks(["self"])
    kids = _reset_peaks(list(_descendants()))
    t0 = time.perf_counter()
    out = fn(*args)
    dt = time.perf_counter() - t0
    return dt, out, _peak_growth(here), _peak_growth(kids)


def traced_peak(fn: Any, *args: Any) -> int:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    out = fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak - base


def _mib(b: int | None, payload: int) -> str:
    return "n/a" if b is None else f"{b / 2**20:7.1f} MiB = {b / payload:.2f}x payload"


def run(n: int, with_naive: bool, repeat: int) -> None:
    bundle = KeyBundle.random()
    t0 = time.perf_counter()
    bsos = make_bsos(make_records(n), bundle)
    pb = sum(len(b["payload"]) for b in bsos)
    print(
        f"\n== {n:,} history records, {pb / 2**20:,.1f} MiB of payloads"
        f" (made in {time.perf_counter() - t0:.1f}s), {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.2f} (other jobs slow every figure)"
    )
    # The worker pool starts once per session (the workers import pandas and pyarrow):
    # time that apart, then steady-state runs.
    warm = min(n, 50_000)
    t0 = time.perf_counter()
    ours(bsos[:warm], bundle, 2)
    print(f"{'pool start-up':23}: {time.perf_counter() - t0:6.3f} s (first call, {warm:,} records, 2 processes)")
    rows = []
    for label, workers in (("synctools, 2 processes", 2), ("synctools, 1 process", 1)):
        runs = [timed(ours, bsos, bundle, workers) for _ in range(repeat)]
        nvisits = len(runs[0][1][1])
        dt, _, rss, kids = min(runs, key=lambda r: r[0])
        worst = max(r[0] for r in runs)
        del runs
        rows.append((label, dt))
        spread = f"best of {repeat}, worst {worst:.3f} s" if repeat > 1 else "one run"
        print(f"{label:23}: {dt:6.3f} s {n / dt:>10,.0f} records/s  ({spread}; {nvisits:,} visits)")
        print(f"{'':23}  peak RSS growth: this process {_mib(rss, pb)}; workers {_mib(kids, pb)}")
    traced = traced_peak(ours, bsos, bundle, 1)
    print(f"{'':23}  tracemalloc peak (1 process): {_mib(traced, pb)}")
    if with_naive:
        t_naive, (p, v), rss_naive, _ = timed(naive, bsos, bundle)
        del p, v
        print(f"{'naive loop':23}: {t_naive:6.3f} s {n / t_naive:>10,.0f} records/s")
        print(f"{'':23}  peak RSS growth: {_mib(rss_naive, pb)}")
        for label, dt in rows:
            print(f"ratio {label:17}: {t_naive / dt:.2f}x the naive loop")
    best = rows[0][1]
    print(
        f"goals: >=100,000 records/s {'met' if n / best >= 100_000 else 'NOT met'};"
        f" >=4x naive {'n/a' if not with_naive else ('met' if t_naive / best >= 4 else 'NOT met')};"
        f" memory <=3x payload {'met' if traced <= 3 * pb else 'NOT met'} (tracemalloc, 1 process)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000], help="record counts")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive loop")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of synctools (best is shown)")
    args = ap.parse_args()
    for n in args.n:
        run(n, not args.no_naive, args.repeat if n <= 200_000 else 1)


if __name__ == "__main__":
    main()
