"""The write rules (issue 11), against the real storage node run in-process: a commit never
writes what nobody can read, never writes once the server needs a newer client, and a
server time becomes a write guard only when it is sane."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from synctools import net
from synctools.errors import SynctoolsError
from synctools.machine import State, Sync, UpgradeRequired
from synctools.plan import EngineResetPlan, FreshStartPlan
from synctools.protocol.bso import BSO
from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.states import StalePlanError, UnreadableWrite
from synctools.testing import InProcessNode, in_process_node

BOOKMARKS = [{"id": f"bm{i:04d}", "type": "bookmark", "title": f"B{i}", "bmkUri": f"https://e.example/{i}",
              "parentid": "unfiled"} for i in range(6)]  # fmt: skip


@pytest.fixture
def node() -> Iterator[InProcessNode]:
    with in_process_node() as n:
        n.set_up()
        n.put("bookmarks", BOOKMARKS)
        yield n


def server_titles(node: InProcessNode) -> dict[str, Any]:
    """What a fresh client with the node's current keys reads."""
    fresh = node.sync()
    fresh.run(until="download")
    assert fresh.errors().empty, fresh.errors()
    return {rid: r.get("title") for rid, r in fresh.records("bookmarks").items()}


def another_device_starts_fresh(node: InProcessNode, records: Iterable[dict[str, Any]]) -> None:
    """What Firefox does on a new node or after a reset: wipe, new meta/global and keys, re-upload."""
    client = node.client()
    client.delete_storage(if_unmodified_since=None)
    node.collection_keys = CollectionKeys.generate()
    node.set_up()
    node.put("bookmarks", records)


# --------------------------------------------------------------------------- upgrade required


def test_a_fresh_start_cannot_be_committed_once_the_server_needs_a_newer_client(node):
    s = node.sync()
    s.run(until="exchange_token")
    plan = s.plan_fresh_start()  # planned while the server still looked fine
    node.client().put_record("meta", BSO("global", json.dumps({"syncID": "abcdefghijkl", "storageVersion": 6,
                                                               "engines": {}})), if_unmodified_since=None)  # fmt: skip
    s.fetch_info()
    s.fetch_meta_global()
    assert s.state is State.UPGRADE_REQUIRED
    with pytest.raises(UpgradeRequired, match="Nothing will be written"):
        s.commit(plan)
    with pytest.raises(UpgradeRequired):
        s.plan_fresh_start()
    # the server is untouched: its records and its (newer) meta/global are as they were
    client = node.client()
    assert json.loads(client.get_record("meta", "global").payload)["storageVersion"] == 6
    assert len(client.get_collection("bookmarks")) == len(BOOKMARKS)


# --------------------------------------------------------------------------- readable writes


def test_restore_after_a_fresh_start_re_encrypts_under_the_new_keys(node):
    s = node.sync()
    s.run(until="download")
    s.edit("bookmarks", "bm0001", {"title": "oops"})
    s.merge()
    done = s.commit(s.plan_upload().accept())
    assert done.status == "committed" and done.snapshot is not None
    # another device re-keys the account (a fresh start) and uploads the bookmarks it has
    another_device_starts_fresh(
        node, [{**b, "title": "oops" if b["id"] == "bm0001" else b["title"]} for b in BOOKMARKS]
    )
    s.fetch_info()
    s.fetch_meta_global()  # new syncIDs: local state reset
    s.fetch_crypto_keys()
    s.download()
    plan = s.restore(done.snapshot)
    change = plan.change("bookmarks", "bm0001")
    assert change.kind == "restore" and change.after is not None and change.after["title"] == "B1"
    assert node.collection_keys.bundle_for("bookmarks").decrypt(change.bso.payload, "bm0001")["title"] == "B1"
    assert s.commit(plan.accept()).status == "committed"
    assert server_titles(node)["bm0001"] == "B1"  # and every record opens (no HMAC failure)


def test_restore_refuses_a_record_that_never_decrypted_once_the_keys_changed(node):
    garbage = json.dumps(CollectionKeys.generate().bundle_for("bookmarks").encrypt({"id": "bm0009", "title": "?"}))
    node.client().upload("bookmarks", [BSO("bm0009", garbage)], if_unmodified_since=None)
    s = node.sync()
    s.run(until="download")
    assert list(s.errors()["id"]) == ["bm0009"]
    s.delete("bookmarks", "bm0009")  # clean up the record nobody can read
    s.edit("bookmarks", "bm0002", {"title": "two"})
    s.merge()
    done = s.commit(s.plan_upload().accept())
    another_device_starts_fresh(node, BOOKMARKS)
    s.fetch_info(), s.fetch_meta_global(), s.fetch_crypto_keys(), s.download()
    plan = s.restore(done.snapshot)
    assert "bm0009" in (plan.warning or "") and "never decrypted" in (plan.warning or "")
    assert [c.id for c in plan.changes()] == ["bm0002"]  # the readable one is restored, re-encrypted
    s.commit(plan.accept())
    titles = server_titles(node)  # nothing unreadable was written
    assert "bm0009" not in titles and titles["bm0002"] == "B2"


