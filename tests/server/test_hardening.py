"""Hostile input never crashes the node, and never leaves data no reader can parse.

Each test is one finding of the fuzzer in issue 12 ("Storage node"), replayed over real
HTTP against the embedded stack, with the answer syncstorage-rs gives.
"""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
import requests

from synctools.protocol.bso import (
    BSOValidationError,
    valid_bso_id,
    valid_collection_name,
    validate_bso_fields,
)
from synctools.protocol.metaglobal import valid_sync_id
from synctools.server import LocalStack
from synctools.server.storage_db import Item

from .client import User

DEEP = 50_000


def _assert_usual(r: requests.Response, status: int, code: int | None = None) -> None:
    """The node's usual error: the status, a bare JSON integer body, X-Weave-Timestamp."""
    assert r.status_code == status, (r.status_code, r.text[:200])
    body = r.json()
    assert isinstance(body, int) and not isinstance(body, bool)
    if code is not None:
        assert body == code
    assert "X-Weave-Timestamp" in r.headers


def _listing_is_sound(c, coll: str) -> list[str]:
    """Every form of a listing parses, and every id in it follows the rules."""
    full = c.get(f"/storage/{coll}", params={"full": "1"})
    assert full.status_code == 200
    records = json.loads(full.text)
    ids = c.get(f"/storage/{coll}").json()
    lines = c.get(f"/storage/{coll}", params={"full": "1"}, headers={"Accept": "application/newlines"})
    per_line = [json.loads(line) for line in lines.text.split("\n") if line]
    assert sorted(ids) == sorted(r["id"] for r in records) == sorted(r["id"] for r in per_line)
    assert all(valid_bso_id(i) for i in ids)
    return ids


# -- 1. ids and names are matched in full ------------------------------------------------
@pytest.mark.parametrize("bad", ["abc\n", "x" * 64 + "\n", "\n", "a\nb", "abc\r\n", "abc\x7f", "é"])
def test_rules_match_the_whole_value(bad: str) -> None:
    assert not valid_bso_id(bad)
    with pytest.raises(BSOValidationError):
        validate_bso_fields({"id": bad, "payload": "x"})
    assert valid_bso_id("x" * 64) and not valid_bso_id("x" * 65)
    assert not valid_collection_name("bookmarks\n") and valid_collection_name("bookmarks")
    assert not valid_sync_id("abcdefghijkl\n") and valid_sync_id("abcdefghijkl")


def test_a_batch_with_a_newline_id_fails_that_id_and_stores_the_rest(user: User) -> None:
    c = user.client
    long_id = "x" * 64 + "\n"
    r = c.post(
        "/storage/forms",
        [{"id": "abc\n", "payload": "a"}, {"id": long_id, "payload": "b"}, {"id": "ok", "payload": "c"}],
    )
    assert r.status_code == 200
    body = r.json()
    assert body["success"] == ["ok"]
    assert set(body["failed"]) == {"abc\n", long_id}
    assert _listing_is_sound(c, "forms") == ["ok"]
    # the same through a batch, and in application/newlines
    lines = "\n".join(json.dumps(o) for o in [{"id": "n\n", "payload": "x"}, {"id": "m", "payload": "y"}])
    r = c.request("POST", "/storage/forms", params={"batch": "true"}, data=lines,
                  content_type="application/newlines")  # fmt: skip
    assert r.status_code == 202 and set(r.json()["failed"]) == {"n\n"}
    r = c.request("POST", "/storage/forms", params={"batch": r.json()["batch"], "commit": "true"}, data="[]")
    assert r.status_code == 200
    assert sorted(_listing_is_sound(c, "forms")) == ["m", "ok"]


