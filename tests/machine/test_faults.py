"""When sync goes wrong: each fault injected by the embedded stack, what the person
sees, and proof that no server record and no staged edit was lost or overwritten."""

from __future__ import annotations

import json

import pytest

from synctools import net
from synctools.machine import BackoffActive, StageOrderError, State, Sync, SyncError, UpgradeRequired
from synctools.protocol.crypto import KeyBundle


def fresh_view(stack, acct, coll="bookmarks"):
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="download")
    return s.records(coll)


def ready(stack, acct, **kw) -> Sync:
    s = Sync.local(stack, email=acct.email, password=acct.password, **kw)
    s.run(until="download")
    return s


def test_412_during_commit_never_overwrites_the_concurrent_change(stack, account):
    s = ready(stack, account)
    s.edit("bookmarks", "bookmark0001", {"title": "mine"})
    s.merge()
    plan = s.plan_upload()
    # someone else writes the same record first
    other = ready(stack, account)
    other.edit("bookmarks", "bookmark0001", {"title": "theirs"})
    other.merge()
    assert other.commit(other.plan_upload()).status == "committed"
    result = s.commit(plan)
    # what the person sees: a conflict, a warning saying nothing was written, a new plan
    assert result.status == "conflict"
    assert any("nothing of bookmarks was written" in w for w in result.warnings)
    assert [(c.collection, c.id) for c in result.new_plan.blocked] == [("bookmarks", "bookmark0001")]
    conflict = result.new_plan.blocked[0]
    assert conflict.server["title"] == "theirs" and conflict.local["title"] == "mine"
    # nothing lost: the server keeps theirs, our edit is still staged
    assert fresh_view(stack, account)["bookmark0001"]["title"] == "theirs"
    assert list(s.staged()["id"]) == ["bookmark0001"]
    # the person chooses; only then is it written
    s.resolve("bookmarks", "bookmark0001", "local")
    assert s.commit(s.plan_upload()).status == "committed"
    assert fresh_view(stack, account)["bookmark0001"]["title"] == "mine"


def test_injected_412_fault_on_commit(stack, account):
    s = ready(stack, account)
    s.edit("bookmarks", "bookmark0002", {"title": "mine"})
    s.merge()
    plan = s.plan_upload()
    stack.admin.inject_fault("412", method="POST", path="/storage/bookmarks")
    result = s.commit(plan)
    assert result.status == "conflict" and result.snapshot is None
    assert fresh_view(stack, account)["bookmark0002"]["title"] == "Site 2"
    assert list(s.staged()["id"]) == ["bookmark0002"]
    # the record itself was not touched by the concurrent write: no conflict, a fresh plan
    assert not result.new_plan.blocked and result.new_plan.change("bookmarks", "bookmark0002")
    assert s.commit(result.new_plan).status == "committed"
    assert fresh_view(stack, account)["bookmark0002"]["title"] == "mine"


def test_503_retry_after_stops_with_the_wait_shown(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="fetch_crypto_keys")
    stack.admin.inject_fault("503", path="/storage/bookmarks", retry_after=2)
    with pytest.raises(net.ServerBusy) as err:
        s.download(["bookmarks"])
    assert err.value.retry_after == 2 and "retry after 2s" in str(err.value)
    assert s.state is State.READY  # nothing half-done: the stage can simply run again
    # the next call respects the wait instead of hammering the server
    with pytest.raises(BackoffActive, match="wait_backoff"):
        s.download(["bookmarks"])
    s.ignore_backoff()
    assert s.download(["bookmarks"]).collections[0]["downloaded"] == 20


def test_503_with_wait_policy_waits_then_succeeds(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password, on_backoff="wait")
    s.run(until="fetch_crypto_keys")
    stack.admin.inject_fault("503", path="/storage/bookmarks", retry_after=1)
    result = s.download(["bookmarks"])
    assert result.collections[0]["downloaded"] == 20
    assert any("retry after 1s" in w for w in result.warnings)