def test_a_commit_checks_every_payload_against_the_keys_the_server_holds_now(node):
    s = node.sync()
    s.run(until="download")
    s.edit("bookmarks", "bm0003", {"title": "three"})
    s.merge()
    plan = s.plan_upload().accept()
    # between the plan and the commit, another device replaces crypto/keys
    node.collection_keys = CollectionKeys.generate()
    node.set_up(MetaGlobal.from_payload(s.meta_global.to_payload()))
    with pytest.raises(UnreadableWrite, match="would not decrypt under the server's crypto/keys") as refused:
        s.commit(plan)
    assert refused.value.records == {"bookmarks": ["bm0003"]}
    assert "crypto/keys changed on the server" in str(refused.value)
    old = CollectionKeys.from_cleartext(node.collection_keys.to_cleartext())  # the node's keys now
    bm = node.client().get_record("bookmarks", "bm0003")
    with pytest.raises(SynctoolsError):  # still the old record, under the old key: nothing was written
        old.bundle_for("bookmarks").decrypt(bm.payload, "bm0003")
    assert s.state is State.PLANNED  # nothing moved: fetch_crypto_keys() and plan again


def test_a_restored_payload_that_nobody_can_read_is_left_out_of_the_plan(node):
    s = node.sync()
    s.run(until="download")
    s.edit("bookmarks", "bm0004", {"title": "four"})
    s.merge()
    done = s.commit(s.plan_upload().accept())
    # the snapshot's cleartext is gone (say, a store written by an older synctools)
    s.store._db.execute(
        "UPDATE snapshots SET sealed = NULL, payload = ? WHERE snapshot = ?",
        (json.dumps(CollectionKeys.generate().default.encrypt({"id": "bm0004"})), done.snapshot),
    )
    plan = s.restore(done.snapshot)
    assert plan.changes() == [] and "bm0004" in (plan.warning or "")
    assert plan.empty


# --------------------------------------------------------------------------- sane guards


def mangling(app: Callable[..., Any], when: Callable[[dict[str, Any]], bool], header: str,
             value: str) -> Callable[..., Any]:  # fmt: skip
    """A WSGI middleware that rewrites one response header on the requests ``when`` picks."""
    state = {"armed": False}

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if state["armed"] and when(environ):
                headers = [(k, value if k.lower() == header.lower() else v) for k, v in headers]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    wrapped.state = state  # type: ignore[attr-defined]
    return wrapped


@pytest.mark.parametrize("where", ["download page", "commit answer"])
@pytest.mark.parametrize("value", ["99999999999.99", "1.00"])
def test_an_impossible_x_last_modified_never_guards_a_write(node, where, value):
    is_get = where == "download page"
    node.app = mangling(node.app, lambda e: e["REQUEST_METHOD"] == ("GET" if is_get else "POST")
                        and e["PATH_INFO"].endswith("/storage/bookmarks"), "X-Last-Modified", value)  # fmt: skip
    s = node.sync()
    s.run(until="download")
    other = node.sync()
    other.run(until="download")
    other.edit("bookmarks", "bm0001", {"title": "other 1"})
    other.merge()
    other.commit(other.plan_upload().accept())
    if not is_get:  # a commit that succeeds, and whose answer is the corrupt one
        s.download(["bookmarks"])
        s.edit("bookmarks", "bm0002", {"title": "mine 2"})
        s.merge()
        plan = s.plan_upload().accept()
    node.app.state["armed"] = True
    try:  # the corrupt answer: a clear error, or records kept with the guard refused
        result = s.download(["bookmarks"]) if is_get else s.commit(plan)
        assert any("X-Last-Modified" in w for w in result.warnings), result.warnings
    except SynctoolsError as exc:
        assert "X-Last-Modified" in str(exc)
    node.app.state["armed"] = False
    # another device changes a record; ours, staged against what we saw, must not overwrite it
    other.download(["bookmarks"])
    other.edit("bookmarks", "bm0003", {"title": "other 3"})
    other.merge()
    assert other.commit(other.plan_upload().accept()).status == "committed"
    s.edit("bookmarks", "bm0003", {"title": "mine 3"})
    s.merge()
    try:
        s.commit(s.plan_upload().accept())
    except SynctoolsError:
        pass  # refusing is as safe as a conflict
    assert server_titles(node)["bm0003"] == "other 3"


# --------------------------------------------------------------------------- other plans


def test_a_fresh_start_plan_counts_what_it_deletes(node):
    s = node.sync()
    s.run(until="fetch_info")
    plan = s.plan_fresh_start()
    assert isinstance(plan, FreshStartPlan) and plan.kind == "fresh-start"
    assert plan.deletes == {"bookmarks": len(BOOKMARKS)} and plan.records_deleted == len(BOOKMARKS)
    assert f"deletes: {len(BOOKMARKS)} record(s)" in repr(plan)
    result = s.commit(plan)
    assert dict(result.done)["deleted"].startswith(f"{len(BOOKMARKS)} record(s)")
    assert s.state is State.TOKEN and "records written" not in dict(result.summary())