def test_a_path_with_an_encoded_newline_writes_nothing(user: User) -> None:
    c = user.client
    r = c.put("/storage/forms/x%0A", {"payload": "sneaky"})
    _assert_usual(r, 404)
    assert c.get("/storage/forms/x").status_code == 404
    _assert_usual(c.put("/storage/forms\n/x", {"payload": "p"}), 400)  # the collection name
    _assert_usual(c.put("/storage/forms%0A/x", {"payload": "p"}), 400)
    _assert_usual(c.put("/storage/forms/x", {"id": "x\n", "payload": "p"}), 400, 8)
    _assert_usual(c.get("/storage/forms", params={"ids": "x\n,y"}), 400)
    assert c.get("/info/collections").json() == {}
    uid = user.token["uid"]
    r = requests.get(c.endpoint.replace(f"/{uid}", f"/{uid}%0A") + "/info/collections", timeout=30)
    assert r.status_code == 404  # the uid in full, too


def test_the_tokenserver_path_is_matched_in_full(stack: LocalStack, user: User) -> None:
    r = requests.get(stack.token_url + "%0A", headers={"Authorization": f"Bearer {user.access_token}"},
                     timeout=30)  # fmt: skip
    assert r.status_code == 404 and r.json()["errors"][0]["location"] == "url"


def test_a_stored_bad_id_cannot_break_a_listing(stack: LocalStack, user: User) -> None:
    """Rows an older stack let in (its rule ended in "$", so an id could end in "\\n")
    are escaped on the way out, in every format."""
    node = stack.node_by_url(user.token["api_endpoint"].rsplit("/1.5/", 1)[0])
    legacy = ["abc\n", "x" * 64 + "\n", 'q"\\', "ok"]
    node.store.put_items(user.token["uid"], "legacy", [Item(i, "p") for i in legacy])
    c = user.client
    assert sorted(c.get("/storage/legacy").json()) == sorted(legacy)
    assert sorted(r["id"] for r in json.loads(c.get("/storage/legacy", params={"full": "1"}).text)) == sorted(legacy)
    lines = c.get("/storage/legacy", headers={"Accept": "application/newlines"}).text.split("\n")
    assert sorted(json.loads(line) for line in lines if line) == sorted(legacy)


# -- 2. what used to be a 500 ------------------------------------------------------------
def test_deeply_nested_bodies_are_invalid_json(user: User) -> None:
    c = user.client
    deep_list = "[" * DEEP + "]" * DEEP
    _assert_usual(c.request("POST", "/storage/forms", data=deep_list), 400, 8)
    _assert_usual(c.request("POST", "/storage/forms", data="[" + '{"a":' * DEEP), 400, 8)
    _assert_usual(c.request("POST", "/storage/forms", data=deep_list + "\n", content_type="application/newlines"),
                  400, 8)  # fmt: skip
    _assert_usual(c.request("PUT", "/storage/forms/x", data='{"payload":' + deep_list + "}"), 400, 8)
    _assert_usual(c.request("PUT", "/storage/forms/x", data='{"a":' * DEEP), 400, 8)


def test_a_deeply_nested_crypto_payload_is_only_a_string(user: User) -> None:
    # syncstorage-rs looks for a zero IV with a regex on the payload text, never parsing
    # it: a payload that is not JSON is stored like any other string.
    c = user.client
    payload = "[" * DEEP + "]" * DEEP
    r = c.put("/storage/crypto/keys", {"payload": payload})
    assert r.status_code == 200, r.text[:200]
    assert c.get("/storage/crypto/keys").json()["payload"] == payload


def test_a_deeply_nested_offset_is_a_bad_offset(user: User) -> None:
    c = user.client
    c.post("/storage/forms", [{"id": f"r{i}", "payload": "p"} for i in range(3)])
    offset = base64.urlsafe_b64encode(("[" * DEEP).encode()).decode()
    _assert_usual(c.get("/storage/forms", params={"limit": "1", "offset": offset}), 400)
    offset = base64.urlsafe_b64encode(b"[1, NaN]").decode()
    _assert_usual(c.get("/storage/forms", params={"limit": "1", "offset": offset}), 400)


