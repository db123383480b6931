"""Fuzz the embedded stack over real HTTP: hostile methods, paths, query strings, headers,
bodies and Hawk headers, against one running stack per module.

What must hold for every request (issue 12): no 5xx unless a fault was injected on
purpose, every 4xx carries its service's usual JSON body (a bare integer on storage
nodes), storage answers carry ``X-Weave-Timestamp``, nothing is logged as an internal
error, and the stored data stays readable: every listing parses, in both formats, and
every id in it follows the rules.

``SYNCTOOLS_FUZZ_REPORT=<file>`` appends the module's counts (requests, 5xx, unexpected
exceptions) as one JSON line, for the long runs behind ``make fuzz``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import mohawk
import pytest
import requests
from hypothesis import example, given, note
from hypothesis import strategies as st

from synctools.protocol import onepw
from synctools.protocol._util import b64url_nopad
from synctools.protocol.bso import valid_bso_id, valid_collection_name
from synctools.server import LocalStack

COUNTS: Counter[str] = Counter()


class _ErrorLog(logging.Handler):
    """Counts what the server logs at ERROR: an internal error is a finding even when the
    client saw a tidy answer."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}"[:500])


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    COUNTS.clear()
    with LocalStack() as s:
        yield s
    summary = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "profile": os.environ.get("HYPOTHESIS_PROFILE", "ci"),
        **{k: COUNTS[k] for k in ("examples", "requests", "5xx", "deliberate_5xx", "unexpected_exceptions")},
    }
    print(f"\nserver fuzz: {summary}")
    report = os.environ.get("SYNCTOOLS_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as f:
            f.write(json.dumps(summary) + "\n")


@pytest.fixture(scope="module")
def errors() -> Iterator[_ErrorLog]:
    handler = _ErrorLog()
    loggers = [logging.getLogger(name) for name in ("synctools.server", "waitress")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def account(stack: LocalStack) -> dict[str, Any]:
    """A signed-in account's storage token (sign-in as Firefox does it)."""
    email, password, kb, krt = "fuzz@example.com", "fuzz password", bytes(range(32)), 1_700_000_000_000
    stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=krt)
    auth_pw = onepw.auth_pw(onepw.quick_stretch_v1(email, password)).hex()
    session = requests.post(stack.auth_url + "/account/login", json={"email": email, "authPW": auth_pw},
                            timeout=30).json()  # fmt: skip
    token_id = onepw.token_credentials(bytes.fromhex(session["sessionToken"]), "sessionToken").token_id
    access = requests.post(
        stack.auth_url + "/oauth/token",
        json={"client_id": "5882386c6d801776", "grant_type": "fxa-credentials",
              "scope": "https://identity.mozilla.com/apps/oldsync"},
        headers={"Authorization": f"Bearer fxs_{token_id}"},
        timeout=30,
    ).json()["access_token"]  # fmt: skip
    kid = f"{krt}-{b64url_nopad(hashlib.sha256(kb).digest()[:16])}"
    r = requests.get(stack.token_url, headers={"Authorization": f"Bearer {access}", "X-KeyID": kid}, timeout=30)
    r.raise_for_status()
    return r.json()


# -- strategies ---------------------------------------------------------------------------
COLLECTIONS = ["bookmarks", "history", "forms", "crypto", "meta", "clients", "tabs", "passwords"]
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=70)
odd_text = st.text(max_size=40)  # any code point, surrogates and controls included
ids = st.one_of(
    st.from_regex(r"[ -~]{1,64}", fullmatch=True),
    st.sampled_from(["abc\n", "x" * 64 + "\n", "x" * 65, "a\r", "\x00", "é", "a/b", "..", "%0A", "a,b"]),
    odd_text,
)
collections = st.one_of(st.sampled_from(COLLECTIONS), st.from_regex(r"[a-zA-Z0-9._-]{1,32}", fullmatch=True),
                        st.sampled_from(["bookmarks\n", "x" * 33, "", "a b", "é"]), odd_text)  # fmt: skip
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "0", "-1", "1e999", "NaN", "0x10", "²", "1_000", " 5", "99999999999.99", "1.234"]),
    st.builds(lambda d: f"{time.time() + d:.2f}", st.integers(-100, 100)),
)
query_values = st.one_of(numbers, printable, odd_text,
                         st.sampled_from(["true", "1", "newest", "oldest", "index", "a,b,c", ",".join(["x"] * 101)]),
                         st.builds(lambda s: b64url_nopad(s.encode()), printable))  # fmt: skip
