"""The download's mirror writer (stages/_pipeline.MirrorWriter) on a real store: pages that
arrive while it writes go in one transaction, notes land after their rows, the backlog
is bounded, a write error reaches the reader, and nothing given is lost on the way out."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from synctools.protocol._columns import BSOColumns
from synctools.protocol.crypto import HMACMismatchError
from synctools.stages._pipeline import MirrorWriter
from synctools.store import Store


def page(k: int, n: int = 10) -> BSOColumns:
    ids = [f"p{k}r{i}" for i in range(n)]
    return BSOColumns(ids, [f"payload {i}" for i in ids], np.full(n, 100 + k, dtype=np.int64), [None] * n, [None] * n)


class HeldStore(Store):
    """A store whose first mirror write waits until released (a slow disk)."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.writes: list[int] = []

    def upsert_mirror_columns(self, collection, env, errors=None):
        self.release.wait(10)
        self.writes.append(len(env))
        return super().upsert_mirror_columns(collection, env, errors)


def test_pages_that_arrive_while_it_writes_go_in_one_transaction(tmp_path):
    store = HeldStore(tmp_path / "s.sqlite")
    with MirrorWriter(store, "history") as writer:
        for k in range(5):
            writer.rows(page(k))
            if k == 0:
                while not store.writes and writer._items:  # the writer has taken page 0
                    threading.Event().wait(0.01)
        store.release.set()
    assert store.writes == [10, 40]  # page 0 alone, then the four that waited, together
    assert store.mirror_collections()["history"] == 50


def test_notes_of_failed_records_land_after_their_rows(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    env = page(0, 3)
    with MirrorWriter(store, "history") as writer:
        writer.rows(env)
        writer.notes(env, [None, HMACMismatchError("HMAC mismatch", env.ids[1]), None])
    rows = {m.bso.id: m for m in store.mirror("history")}
    assert rows[env.ids[1]].reason == "hmac-mismatch"
    assert rows[env.ids[0]].reason is None and len(rows) == 3


def test_the_backlog_is_bounded(tmp_path):
    store = HeldStore(tmp_path / "s.sqlite")
    writer = MirrorWriter(store, "history", backlog=25)
    writer.rows(page(0))  # taken by the writer, which is held
    while writer._items:
        threading.Event().wait(0.01)
    writer.rows(page(1))
    writer.rows(page(2))
    writer.rows(page(3))  # 30 rows queued now
    blocked = threading.Thread(target=writer.rows, args=(page(4),))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "rows() went on past the backlog"
    store.release.set()
    blocked.join(10)
    assert not blocked.is_alive()
    writer.__exit__(None, None, None)
    assert store.mirror_collections()["history"] == 50


def test_a_write_error_reaches_the_reader_and_the_with_block(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.close()  # every write now fails
    writer = MirrorWriter(store, "history")
    with pytest.raises(Exception, match="closed"):
        with writer:
            writer.rows(page(0))
            while writer._error is None:
                threading.Event().wait(0.01)
            writer.rows(page(1))  # the error of page 0 comes out here


def test_every_page_given_is_written_when_the_block_is_left_by_an_error(tmp_path):
    store = HeldStore(tmp_path / "s.sqlite")
    with pytest.raises(KeyboardInterrupt):
        with MirrorWriter(store, "history") as writer:
            for k in range(3):
                writer.rows(page(k))
            store.release.set()
            raise KeyboardInterrupt
    assert store.mirror_collections()["history"] == 30