@pytest.mark.parametrize(
    "text",
    [
        '[{"id":"a","payload":"\\ud800"}]',
        '[{"id":"a","payload":"x\\udfff"}]',
        '[{"id":"a","payload":"ok","modified":"\\ud83d"}]',  # even where it is ignored
        '[{"id":"\\ud800","payload":"p"}]',
        '[{"id":"a","payload":"p","sortindex":NaN}]',
        '[{"id":"a","payload":"p","modified":1e999}]',
    ],
)
def test_what_is_not_json_for_serde_is_invalid_json_here(user: User, text: str) -> None:
    c = user.client
    _assert_usual(c.request("POST", "/storage/forms", data=text), 400, 8)
    _assert_usual(c.request("PUT", "/storage/forms/a", data=text[1:-1]), 400, 8)
    assert c.get("/info/collections").json() == {}


def test_a_surrogate_pair_is_fine(user: User) -> None:
    c = user.client
    r = c.request("PUT", "/storage/forms/a", data='{"payload":"\\ud83d\\ude00 and \\\\ud800"}')
    assert r.status_code == 200
    assert c.get("/storage/forms/a").json()["payload"] == "\U0001f600 and \\ud800"


@pytest.mark.parametrize(
    "template",
    [
        'Hawk id="{id}"',
        'Hawk id="{id}", mac="x"',
        'Hawk id="{id}", ts="{ts}", mac="x"',
        'Hawk id="{id}", ts="soon", nonce="n", mac="x"',
        'Hawk id="{id}", ts="1e9", nonce="n", mac="x"',
        'Hawk id="{id}", ts="", nonce="n", mac="x"',
        'Hawk id="{id}", ts="{ts}", nonce="n", mac="x", bogus="1"',
        'Hawk id="{id}" ts="{ts}"',
        "Hawk ",
        "Hawk",
        'Hawk id=""',
    ],
)
def test_incomplete_hawk_headers_are_401(user: User, template: str) -> None:
    header = template.format(id=user.token["id"], ts=int(time.time()))
    url = user.client.endpoint + "/info/collections"
    _assert_usual(requests.get(url, headers={"Authorization": header}, timeout=30), 401, 0)
    r = requests.put(url.replace("info/collections", "storage/forms/x"), data='{"payload":"p"}',
                     headers={"Authorization": header}, timeout=30)  # fmt: skip
    _assert_usual(r, 401, 0)


def test_deep_json_to_the_other_services_is_a_400(stack: LocalStack) -> None:
    deep = "[" * DEEP + "]" * DEEP
    r = requests.post(stack.auth_url + "/account/login", data=deep, timeout=30)
    assert r.status_code == 400 and r.json()["errno"] == 106
    r = requests.post(stack.auth_url + "/account/login", data='{"email":"\\ud800"}', timeout=30)
    assert r.status_code == 400 and r.json()["errno"] == 106


# -- 3. oversize bodies are refused unread ----------------------------------------------
def _raw(stack: LocalStack, head: str, body: bytes = b"", *, chunks: list[bytes] | None = None,
         timeout: float = 10) -> tuple[int, dict[str, str], bytes, float]:  # fmt: skip
    """Send a request by hand; return (status, headers, body, seconds to the answer).

    Only ``body`` (a small part of what is declared) is sent: if the server waited for
    the declared body, the read here would time out."""
    host, port = stack.url.rsplit("//", 1)[1].rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body)
        for chunk in chunks or []:
            try:
                sock.sendall(chunk)
            except OSError:
                break  # the server stopped reading, as it should
        data = b""
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            assert got, f"closed without an answer after {data!r}"
            data += got
        elapsed = time.monotonic() - started
        head_bytes, _, rest = data.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            got = sock.recv(65536)
            if not got:
                break
            rest += got
        return int(lines[0].split()[1]), headers, rest, elapsed