QUERY_NAMES = ["ids", "newer", "older", "full", "limit", "offset", "sort", "batch", "commit"]
queries = st.dictionaries(st.one_of(st.sampled_from(QUERY_NAMES), printable), query_values, max_size=4)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60).map(str.strip)
headers = st.fixed_dictionaries(
    {},
    optional={
        "X-If-Modified-Since": numbers,
        "X-If-Unmodified-Since": numbers,
        "X-Weave-Records": numbers,
        "X-Weave-Bytes": numbers,
        "X-Weave-Total-Records": numbers,
        "X-Weave-Total-Bytes": numbers,
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "application/newlines",
                "text/plain",
                "application/json; charset=utf-8",
                "text/html",
                "",
                "*/*",
            ]
        ),
        "Accept": st.sampled_from(["application/json", "application/newlines", "*/*", "text/html", "x"]),
        "Origin": st.sampled_from(["https://example.org", "null", "http://127.0.0.1:1"]),
        "Access-Control-Request-Method": st.sampled_from(["GET", "PUT", "PATCH", "get", "", "G E T"]),
        "Access-Control-Request-Headers": st.sampled_from(["authorization", "x-evil", "", ",", "a b"]),
        "X-Confirm-Delete": st.sampled_from(["1", "true"]),
        "X-Random": header_text,
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | odd_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)
bsos = st.fixed_dictionaries(
    {"id": ids},
    optional={
        "payload": st.one_of(odd_text, st.builds(json.dumps, json_values), json_values,
                             st.just(json.dumps({"IV": "AAAAAAAAAAAAAAAAAAAAAA==", "ciphertext": "x", "hmac": "y"}))),
        "sortindex": st.one_of(st.integers(-(2**40), 2**40), st.floats(), odd_text, st.none()),
        "ttl": st.one_of(st.integers(-10, 2**40), st.none(), st.floats()),
        "modified": json_values,
        "collection": json_values,
        "extra": json_values,
    },
)  # fmt: skip
DEEP = 30_000


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


HOSTILE_BODIES = [
    "[" * DEEP + "]" * DEEP, '{"a":' * DEEP, '{"payload":' + "[" * DEEP, "\n", "\n\n", " \n", "[]", "{}", "",
    '[{"id":"a","payload":"\\ud800"}]', '{"payload":"\\udfff"}', "[NaN]", '[{"id":"a","sortindex":1e999}]',
    "\ufeff[]", "\x00", '[{"id":"abc\\n","payload":"x"},{"id":"ok","payload":"y"}]', '{"id":"x\\n","payload":"p"}',
]  # fmt: skip
bodies = st.one_of(
    st.none(),
    st.lists(bsos, max_size=5).map(_dumps),
    bsos.map(_dumps),
    st.lists(bsos, max_size=4).map(lambda objs: "\n".join(_dumps(o) for o in objs)),
    json_values.map(_dumps),
    st.binary(max_size=200),
    st.sampled_from(HOSTILE_BODIES),
)


# Half the requests are what a client could send, hostile only in ids, fields, query and
# headers, so that writes succeed and the data the node keeps is put to the test too.
good_ids = st.one_of(
    st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True), st.from_regex(r"[ -~]{1,64}", fullmatch=True)
)
good_bsos = st.fixed_dictionaries(
    {"id": good_ids},
    optional={"payload": odd_text, "sortindex": st.integers(-(10**9), 10**9), "ttl": st.integers(0, 10**6)},
)
tame_bodies = st.one_of(
    st.lists(st.one_of(good_bsos, good_bsos, bsos), max_size=6).map(_dumps),
    st.sampled_from(HOSTILE_BODIES),
    st.lists(good_bsos, max_size=4).map(lambda objs: "\n".join(_dumps(o) for o in objs)),
    good_bsos.map(lambda o: _dumps({k: v for k, v in o.items() if k != "id"})),
)


