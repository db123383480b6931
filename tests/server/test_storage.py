"""The SyncStorage 1.5 contract over real HTTP and Hawk (see shared/reference/storage-server.md)."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from synctools.protocol import tokens
from synctools.protocol.bso import ServerTime
from synctools.server import LocalStack

from .client import StorageClient, User, new_user

TWO_DECIMALS = re.compile(r"^\d+\.\d\d$")


def _bsos(n: int, prefix: str = "r", **extra) -> list[dict]:
    return [{"id": f"{prefix}{i:03d}", "payload": f"payload {i}", **extra} for i in range(n)]


def _raw_modified(text: str) -> list[str]:
    """The literal "modified" numbers as sent (to check exactly two decimals)."""
    return re.findall(r'"modified":([0-9.]+)', text)


# -- info ------------------------------------------------------------------------------
def test_info_endpoints(stack: LocalStack, user: User) -> None:
    c = user.client
    assert c.get("/info/collections").json() == {}
    t1 = ServerTime.parse(c.post("/storage/forms", _bsos(3)).json()["modified"])
    t2 = ServerTime.parse(c.put("/storage/meta/global", {"payload": "x" * 2048}).text)
    r = c.get("/info/collections")
    assert r.status_code == 200
    assert r.json() == {"forms": t1.to_json(), "meta": t2.to_json()}
    assert all(TWO_DECIMALS.match(v) for v in re.findall(r":([0-9.]+)", r.text))
    assert r.headers["X-Last-Modified"] == str(t2)
    assert r.headers["X-Weave-Records"] == "2"
    assert c.get("/info/collection_counts").json() == {"forms": 3, "meta": 1}
    usage = c.get("/info/collection_usage").json()
    assert usage["meta"] == pytest.approx(2.0)
    quota = c.get("/info/quota").json()
    assert quota[1] is None and quota[0] == pytest.approx(2.0 + sum(len(b["payload"]) for b in _bsos(3)) / 1024)
    config = c.get("/info/configuration").json()
    assert config == {
        "max_post_bytes": 2621440,
        "max_post_records": 100,
        "max_record_payload_bytes": 2621440,
        "max_request_bytes": 2625536,
        "max_total_bytes": 262144000,
        "max_total_records": 10000,
        "max_quota_limit": 2097152000,
    }


def test_every_response_has_x_weave_timestamp(user: User) -> None:
    for r in (
        user.client.get("/info/collections"),
        user.client.get("/nope"),
        user.client.get("/storage/x/missing"),
    ):
        assert TWO_DECIMALS.match(r.headers["X-Weave-Timestamp"])


def test_unknown_paths_and_methods(user: User) -> None:
    c = user.client
    r = c.get("/info/nothing")
    assert r.status_code == 404 and r.json() == 0
    r = c.get("/whatever")
    assert r.status_code == 404 and r.json() == 0
    assert c.request("POST", "/info/collections", body={}).status_code == 405
    assert c.request("PUT", "/storage/forms", body={}).status_code == 405
    assert c.request("POST", "/storage/forms/x", body={}).status_code == 405
    assert c.request("GET", "").status_code == 405
    assert c.get("/storage/" + "x" * 33).status_code == 400


# -- GET collection ----------------------------------------------------------------------
@pytest.fixture
def loaded(stack: LocalStack) -> tuple[User, list[ServerTime]]:
    """Five records written one by one (so each has its own timestamp) with sortindexes."""
    user = new_user(stack)
    stamps = []
    for i, si in enumerate([30, 10, 50, 20, 40]):
        r = user.client.put(f"/storage/history/h{i}", {"payload": f"p{i}", "sortindex": si})
        stamps.append(ServerTime.parse(r.text))
    return user, stamps


def test_default_order_and_full(loaded) -> None:
    user, stamps = loaded
    r = user.client.get("/storage/history")
    assert r.json() == ["h4", "h3", "h2", "h1", "h0"]
    assert r.headers["X-Weave-Records"] == "5"
    assert r.headers["X-Last-Modified"] == str(stamps[-1])
    full = user.client.get("/storage/history", params={"full": "1"})
    first = full.json()[0]
    assert first == {"id": "h4", "modified": stamps[4].to_json(), "payload": "p4", "sortindex": 40}
    assert all(TWO_DECIMALS.match(m) for m in _raw_modified(full.text))


def test_sorts(loaded) -> None:
    user, _ = loaded
    get = user.client.get
    assert get("/storage/history", params={"sort": "newest"}).json() == ["h4", "h3", "h2", "h1", "h0"]
    assert get("/storage/history", params={"sort": "oldest"}).json() == ["h0", "h1", "h2", "h3", "h4"]
    assert get("/storage/history", params={"sort": "index"}).json() == ["h2", "h4", "h0", "h3", "h1"]
    assert get("/storage/history", params={"sort": "random"}).status_code == 400


def test_newer_older_are_strict(loaded) -> None:
    user, stamps = loaded
    get = user.client.get
    assert get("/storage/history", params={"newer": str(stamps[2])}).json() == ["h4", "h3"]
    assert get("/storage/history", params={"older": str(stamps[2])}).json() == ["h1", "h0"]
    assert get("/storage/history", params={"newer": str(stamps[0]), "older": str(stamps[4])}).json() == [
        "h3",
        "h2",
        "h1",
    ]
    assert get("/storage/history", params={"newer": "abc"}).status_code == 400
    assert get("/storage/history", params={"older": "-1"}).status_code == 400


def test_ids(loaded) -> None:
    user, _ = loaded
    get = user.client.get
    assert get("/storage/history", params={"ids": "h1,h3,nope"}).json() == ["h3", "h1"]
    too_many = ",".join(f"x{i}" for i in range(101))
    assert get("/storage/history", params={"ids": too_many}).status_code == 400
    assert get("/storage/history", params={"ids": "ok,\x7f"}).status_code == 400


@pytest.mark.parametrize("sort", ["newest", "oldest", "index"])
def test_limit_and_offset_paging(loaded, sort) -> None:
    user, stamps = loaded
    whole = user.client.get("/storage/history", params={"sort": sort}).json()
    seen, offset, pages = [], None, 0
    while True:
        params = {"sort": sort, "limit": 2, **({"offset": offset} if offset else {})}
        r = user.client.get("/storage/history", params=params, headers={"X-If-Unmodified-Since": str(stamps[-1])})
        assert r.status_code == 200
        seen += r.json()
        pages += 1
        offset = r.headers.get("X-Weave-Next-Offset")
        if offset is None:
            break
    assert seen == whole and pages == 3


def test_bad_limit_and_offset(loaded) -> None:
    user, _ = loaded
    assert user.client.get("/storage/history", params={"limit": "-1"}).status_code == 400
    assert user.client.get("/storage/history", params={"limit": "x"}).status_code == 400
    assert user.client.get("/storage/history", params={"offset": "garbage!"}).status_code == 400
    r = user.client.get("/storage/history", params={"limit": "0"})
    assert len(r.json()) == 5 and "X-Weave-Next-Offset" not in r.headers


def test_accept_newlines_and_406(loaded) -> None:
    user, _ = loaded
    r = user.client.get("/storage/history", params={"full": 1}, headers={"Accept": "application/newlines"})
    assert r.headers["Content-Type"].startswith("application/newlines")
    lines = r.text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["h4", "h3", "h2", "h1", "h0"]
    r = user.client.get("/storage/history", headers={"Accept": "text/html"})
    assert r.status_code == 406


def test_missing_collection_is_empty(user: User) -> None:
    r = user.client.get("/storage/nothing")
    assert r.status_code == 200 and r.json() == []
    assert r.headers["X-Last-Modified"] == "0.00"


# -- items -------------------------------------------------------------------------------
def test_get_put_delete_item(user: User) -> None:
    c = user.client
    assert c.get("/storage/forms/a").status_code == 404
    r = c.put("/storage/forms/a", {"payload": "one", "sortindex": 3, "ttl": 1000})
    assert r.status_code == 200
    ts = r.text
    assert TWO_DECIMALS.match(ts)
    assert r.headers["X-Last-Modified"] == ts == r.headers["X-Weave-Timestamp"]
    got = c.get("/storage/forms/a")
    assert got.json() == {"id": "a", "modified": float(ts), "payload": "one", "sortindex": 3}
    assert "ttl" not in got.json()
    assert got.headers["X-Last-Modified"] == ts
    r = c.delete("/storage/forms/a")
    assert r.status_code == 200 and TWO_DECIMALS.match(r.headers["X-Last-Modified"])
    assert c.get("/storage/forms/a").status_code == 404
    assert c.delete("/storage/forms/a").status_code == 404


def test_put_changes_only_sent_fields(user: User) -> None:
    c = user.client
    t1 = c.put("/storage/forms/a", {"payload": "one", "sortindex": 3}).text
    time.sleep(0.02)
    c.put("/storage/forms/a", {"ttl": 5000})  # ttl only: modified stays
    got = c.get("/storage/forms/a").json()
    assert got["modified"] == float(t1) and got["payload"] == "one" and got["sortindex"] == 3
    t3 = c.put("/storage/forms/a", {"sortindex": 7}).text
    got = c.get("/storage/forms/a").json()
    assert got == {"id": "a", "modified": float(t3), "payload": "one", "sortindex": 7}
    assert float(t3) > float(t1)


def test_put_validation(stack: LocalStack, user: User) -> None:
    c = user.client
    for body in (
        {"payload": 5},
        {"payload": "x", "sortindex": 10**9},
        {"payload": "x", "ttl": -1},
        {"payload": "x", "color": "red"},
        {"id": "other", "payload": "x"},
        ["list"],
    ):
        r = c.put("/storage/forms/a", body)
        assert r.status_code == 400 and r.json() == 8, body
    r = c.request("PUT", "/storage/forms/a", data="{not json")
    assert r.status_code == 400 and r.json() == 8
    r = c.request("PUT", "/storage/forms/a", data="{}", content_type="application/xml")
    assert r.status_code == 415
    stack.admin.set_config(max_record_payload_bytes=10)
    r = c.put("/storage/forms/a", {"payload": "x" * 11})
    assert r.status_code == 400 and r.json() == 17
    ok = c.put("/storage/forms/a", {"payload": "x", "modified": 1.0, "collection": "forms"})
    assert ok.status_code == 200


def test_crypto_zero_iv_rejected(user: User) -> None:
    zero_iv = json.dumps({"ciphertext": "AAAA", "IV": base64.b64encode(bytes(16)).decode(), "hmac": "00"})
    r = user.client.put("/storage/crypto/keys", {"payload": zero_iv})
    assert r.status_code == 400
    r = user.client.post("/storage/crypto", [{"id": "keys", "payload": zero_iv}])
    assert r.status_code == 400
    good = zero_iv.replace(base64.b64encode(bytes(16)).decode(), base64.b64encode(b"\x01" * 16).decode())
    assert user.client.put("/storage/crypto/keys", {"payload": good}).status_code == 200


def test_expired_items_are_invisible(stack: LocalStack, user: User) -> None:
    stack.admin.put_records(
        user.email,
        "tabs",
        [{"id": "old", "payload": "x", "ttl": 1}],
        modified=ServerTime.parse(time.time() - 10),
    )
    assert user.client.get("/storage/tabs").json() == []
    assert user.client.get("/storage/tabs/old").status_code == 404
    assert user.client.get("/info/collection_counts").json().get("tabs", 0) == 0


# -- POST --------------------------------------------------------------------------------
def test_post_success_and_failed(user: User) -> None:
    items = [*_bsos(2), {"id": "bad", "payload": "x", "sortindex": "high"}]
    r = user.client.post("/storage/forms", items)
    body = r.json()
    assert r.status_code == 200
    assert body["success"] == ["r000", "r001"]
    assert list(body["failed"]) == ["bad"]
    assert _raw_modified(r.text)[0] == r.headers["X-Last-Modified"] == r.headers["X-Weave-Timestamp"]
    got = user.client.get("/storage/forms", params={"full": 1}).json()
    assert {b["modified"] for b in got} == {body["modified"]}


@pytest.mark.parametrize("ctype", ["application/json", "text/plain"])
def test_post_json_content_types(user: User, ctype: str) -> None:
    r = user.client.request("POST", "/storage/forms", data=json.dumps(_bsos(2)), content_type=ctype)
    assert r.status_code == 200 and len(r.json()["success"]) == 2


def test_post_newlines_and_415(user: User) -> None:
    data = "\n".join(json.dumps(b) for b in _bsos(3)) + "\n"
    r = user.client.request("POST", "/storage/forms", data=data, content_type="application/newlines")
    assert r.status_code == 200 and len(r.json()["success"]) == 3
    r = user.client.request("POST", "/storage/forms", data=data, content_type="text/csv")
    assert r.status_code == 415


@pytest.mark.parametrize(
    "body",
    [{"id": "x"}, [1], [{"payload": "no id"}], [{"id": "d", "payload": ""}, {"id": "d", "payload": ""}]],
)
def test_post_malformed_bodies(user: User, body) -> None:
    r = user.client.post("/storage/forms", body)
    assert r.status_code == 400 and r.json() == 8


def test_post_limits_fail_items(stack: LocalStack, user: User) -> None:
    stack.admin.set_config(max_post_records=2)
    body = user.client.post("/storage/forms", _bsos(4)).json()
    assert body["success"] == ["r000", "r001"]
    assert body["failed"] == {"r002": "retry bso", "r003": "retry bso"}
    stack.admin.set_config(max_post_records=100, max_post_bytes=20)
    body = user.client.post("/storage/forms", _bsos(4, "s")).json()  # 9 bytes each
    assert body["success"] == ["s000", "s001"]
    assert body["failed"] == {"s002": "retry bytes", "s003": "retry bytes"}


@pytest.mark.parametrize(
    "header,limit",
    [
        ("X-Weave-Records", "max_post_records"),
        ("X-Weave-Bytes", "max_post_bytes"),
        ("X-Weave-Total-Records", "max_total_records"),
        ("X-Weave-Total-Bytes", "max_total_bytes"),
    ],
)
def test_size_headers_over_limit(stack: LocalStack, user: User, header: str, limit: str) -> None:
    stack.admin.set_config(**{limit: 50})
    r = user.client.post("/storage/forms", _bsos(1), params={"batch": "true"}, headers={header: "51"})
    assert r.status_code == 400 and r.json() == 17
    r = user.client.post("/storage/forms", _bsos(1), params={"batch": "true"}, headers={header: "50"})
    assert r.status_code == 202


def test_request_too_large(stack: LocalStack, user: User) -> None:
    stack.admin.set_config(max_request_bytes=100)
    r = user.client.post("/storage/forms", _bsos(10))
    assert r.status_code == 413 and r.json() == 17


# -- batches -----------------------------------------------------------------------------
def test_batch_flow(user: User) -> None:
    c = user.client
    r = c.post("/storage/history", _bsos(2, "a"), params={"batch": "true"})
    assert r.status_code == 202
    batch = r.json()["batch"]
    assert r.json()["success"] == ["a000", "a001"] and r.json()["failed"] == {}
    assert r.headers["X-Last-Modified"] == "0.00"
    assert c.get("/storage/history").json() == []  # nothing visible before commit
    r = c.post("/storage/history", _bsos(2, "b"), params={"batch": batch})
    assert r.status_code == 202 and r.json()["batch"] == batch
    r = c.post("/storage/history", [{"id": "a000", "payload": "winner"}], params={"batch": batch, "commit": "true"})
    assert r.status_code == 200
    ts = r.json()["modified"]
    got = c.get("/storage/history", params={"full": 1}).json()
    assert sorted(b["id"] for b in got) == ["a000", "a001", "b000", "b001"]
    assert {b["modified"] for b in got} == {ts}
    assert next(b for b in got if b["id"] == "a000")["payload"] == "winner"
    # a committed batch cannot be reused
    r = c.post("/storage/history", _bsos(1, "c"), params={"batch": batch, "commit": "true"})
    assert r.status_code == 400


def test_batch_rules(stack: LocalStack, user: User) -> None:
    c = user.client
    assert c.post("/storage/history", _bsos(1), params={"commit": "true"}).status_code == 400
    assert c.post("/storage/history", _bsos(1), params={"batch": "nope"}).status_code == 400
    assert c.post("/storage/history", _bsos(1), params={"batch": "99999"}).status_code == 400
    batch = c.post("/storage/history", _bsos(1), params={"batch": "true"}).json()["batch"]
    # scoped to one collection ...
    assert c.post("/storage/forms", _bsos(1), params={"batch": batch}).status_code == 400
    # ... and one user
    other = new_user(stack)
    assert other.client.post("/storage/history", _bsos(1), params={"batch": batch}).status_code == 400
    # batch=true&commit=true is a plain POST
    r = c.post("/storage/tabs", _bsos(2), params={"batch": "true", "commit": "true"})
    assert r.status_code == 200 and len(r.json()["success"]) == 2


def test_batch_total_records_limit(stack: LocalStack, user: User) -> None:
    stack.admin.set_config(max_total_records=3)
    batch = user.client.post("/storage/history", _bsos(2, "a"), params={"batch": "true"}).json()["batch"]
    r = user.client.post("/storage/history", _bsos(2, "b"), params={"batch": batch})
    assert r.status_code == 400 and r.json() == 17


# -- preconditions -----------------------------------------------------------------------
def test_preconditions_on_reads(loaded) -> None:
    user, stamps = loaded
    c, last = user.client, str(stamps[-1])
    r = c.get("/storage/history", headers={"X-If-Modified-Since": last})
    assert r.status_code == 304 and r.content == b"" and r.headers["X-Last-Modified"] == last
    assert c.get("/storage/history", headers={"X-If-Modified-Since": str(stamps[3])}).status_code == 200
    r = c.get("/storage/history", headers={"X-If-Unmodified-Since": str(stamps[3])})
    assert r.status_code == 412 and r.content == b"" and r.headers["X-Last-Modified"] == last
    assert c.get("/storage/history/h0", headers={"X-If-Modified-Since": str(stamps[0])}).status_code == 304
    assert c.get("/info/collections", headers={"X-If-Modified-Since": last}).status_code == 304
    both = {"X-If-Modified-Since": last, "X-If-Unmodified-Since": last}
    assert c.get("/storage/history", headers=both).status_code == 400
    assert c.get("/storage/history", headers={"X-If-Unmodified-Since": "-5"}).status_code == 400
    assert c.get("/storage/history", headers={"X-If-Unmodified-Since": "soon"}).status_code == 400


def test_preconditions_on_writes(loaded) -> None:
    user, stamps = loaded
    c, last, before = user.client, str(stamps[-1]), str(stamps[-2])
    stale = {"X-If-Unmodified-Since": before}
    assert c.post("/storage/history", _bsos(1), headers=stale).status_code == 412
    assert c.delete("/storage/history", headers=stale).status_code == 412
    assert c.put("/storage/history/h4", {"payload": "x"}, headers=stale).status_code == 412
    # an item's own timestamp counts for PUT/DELETE of the item
    assert (
        c.put("/storage/history/h0", {"payload": "x"}, headers={"X-If-Unmodified-Since": str(stamps[0])}).status_code
        == 200
    )
    assert c.put("/storage/meta/global", {"payload": "x"}, headers={"X-If-Unmodified-Since": "0"}).status_code == 200
    r = c.post("/storage/history", _bsos(1), headers={"X-If-Unmodified-Since": last})
    assert r.status_code == 412  # the PUT of h0 moved the collection on
    assert c.delete("", headers={"X-If-Unmodified-Since": "0"}).status_code == 412


def test_write_timestamps_strictly_increase(user: User) -> None:
    seen = [ServerTime.parse(user.client.put(f"/storage/forms/i{n}", {"payload": "x"}).text) for n in range(5)]
    assert seen == sorted(set(seen))


# -- deletes -----------------------------------------------------------------------------
def test_delete_collection_and_ids(user: User) -> None:
    c = user.client
    c.post("/storage/forms", _bsos(4))
    r = c.delete("/storage/forms", params={"ids": "r000,r002"})
    assert r.status_code == 200 and TWO_DECIMALS.match(_raw_modified(r.text)[0])
    assert sorted(c.get("/storage/forms").json()) == ["r001", "r003"]
    r = c.delete("/storage/forms")
    assert r.status_code == 200
    assert "forms" not in c.get("/info/collections").json()
    assert c.delete("/storage/never").status_code == 200


def test_delete_storage_and_user(user: User) -> None:
    c = user.client
    c.post("/storage/forms", _bsos(2))
    c.post("/storage/tabs", _bsos(2))
    assert c.delete("/storage", headers={"X-Confirm-Delete": "1"}).status_code == 200
    assert c.get("/info/collections").json() == {}
    c.post("/storage/tabs", _bsos(2))
    assert c.delete("").status_code == 200
    assert c.get("/info/collections").json() == {}


# -- auth --------------------------------------------------------------------------------
def test_auth_failures(stack: LocalStack, user: User) -> None:
    c = user.client
    r = c.http.get(c.endpoint + "/info/collections")
    assert r.status_code == 401 and r.json() == 0
    bad_key = {"id": user.token["id"], "key": "wrong"}
    assert c.get("/info/collections", credentials=bad_key).status_code == 401
    data = tokens.parse_token(user.token["id"], stack.secret)
    forged = tokens.make_token(data, "another secret")
    creds = {"id": forged, "key": tokens.derived_secret(forged, "another secret")}
    assert c.get("/info/collections", credentials=creds).status_code == 401
    # Hawk payload hash, when sent, must match the body
    ok = c.request("POST", "/storage/forms", body=_bsos(1), hash_payload=True)
    assert ok.status_code == 200


def test_uid_mismatch_is_400(stack: LocalStack, user: User) -> None:
    other = new_user(stack)
    wrong = StorageClient({**user.token, "api_endpoint": other.token["api_endpoint"]})
    r = wrong.get("/storage/forms")
    assert r.status_code in (400, 401)  # other node: 401; same node: 400
    same_node_uid = user.token["api_endpoint"].rsplit("/", 1)[0] + "/999999"
    r = StorageClient({**user.token, "api_endpoint": same_node_uid}).get("/storage/forms")
    assert r.status_code == 400 and r.json() == 0


def test_expired_token_only_reads_info_collections(stack: LocalStack, user: User) -> None:
    data = tokens.parse_token(user.token["id"], stack.secret)
    data.update(expires=time.time() - 10)
    expired = tokens.make_token(data, stack.secret)
    creds = {"id": expired, "key": tokens.derived_secret(expired, stack.secret)}
    assert user.client.get("/info/collections", credentials=creds).status_code == 200
    assert user.client.get("/info/configuration", credentials=creds).status_code == 401
    assert user.client.get("/storage/forms", credentials=creds).status_code == 401


def test_concurrent_writers_get_distinct_increasing_timestamps(stack: LocalStack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    user = new_user(stack)

    def write(n: int) -> tuple[int, str]:
        client = StorageClient(user.token)  # a session per thread
        r = client.put(f"/storage/forms/w{n}", {"payload": str(n)})
        return r.status_code, r.text

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(write, range(40)))
    assert {status for status, _ in results} == {200}
    stamps = [ServerTime.parse(text) for _, text in results]
    assert len(set(stamps)) == 40
    got = user.client.get("/storage/forms", params={"full": 1}).json()
    assert len(got) == 40 and max(b["modified"] for b in got) == max(stamps).to_json()
