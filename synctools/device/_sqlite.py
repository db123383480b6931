"""Read a profile's SQLite databases without touching them: copy first, then open the copy.

Firefox keeps places.sqlite in exclusive locking mode and writes through a WAL, so a
database opened in place may be locked, may make SQLite create -shm/-journal files in the
profile, or may miss the newest writes (they live in the -wal until a checkpoint). So
each database is copied, with its -wal, into a private temporary folder and read there:
the profile is only ever read, a lock does not matter, and SQLite replays the copied WAL.

The -shm is deliberately NOT copied: it is only an index of the WAL kept in shared
memory, and a stale copy of it could point SQLite at the wrong WAL frames. Without it
SQLite rebuilds the index from the copied WAL when it opens the copy.

A copy taken while Firefox writes may be torn; the file sizes and times are compared
before and after copying and the copy is taken again (a few times) when they moved.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import ProfileFileError

ATTEMPTS = 4
SQLITE_MAGIC = b"SQLite format 3\x00"


def _stamp(paths: list[Path]) -> tuple[tuple[int, int] | None, ...]:
    out: list[tuple[int, int] | None] = []
    for p in paths:
        try:
            st = p.stat()
            out.append((st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


class Snapshot:
    """A private temporary folder holding copies of a profile's databases."""

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._copies: dict[Path, Path] = {}

    @property
    def folder(self) -> Path:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="synctools-profile-")
        return Path(self._dir.name)

    def copy(self, src: Path) -> Path:
        """A consistent copy of ``src`` (and its -wal); the same copy on later calls."""
        if src in self._copies:
            return self._copies[src]
        wal = src.with_name(src.name + "-wal")
        dest = self.folder / f"{len(self._copies)}-{src.name}"
        for _ in range(ATTEMPTS):
            before = _stamp([src, wal])
            try:
                shutil.copyfile(src, dest)
                if wal.exists():
                    shutil.copyfile(wal, dest.with_name(dest.name + "-wal"))
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(dest.with_name(dest.name + "-wal"))
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise ProfileFileError(src, f"cannot be copied to read it ({exc.strerror or exc})",
                                       "check that you may read the profile folder") from None  # fmt: skip
            if _stamp([src, wal]) == before:
                break
            time.sleep(0.05)  # Firefox is writing: take the copy again
        self._copies[src] = dest
        return dest

    def connect(self, src: Path) -> sqlite3.Connection:
        """Open the copy of ``src``; a file that is not SQLite is a :class:`ProfileFileError`."""
        dest = self.copy(src)
        with open(dest, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
        if head != SQLITE_MAGIC:
            what = "is empty" if not head else "is not an SQLite database (damaged or truncated)"
            raise ProfileFileError(src, what, "Firefox rebuilds a damaged database on its next start; "
                                   "read a backup of the profile instead")  # fmt: skip
        try:
            con = sqlite3.connect(dest, check_same_thread=False)
            con.execute("PRAGMA query_only = ON")  # the copy is ours, but nothing needs writing
        except sqlite3.DatabaseError as exc:
            raise damaged(src, exc) from None
        return con

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self._copies.clear()


def damaged(src: Path, exc: BaseException) -> ProfileFileError:
    return ProfileFileError(src, f"cannot be read: {exc}",
                            "the file may be truncated or damaged; Firefox repairs or rebuilds it on its next "
                            "start, or read a backup of the profile")  # fmt: skip


@contextlib.contextmanager
def reading(src: Path) -> Iterator[None]:
    """Turn SQLite's errors while reading ``src`` into a :class:`ProfileFileError`."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise damaged(src, exc) from None


def columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def tables(con: sqlite3.Connection) -> set[str]:
    return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def pick(available: set[str], wanted: list[str], table_alias: str = "") -> str:
    """A select list for ``wanted`` columns: a missing one (an older or newer schema) is NULL."""
    prefix = f"{table_alias}." if table_alias else ""
    return ", ".join(f"{prefix}{c}" if c in available else f"NULL AS {c}" for c in wanted)