@st.composite
def exchanges(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return draw(tame_exchanges())
    where = draw(st.sampled_from(["mine", "mine", "mine", "mine", "other-node", "token", "accounts", "nowhere"]))
    shape = draw(st.sampled_from(["collection", "collection", "item", "item", "info", "root", "storage", "random"]))
    coll, bso_id = draw(collections), draw(ids)
    tail = {
        "collection": f"/storage/{quote(coll, safe='')}",
        "item": f"/storage/{quote(coll, safe='')}/{quote(bso_id, safe='')}",
        "info": "/info/"
        + draw(
            st.sampled_from(
                ["collections", "collection_counts", "collection_usage", "quota", "configuration", "nothing", ""]
            )
        ),
        "root": draw(st.sampled_from(["", "/"])),
        "storage": draw(st.sampled_from(["/storage", "/storage/"])),
        "random": "/" + quote(draw(odd_text), safe="/%"),
    }[shape]
    uid = draw(st.one_of(st.just("mine"), st.sampled_from(["0", "99999999999", "1a", "１"]), printable))
    return {
        "where": where,
        "tail": tail,
        "uid": uid,
        "coll": coll,
        "method": draw(
            st.sampled_from(["GET", "GET", "PUT", "POST", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "FOO"])
        ),
        "query": draw(queries),
        "raw_query": draw(st.one_of(st.none(), printable.map(lambda q: quote(q, safe="=&,")))),
        # what HTTP can carry at all (requests refuses the rest before sending)
        "headers": {k: v.strip(" \t") for k, v in draw(headers).items() if "\r" not in v and "\n" not in v},
        "body": draw(bodies),
        "auth": draw(st.sampled_from(["hawk", "hawk", "hawk", "hawk", "none", "stale", "partial", "garbage"])),
        "fault": draw(st.sampled_from([None] * 18 + ["503", "500"])),
    }


@st.composite
def tame_exchanges(draw: st.DrawFn) -> dict[str, Any]:
    coll = draw(st.sampled_from(COLLECTIONS))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "POST", "DELETE"]))
    item = method == "PUT" or (method != "POST" and draw(st.booleans()))
    bso_id = draw(good_ids)
    body = draw(tame_bodies) if method in ("PUT", "POST") else None
    hdrs = draw(st.one_of(st.just({}), headers))
    if method == "POST" and body and body[0] == "{" and "\n" in body:
        hdrs["Content-Type"] = "application/newlines"
    return {
        "where": "mine",
        "tail": f"/storage/{coll}" + (f"/{quote(bso_id, safe='')}" if item else ""),
        "uid": "mine",
        "coll": coll,
        "method": method,
        "query": draw(st.one_of(st.just({}), queries)),
        "raw_query": None,
        "headers": {k: v.strip(" \t") for k, v in hdrs.items() if "\r" not in v and "\n" not in v},
        "body": body,
        "auth": "hawk",
        "fault": None,
    }


# -- one exchange -------------------------------------------------------------------------
def _url(stack: LocalStack, account: dict[str, Any], ex: dict[str, Any]) -> tuple[str, str]:
    """The URL and the service that answers it."""
    endpoint = account["api_endpoint"]
    uid = str(account["uid"]) if ex["uid"] == "mine" else quote(ex["uid"], safe="")
    base = endpoint.rsplit("/", 1)[0] + "/" + uid
    if ex["where"] == "other-node":
        other = [n for n in stack.nodes if not endpoint.startswith(n + "/")][0]
        base = f"{other}/1.5/{uid}"
    service = "storage"
    if ex["where"] == "token":
        base, service = stack.token_server_url + "/1.0/sync", "token"
        ex["tail"] = "/1.5" if ex["tail"] == "" else ex["tail"]
    elif ex["where"] == "accounts":
        # "/v1" alone is no accounts route (only "/v1/..." is): the stack's 404 body is 0
        base, service = stack.auth_url, "accounts" if ex["tail"] else "nowhere"
    elif ex["where"] == "nowhere":
        base, service = stack.url + "/nowhere", "nowhere"
    query = ex["raw_query"] if ex["raw_query"] is not None else urlencode(ex["query"])
    return base + ex["tail"] + ("?" + query if query else ""), service


def _sign(account: dict[str, Any], prepared: requests.PreparedRequest, mode: str) -> None:
    creds = {"id": account["id"], "key": account["key"], "algorithm": "sha256"}
    if mode in ("hawk", "stale"):
        sender = mohawk.Sender(creds, prepared.url, prepared.method, always_hash_content=False,
                               _timestamp=int(time.time()) - (600 if mode == "stale" else 0))  # fmt: skip
        prepared.headers["Authorization"] = sender.request_header
    elif mode == "partial":
        prepared.headers["Authorization"] = f'Hawk id="{account["id"]}"'
    elif mode == "garbage":
        prepared.headers["Authorization"] = 'Hawk id="x", ts="1", nonce="n", mac="m", ext="\\"'