@pytest.mark.parametrize(
    "path,check",
    [
        ("/storage/1.5/1/storage/forms", lambda b: json.loads(b) == 17),
        ("/storage2/1.5/7/storage/forms?batch=true", lambda b: json.loads(b) == 17),
        ("/v1/account/login", lambda b: json.loads(b)["errno"] == 113),
        ("/token/1.0/sync/1.5", lambda b: json.loads(b)["status"] == "Request Entity Too Large"),
        ("/__admin__/put_records", lambda b: "error" in json.loads(b)),  # without its secret
        ("/nowhere", lambda b: json.loads(b) == 0),
    ],
)
def test_a_declared_200_mb_body_is_refused_before_it_is_read(stack: LocalStack, path, check) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {stack.url.split('//')[1]}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    )
    status, headers, body, elapsed = _raw(stack, head, b"[" + b" " * 4096)
    assert status == 413
    assert check(body), body
    assert headers["connection"] == "close"  # the unread body goes with the connection
    if path.startswith("/storage"):
        assert "x-weave-timestamp" in headers


def test_the_admin_api_takes_large_bodies_only_with_its_secret(stack: LocalStack) -> None:
    for secret, refused in (("wrong", True), (stack.admin_secret, False)):
        head = (
            f"POST /__admin__/put_records HTTP/1.1\r\nHost: h\r\nX-Admin-Secret: {secret}\r\n"
            "Content-Length: 2000000\r\n\r\n"
        )
        if refused:
            status, _, body, _ = _raw(stack, head)
            assert status == 413 and "error" in json.loads(body)
        else:  # read in full, then answered (the arguments are nonsense)
            status, _, body, _ = _raw(stack, head, b" " * 2_000_000)
            assert status == 400


def test_expect_100_continue_gets_the_refusal_not_a_continue(stack: LocalStack) -> None:
    head = (
        "PUT /storage/1.5/1/storage/forms/x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        "Content-Length: 3000000\r\n\r\n"
    )
    status, _, body, _ = _raw(stack, head)
    assert status == 413 and json.loads(body) == 17


def test_a_chunked_body_is_cut_off_at_the_limit(stack: LocalStack) -> None:
    stack.admin.set_config(max_request_bytes=10_000)
    head = "POST /storage/1.5/1/storage/forms HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"
    status, headers, body, _ = _raw(stack, head, chunks=[chunk] * 200)
    assert status == 413 and json.loads(body) == 17 and headers["connection"] == "close"


def test_the_limit_is_the_advertised_max_request_bytes(stack: LocalStack, user: User) -> None:
    c = user.client
    limit = c.get("/info/configuration").json()["max_request_bytes"]
    record = json.dumps([{"id": "big", "payload": "x" * 1000}])
    stack.admin.set_config(max_request_bytes=len(record))  # what info/configuration says is what holds
    assert c.get("/info/configuration").json()["max_request_bytes"] == len(record)
    assert c.request("POST", "/storage/forms", data=record).status_code == 200
    r = c.request("POST", "/storage/forms", data=record + " ")
    _assert_usual(r, 413, 17)
    assert r.headers.get("Connection") == "close"
    stack.admin.reset_config()
    assert c.get("/info/configuration").json()["max_request_bytes"] == limit
    assert c.request("POST", "/storage/forms", data=record + " ").status_code == 200


def test_waitress_refusals_speak_the_services_language(stack: LocalStack) -> None:
    head = "POST /storage/1.5/1/storage/forms HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"
    status, headers, body, _ = _raw(stack, head)
    assert status == 400 and json.loads(body) == 0 and "x-weave-timestamp" in headers
    head = "POST /storage/1.5/1/storage/forms HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n"
    status, _, body, _ = _raw(stack, head)
    assert status == 400 and json.loads(body) == 0
    # headers too large: waitress stops before the path, so the body is the bare integer
    head = "GET /v1/account/status HTTP/1.1\r\nHost: h\r\nX-Big: " + "a" * 300_000 + "\r\n\r\n"
    status, _, body, _ = _raw(stack, head)
    assert status == 431 and json.loads(body) == 0