@pytest.mark.parametrize("wipe", [False, True])
def test_one_engine_reset_is_a_reviewed_plan(node, wipe):
    s = node.sync()
    s.run(until="download")
    before = s.meta_global.engines["bookmarks"].sync_id
    plan = s.plan_engine_reset("bookmarks", wipe=wipe)
    assert isinstance(plan, EngineResetPlan) and plan.old_sync_id == before
    assert node.client().info_collections().get("bookmarks") is not None  # nothing written yet
    result = s.commit(plan)
    assert result.status == "committed" and s.state is State.READY
    meta = MetaGlobal.from_payload(node.client().get_record("meta", "global").payload)
    assert meta.engines["bookmarks"].sync_id != before
    assert meta.engines["bookmarks"].sync_id == s.meta_global.engines["bookmarks"].sync_id
    on_server = node.client().info_collections()
    assert ("bookmarks" in on_server) is (not wipe)
    if wipe:
        assert dict(result.done)["deleted"] == f"{len(BOOKMARKS)} bookmarks record(s)"
    with pytest.raises(ValueError, match="not an engine"):
        s.plan_engine_reset("nonsense")


def test_a_stale_engine_reset_writes_nothing(node):
    s = node.sync()
    s.run(until="download")
    plan = s.plan_engine_reset("bookmarks", wipe=True)
    other = node.sync()
    other.run(until="download")
    other.edit("bookmarks", "bm0000", {"title": "new"})
    other.merge()
    other.commit(other.plan_upload().accept())
    result = s.commit(plan)
    assert result.status == "conflict" and s.state is State.INFO
    assert server_titles(node)["bm0000"] == "new"


def test_the_state_machine_tests_need_no_stack(node):
    """The whole of a sync, in-process: every stage, a commit, a restore."""
    s = node.sync()
    s.run(until="download")
    s.edit("bookmarks", "bm0005", {"title": "five"})
    s.merge()
    done = s.commit(s.plan_upload().accept())
    s.commit(s.restore(done.snapshot).accept())
    assert server_titles(node)["bm0005"] == "B5"
    assert isinstance(s.storage, net.StorageClient) and all("node.invalid" in e.url for e in s.trace_log.exchanges)


def test_sync_state_cannot_be_assigned(node):
    s: Sync = node.sync()
    with pytest.raises(AttributeError):
        s.state = State.COMMITTED  # type: ignore[misc]


# --------------------------------------------------------------------------- linked changes


def test_a_bookmark_move_is_one_change_decided_and_written_whole():
    with in_process_node() as node:
        node.set_up()
        node.put("bookmarks", [
            {"id": "unfiled", "type": "folder", "parentid": "places", "title": "", "children": ["folderA", "folderB"]},
            {"id": "folderA", "type": "folder", "parentid": "unfiled", "title": "A", "children": ["bmX", "bmY"]},
            {"id": "folderB", "type": "folder", "parentid": "unfiled", "title": "B", "children": []},
            {"id": "bmX", "type": "bookmark", "parentid": "folderA", "title": "X", "bmkUri": "https://x.example/"},
            {"id": "bmY", "type": "bookmark", "parentid": "folderA", "title": "Y", "bmkUri": "https://y.example/"},
        ])  # fmt: skip
        s = node.sync()
        s.run(until="download")
        s.edit("bookmarks", "bmX", {"parentid": "folderB"})  # move X from A to B
        s.edit("bookmarks", "folderA", {"children": ["bmY"]})
        s.edit("bookmarks", "folderB", {"children": ["bmX"]})
        s.edit("bookmarks", "bmY", {"title": "Y, renamed"})  # unrelated: decided on its own
        s.merge()
        plan = s.plan_upload()
        assert plan.collections["bookmarks"].groups == [frozenset({"bmX", "folderA", "folderB"})]
        assert {c.id for c in plan.linked("bookmarks", "folderB")} == {"bmX", "folderA", "folderB"}
        assert "LINKED bmX, folderA, folderB" in repr(plan)
        plan.reject("bookmarks", "bmX")  # rejecting one part rejects the move
        assert {c.id: c.accepted for c in plan.changes()} == {"bmX": False, "folderA": False, "folderB": False,
                                                             "bmY": None}  # fmt: skip
        plan.accept("bookmarks", "bmY")
        plan.change("bookmarks", "folderA").accepted = True  # a widget or a script sets one part by hand
        with pytest.raises(StalePlanError, match="linked changes are decided part one way"):
            s.commit(plan)
        before = server_titles(node)
        assert before["bmY"] == "Y"  # nothing written
        plan.accept("bookmarks", "folderA")
        assert s.commit(plan).status == "committed"
        fresh = node.sync()
        fresh.run(until="download")
        tree = fresh.records("bookmarks")
        assert tree["bmX"]["parentid"] == "folderB" and tree["folderB"]["children"] == ["bmX"]
        assert tree["folderA"]["children"] == ["bmY"] and tree["bmY"]["title"] == "Y, renamed"