def _check_error_body(r: requests.Response, service: str) -> None:
    body = r.json()
    if service in ("storage", "nowhere"):
        assert isinstance(body, int) and not isinstance(body, bool), body
    elif service == "token":
        assert isinstance(body, dict) and body.get("errors"), body
    else:
        assert isinstance(body, dict) and isinstance(body.get("errno"), int), body


def _send(session: requests.Session, prepared: requests.PreparedRequest) -> requests.Response:
    COUNTS["requests"] += 1
    try:
        return session.send(prepared, timeout=60, allow_redirects=False)
    except requests.RequestException:
        COUNTS["unexpected_exceptions"] += 1
        raise


def _data_is_sound(session: requests.Session, account: dict[str, Any], coll: str) -> None:
    """info/collections and the written collection's listings parse, in both formats, and
    agree with info/collection_counts; every id follows the rules."""

    def get(path: str, **headers: str) -> requests.Response:
        url = account["api_endpoint"] + path
        sender = mohawk.Sender({"id": account["id"], "key": account["key"], "algorithm": "sha256"},
                               url, "GET", always_hash_content=False)  # fmt: skip
        prepared = requests.Request("GET", url, headers={"Authorization": sender.request_header, **headers}).prepare()
        r = _send(session, prepared)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
        return r

    info = json.loads(get("/info/collections").text)
    assert isinstance(info, dict) and all(valid_collection_name(c) for c in info)
    counts = json.loads(get("/info/collection_counts").text)
    if coll in counts:
        records = json.loads(get(f"/storage/{coll}?full=1").text)
        assert all(valid_bso_id(r["id"]) and isinstance(r["payload"], str) for r in records)
        lines = get(f"/storage/{coll}?full=1", Accept="application/newlines").text
        assert sorted(json.loads(line)["id"] for line in lines.splitlines()) == sorted(r["id"] for r in records)
        assert len(records) == counts[coll]


def _tame(method: str, tail: str, body: str | None = None, **more: Any) -> dict[str, Any]:
    """An example written out: issue 12's findings run on every CI run, not by chance."""
    base = {"where": "mine", "tail": tail, "uid": "mine", "coll": tail.split("/")[2], "method": method,
            "query": {}, "raw_query": None, "headers": {}, "body": body, "auth": "hawk", "fault": None}  # fmt: skip
    return {**base, **more}


@given(ex=exchanges())
@example(ex=_tame("POST", "/storage/forms", '[{"id":"abc\\n","payload":"x"},{"id":"ok","payload":"y"}]'))
@example(ex=_tame("POST", "/storage/forms", _dumps([{"id": "x" * 64 + "\n", "payload": "x"}])))
@example(ex=_tame("PUT", "/storage/forms/x%0A", '{"payload":"p"}'))
@example(ex=_tame("POST", "/storage/forms", "[" * DEEP + "]" * DEEP))
@example(ex=_tame("PUT", "/storage/crypto/keys", '{"payload":' + "[" * DEEP + "]" * DEEP + "}"))
@example(ex=_tame("GET", "/storage/forms", query={"limit": "1", "offset": b64url_nopad(b"[" * DEEP)}))
@example(ex=_tame("PUT", "/storage/forms/a", '{"payload":"\\ud800"}'))
@example(ex=_tame("GET", "/storage/forms", auth="partial"))
@example(ex=_tame("POST", "/storage/forms", "\n", query={"batch": "true", "commit": "true"},
                  headers={"Content-Type": "application/newlines"}))  # fmt: skip
@example(ex=_tame("OPTIONS", "/storage/forms", auth="none",
                  headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}))  # fmt: skip