# -- 4. as Mozilla's syncstorage: newlines and CORS --------------------------------------
@pytest.mark.parametrize("body", ["\n", "\n\n", " \n", '{"id":"a","payload":"p"}\n\n{"id":"b","payload":"p"}'])
def test_a_blank_line_in_a_newlines_body_is_invalid(user: User, body: str) -> None:
    c = user.client
    r = c.request("POST", "/storage/forms", params={"batch": "true"}, data="[]")
    batch = r.json()["batch"]
    commit = {"batch": batch, "commit": "true"}
    _assert_usual(c.request("POST", "/storage/forms", params=commit, data=body,
                            content_type="application/newlines"), 400, 8)  # fmt: skip
    _assert_usual(c.request("POST", "/storage/forms", data=body, content_type="application/newlines"), 400, 8)
    assert c.get("/info/collections").json() == {}


def test_newlines_lines_end_as_in_rust(user: User) -> None:
    c = user.client
    body = '{"id":"a","payload":"p"}\r\n{"id":"b","payload":"q"}\n'
    r = c.request("POST", "/storage/forms", data=body, content_type="application/newlines")
    assert r.status_code == 200 and r.json()["success"] == ["a", "b"]
    r = c.request("POST", "/storage/forms", data="", content_type="application/newlines")
    assert r.status_code == 200 and r.json()["success"] == []


CORS_PATHS = [
    "/storage/1.5/1/storage/bookmarks",
    "/storage/1.5/1/info/collections",
    "/storage2/1.5/99/storage/x/y",
    "/token/1.0/sync/1.5",
    "/v1/account/login",
    "/profile/v1/profile",
    "/nowhere/at/all",
]


@pytest.mark.parametrize("path", CORS_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE"])
def test_every_path_answers_a_cors_preflight(stack: LocalStack, path: str, method: str) -> None:
    origin = "https://example.org:8443"
    r = requests.options(
        stack.url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "Authorization, content-type, X-Weave-Records",
        },
        timeout=30,
    )
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert int(r.headers["Access-Control-Max-Age"]) == 1728000
    assert set(r.headers["Access-Control-Allow-Methods"].split(", ")) == {"DELETE", "GET", "POST", "PUT"}
    allowed = r.headers["Access-Control-Allow-Headers"].split(", ")
    assert {"authorization", "content-type", "x-weave-records", "x-last-modified"} <= set(allowed)
    assert "Origin" in r.headers["Vary"]


def test_cors_preflights_are_checked_as_actix_cors_does(stack: LocalStack, user: User) -> None:
    url = user.client.endpoint + "/storage/bookmarks"
    base = {"Origin": "https://a.example"}
    r = requests.options(url, headers={**base, "Access-Control-Request-Method": "PATCH"}, timeout=30)
    _assert_usual(r, 400)
    r = requests.options(url, headers={**base, "Access-Control-Request-Method": "GET",
                                       "Access-Control-Request-Headers": "x-evil"}, timeout=30)  # fmt: skip
    _assert_usual(r, 400)
    # not a preflight: OPTIONS is not a storage method
    _assert_usual(requests.options(url, headers=base, timeout=30), 405)
    # answers to real requests carry the origin back
    r = user.client.get("/info/collections", headers=base)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert "Access-Control-Allow-Origin" not in user.client.get("/info/collections").headers
    # no web page may call the admin API
    r = requests.options(stack.admin_url + "/faults",
                         headers={**base, "Access-Control-Request-Method": "POST"}, timeout=30)  # fmt: skip
    assert r.status_code >= 400 and "Access-Control-Allow-Origin" not in r.headers
