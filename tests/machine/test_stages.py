"""The stepwise sync on the embedded stack: stage order, results, edit → plan → commit."""

from __future__ import annotations

import pytest

from synctools.machine import StageOrderError, State, Sync


def server_record(stack, acct, coll, rid):
    """Read back through a second, fresh sync: what any device would now see."""
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="download")
    return s.records(coll).get(rid)


def test_stage_called_too_early_names_the_stage_to_run_first(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    with pytest.raises(StageOrderError, match=r"run sync\.authenticate\(\) first"):
        s.download()
    s.authenticate()
    with pytest.raises(StageOrderError, match=r"run sync\.exchange_token\(\) first"):
        s.fetch_meta_global()
    s.exchange_token()
    with pytest.raises(StageOrderError, match=r"run sync\.fetch_info\(\) first"):
        s.fetch_crypto_keys()


def test_each_stage_alone_and_its_result(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    auth = s.authenticate()
    assert s.state is State.AUTHENTICATED and auth.kid.startswith("1700000000000-")
    assert account.password not in repr(auth) and account.password not in auth._repr_html_()
    tok = s.exchange_token()
    assert tok.api_endpoint.startswith(stack.url) and "/1.5/" in tok.api_endpoint
    info = s.fetch_info()
    assert {"meta", "crypto", "bookmarks"} <= set(info.collections)
    assert info.configuration["max_post_records"] == 100
    assert [r["path"].split("?")[0].rsplit("/", 2)[-2:] for r in info.requests] == [
        ["info", "configuration"],
        ["info", "collections"],
    ]
    mg = s.fetch_meta_global()
    assert mg.plan.status == "ok" and s.state is State.META_GLOBAL
    assert set(mg.engines["engine"]) >= {"bookmarks", "history", "passwords"}
    ck = s.fetch_crypto_keys()
    assert ck.status == "ok" and ck.fingerprints["default"] == account.keys.default.fingerprint
    dl = s.download()
    row = next(r for r in dl.collections if r["collection"] == "bookmarks")
    assert row["downloaded"] == 20 and row["failed"] == 0
    assert s.records("bookmarks")["bookmark0003"]["title"] == "Site 3"
    assert "<table" in dl._repr_html_()


def test_rerunning_a_stage_rewinds_and_second_download_reads_only_newer(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    s.fetch_info()
    assert s.state is State.INFO
    s.run(until="download")
    again = s.results["download"]
    assert next(r for r in again.collections if r["collection"] == "bookmarks")["downloaded"] == 0
    assert len(s.records("bookmarks")) == 20


def test_edit_plan_commit_verify(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    s.edit("bookmarks", "bookmark0001", {"title": "Renamed"})
    s.add(
        "bookmarks",
        {
            "id": "newbookmark1",
            "type": "bookmark",
            "title": "New",
            "bmkUri": "https://new.example/",
            "parentid": "unfiled",
        },
    )
    s.delete("bookmarks", "bookmark0002")
    assert len(s.staged()) == 3
    merged = s.merge()
    assert len(merged.outgoing) == 3 and not merged.conflicts
    plan = s.plan_upload()
    assert {c.id: c.kind for c in plan.changes()} == {
        "bookmark0001": "edit",
        "newbookmark1": "add",
        "bookmark0002": "delete",
    }
    change = plan.change("bookmarks", "bookmark0001")
    assert [(d.path, d.old, d.new) for d in change.changes] == [("title", "Site 1", "Renamed")]
    cp = plan.collections["bookmarks"]
    assert cp.if_unmodified_since == s.store.last_sync("bookmarks")
    assert cp.batches == [{"posts": 1, "records": 3}] and cp.too_large == {}
    # nothing was written by planning
    assert server_record(stack, account, "bookmarks", "bookmark0001")["title"] == "Site 1"
    result = s.commit(plan)
    assert result.status == "committed" and result.snapshot is not None
    assert server_record(stack, account, "bookmarks", "bookmark0001")["title"] == "Renamed"
    assert server_record(stack, account, "bookmarks", "newbookmark1")["title"] == "New"
    assert server_record(stack, account, "bookmarks", "bookmark0002") == {"id": "bookmark0002", "deleted": True}
    assert s.staged().empty


def test_rejected_change_is_not_uploaded_and_stays_staged(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    s.edit("bookmarks", "bookmark0005", {"title": "Yes"})
    s.edit("bookmarks", "bookmark0006", {"title": "No"})
    s.merge()
    plan = s.plan_upload().reject("bookmarks", "bookmark0006")
    s.commit(plan)
    assert server_record(stack, account, "bookmarks", "bookmark0005")["title"] == "Yes"
    assert server_record(stack, account, "bookmarks", "bookmark0006")["title"] == "Site 6"
    assert list(s.staged()["id"]) == ["bookmark0006"]


def test_commit_writes_with_x_if_unmodified_since_and_batches_to_limits(stack, seeder):
    acct = seeder(n_bookmarks=30)
    s = Sync.local(stack, email=acct.email, password=acct.password)
    s.run(until="download")
    for i in range(25):
        s.edit("bookmarks", f"bookmark{i:04d}", {"title": f"T{i}"})
    stack.admin.set_config(max_post_records=10)
    try:
        s.fetch_info()
        s.run(until="merge")
        plan = s.plan_upload()
        assert [b["records"] for b in plan.collections["bookmarks"].batches] == [25]
        assert plan.collections["bookmarks"].batches[0]["posts"] == 3
        stack.admin.clear_requests()
        mark = len(s.trace_log.exchanges)
        s.commit(plan)
        posts = [r for r in stack.admin.requests() if r["method"] == "POST" and "/storage/bookmarks" in r["path"]]
        bid = posts[1]["query"].split("=", 1)[1]
        assert [p["query"] for p in posts] == ["batch=true", f"batch={bid}", f"batch={bid}&commit=true"]
        sent = [e for e in s.trace_log.exchanges[mark:] if e.method == "POST"]
        guards = [e.request_headers.get("X-If-Unmodified-Since") for e in sent]
        assert len(sent) == 3 and guards[0] == str(plan.collections["bookmarks"].if_unmodified_since)
        assert all(guards)
    finally:
        stack.admin.reset_config()
    for i in range(25):
        assert server_record(stack, acct, "bookmarks", f"bookmark{i:04d}")["title"] == f"T{i}"


def test_restore_puts_back_what_a_commit_replaced(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    s.edit("bookmarks", "bookmark0007", {"title": "Oops"})
    s.add("bookmarks", {"id": "brandnew0001", "type": "bookmark", "title": "x", "parentid": "unfiled"})
    s.merge()
    done = s.commit(s.plan_upload())
    plan = s.restore(done.snapshot)
    kinds = {c.id: c.kind for c in plan.changes()}
    assert kinds == {"bookmark0007": "restore", "brandnew0001": "delete"}
    assert s.commit(plan).status == "committed"
    assert server_record(stack, account, "bookmarks", "bookmark0007")["title"] == "Site 7"
    assert server_record(stack, account, "bookmarks", "brandnew0001")["deleted"] is True


def test_kernel_restart_resumes_from_the_store(stack, account, tmp_path):
    path = tmp_path / "store.sqlite"
    s = Sync.local(stack, email=account.email, password=account.password, store=path)
    s.run(until="download")
    s.edit("bookmarks", "bookmark0008", {"title": "Staged before restart"})
    s.store.close()
    # a new kernel: a new Sync on the same store file
    s2 = Sync.local(stack, email=account.email, password=account.password, store=path)
    s2.run(until="download")
    row = next(r for r in s2.results["download"].collections if r["collection"] == "bookmarks")
    assert row["downloaded"] == 0 and row["total"] == 20  # nothing fetched again: decrypted from the mirror
    assert list(s2.staged()["id"]) == ["bookmark0008"]
    # the store holds no cleartext: neither the staged title nor a downloaded one
    raw = path.read_bytes() + (
        path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b""
    )
    assert b"Staged before restart" not in raw and b"Site 3" not in raw
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_next_and_run_stop_before_commit(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run()
    assert s.state is State.PLANNED
    with pytest.raises(StageOrderError, match="commit"):
        s.next()
    with pytest.raises(ValueError, match="explicit"):
        s.run(until="commit")


def test_plan_rebatches_after_rejections_and_knows_its_sync(stack, seeder):
    acct = seeder(n_bookmarks=12)
    stack.admin.set_config(max_post_records=5)
    try:
        s = Sync.local(stack, email=acct.email, password=acct.password)
        s.run(until="download")
        for i in range(12):
            s.edit("bookmarks", f"bookmark{i:04d}", {"title": f"x{i}"})
        s.merge()
        plan = s.plan_upload()
        assert plan.collections["bookmarks"].batches == [{"posts": 3, "records": 12}]
        for i in range(8):
            plan.reject("bookmarks", f"bookmark{i:04d}")
        assert plan.rebatch().collections["bookmarks"].batches == [{"posts": 1, "records": 4}]
        assert plan.sync is s and s.results["download"].sync is s
        env = s.envelope("bookmarks", "bookmark0003")
        assert (
            env.id == "bookmark0003" and env.modified == s.store.mirror_record("bookmarks", "bookmark0003").bso.modified
        )
    finally:
        stack.admin.reset_config()


def test_editing_a_staged_addition_keeps_it_an_addition(stack, account):
    s = Sync.local(stack, email=account.email, password=account.password)
    s.run(until="download")
    s.add("bookmarks", {"id": "addedthen001", "type": "bookmark", "title": "a"}, sortindex=7)
    s.edit("bookmarks", "addedthen001", {"title": "b"})
    [row] = s.staged().to_dict("records")
    assert row["kind"] == "add" and '"title": "b"' in row["record"]
    s.merge()
    change = s.plan_upload().change("bookmarks", "addedthen001")
    assert change.kind == "add" and change.bso.sortindex == 7
