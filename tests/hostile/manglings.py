"""What the hostile server does to the one answer it mangles, and which answers it hits.

Each mangling is a function ``(answer, request) -> answer``; each endpoint names the
answer (method, path, which occurrence) and the words an error about it must contain.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .proxy import Answer, Mangle, Request, Rule

DEEP = 50_000
TRICKLE = 0.25  # seconds per byte; the tests' deadline is a few seconds


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # regex searched in the path
    needle: str  # an error about this answer names it so
    nth: int = 1
    credential: bool = False  # the answer carries secrets
    storage: bool = False


ENDPOINTS = [
    Endpoint(
        "credentials-status",
        "POST",
        r"^/v1/account/credentials/status$",
        "/account/credentials/status",
        credential=True,
    ),
    Endpoint("login", "POST", r"^/v1/account/login$", "/account/login", credential=True),
    Endpoint("verify-totp", "POST", r"^/v1/session/verify/totp$", "/session/verify/totp", credential=True),
    Endpoint("oauth-token", "POST", r"^/v1/oauth/token$", "/oauth/token", credential=True),
    Endpoint("account-keys", "GET", r"^/v1/account/keys$", "/account/keys", credential=True),
    Endpoint("scoped-key-data", "POST", r"^/v1/account/scoped-key-data$", "/account/scoped-key-data", credential=True),
    Endpoint("tokenserver", "GET", r"^/token/1\.0/sync/1\.5$", "tokenserver", credential=True),
    Endpoint("info-configuration", "GET", r"/info/configuration$", "/info/configuration", storage=True),
    Endpoint("info-collections", "GET", r"/info/collections$", "/info/collections", storage=True),
    Endpoint("info-collections-2", "GET", r"/info/collections$", "/info/collections", nth=2, storage=True),
    Endpoint("meta-global", "GET", r"/storage/meta/global$", "meta/global", storage=True),
    Endpoint("crypto-keys", "GET", r"/storage/crypto/keys$", "crypto/keys", storage=True),
    Endpoint("bookmarks-page-1", "GET", r"/storage/bookmarks$", "/storage/bookmarks", storage=True),
    Endpoint("bookmarks-page-2", "GET", r"/storage/bookmarks$", "/storage/bookmarks", nth=2, storage=True),
    Endpoint("collection-counts", "GET", r"/info/collection_counts$", "/info/collection_counts", storage=True),
    Endpoint("history", "GET", r"/storage/history$", "/storage/history", storage=True),
    Endpoint("commit", "POST", r"/storage/bookmarks$", "/storage/bookmarks", storage=True),
]
BY_NAME = {e.name: e for e in ENDPOINTS}


# ------------------------------------------------------------------------ JSON walks


def _load(a: Answer) -> Any:
    try:
        return json.loads(a.body)
    except ValueError:
        return _NOT_JSON


_NOT_JSON = object()


def _with_json(a: Answer, data: Any) -> Answer:
    a.body = json.dumps(data).encode()
    return a


def walk(data: Any, leaf: Callable[[Any], Any], *, containers: Callable[[Any], Any] | None = None) -> Any:
    """``data`` rebuilt with ``leaf`` applied to every scalar (``containers`` to every
    list/dict after its children)."""
    if isinstance(data, dict):
        out: Any = {k: walk(v, leaf, containers=containers) for k, v in data.items()}
    elif isinstance(data, list):
        out = [walk(v, leaf, containers=containers) for v in data]
    else:
        return leaf(data)
    return containers(out) if containers else out


def _json_mangle(fn: Callable[[Any], Any]) -> Mangle:
    def mangle(a: Answer, req: Request) -> Answer:
        data = _load(a)
        if data is _NOT_JSON:
            return a
        return _with_json(a, fn(data))

    return mangle


def _first(kind: type, replace: Callable[[Any], Any], *, last: bool = False) -> Callable[[Any], Any]:
    """Replace the first (or last) scalar of ``kind`` (bool excluded from int)."""

    def fn(data: Any) -> Any:
        spots = []
        walk(data, lambda v: spots.append(v) or v)
        hits = [i for i, v in enumerate(spots) if type(v) is kind]
        if not hits:
            return data
        target = hits[-1] if last else hits[0]
        counter = itertools.count()
        return walk(data, lambda v: replace(v) if next(counter) == target else v)

    return fn


def _deep(inner: str = "1") -> bytes:
    return ("[" * DEEP + inner + "]" * DEEP).encode()


def _deep_payloads(data: Any) -> Any:
    """Every record's payload becomes a string of JSON nested 50,000 deep."""
    deep = _deep().decode()
    if isinstance(data, list):
        return [dict(r, payload=deep) if isinstance(r, dict) and "payload" in r else r for r in data]
    if isinstance(data, dict) and "payload" in data:
        return dict(data, payload=deep)
    return data