def test_no_request_breaks_the_node(stack: LocalStack, account: dict[str, Any], errors: _ErrorLog, ex) -> None:
    COUNTS["examples"] += 1
    url, service = _url(stack, account, ex)
    body = ex["body"]
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    note(f"{ex['method']} {url} auth={ex['auth']} fault={ex['fault']} headers={ex['headers']} body={data!r:.300}")
    with requests.Session() as session:
        prepared = session.prepare_request(requests.Request(ex["method"], url, headers=ex["headers"], data=data))
        _sign(account, prepared, ex["auth"])
        if ex["fault"] == "503":
            stack.admin.inject_fault("503", count=1)
        elif ex["fault"] == "500":
            stack.admin.inject_fault("status", count=1, status=500, body="0")
        before = len(errors.records)
        try:
            r = _send(session, prepared)
        finally:
            stack.admin.clear_faults()
        note(f"→ {r.status_code} {r.headers.get('Content-Type')} {r.text[:200]!r}")
        deliberate = {"503": 503, "500": 500}.get(ex["fault"] or "")
        if r.status_code >= 500:
            if r.status_code == deliberate:
                COUNTS["deliberate_5xx"] += 1
            else:
                COUNTS["5xx"] += 1
        assert r.status_code < 500 or r.status_code == deliberate, r.text[:300]
        assert errors.records[before:] == []
        if service == "storage" and ex["fault"] != "500":  # a "status" fault is sent exactly as asked
            assert "X-Weave-Timestamp" in r.headers
        if 400 <= r.status_code < 500 and r.status_code != 412 and ex["method"] != "HEAD":
            _check_error_body(r, service)
        hdrs = ex["headers"]
        asked = [h.strip() for h in hdrs.get("Access-Control-Request-Headers", "authorization").split(",")]
        if (ex["method"] == "OPTIONS" and hdrs.get("Access-Control-Request-Method") in ("GET", "PUT")
                and all(h in ("authorization", "content-type") for h in asked)):  # fmt: skip
            # every path answers a CORS preflight, echoing the origin
            assert r.status_code == 200 and int(r.headers["Access-Control-Max-Age"]) > 0
            assert r.headers.get("Access-Control-Allow-Origin") == hdrs.get("Origin")
        if r.status_code == 200 and ex["method"] == "GET" and service == "storage" and "/storage/" in url:
            if r.headers.get("Content-Type") == "application/newlines":
                [json.loads(line) for line in r.text.splitlines()]
            else:
                json.loads(r.text)
        if ex["method"] in ("PUT", "POST", "DELETE") and r.status_code < 300:
            _data_is_sound(session, account, ex["coll"])


# -- below HTTP: bytes on the socket ------------------------------------------------------
request_lines = st.one_of(
    st.builds(lambda m, t, v: f"{m} {t} {v}".encode("latin-1", "replace"),
              st.sampled_from(["GET", "POST", "PUT", "get", "", "G\x00T", "GET GET"]),
              st.one_of(st.sampled_from(["/storage/1.5/1/info/collections", "*", "http://x/", "/%", "/%zz", "//"]),
                        printable),
              st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", "", "HTTP/9"])),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
)  # fmt: skip
header_lines = st.lists(
    st.one_of(
        st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 5, 5", b"Content-Length: x",
                         b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"Expect: 100-continue",
                         b"Host:", b": empty", b" folded", b"X\x00: y", b"Connection: close"]),
        st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
    ),
    max_size=5,
)  # fmt: skip


@given(line=request_lines, head=header_lines, body=st.binary(max_size=60))
def test_no_bytes_break_the_server(stack: LocalStack, errors: _ErrorLog, line: bytes, head: list[bytes],
                                   body: bytes) -> None:  # fmt: skip
    COUNTS["examples"] += 1
    host, port = stack.url.rsplit("//", 1)[1].rsplit(":", 1)
    raw = line + b"\r\n" + b"".join(h + b"\r\n" for h in head) + b"Connection: close\r\n\r\n" + body
    note(repr(raw))
    before = len(errors.records)
    COUNTS["requests"] += 1
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # nothing more is coming: the server must answer or close
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert errors.records[before:] == []
    if not answer:
        return  # nothing that reads as a request (waitress closes without a word)
    status_line, _, rest = answer.partition(b"\r\n")
    match = re.fullmatch(rb"HTTP/1\.[01] (\d{3}) .*", status_line)
    assert match, answer[:200]
    status = int(match.group(1))
    if status >= 500:
        COUNTS["5xx"] += 1
    assert status < 500, answer[:300]
    head_part, _, payload = rest.partition(b"\r\n\r\n")
    if status >= 400 and payload and b"chunked" not in head_part.lower():
        json.loads(payload.split(b"HTTP/1.")[0])  # the service's JSON, not a text page