def test_x_weave_backoff_and_alert_are_surfaced(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="exchange_token")
    stack.admin.inject_fault("backoff", path="/info/collections", seconds=120)
    stack.admin.inject_fault("alert", path="/info/configuration", text="node retiring soon")
    info = s.fetch_info()
    assert any("back off for 120s" in w for w in info.warnings)
    assert any("node retiring soon" in w for w in info.warnings)
    assert s.backoff is not None and s.backoff.seconds == 120
    with pytest.raises(BackoffActive, match="120s"):
        s.fetch_meta_global()
    s.ignore_backoff()
    s.fetch_meta_global()


def test_401_mid_download_refetches_the_token(stack, seeder):
    acct = seeder(n_bookmarks=30)
    s = Sync.local(stack, email=acct.email, password=acct.password, page_size=10)
    s.run(until="fetch_crypto_keys")
    stack.admin.inject_fault("401", path="/storage/bookmarks")
    result = s.download(["bookmarks"])
    assert result.collections[0]["downloaded"] == 30
    token_requests = [r for r in result.requests if "/token/" in r["path"]]
    assert len(token_requests) == 1  # a fresh token, then the read went on


def test_node_reassignment_resets_and_says_so(stack, account):
    s = ready(stack, account)
    s.edit("bookmarks", "bookmark0003", {"title": "staged before the move"})
    old = s.token.api_endpoint
    stack.admin.reassign(account.email)
    stack.admin.expire_tokens(account.email)
    with pytest.raises(SyncError, match="node moved"):
        s.fetch_info()
    assert s.token is not None and s.storage.endpoint != old
    # every place that names the node names the new one (issue 11)
    assert s.token.api_endpoint == s.storage.endpoint
    assert s.results["exchange_token"].api_endpoint == s.storage.endpoint
    assert s.store.get_state("node") == s.storage.endpoint
    assert s.store.last_sync("bookmarks") == 0 and s.records("bookmarks") == {}
    # the staged edit survives the move
    assert list(s.staged()["id"]) == ["bookmark0003"]
    # the new node is empty: the setup stages say a fresh start is needed
    s.fetch_info()
    mg = s.fetch_meta_global()
    assert s.state is State.FRESH_START_REQUIRED and any("missing" in w for w in mg.warnings)


def test_connection_dropped_mid_batch_leaves_server_untouched(stack, seeder):
    acct = seeder(n_bookmarks=25)
    stack.admin.set_config(max_post_records=10)
    try:
        s = ready(stack, acct)
        for i in range(25):
            s.edit("bookmarks", f"bookmark{i:04d}", {"title": f"new {i}"})
        s.merge()
        plan = s.plan_upload()
        stack.admin.inject_fault("drop", method="POST", path="/storage/bookmarks", count=1)
        # the first POST of the batch goes through (202), the drop hits it; retry below
        with pytest.raises(net.ServerUnreachable, match="retry"):
            s.commit(plan)
        view = fresh_view(stack, acct)
        assert all(view[f"bookmark{i:04d}"]["title"] == f"Site {i}" for i in range(25))
        assert len(s.staged()) == 25
        assert s.commit(plan).status == "committed"
        view = fresh_view(stack, acct)
        assert all(view[f"bookmark{i:04d}"]["title"] == f"new {i}" for i in range(25))
    finally:
        stack.admin.reset_config()


def test_hmac_failures_in_some_records_are_listed_and_the_rest_load(stack, seeder):
    acct = seeder(n_bookmarks=10)
    other = KeyBundle.random()
    bad = {"id": "tampered0001", "type": "bookmark", "title": "x"}
    payload = acct.keys.bundle_for("bookmarks").encrypt(bad)
    payload["hmac"] = "0" * 64
    stack.admin.put_records(acct.email, "bookmarks", [
        {"id": "tampered0001", "payload": json.dumps(payload)},
        {"id": "otherkey0001", "payload": json.dumps(other.encrypt({"id": "otherkey0001"}))},
    ])  # fmt: skip
    s = ready(stack, acct)
    row = next(r for r in s.results["download"].collections if r["collection"] == "bookmarks")
    assert row["downloaded"] == 12 and row["failed"] == 2 and "hmac-mismatch: 2" in row["errors"]
    assert len(s.records("bookmarks")) == 10
    errors = s.errors("bookmarks")
    assert set(errors["id"]) == {"tampered0001", "otherkey0001"}
    assert all("HMAC mismatch" in e for e in errors["error"])