def _inner(data: Any, change: Callable[[Any], Any]) -> Any:
    """``change`` applied to every container below the top level."""
    if isinstance(data, dict):
        return {k: walk(v, lambda x: x, containers=change) for k, v in data.items()}
    if isinstance(data, list):
        return [walk(v, lambda x: x, containers=change) for v in data]
    return data


def _truncate(a: Answer, req: Request) -> Answer:
    a.body = a.body[: max(1, len(a.body) // 2)]
    return a


def _truncate_lying(a: Answer, req: Request) -> Answer:
    a.declared_length = len(a.body)
    a.body = a.body[: len(a.body) // 2]
    return a


def _cut_after_secret(a: Answer, req: Request) -> Answer:
    """Cut right after the first long string value: '"key":"<secret>' and no more."""
    text = a.body.decode("utf-8", "replace")
    start = 0
    while True:
        q = text.find('":"', start)
        if q < 0:
            return _truncate(a, req)
        end = text.find('"', q + 3)
        if end - (q + 3) >= 16:
            a.body = text[:end].encode()
            return a
        start = q + 3


def _set_headers(**headers: str) -> Mangle:
    def mangle(a: Answer, req: Request) -> Answer:
        for name, value in headers.items():
            a.set_header(name.replace("_", "-"), value)
        return a

    return mangle


def _status(status: int, body: bytes, content_type: str = "application/json", **headers: str) -> Mangle:
    def mangle(a: Answer, req: Request) -> Answer:
        a.status, a.body = status, body
        a.set_header("Content-Type", content_type)
        for name, value in headers.items():
            a.set_header(name.replace("_", "-"), value)
        return a

    return mangle


def _redirect(a: Answer, req: Request) -> Answer:
    a.status = 307
    a.set_header("Location", req.path.rsplit("/", 1)[0] + "/elsewhere")
    return a


def _drop_scheme(a: Answer, req: Request) -> Answer:
    a.body = a.body.replace(b'"http://', b'"').replace(b'"https://', b'"')
    return a


def _trickle(a: Answer, req: Request) -> Answer:
    a.trickle = TRICKLE
    a.body = a.body + b" " * 64  # long enough to outlast any deadline the tests set
    return a


def endless_pager(fresh: bool) -> tuple[Mangle, Callable[[Request], Answer | None]]:
    """A page that always announces another: the same offset again, or a new one each time."""
    saved: dict[str, Answer] = {}
    n = itertools.count(1)

    def next_offset() -> str:
        return f"hostile-{next(n) if fresh else 0}"

    def mangle(a: Answer, req: Request) -> Answer:
        a.set_header("X-Weave-Next-Offset", next_offset())
        saved["page"] = Answer(a.status, list(a.headers), a.body)
        return a

    def intercept(req: Request) -> Answer | None:
        offset = (req.query.get("offset") or [""])[0]
        if not offset.startswith("hostile-") or "page" not in saved:
            return None
        page = saved["page"]
        again = Answer(page.status, list(page.headers), page.body)
        again.set_header("X-Weave-Next-Offset", next_offset())
        return again

    return mangle, intercept


# name -> mangle; each runs against every endpoint
MANGLINGS: dict[str, Mangle] = {
    "truncate": _truncate,
    "truncate-lying-length": _truncate_lying,
    "cut-after-secret": _cut_after_secret,
    "empty": lambda a, r: (setattr(a, "body", b""), a)[1],
    "deep-nest": lambda a, r: (setattr(a, "body", b"[" * DEEP + a.body + b"]" * DEEP), a)[1],
    "deep-object": lambda a, r: (setattr(a, "body", b'{"a":' + _deep() + b"}"), a)[1],
    "deep-payloads": _json_mangle(_deep_payloads),
    "html": _status(200, b"<html><body>Oops</body></html>", "text/html"),
    "not-utf8": lambda a, r: (setattr(a, "body", b'{"a": "\xff\xfe"}'), a)[1],
    "nan": lambda a, r: (setattr(a, "body", a.body.replace(b":1", b":NaN", 1)), a)[1],
    "huge-number": _json_mangle(_first(int, lambda v: 10**30)),
    "inf-number": lambda a, r: (setattr(a, "body", a.body.replace(b":1", b":1e400", 1)), a)[1],
    "number-to-string": _json_mangle(_first(int, str)),
    "last-number-to-string": _json_mangle(_first(int, str, last=True)),
    "float-to-string": _json_mangle(_first(float, str)),
    "string-to-number": _json_mangle(_first(str, lambda v: 12345)),
    "last-string-to-list": _json_mangle(_first(str, lambda v: [v], last=True)),
    "bool-to-string": _json_mangle(_first(bool, lambda v: str(v).lower())),
    "all-numbers-to-strings": _json_mangle(lambda d: walk(d, lambda v: str(v) if type(v) in (int, float) else v)),
    "all-nulls": _json_mangle(lambda d: walk(d, lambda v: None)),
    "object-to-list": _json_mangle(lambda d: list(d.values()) if isinstance(d, dict) else d),
    "list-to-object": _json_mangle(lambda d: {str(i): v for i, v in enumerate(d)} if isinstance(d, list) else d),
    "inner-objects-to-lists": _json_mangle(
        lambda d: _inner(d, lambda c: list(c.values()) if isinstance(c, dict) else c)
    ),
    "inner-lists-to-objects": _json_mangle(
        lambda d: _inner(d, lambda c: dict(enumerate(map(str, c))) if isinstance(c, list) else c)
    ),
    "list-in-object": _json_mangle(lambda d: {"data": d}),
    "x-last-modified-future": _set_headers(X_Last_Modified="99999999999.99"),
    "x-last-modified-garbage": _set_headers(X_Last_Modified="yesterday"),
    "x-weave-timestamp-garbage": _set_headers(X_Weave_Timestamp="garbage"),
    "x-weave-timestamp-past": _set_headers(X_Weave_Timestamp="1.00"),
    "retry-after-garbage": _status(503, b"{}", Retry_After="soon"),
    "status-500-garbage": _status(500, b"\x00\x01garbage"),
    "status-400-list": _status(400, b'["an", "error", 1]'),
    "status-401-html": _status(401, b"<html>no</html>", "text/html"),
    "status-429-huge-retry": _status(429, b"{}", Retry_After="99999999999999999999"),
    "content-type-text": _set_headers(Content_Type="text/plain"),
    "gzip-lie": _set_headers(Content_Encoding="gzip"),
    "redirect-307": _redirect,
    "drop-scheme": _drop_scheme,
    "trickle": _trickle,
    "next-offset-repeated": None,  # type: ignore[dict-item]  # built per run: endless_pager(False)
    "next-offset-fresh": None,  # type: ignore[dict-item]  # endless_pager(True)
}


def rule(endpoint: Endpoint, mangling: str) -> Rule:
    if mangling.startswith("next-offset"):
        mangle, intercept = endless_pager(fresh=mangling.endswith("fresh"))
        return Rule(endpoint.method, endpoint.path, mangle, endpoint.nth, intercept)
    return Rule(endpoint.method, endpoint.path, MANGLINGS[mangling], endpoint.nth)
