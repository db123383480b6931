"""The profile is never modified: every file hashed before and after reading everything,
also while Firefox's WAL holds unmerged writes and while a connection holds a write lock."""

from __future__ import annotations

import contextlib
import sqlite3

from synctools.device import Profile

from .conftest import hashes


def read_everything(path):
    with Profile(path) as p:
        frames = p.frames()
        p.settings  # noqa: B018
    return frames


def test_reading_modifies_nothing(profile_dir):
    before = hashes(profile_dir)
    read_everything(profile_dir)
    assert hashes(profile_dir) == before


def test_unmerged_wal_is_read_and_left_alone(profile_dir):
    db = profile_dir / "places.sqlite"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as Firefox: the newest rows live in places.sqlite-wal
    writer.execute("UPDATE moz_bookmarks SET title = 'Only in the WAL' WHERE title = 'Team wiki'")
    writer.commit()
    try:
        assert (profile_dir / "places.sqlite-wal").stat().st_size > 0
        before = hashes(profile_dir)
        frames = read_everything(profile_dir)
        assert "Only in the WAL" in set(frames["bookmarks"]["title"].dropna())
        assert hashes(profile_dir) == before  # no checkpoint, no -shm rewritten by us, nothing new
    finally:
        writer.close()


def test_a_locked_database_still_reads(profile_dir):
    """Firefox holds places.sqlite in exclusive locking mode; a reader in place would get
    'database is locked'. The copy reads, and the locked files stay as they were."""
    db = profile_dir / "places.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE moz_bookmarks SET title = 'uncommitted' WHERE title = 'Bug tracker'")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)) as direct:
            try:
                direct.execute("SELECT count(*) FROM moz_bookmarks").fetchone()
                locked = False
            except sqlite3.OperationalError:
                locked = True
        assert locked, "the test's lock should stop a direct reader"
        before = hashes(profile_dir)
        bm = read_everything(profile_dir)["bookmarks"]
        assert "Bug tracker" in set(bm["title"].dropna()) and "uncommitted" not in set(bm["title"].dropna())
        assert hashes(profile_dir) == before
    finally:
        locker.execute("ROLLBACK")
        locker.close()
