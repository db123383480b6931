"""The local store on its own: SQLite on disk, no server."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from synctools.errors import SynctoolsError
from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.crypto import HMACMismatchError
from synctools.store import SCHEMA_VERSION, SnapshotRecord, StagedChange, Store, StoreError, store_key

KEY = store_key(bytes(range(64)))
OTHER = store_key(bytes(range(1, 65)))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "account.sqlite", KEY)
    yield s
    s.close()


def test_the_file_is_private(store):
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_a_staged_password_is_never_on_disk_in_clear(store):
    store.stage(StagedChange("passwords", "p1", "edit", {"id": "p1", "password": "hunter2-in-clear"}, ServerTime(5)))
    store._db.execute("PRAGMA wal_checkpoint(FULL)")
    raw = b"".join(p.read_bytes() for p in store.path.parent.iterdir())
    assert b"hunter2-in-clear" not in raw
    assert store.staged()[0].record == {"id": "p1", "password": "hunter2-in-clear"}


def test_staged_records_under_other_keys_say_what_to_do(tmp_path):
    with_key = Store(tmp_path / "s.sqlite", KEY)
    with_key.stage(StagedChange("bookmarks", "b1", "edit", {"id": "b1"}, None))
    with_key.close()
    other = Store(tmp_path / "s.sqlite", OTHER)
    with pytest.raises(StoreError, match="discard it with sync.discard") as err:
        other.staged()
    assert isinstance(err.value, SynctoolsError)
    assert isinstance(err.value.__cause__, HMACMismatchError)
    nokey = Store(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="needs the account's keys"):
        nokey.staged()


def test_the_mirror_never_goes_back_to_an_older_version(store):
    store.upsert_mirror("bookmarks", [(BSO("b1", "new", ServerTime(200)), None)])
    store.upsert_mirror("bookmarks", [(BSO("b1", "old", ServerTime(100)), None)])  # a slower Sync, later
    assert store.mirror_record("bookmarks", "b1").bso.payload == "new"
    assert store.mirror_collections() == {"bookmarks": 1}


def test_last_sync_only_moves_forward(store):
    store.set_last_sync("history", ServerTime(300))
    store.set_last_sync("history", ServerTime(100))
    assert store.last_sync("history") == ServerTime(300)
    store.reset_collection("history")
    assert store.last_sync("history") == ServerTime(0)


def test_unstage_with_staged_at_drops_only_that_version(store):
    store.stage(StagedChange("bookmarks", "b1", "edit", {"id": "b1", "title": "v1"}, None, staged_at=1.0))
    store.unstage("bookmarks", "b1", staged_at=2.0)  # a newer edit replaced it meanwhile? not this one
    assert len(store.staged()) == 1
    assert store.unstage("bookmarks", "b1", staged_at=1.0) == 1
    assert store.staged() == []


#: long enough that random base64 never holds it by chance ("pw" did, once in a few hundred runs)
SECRET_PW = "pw-correct-horse-battery-7391"


def test_a_snapshot_keeps_envelopes_and_sealed_cleartexts(store):
    sid = store.snapshot(
        "before",
        "https://node/1.5/1",
        [
            SnapshotRecord(
                "passwords", "p1", BSO("p1", "ciphertext", ServerTime(10), 5, 60), {"id": "p1", "password": SECRET_PW}
            ),
            SnapshotRecord("passwords", "p2", None),  # did not exist: a restore deletes it
            SnapshotRecord("passwords", "p3", BSO("p3", "never decrypted", ServerTime(11))),
        ],
    )
    got = {r.id: r for r in store.snapshot_records(sid)}
    assert (
        got["p1"].bso == BSO("p1", "ciphertext", ServerTime(10), 5, 60) and got["p1"].cleartext["password"] == SECRET_PW
    )
    assert got["p2"].bso is None and got["p3"].cleartext is None
    raw = store._db.execute("SELECT sealed FROM snapshots WHERE id = 'p1'").fetchone()[0]
    assert SECRET_PW not in raw  # sealed, like staged records
    info = store.snapshots()[0]
    assert (info.snapshot, info.label, info.node, info.records) == (sid, "before", "https://node/1.5/1", 3)
    store.set_key(OTHER)  # keys changed: the cleartext is unreadable, the envelope still there
    assert store.snapshot_records(sid)[0].cleartext is None
    store.drop_snapshot(sid)
    with pytest.raises(StoreError, match="no snapshot"):
        store.snapshot_records(sid)


def test_a_store_from_before_sealed_snapshots_opens_and_migrates(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE snapshots (snapshot INTEGER NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
            existed INTEGER NOT NULL, modified INTEGER, sortindex INTEGER, ttl INTEGER, payload TEXT,
            PRIMARY KEY (snapshot, collection, id));
        CREATE TABLE snapshot_info (snapshot INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL,
            label TEXT NOT NULL, node TEXT);
        INSERT INTO snapshot_info VALUES (1, 0, 'old', NULL);
        INSERT INTO snapshots VALUES (1, 'bookmarks', 'b1', 1, 5, NULL, NULL, 'payload');
    """)  # fmt: skip
    db.execute("INSERT INTO state VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    db.commit()
    db.close()
    store = Store(path, KEY)
    [rec] = store.snapshot_records(1)
    assert rec.bso.payload == "payload" and rec.cleartext is None


def test_a_store_of_another_schema_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "future.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE state SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="move it aside and download again"):
        Store(path)


@pytest.mark.parametrize("collection", ["history", "it's", "a b", "x" * 65])
def test_mirror_rows_read_back_the_same_whatever_the_collection_name(tmp_path, collection):
    """Rows without errors of a plainly named collection are written with the name as an
    SQL literal (fewer values to bind); any other name is bound. Both read back alike."""
    import numpy as np

    from synctools.protocol._columns import BSOColumns
    from synctools.protocol.crypto import HMACMismatchError

    store = Store(tmp_path / "s.sqlite")
    env = BSOColumns(["a", "b"], ['{"x": 1}', "p'q"], np.array([100, 250], dtype=np.int64), [None, -3], [7, None])
    assert store.upsert_mirror_columns(collection, env) == 2
    again = BSOColumns(["b"], ["newer"], np.array([300], dtype=np.int64), [1], [None])
    store.upsert_mirror_columns(collection, again, [HMACMismatchError("HMAC mismatch", "b")])
    older = BSOColumns(["a"], ["older"], np.array([50], dtype=np.int64), [None], [None])
    store.upsert_mirror_columns(collection, older)  # never goes back to an older version
    rows = {m.bso.id: m for m in store.mirror(collection)}
    assert rows["a"].bso.payload == '{"x": 1}' and rows["a"].bso.ttl == 7 and rows["a"].reason is None
    assert rows["b"].bso.payload == "newer" and rows["b"].bso.sortindex == 1 and rows["b"].reason == "hmac-mismatch"
    assert store.mirror_collections() == {collection: 2}


def test_a_new_store_has_16_kib_pages_and_an_old_one_keeps_its_own(tmp_path):
    """New stores write the mirror on 16 KiB pages (fewer WAL frames per row); a store made
    before keeps its 4 KiB pages, and both copy the WAL back at the same 40 MB."""
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.execute("PRAGMA page_size=4096")
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.commit()
    db.close()
    for path, page in ((tmp_path / "new.sqlite", 16384), (old, 4096)):
        store = Store(path)
        store.upsert_mirror("history", [(BSO("a", "{}", modified=ServerTime(100)), None)])
        assert store._db.execute("PRAGMA page_size").fetchone()[0] == page
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] * page == 40 << 20
        assert store.mirror_collections() == {"history": 1}
        store.close()