def test_wrong_key_for_one_collection(stack, seeder):
    # crypto/keys names a key for history, but history was written with the default key
    acct = seeder(n_bookmarks=5, own_key_for=("history",))
    default = acct.keys.default
    stack.admin.put_records(
        acct.email,
        "history",
        [
            {
                "id": f"hist{i:08d}",
                "payload": json.dumps(default.encrypt({"id": f"hist{i:08d}", "histUri": "https://a/", "visits": []})),
            }
            for i in range(4)
        ],
    )
    s = ready(stack, acct)
    rows = {r["collection"]: r for r in s.results["download"].collections}
    assert rows["history"]["failed"] == 4 and rows["bookmarks"]["failed"] == 0
    ck = s.results["fetch_crypto_keys"]
    assert {u["collection"]: u["key"] for u in ck.usage}["history"] == "own"


def test_storage_version_6_refuses_everything(stack, seeder):
    acct = seeder(storage_version=6)
    before = server_timestamps(stack, acct)
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="fetch_meta_global")
    assert s.state is State.UPGRADE_REQUIRED
    assert any("newer than 5" in w or "> 5" in w for w in s.results["fetch_meta_global"].warnings)
    with pytest.raises(UpgradeRequired):
        s.fetch_crypto_keys()
    with pytest.raises(UpgradeRequired):
        s.download()
    assert server_timestamps(stack, acct) == before  # nothing written


def server_timestamps(stack, acct):
    """info/collections as another client reads it: any write would move a timestamp."""
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="fetch_info")
    return dict(s.info_collections)


def test_meta_global_missing_requires_a_reviewed_fresh_start(stack, seeder):
    acct = seeder(meta=False)
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="fetch_meta_global")
    assert s.state is State.FRESH_START_REQUIRED
    with pytest.raises(StageOrderError, match="fresh start"):
        s.download()
    plan = s.plan_fresh_start()
    assert "deletes EVERY record" in plan.warning and "bookmarks" in plan.warning
    assert "bookmarks" in server_timestamps(stack, acct)  # planning wrote nothing
    s.commit(plan)
    s.run(until="download")
    assert s.state is State.DOWNLOADED and s.records("bookmarks") == {}
    assert s.results["fetch_meta_global"].plan.status == "ok"


def test_crypto_keys_missing_requires_a_fresh_start(stack, seeder):
    acct = seeder(crypto=False)
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="fetch_crypto_keys")
    result = s.results["fetch_crypto_keys"]
    assert result.status == "missing" and s.state is State.FRESH_START_REQUIRED
    assert any("plan_fresh_start" in w for w in result.warnings)


def test_crypto_keys_from_other_account_keys_explains_password_reset(stack, seeder):
    acct = seeder()
    stack.admin.put_records(
        acct.email, "crypto", [{"id": "keys", "payload": json.dumps(KeyBundle.random().encrypt({"id": "keys"}))}]
    )
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="fetch_crypto_keys")
    result = s.results["fetch_crypto_keys"]
    assert result.status == "undecryptable" and "password reset" in result.warnings[0]


def test_frames_show_failed_records_with_their_error(stack, seeder):
    acct = seeder(n_bookmarks=6)
    stack.admin.put_records(acct.email, "bookmarks", [
        {"id": "otherkey0002", "payload": json.dumps(KeyBundle.random().encrypt({"id": "otherkey0002"}))},
    ])  # fmt: skip
    s = ready(stack, acct)
    df = s.frame("bookmarks")
    assert len(df) == 7
    bad = df[df["id"] == "otherkey0002"].iloc[0]
    assert "HMAC mismatch" in bad["error"] and bad.isna()["title"]
    assert df["error"].isna().sum() == 6
    assert str(df["modified"].dtype).startswith("datetime64")
    assert set(s.frames()) == {"bookmarks"}
