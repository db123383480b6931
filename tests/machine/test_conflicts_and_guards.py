"""Safety cases found in review: two Syncs on one store, writes into collections never
read, stale fresh starts, resolve and edit compositions, multi-batch 412s, node moves."""

from __future__ import annotations

import json

import pytest

from synctools.machine import NodeReassigned, StageOrderError, State, Sync, SyncError
from synctools.protocol.crypto import KeyBundle


def ready(stack, acct, **kw) -> Sync:
    s = Sync.local(stack, email=acct.email, password=acct.password, **kw)
    s.run(until="download")
    return s


def server_view(stack, acct, coll="bookmarks"):
    return ready(stack, acct).records(coll)


def test_two_syncs_on_one_store_never_overwrite_a_concurrent_change(stack, account, tmp_path):
    path = tmp_path / "shared.sqlite"
    a = ready(stack, account, store=path)
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0001", {"title": "concurrent"})
    other.merge()
    assert other.commit(other.plan_upload()).status == "committed"
    ready(stack, account, store=path)  # a second notebook on the same store moves it on
    a.edit("bookmarks", "bookmark0001", {"title": "A overwrites"})
    a.merge()
    result = a.commit(a.plan_upload())
    assert result.status == "conflict"
    assert server_view(stack, account)["bookmark0001"]["title"] == "concurrent"


def test_a_commit_leaves_a_newer_edit_staged_by_another_sync(stack, account, tmp_path):
    path = tmp_path / "shared.sqlite"
    a = ready(stack, account, store=path)
    a.edit("bookmarks", "bookmark0002", {"title": "A"})
    a.merge()
    plan = a.plan_upload()
    b = ready(stack, account, store=path)
    b.edit("bookmarks", "bookmark0002", {"title": "B newer"})
    assert a.commit(plan).status == "committed"
    assert list(b.staged()["id"]) == ["bookmark0002"] and "B newer" in b.staged()["record"][0]


def test_adding_to_a_collection_never_downloaded_is_refused(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="fetch_crypto_keys")
    s.download([])  # nothing read
    s.add("bookmarks", {"id": "bookmark0003", "type": "bookmark", "title": "would replace unseen"})
    s.merge()
    with pytest.raises(StageOrderError, match=r"download\(\['bookmarks'\]\) first"):
        s.plan_upload()
    assert server_view(stack, account)["bookmark0003"]["title"] == "Site 3"


def test_a_stale_fresh_start_deletes_nothing(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="fetch_crypto_keys")
    plan = s.plan_fresh_start()
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0004", {"title": "written after the plan"})
    other.merge()
    other.commit(other.plan_upload())
    result = s.commit(plan)
    assert result.status == "conflict" and "nothing was deleted" in result.warnings[0]
    assert server_view(stack, account)["bookmark0004"]["title"] == "written after the plan"


def test_resolve_and_edit_compose_changes_correctly(stack, account):
    s = ready(stack, account)
    s.edit("bookmarks", "bookmark0005", {"title": "mine"})
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0005", {"title": "theirs"})
    other.merge()
    other.commit(other.plan_upload())
    s.download(["bookmarks"])
    assert [c.id for c in s.merge().conflicts] == ["bookmark0005"]
    s.resolve("bookmarks", "bookmark0005", {"title": "merged by hand"})  # fields onto the server's version
    s.merge()
    s.commit(s.plan_upload())
    rec = server_view(stack, account)["bookmark0005"]
    assert rec == {**rec, "id": "bookmark0005", "type": "bookmark", "title": "merged by hand"}
    # a delete then an edit is an undelete with the edit, never a tombstone
    s.delete("bookmarks", "bookmark0006")
    s.edit("bookmarks", "bookmark0006", {"title": "kept after all"})
    [row] = s.staged().to_dict("records")
    assert row["kind"] == "edit" and "deleted" not in row["record"]


def test_resolve_local_on_a_conflicting_restore_restores(stack, account):
    s = ready(stack, account)
    s.edit("bookmarks", "bookmark0007", {"title": "oops"})
    s.merge()
    done = s.commit(s.plan_upload())
    s.restore(done.snapshot)
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0007", {"title": "someone else"})
    other.merge()
    other.commit(other.plan_upload())
    s.download(["bookmarks"])
    assert s.merge().conflicts
    s.resolve("bookmarks", "bookmark0007", "local")
    s.merge()
    assert s.plan_upload().change("bookmarks", "bookmark0007").kind == "restore"
    s.commit(s.plan)
    assert server_view(stack, account)["bookmark0007"]["title"] == "Site 7"


