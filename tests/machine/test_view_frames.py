"""A Sync's frames: built once per state of a collection and rebuilt exactly when it
changes (download, commit; not a staged edit, a merge or a plan); handed out so a
caller's changes never reach the next caller; reached by a new kernel from the local
store without a download; the same with worker processes; honest with hostile pages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synctools.engines import _workers
from synctools.engines.history import HistoryEngine
from synctools.machine import Sync
from synctools.protocol.crypto import KeyBundle

US = 1_000_000


def page(rid: str, n: int = 2, title: str | None = None) -> dict:
    return {"id": rid, "histUri": f"https://site.example/{rid}", "title": title or f"Page {rid}",
            "visits": [{"date": 1_790_000_000 * US - k * US, "type": 1 + k % 9} for k in range(n)]}  # fmt: skip


def put_history(stack, acct, records: list[dict], *, bundle: KeyBundle | None = None) -> None:
    bundle = bundle or acct.keys.bundle_for("history")
    stack.admin.put_records(
        acct.email, "history", [{"id": r["id"], "payload": json.dumps(bundle.encrypt(r))} for r in records]
    )


@pytest.fixture
def builds(monkeypatch):
    """How many times history frames were assembled (the real assembly runs)."""
    count = {"n": 0}
    real = HistoryEngine.assemble

    def counting(self, parts, *, reveal=False):
        count["n"] += 1
        return real(self, parts, reveal=reveal)

    monkeypatch.setattr(HistoryEngine, "assemble", counting)
    return count


def assert_same_frames(a, b) -> None:
    assert a.names() == b.names()
    for name, df in a:
        pd.testing.assert_frame_equal(df, b[name], obj=name)


def test_frames_are_built_once_per_state_and_rebuilt_exactly_when_it_changes(stack, account, builds):
    put_history(stack, account, [page(f"h{i:03d}", i % 4) for i in range(30)])
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    main = s.frame("history")
    visits = s.frame("history", "visits")
    s.frame("history")
    s.collection_frames("history")
    assert builds["n"] == 1 and len(main) == 30 and len(visits) == sum(i % 4 for i in range(30))
    s.frame("history", reveal=True)  # another view of the data: built once too
    s.frame("history", "visits", reveal=True)
    assert builds["n"] == 2

    s.download()  # nothing new on the server: nothing changed, nothing rebuilt
    s.frame("history")
    assert builds["n"] == 2

    put_history(stack, account, [page("h005", 7, "changed elsewhere"), page("new001", 1)])  # another device
    s.download()
    df = s.frame("history").set_index("id")
    assert builds["n"] == 3 and len(df) == 31
    assert df.at["h005", "title"] == "changed elsewhere" and df.at["h005", "visit_count"] == 7
    assert list(s.frame("history")["id"][:6]) == ["h000", "h001", "h002", "h003", "h004", "h005"]  # kept its place

    s.edit("history", "h001", {"title": "edited here"})  # staged, not on the server: frames show the server
    s.merge()
    plan = s.plan_upload()
    assert s.frame("history").set_index("id").at["h001", "title"] == "Page h001" and builds["n"] == 3
    s.commit(plan)
    assert s.frame("history").set_index("id").at["h001", "title"] == "edited here" and builds["n"] == 4


def test_a_frame_handed_out_cannot_change_the_next_one(stack, account):
    put_history(stack, account, [page(f"m{i}", 3) for i in range(5)])
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    df = s.frame("history")
    df["mine"] = 1
    df.loc[0, "title"] = "scribbled"
    df.loc[1, "visit_count"] = 99
    visits = s.frame("history", "visits")
    visits["date"] = pd.NaT
    again = s.frame("history")
    assert "mine" not in again.columns and again.loc[0, "title"] == "Page m0" and again.loc[1, "visit_count"] == 3
    assert s.frame("history", "visits")["date"].notna().all()


def test_a_new_kernel_reaches_the_same_frames_from_the_store_without_reading_the_server(stack, account, tmp_path):
    bundle = account.keys.bundle_for("history")
    put_history(stack, account, [page(f"k{i:03d}", i % 6) for i in range(200)] + [{"id": "tomb", "deleted": True}])
    stack.admin.put_records(account.email, "history", [
        {"id": "otherkey", "payload": json.dumps(KeyBundle.random().encrypt(page("otherkey")))},
        {"id": "wrongtype", "payload": json.dumps(bundle.encrypt(page("wrongtype") | {"title": 5}))},
        {"id": "notjson", "payload": json.dumps(bundle.encrypt_bytes(b'{"id":"notjson",', b"\x01" * 16))},
    ])  # fmt: skip
    path = tmp_path / "store.sqlite"
    first = Sync.local(stack, email=account.email, password=account.password, store=path)
    first.run(until="download")
    before = first.collection_frames("history")
    first_records = first.records("history")
    first.store.close()

    again = Sync.local(stack, email=account.email, password=account.password, store=path)
    again.run(until="fetch_crypto_keys")
    mark = len(again.trace_log.exchanges)
    assert again._view.downloaded() == ["bookmarks", "history"]  # known from the mirror
    assert_same_frames(again.collection_frames("history"), before)
    assert not [e.url for e in again.trace_log.exchanges[mark:] if "/storage/" in e.url]  # nothing fetched
    errors = again.errors("history").set_index("id")["reason"].to_dict()
    assert errors == {"otherkey": "hmac-mismatch", "notjson": "not-json"}
    assert again.records("history") == first_records and "otherkey" not in first_records
    main = before.main.set_index("id")
    assert main.at["wrongtype", "error"].startswith("bad-record") and main.at["tomb", "deleted"]
    assert len(main) == 204 and main["error"].notna().sum() == 3


def test_worker_processes_give_the_same_frames(stack, account, monkeypatch):
    put_history(stack, account, [page(f"w{i:04d}", i % 5) for i in range(1500)])
    one = Sync.local(stack, email=account.email, password=account.password, workers=1, page_size=200)
    one.run(until="download")
    monkeypatch.setattr(_workers, "PARALLEL_FROM", 300)  # processes from the third page on
    two = Sync.local(stack, email=account.email, password=account.password, workers=2, page_size=200)
    two.run(until="download")
    assert_same_frames(two.collection_frames("history"), one.collection_frames("history"))
    assert two.records("history")["w0042"] == one.records("history")["w0042"]


def test_a_hostile_page_is_read_record_by_record_and_hides_nothing(stack, account):
    """Duplicate ids and wrong-typed envelope fields in a page the server sends: the
    page leaves the fast reader; the last of two versions wins, in the first's place; a
    record with a malformed envelope is a row with its error (as the checked reader
    says), in the view, the frames and the mirror, even though its payload decrypts."""
    bundle = account.keys.bundle_for("history")
    body = [
        {"id": "d1", "modified": 1700000000.5, "payload": json.dumps(bundle.encrypt(page("d1", 1, "first")))},
        {"id": "d2", "modified": 1700000000.5, "payload": json.dumps(bundle.encrypt(page("d2", 1))), "sortindex": "7"},
        {"id": "d1", "modified": 1700000001, "payload": json.dumps(bundle.encrypt(page("d1", 2, "second")))},
        {"id": "d3", "modified": 1700000002, "payload": json.dumps(KeyBundle.random().encrypt(page("d3")))},
    ]
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="fetch_crypto_keys")
    stack.admin.inject_fault("status", path="/storage/history", status=200, body=json.dumps(body),
                             headers={"X-Last-Modified": "1700000002.00"})  # fmt: skip
    result = s.download(["history"])
    row = next(r for r in result.collections if r["collection"] == "history")
    assert row["downloaded"] == 4 and row["failed"] == 2
    df = s.frame("history")
    assert list(df["id"]) == ["d1", "d2", "d3"]
    d = df.set_index("id")
    assert d.at["d1", "title"] == "second" and d.at["d1", "visit_count"] == 2
    assert pd.isna(d.at["d2", "sortindex"])  # a string sortindex is no sortindex
    assert d.at["d2", "error"].startswith("bad-envelope") and "sortindex is a string" in d.at["d2", "error"]
    assert d.at["d3", "error"].startswith("hmac-mismatch")
    assert set(s._view.views["history"].errors) == {"d2", "d3"} and "d2" not in s.records("history")
    mirror = {m.bso.id: m for m in s.store.mirror("history")}
    assert set(mirror) == {"d1", "d2", "d3"} and mirror["d1"].bso.modified == 170000000100
    assert mirror["d3"].reason == "hmac-mismatch" and mirror["d2"].bso.sortindex is None
    assert mirror["d2"].reason == "bad-envelope" and "sortindex is a string" in (mirror["d2"].error or "")
    assert np.array_equal(s.frame("history", "visits")["id"].to_numpy(), np.array(["d1", "d1"], dtype=object))


def test_frames_stay_right_after_the_parts_are_compacted_and_change_again(stack, account):
    """After the first frames, a view keeps one part that shares their memory; later
    downloads, replacements and commits build on it."""
    put_history(stack, account, [page(f"c{i:03d}", i % 5) for i in range(40)])
    s = Sync.local(stack, email=account.email, password=account.password, page_size=7)
    s.run(until="download")
    first = s.frame("history")
    assert len(s._view.views["history"].parts) == 1  # six pages now one part
    put_history(stack, account, [page("c003", 9, "replaced"), page("c100", 2), page("c101", 0)])
    s.download()
    s.edit("history", "c010", {"title": "committed"})
    s.merge()
    s.commit(s.plan_upload())
    again = s.collection_frames("history")
    fresh = Sync.local(stack, email=account.email, password=account.password)
    fresh.run(until="download")
    want = fresh.collection_frames("history")
    assert list(again.main["id"][:40]) == list(first["id"])  # every record kept its place
    for name, df in want:
        got = again[name]
        key = ["id"] if name == "main" else ["id", "date"]
        pd.testing.assert_frame_equal(
            got.sort_values(key, ignore_index=True), df.sort_values(key, ignore_index=True), obj=name
        )
    assert again.main.set_index("id").at["c003", "visit_count"] == 9


def test_a_node_move_mid_download_leaves_nothing_of_the_old_node(stack, account, monkeypatch):
    """Pages read before the move are parsed and mirrored in other threads: all of that
    must be done before the move resets the mirror, or old records would survive it."""
    from synctools.machine import NodeReassigned
    from synctools.net.storage import CollectionReader

    put_history(stack, account, [page(f"n{i:04d}", 2) for i in range(900)])
    s = Sync.local(stack, email=account.email, password=account.password, page_size=300)  # parsed off-thread
    s.run(until="fetch_crypto_keys")
    real = CollectionReader.pages

    def move_after_the_first_page(self):
        for n, got in enumerate(real(self)):
            yield got
            if n == 0:  # the server moves the account while we read
                stack.admin.reassign(account.email)
                stack.admin.expire_tokens(account.email)

    monkeypatch.setattr(CollectionReader, "pages", move_after_the_first_page)
    with pytest.raises(NodeReassigned):
        s.download(["history"])
    assert s.store.mirror("history") == [] and s.store.mirror_collections() == {}
    assert s.store.last_sync("history") == 0 and s._view.views == {}
