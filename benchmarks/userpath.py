"""The user's path, end to end: download a collection into DataFrames, and back from the store.

    .venv/bin/python benchmarks/userpath.py                   # 100,000 history records
    .venv/bin/python benchmarks/userpath.py --n 1000000 --repeat 1 --data-dir ~/.cache/userpath

The stack runs in its own process (``synctools serve --demo``, a real waitress server on
127.0.0.1, with the demo account), and its history collection is filled to ``--n``
records encrypted with the demo account's history key (the demo's 20,000 pages, one of
them with a planted bad HMAC, plus generated pages with up to 20 visits each). Then, in
this process and in the same run, alternating so that load from other jobs falls on both:

- **download → frames.** synctools: ``sync.download(["history"])``,
  ``sync.frame("history")`` and ``sync.frame("history", "visits")`` on a fresh store.
  The naive client: paged ``GET ?full=1&limit=1000`` with requests + mohawk, per record
  ``json.loads`` of the payload, HMAC check, AES-CBC, PKCS#7 and ``json.loads``, then
  ``pd.DataFrame`` of the pages and of the visits. Both start from the same credentials
  and keys (authenticate … fetch_crypto_keys is not timed: it is the same few requests
  for any collection size).
- **reload from the store → frames.** A new ``Sync`` on the store the download left (a
  new kernel: nothing in memory), keys fetched (not timed), then both frames. The naive
  loop: ``SELECT`` the stored ciphertext from the same SQLite file, then the same
  per-record decryption and ``pd.DataFrame`` as above.
- **memory.** Peak RSS growth of this process during each synctools step (Linux; reset
  through /proc/self/clear_refs) and, in a separate run because tracing slows everything,
  the tracemalloc peak; both against the payload bytes (sum of the payload strings).

Goals (issue 18): download→frames ≥ 4× the naive client; reload→frames ≥ 8× the naive
loop; peak memory ≤ 3× the payload bytes at 1,000,000 records.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mohawk  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from frames import _reset_peaks, _status, make_records  # noqa: E402

from synctools import Sync  # noqa: E402
from synctools.protocol.crypto import KeyBundle  # noqa: E402

PAGE = 1000
SEED_BATCH = 5000


# --------------------------------------------------------------------------- the stack


class Stack:
    """``synctools serve --demo`` in a child process, and its admin API."""

    def __init__(self, data_dir: Path) -> None:
        self.secret = secrets.token_hex(16)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synctools.cli", "serve", "--demo", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "SYNCTOOLS_ADMIN_SECRET": self.secret},
        )
        lines = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            lines.append(line.strip())
            if line.startswith("Press Ctrl-C"):
                break
        banner = dict(ln.split(None, 1) for ln in lines if ln.count(" ") >= 1 and not ln.endswith(":"))
        self.url = lines[0].rsplit(" ", 1)[-1]
        self.email = banner["email"].strip()
        self.password = banner["password"].strip()
        self.session = requests.Session()

    def admin(self, method: str, **kwargs: Any) -> Any:
        r = self.session.post(
            f"{self.url}/__admin__/{method}", json=kwargs, headers={"X-Admin-Secret": self.secret}, timeout=600
        )
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def login(stack: Stack, store: Path | None, workers: int = 1) -> Sync:
    """A Sync of the demo account, authenticated up to crypto/keys (not timed)."""
    sync = Sync.login(
        stack.email,
        stack.password,
        auth_url=f"{stack.url}/v1",
        oauth_url=f"{stack.url}/v1",
        token_url=f"{stack.url}/token/1.0/sync/1.5",
        code=lambda: str(stack.admin("verification_code", email=stack.email) or ""),
        totp=lambda: str(stack.admin("totp_code", email=stack.email) or ""),
        store=store,
        interactive=False,
        progress=False,
        workers=workers,
    )
    sync.run(until="fetch_crypto_keys")
    return sync


def seed(stack: Stack, sync: Sync, n: int) -> int:
    """Fill history up to ``n`` records (generated pages, the demo's key); return the count."""
    storage = sync._core.storage
    assert storage is not None
    have = storage.info_collection_counts().get("history", 0)
    if have >= n:
        return have
    bundle = sync.collection_keys.bundle_for("history")
    t0 = time.perf_counter()
    records = make_records(n - have, seed=18)
    for i, rec in enumerate(records):
        rec["id"] = f"up{have + i:010d}"  # never one of the demo's, nor one seeded before
    for a in range(0, len(records), SEED_BATCH):
        bsos = [
            {"id": r["id"], "sortindex": len(r["visits"]),
             "payload": json.dumps(bundle.encrypt(r), separators=(",", ":"))}
            for r in records[a : a + SEED_BATCH]
        ]  # fmt: skip
        stack.admin("put_records", email=stack.email, collection="history", records=bsos)
    print(f"seeded {len(records):,} history records in {time.perf_counter() - t0:.0f}s", flush=True)
    return int(storage.info_collection_counts()["history"])


# --------------------------------------------------------------------------- the naive client


def _decrypt(bundle: KeyBundle, rid: str, payload: str) -> dict[str, Any] | None:
    """One record, the obvious way: None when it fails (HMAC, padding, JSON, id)."""
    p = json.loads(payload)
    mac = hmac.new(bundle.hmac_key, p["ciphertext"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, p["hmac"]):
        return None
    dec = Cipher(algorithms.AES(bundle.enc_key), modes.CBC(base64.b64decode(p["IV"]))).decryptor()
    padded = dec.update(base64.b64decode(p["ciphertext"])) + dec.finalize()
    rec = json.loads(padded[: -padded[-1]])
    return rec if rec.get("id") == rid else None


def _naive_frames(rows: Iterator[tuple[str, Any, str]], bundle: KeyBundle) -> tuple[pd.DataFrame, pd.DataFrame]:
    pages: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    for rid, modified, payload in rows:
        rec = _decrypt(bundle, rid, payload)
        if rec is None:
            pages.append({"id": rid, "modified": modified, "error": "failed"})
            continue
        pages.append({**rec, "modified": modified})
        for v in rec.get("visits", ()):
            visits.append({"id": rid, **v})
    main = pd.DataFrame(pages)
    main["modified"] = pd.to_datetime(main["modified"], unit="s", utc=True)
    vis = pd.DataFrame(visits)
    vis["date"] = pd.to_datetime(vis["date"], unit="us", utc=True)
    return main, vis


def naive_download(sync: Sync, bundle: KeyBundle) -> tuple[pd.DataFrame, pd.DataFrame]:
    token = sync.token
    assert token is not None
    creds = {"id": token.id, "key": token.key, "algorithm": "sha256"}
    session = requests.Session()
    base = f"{token.api_endpoint.rstrip('/')}/storage/history?full=1&limit={PAGE}"

    def rows() -> Iterator[tuple[str, Any, str]]:
        offset = None
        while True:
            url = base + (f"&offset={offset}" if offset else "")
            auth = mohawk.Sender(creds, url, "GET", always_hash_content=False).request_header
            r = session.get(url, headers={"Authorization": auth}, timeout=120)
            r.raise_for_status()
            for bso in r.json():
                yield bso["id"], bso["modified"], bso["payload"]
            offset = r.headers.get("X-Weave-Next-Offset")
            if not offset:
                return

    return _naive_frames(rows(), bundle)


def naive_reload(store: Path, bundle: KeyBundle) -> tuple[pd.DataFrame, pd.DataFrame]:
    db = sqlite3.connect(store)
    try:
        cur = db.execute("SELECT id, modified / 100.0, payload FROM mirror WHERE collection = 'history'")
        return _naive_frames(iter(cur), bundle)
    finally:
        db.close()


# --------------------------------------------------------------------------- synctools


def ours_download(stack: Stack, store: Path, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, float, Sync]:
    """(main, visits, seconds) for download → frames on a fresh store."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    sync = login(stack, store, workers)
    t0 = time.perf_counter()
    sync.download(["history"])
    main = sync.frame("history")
    visits = sync.frame("history", "visits")
    return main, visits, time.perf_counter() - t0, sync


def ours_reload(stack: Stack, store: Path, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    sync = login(stack, store, workers)
    t0 = time.perf_counter()
    main = sync.frame("history")
    visits = sync.frame("history", "visits")
    return main, visits, time.perf_counter() - t0


# --------------------------------------------------------------------------- measuring


@contextmanager
def peak_rss() -> Iterator[dict[str, int | None]]:
    """Peak RSS growth of this process inside the block (Linux), in ``out["peak"]``."""
    out: dict[str, int | None] = {"peak": None}
    gc.collect()
    base = _reset_peaks(["self"]).get("self")
    yield out
    hwm = _status("VmHWM")
    out["peak"] = None if base is None or hwm is None else hwm - base


def traced(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated by Python (tracemalloc: objects and numpy buffers) plus the
    peak of Arrow's memory pool (which tracemalloc does not see) while ``fn`` runs: an
    upper bound of the peak, as the two peaks need not coincide."""
    import pyarrow as pa

    gc.collect()
    default = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default)
    pa.set_memory_pool(pool)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(default)
    del out
    return peak - base + pool.max_memory()


def _x(b: int | None, payload: int) -> str:
    return "n/a" if b is None else f"{b / 2**20:,.0f} MiB = {b / payload:.2f}x payload"


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="synctools-userpath-"))
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else tmp / "stack"
    store = tmp / "store.sqlite"
    print(f"starting the stack (synctools serve --demo, data in {data_dir}) …", flush=True)
    stack = Stack(data_dir)
    try:
        setup = login(stack, None)
        n = seed(stack, setup, args.n)
        bundle = setup.collection_keys.bundle_for("history")
        payload_bytes = stack_payload_bytes(setup)
        print(f"\n== {n:,} history records, {payload_bytes / 2**20:,.1f} MiB of payloads; {_load()}", flush=True)
        down_ours: dict[int, list[float]] = {w: [] for w in args.workers}
        back_ours: dict[int, list[float]] = {w: [] for w in args.workers}
        down_naive: list[float] = []
        back_naive: list[float] = []
        rss: dict[str, int] = {}
        rows: tuple[int, int, int] = (0, 0, 0)
        for k in range(args.repeat):
            line = [f"run {k + 1}:"]
            for w in args.workers:
                with peak_rss() as mem:
                    main, visits, dt, _ = ours_download(stack, store, w)
                if w == 1:  # with processes, this process' RSS is not the whole story
                    rss["download"] = max(rss.get("download", 0), mem["peak"] or 0)
                down_ours[w].append(dt)
                rows = (len(main), len(visits), int(main["error"].notna().sum()))
                del main, visits, _
                gc.collect()
                with peak_rss() as mem:
                    main, visits, dt = ours_reload(stack, store, w)
                if w == 1:
                    rss["reload"] = max(rss.get("reload", 0), mem["peak"] or 0)
                back_ours[w].append(dt)
                assert (len(main), len(visits), int(main["error"].notna().sum())) == rows
                del main, visits
                gc.collect()
                line.append(
                    f"synctools ({w} proc) download→frames {down_ours[w][-1]:.2f}s, reload {back_ours[w][-1]:.2f}s;"
                )
            if not args.no_naive:
                t0 = time.perf_counter()
                nm, nv = naive_download(setup, bundle)
                down_naive.append(time.perf_counter() - t0)
                assert (len(nm), len(nv)) == rows[:2], ((len(nm), len(nv)), rows)
                del nm, nv
                t0 = time.perf_counter()
                nm, nv = naive_reload(store, bundle)
                back_naive.append(time.perf_counter() - t0)
                del nm, nv
                gc.collect()
                line.append(f"naive download {down_naive[-1]:.2f}s, reload {back_naive[-1]:.2f}s;")
            print(" ".join(line), _load(), flush=True)
        print(f"\nrows: {rows[0]:,} pages ({rows[2]} failed, each a row with its error), {rows[1]:,} visits")
        for w in args.workers:
            report(f"download → frames, {w} process{'es' if w > 1 else ''}", n, down_ours[w], down_naive, 4)
        for w in args.workers:
            report(
                f"reload from the store → frames, {w} process{'es' if w > 1 else ''}", n, back_ours[w], back_naive, 8
            )
        print()
        for what, grown in rss.items():
            print(f"peak RSS growth of this process, {what} → frames (1 process): {_x(grown, payload_bytes)}")
        if args.trace:
            w = args.workers[0]
            t_down = traced(lambda: ours_download(stack, store, w)[:2])
            t_back = traced(lambda: ours_reload(stack, store, w)[:2])
            print(f"tracemalloc + Arrow peak, download → frames ({w} process): {_x(t_down, payload_bytes)}")
            print(f"tracemalloc + Arrow peak, reload → frames ({w} process):   {_x(t_back, payload_bytes)}")
            worst = max(t_down, t_back)
            print(f"goal peak memory <= 3x payload: {'met' if worst <= 3 * payload_bytes else 'NOT met'}"
                  f" ({worst / payload_bytes:.2f}x, the worse of the two)")  # fmt: skip
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def stack_payload_bytes(sync: Sync) -> int:
    """The sum of the history payload strings' lengths, as the server sends them."""
    storage = sync._core.storage
    assert storage is not None
    return sum(len(b.payload) for b in storage.iter_collection("history", full=True, limit=10_000))


def report(what: str, n: int, ours: list[float], naive: list[float], goal: float) -> None:
    best = min(ours)
    spread = f"best of {len(ours)}, worst {max(ours):.2f}s" if len(ours) > 1 else "one run"
    print(f"\n{what}:")
    print(f"  synctools   : {best:7.2f}s {n / best:>10,.0f} records/s ({spread})")
    if naive:
        nb = min(naive)
        print(f"  naive       : {nb:7.2f}s {n / nb:>10,.0f} records/s")
        ratios = sorted(b / a for a, b in zip(ours, naive))
        print(f"  ratio       : {nb / best:.2f}x (best vs best; per run {', '.join(f'{r:.2f}x' for r in ratios)});"
              f" goal >= {goal:g}x {'met' if nb / best >= goal else 'NOT met'}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="history records on the server (at least the demo's 20,000)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each path (alternating)")
    ap.add_argument("--data-dir", default=None, help="keep the stack's data here, to reuse a seeded server")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive client")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="synctools runs with these many processes (Sync(workers=N))")  # fmt: skip
    ap.add_argument("--no-trace", dest="trace", action="store_false", help="skip the tracemalloc runs")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
