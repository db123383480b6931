"""A Firefox profile into frames: synctools.device vs a plain sqlite3 + pd.DataFrame loop.

    .venv/bin/python benchmarks/device.py                       # 100,000 pages, 10,000 bookmarks
    .venv/bin/python benchmarks/device.py --pages 1000000 --bookmarks 50000

Writes a places.sqlite (the Places schema of Firefox 153, synctools.device.demo) in WAL mode
into a temporary profile, then times, best of --repeat runs:

- synctools: ``Profile(path).history(limit=None)`` and ``.bookmarks()``, from a fresh
  Profile each run, so the copy of the database (and its WAL) is included, and the typed
  frames (UTC datetimes, Int64, boolean, Arrow strings, the root ids mapped) are built;
- the baseline: ``sqlite3.connect`` on the same file and ``pd.DataFrame(cursor.fetchall())``
  over the same rows (the same joins), untyped.

Goal (issue 14): no slower than the baseline (ratio <= 1.0).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import pandas as pd

from synctools.device import Profile
from synctools.device.demo import places_schema

NOW_US = 1_796_000_000 * 1_000_000
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def guid(rng: random.Random) -> str:
    return "".join(rng.choices(ALPHABET, k=12))


def make_profile(folder: Path, pages: int, bookmarks: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    (folder / "prefs.js").write_text('user_pref("services.sync.username", "bench@example.com");\n')
    with contextlib.closing(sqlite3.connect(folder / "places.sqlite")) as con:
        con.execute("PRAGMA journal_mode=WAL")
        places_schema(con)
        con.executemany(
            "INSERT INTO moz_places (id, url, title, guid, visit_count, last_visit_date, frecency, foreign_count)"
            " VALUES (?,?,?,?,?,?,?,?)",
            ((i, f"https://www.site{i % 5000}.example/articles/{i}", f"Article {i}", guid(rng), 1 + i % 7,
              NOW_US - rng.randrange(365 * 86_400_000_000), rng.randrange(10_000), 1 if i <= bookmarks else 0)
             for i in range(1, pages + 1)),
        )  # fmt: skip
        roots = [
            (1, 2, None, 0, 0, "", "root________"),
            (2, 2, None, 1, 0, "menu", "menu________"),
            (3, 2, None, 1, 1, "toolbar", "toolbar_____"),
            (4, 2, None, 1, 2, "tags", "tags________"),
            (5, 2, None, 1, 3, "unfiled", "unfiled_____"),
            (6, 2, None, 1, 4, "mobile", "mobile______"),
        ]
        rows = list(roots)
        folders = list(range(7, 7 + bookmarks // 20))
        for n, fid in enumerate(folders):
            rows.append((fid, 2, None, (2, 3, 5)[n % 3], n, f"Folder {n}", guid(rng)))
        counts: dict[int, int] = {}
        for i in range(1, bookmarks - len(folders) + 1):
            parent = folders[i % len(folders)]
            counts[parent] = counts.get(parent, 0) + 1
            rows.append((7 + len(folders) + i, 1, i, parent, counts[parent], f"Bookmark {i}", guid(rng)))
        con.executemany(
            "INSERT INTO moz_bookmarks (id, type, fk, parent, position, title, guid, dateAdded, lastModified,"
            " syncStatus, syncChangeCounter) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ((*r, NOW_US, NOW_US, 2, 0) for r in rows),
        )
        con.commit()


def baseline(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a person writes by hand: the same rows, no types."""
    with contextlib.closing(sqlite3.connect(path / "places.sqlite")) as con:
        cur = con.execute(
            "SELECT h.guid, h.url, h.title, h.visit_count, h.last_visit_date, h.frecency, h.hidden, h.typed,"
            " h.foreign_count FROM moz_places h WHERE h.last_visit_date IS NOT NULL ORDER BY h.last_visit_date DESC"
        )
        history = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
        cur = con.execute(
            "SELECT b.guid, b.type, p.guid AS parent, b.position, b.title, h.url, b.dateAdded, b.lastModified,"
            " b.syncStatus, b.syncChangeCounter FROM moz_bookmarks b LEFT JOIN moz_bookmarks p ON p.id = b.parent"
            " LEFT JOIN moz_places h ON h.id = b.fk ORDER BY b.parent, b.position"
        )
        bookmarks = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    return history, bookmarks


def synctools_frames(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Profile(path) as p:
        return p.history(limit=None), p.bookmarks()


def best(fn, path: Path, repeat: int) -> tuple[float, tuple[pd.DataFrame, pd.DataFrame]]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - t)
    assert out is not None
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--bookmarks", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profile"
        make_profile(path, args.pages, args.bookmarks)
        size = sum(f.stat().st_size for f in path.iterdir())
        print(f"profile: {args.pages:,} pages, {args.bookmarks:,} bookmarks, {size / 1e6:.1f} MB (places.sqlite + WAL)")
        base, (bh, bb) = best(baseline, path, args.repeat)
        ours, (h, b) = best(synctools_frames, path, args.repeat)
        assert len(h) == len(bh) and len(b) == len(bb), "both read the same rows"
        print(
            f"sqlite3 + pd.DataFrame (untyped): {base * 1000:8.1f} ms  ({len(bh):,} pages + {len(bb):,} bookmark rows)"
        )
        print(f"synctools.device (typed, copied): {ours * 1000:8.1f} ms  ({len(h):,} pages + {len(b):,} bookmark rows)")
        print(f"ratio synctools / baseline: {ours / base:.2f} (goal: <= 1.00)")


if __name__ == "__main__":
    main()