def test_412_after_earlier_batches_keeps_their_snapshot(stack, seeder, monkeypatch):
    acct = seeder(n_bookmarks=6)
    stack.admin.set_config(max_total_records=2, max_post_records=2)
    try:
        s = ready(stack, acct)
        for i in range(6):
            s.edit("bookmarks", f"bookmark{i:04d}", {"title": f"A{i}"})
        s.merge()
        plan = s.plan_upload()
        assert len(plan.collections["bookmarks"].batches) == 3
        # another device writes to the collection right after our first batch is committed
        real_post = s.storage._post
        posts = []

        def post_then_concurrent_write(*args, **kwargs):
            answer = real_post(*args, **kwargs)
            posts.append(answer)
            if len(posts) == 1:
                stack.admin.put_records(acct.email, "history", [{"id": "x", "payload": "{}"}])
                stack.admin.put_records(acct.email, "bookmarks", [{"id": "other-device", "payload": "{}"}])
            return answer

        monkeypatch.setattr(s.storage, "_post", post_then_concurrent_write)
        result = s.commit(plan)
    finally:
        stack.admin.reset_config()
    assert result.status == "conflict"
    written = sum(len(u.success) for u in result.uploads)
    assert written == 2 and result.snapshot is not None
    assert "2 record(s) of bookmarks were written by earlier batches" in " ".join(result.warnings)
    view = server_view(stack, acct)
    assert [i for i in range(6) if view[f"bookmark{i:04d}"]["title"] == f"A{i}"] == [0, 1]
    assert sorted(s.staged()["id"]) == [f"bookmark{i:04d}" for i in range(2, 6)]
    # the snapshot can put the two written records back
    assert {c.id for c in s.restore(result.snapshot).changes()} >= {"bookmark0000", "bookmark0001"}


def test_node_move_forgets_the_old_view(stack, account):
    s = ready(stack, account)
    assert s.envelope("bookmarks", "bookmark0001") is not None
    old = s.token.api_endpoint
    stack.admin.reassign(account.email)
    stack.admin.expire_tokens(account.email)
    with pytest.raises(NodeReassigned, match="node moved") as moved:
        s.fetch_info()
    assert isinstance(moved.value, SyncError) and moved.value.old_endpoint == old
    assert s.envelope("bookmarks", "bookmark0001") is None and s.frames() == {} and s.plan is None
    # every place that names the node names the new one (issue 11)
    new = moved.value.new_endpoint
    assert new != old and s.token.api_endpoint == new and s.results["exchange_token"].api_endpoint == new
    assert s.store.get_state("node") == new and s.state is State.TOKEN


def test_download_reads_changes_made_since_fetch_info(stack, account):
    s = ready(stack, account)
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0008", {"title": "newer"})
    other.merge()
    other.commit(other.plan_upload())
    s.download("bookmarks")  # a string is one collection, not nine
    assert s.records("bookmarks")["bookmark0008"]["title"] == "newer"


def test_invalid_records_are_listed_with_validate(stack, seeder):
    acct = seeder(n_bookmarks=2)
    bundle = acct.keys.bundle_for("forms")
    stack.admin.put_records(acct.email, "forms", [
        {"id": "fOdd1", "payload": json.dumps(bundle.encrypt({"id": "fOdd1", "name": ["not", "a", "string"]}))},
        {"id": "fGood", "payload": json.dumps(bundle.encrypt({"id": "fGood", "name": "q", "value": "v"}))},
        {"id": "fWrong", "payload": json.dumps(KeyBundle.random().encrypt({"id": "fWrong"}))},
    ])  # fmt: skip
    s = ready(stack, acct)
    assert set(s.errors("forms")["id"]) == {"fWrong"}
    full = s.errors("forms", validate=True)
    assert set(full["id"]) == {"fWrong", "fOdd1"}
    assert full.set_index("id").loc["fOdd1", "reason"] == "bad-record"


def test_bad_input_gets_clear_errors(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    with pytest.raises(StageOrderError, match="authenticate"):
        s.staged()
    s.run(until="download")
    with pytest.raises(ValueError, match="collection name"):
        s.add("zz-bad/coll", {"id": "x"})
    with pytest.raises(ValueError, match="own plans"):
        s.add("meta", {"id": "global"})
    with pytest.raises(KeyError, match="not downloaded"):
        s.frame("bookmark")
