"""Storage client: every endpoint of the contract, against the embedded node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from synctools.net import (
    BadRequest,
    CollectionChanged,
    NodeReassigned,
    NotFound,
    PreconditionFailed,
    ServerBusy,
    ServerUnreachable,
    StorageClient,
    StorageUnauthorized,
    wait_and_retry,
)
from synctools.protocol.bso import BSO, ServerTime

from .conftest import Login


def rec(i: int, size: int = 20, **extra: Any) -> dict[str, Any]:
    return {"id": f"r{i:05d}", "payload": json.dumps({"n": i}).ljust(size), **extra}


def test_info_endpoints(storage: StorageClient) -> None:
    cfg = storage.info_configuration()
    assert cfg.max_post_records == 100 and cfg.max_total_records == 10_000
    assert storage.info_collections() == {}
    t = storage.put_record("tabs", rec(1), if_unmodified_since=0)
    storage.upload("history", [rec(i) for i in range(3)], if_unmodified_since=0)
    colls = storage.info_collections()
    assert set(colls) == {"tabs", "history"} and colls["tabs"] == t
    assert all(isinstance(v, ServerTime) for v in colls.values())
    assert storage.info_collection_counts() == {"tabs": 1, "history": 3}
    usage = storage.info_collection_usage()
    assert set(usage) == {"tabs", "history"} and all(v > 0 for v in usage.values())
    used, quota = storage.info_quota()
    assert used > 0 and quota is None
    assert storage.server_time is not None and storage.server_time >= t


def test_put_and_get_a_record_keep_timestamps_exact(storage: StorageClient) -> None:
    modified = storage.put_record("prefs", BSO("p1", '{"x":1}', sortindex=7, ttl=3600), if_unmodified_since=0)
    got = storage.get_record("prefs", "p1")
    assert got.payload == '{"x":1}' and got.sortindex == 7 and got.modified == modified
    assert str(got.modified) == str(modified)  # two decimals, digit for digit
    with pytest.raises(NotFound):
        storage.get_record("prefs", "nope")


def test_every_write_must_say_what_it_is_guarded_by(storage: StorageClient) -> None:
    with pytest.raises(TypeError, match="if_unmodified_since"):
        storage.put_record("prefs", rec(1))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="if_unmodified_since"):
        storage.upload("prefs", [rec(1)])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="collection name"):
        storage.get_record("bad/name", "x")


def test_a_stale_write_is_refused_with_the_servers_timestamp(storage: StorageClient) -> None:
    first = storage.put_record("prefs", rec(1), if_unmodified_since=0)
    second = storage.put_record("prefs", rec(1, 30), if_unmodified_since=first)
    with pytest.raises(PreconditionFailed) as info:  # the record changed since `first`
        storage.put_record("prefs", rec(1, 40), if_unmodified_since=first)
    assert info.value.last_modified == second and info.value.status == 412
    with pytest.raises(PreconditionFailed):  # so did the collection
        storage.upload("prefs", [rec(4)], if_unmodified_since=first)
    assert storage.info_collection_counts()["prefs"] == 1  # nothing of the stale writes landed
    assert len(storage.get_record("prefs", "r00001").payload) == 30


def test_reads_with_every_parameter(storage: StorageClient) -> None:
    r = storage.upload("forms", [rec(i, sortindex=i) for i in range(10)], if_unmodified_since=0)
    t1 = r.modified
    t2 = storage.put_record("forms", rec(10, sortindex=-1), if_unmodified_since=t1)
    ids = storage.get_collection("forms", full=False)
    assert ids[0] == "r00010" and len(ids) == 11  # newest first by default
    assert [b.id for b in storage.get_collection("forms", newer=t1)] == ["r00010"]
    assert len(storage.get_collection("forms", older=t2)) == 10
    by_index = storage.get_collection("forms", sort="index")
    assert [b.sortindex for b in by_index][:3] == [9, 8, 7]
    oldest = storage.get_collection("forms", sort="oldest", full=False)
    assert oldest[-1] == "r00010"
    some = storage.get_collection("forms", ids=["r00001", "r00003", "zzz"])
    assert sorted(b.id for b in some) == ["r00001", "r00003"]
    with pytest.raises(ValueError, match="comma"):
        storage.iter_collection("forms", ids=["a,b"])
    with pytest.raises(ValueError, match="100 ids"):
        storage.iter_collection("forms", ids=[str(i) for i in range(101)])
    with pytest.raises(ValueError, match="sort"):
        storage.iter_collection("forms", sort="random")


def test_paging_reads_everything_with_the_same_parameters(storage: StorageClient) -> None:
    storage.upload("history", [rec(i) for i in range(25)], if_unmodified_since=0)
    reader = storage.iter_collection("history", limit=10, sort="oldest")
    got = [b.id for b in reader]
    assert got == [f"r{i:05d}" for i in range(25)]
    assert reader.pages_read == 3 and reader.records_read == 25
    gets = [e for e in storage.trace if e.method == "GET" and "/storage/history" in e.url]
    assert all("sort=oldest" in e.url and "limit=10" in e.url for e in gets)
    assert "offset=" not in gets[0].url and all("offset=" in e.url for e in gets[1:])
    # Pages after the first are guarded by the first page's X-Last-Modified.
    first_lm = gets[0].response_headers["X-Last-Modified"]
    assert all(e.request_headers["X-If-Unmodified-Since"] == first_lm for e in gets[1:])


def test_paging_notices_a_concurrent_change(storage: StorageClient, user: Login, stack: Any) -> None:
    storage.upload("history", [rec(i) for i in range(25)], if_unmodified_since=0)
    # 13 pages: the reader asks for the next page while this one is handed on, so it may
    # hold two more read before the change; every later request is refused (412)
    pages = storage.iter_collection("history", limit=2).pages()
    first = next(pages)
    stack.admin.put_records(user.email, "history", [{"id": "other", "payload": "{}"}])
    with pytest.raises(CollectionChanged) as info:
        for _page in pages:
            pass
    assert info.value.last_modified is not None
    assert info.value.last_modified > first.last_modified
    assert "start the read again" in str(info.value)


def test_deletes(storage: StorageClient) -> None:
    t = storage.upload("bookmarks", [rec(i) for i in range(5)], if_unmodified_since=0).modified
    t = storage.delete_record("bookmarks", "r00000", if_unmodified_since=t)
    with pytest.raises(NotFound):
        storage.get_record("bookmarks", "r00000")
    t = storage.delete_collection("bookmarks", ids=["r00001", "r00002"], if_unmodified_since=t)
    assert sorted(storage.get_collection("bookmarks", full=False)) == ["r00003", "r00004"]
    storage.put_record("tabs", rec(1), if_unmodified_since=0)
    storage.delete_collection("bookmarks", if_unmodified_since=None)
    assert "bookmarks" not in storage.info_collections()
    storage.delete_storage(if_unmodified_since=None)
    assert storage.info_collections() == {}
    storage.put_record("tabs", rec(1), if_unmodified_since=0)
    storage.delete_user(if_unmodified_since=None)
    assert storage.info_collections() == {}


@pytest.mark.parametrize("rid", ["{abc def}", "a/b", "x?y#z", "100%", "plus+sign", "comma,id"])
def test_record_ids_with_url_characters_round_trip(storage: StorageClient, rid: str) -> None:
    t = storage.put_record("forms", {"id": rid, "payload": "p"}, if_unmodified_since=0)
    assert storage.get_record("forms", rid).id == rid
    storage.delete_record("forms", rid, if_unmodified_since=t)
    with pytest.raises(NotFound):
        storage.get_record("forms", rid)


def test_invalid_record_is_a_bad_request_naming_the_code(storage: StorageClient) -> None:
    with pytest.raises(BadRequest, match="invalid Weave Basic Object"):
        storage.put_record("prefs", {"id": "x", "payload": "{}", "bogus": 1}, if_unmodified_since=None)


def test_401_without_a_token_provider_says_to_refetch(user: Login, stack: Any) -> None:
    storage = StorageClient(user.token, trace=user.trace)
    stack.admin.expire_tokens(user.email)
    with pytest.raises(StorageUnauthorized, match="new one"):
        storage.get_collection("prefs")


def test_expired_token_is_refetched_through_the_provider(user: Login, stack: Any) -> None:
    storage = user.storage()
    storage.put_record("prefs", rec(1), if_unmodified_since=0)
    old = storage.token
    stack.admin.expire_tokens(user.email)
    assert [b.id for b in storage.get_collection("prefs")] == ["r00001"]
    assert storage.token is not old
    statuses = [e.status for e in user.trace if e.service == "storage"]
    assert statuses[-2:] == [401, 200]


def test_node_reassignment_is_reported_and_followed(user: Login, stack: Any) -> None:
    if len(stack.nodes) < 2:
        pytest.skip("the stack has a single storage node")
    storage = user.storage()
    storage.put_record("prefs", rec(1), if_unmodified_since=0)
    old = storage.endpoint
    stack.admin.reassign(user.email)
    with pytest.raises(NodeReassigned) as info:
        storage.get_collection("prefs")
    assert info.value.old_endpoint == old and info.value.new_endpoint == storage.endpoint != old
    assert storage.info_collections() == {}  # the new node has none of the old data


def test_backoff_and_alert_are_surfaced(storage: StorageClient, stack: Any) -> None:
    heard: list[Any] = []
    storage.retry_policy = heard.append
    stack.admin.inject_fault("backoff", seconds=300)
    assert storage.info_collections() == {}  # the request itself succeeded
    assert [s.kind for s in heard] == ["backoff"] and heard[0].seconds == 300
    assert storage.backoff is not None and storage.backoff.seconds == 300
    stack.admin.inject_fault("alert", text="This server is going away")
    storage.info_collections()
    assert [a.text for a in storage.alerts] == ["This server is going away"]
    kinds = [s.kind for s in storage.trace.signals]
    assert kinds == ["backoff", "alert"]
    assert "backoff 300s" in storage.trace.frame()["signals"].str.cat()
    assert "back off for 300s" in storage.backoff.describe()


def test_503_retry_after_raises_unless_the_policy_waited(storage: StorageClient, stack: Any) -> None:
    stack.admin.inject_fault("503", retry_after=42)
    with pytest.raises(ServerBusy) as info:
        storage.info_collections()
    assert info.value.retry_after == 42 and "retry after 42s" in str(info.value)
    stack.admin.inject_fault("503", retry_after=1)
    storage.retry_policy = lambda signal: signal.kind == "retry-after"
    assert storage.info_collections() == {}


def test_dropped_connection_is_unreachable_and_traced(storage: StorageClient, stack: Any) -> None:
    stack.admin.inject_fault("drop")
    with pytest.raises(ServerUnreachable, match="did not answer"):
        storage.info_collections()
    last = storage.trace.exchanges[-1]
    assert last.status is None and last.error


def test_quota_note_is_surfaced(storage: StorageClient, stack: Any) -> None:
    stack.admin.inject_fault("quota", remaining=1024)
    storage.info_collections()
    assert [(s.kind, s.kilobytes) for s in storage.signals] == [("quota", 1024)]


def test_wait_and_retry_waits_short_refusals_and_gives_up_on_long_ones(storage: StorageClient, stack: Any) -> None:
    slept: list[float] = []
    storage.retry_policy = wait_and_retry(max_wait=5, show=False, sleep=slept.append)
    stack.admin.inject_fault("503", retry_after=2)
    assert storage.info_collections() == {}
    assert slept == [2]
    stack.admin.inject_fault("503", retry_after=600)
    with pytest.raises(ServerBusy):
        storage.info_collections()
    assert slept == [2]  # a ten-minute wait is the person's call, not the client's


def test_progress_bars_are_optional_and_do_not_change_results(
    storage: StorageClient, capsys: pytest.CaptureFixture[str]
) -> None:
    result = storage.upload("history", [rec(i) for i in range(12)], if_unmodified_since=0, progress=True, total=12)
    assert result.ok and result.records == 12
    got = storage.get_collection("history", limit=5, progress=True, total=12)
    assert len(got) == 12
    err = capsys.readouterr().err
    assert "POST history" in err and "GET history" in err


def test_a_server_slower_than_the_timeout_is_reported_unreachable(user: Login, stack: Any) -> None:
    storage = user.storage(timeout=0.3)
    stack.admin.inject_fault("slow", delay=1.5)
    with pytest.raises(ServerUnreachable, match="Timeout"):
        storage.info_collections()
    assert "Timeout" in (storage.trace.exchanges[-1].error or "")
