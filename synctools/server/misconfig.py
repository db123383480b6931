"""Self-hosting mistakes, reproduced on purpose: the embedded stack misconfigured the way
real syncstorage-rs setups are, so that ``synctools check-server`` can be shown (and
tested) to name each cause.

Each kind is what people report in syncstorage-rs' tracker: a path prefix behind a
reverse proxy that breaks the Hawk signature (#1217, #1649), a proxy that rewrites the
``Host`` header, a node URL in the tokenserver's ``nodes`` table that clients cannot
reach, a node whose master secret differs from the tokenserver's, a skewed clock, odd
``info/configuration`` limits, nginx's 1 MiB ``client_max_body_size``, an empty
``nodes`` table ("unable to get a node", #2154), a tokenserver that checks OAuth tokens
with another accounts server. Most live in :class:`Front`, a WSGI middleware that plays
the reverse proxy (and the node's clock) in front of the stack; the others change the
stack's own settings (the nodes' secret, the limits) and are undone by ``turn_off``.

Turn them on with ``LocalStack(misconfigure=...)``, ``synctools serve --misconfigure
KIND`` or the admin API (``misconfigure``, ``clear_misconfig``, ``misconfigurations``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

# The stack is passed in, never imported (it imports this module): ``Any`` keeps the
# dependency one-way, type-only imports included.
LocalStack = Any


@dataclass(frozen=True)
class Kind:
    """One misconfiguration: what it does, the finding check-server should name (``""``:
    a correct setup, check-server must find nothing), and its parameters' defaults."""

    name: str
    summary: str
    finding: str
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_tokenserver: bool = False


_KINDS = [
    Kind("path-prefix", "served under /sync behind a proxy that strips the prefix and passes no original "
         "path: the node checks Hawk signatures against a path the client did not sign",
         "server.path-prefix", {"prefix": "/sync"}),
    Kind("path-prefix-forwarded", "served under /sync behind a proxy that strips the prefix but passes the "
         "original path (X-Forwarded-Prefix), which the node honours: a correct setup",
         "", {"prefix": "/sync"}),
    Kind("host-header", "the proxy sends Host: 127.0.0.1:8000 (its upstream; nginx's default "
         "proxy_set_header Host $proxy_host): Hawk signatures are checked against the wrong host",
         "server.host-header", {"upstream": "127.0.0.1:8000"}),
    Kind("wrong-secret", "the storage nodes check tokens with another master secret than the tokenserver's",
         "server.wrong-secret"),
    Kind("clock-skew", "the storage nodes' clock runs 2 hours ahead: every token is already expired there",
         "server.clock-skew", {"seconds": 7200.0, "hawk_window": 52 * 7 * 86400}),
    Kind("wrong-public-url", "the tokenserver hands out a node URL where nothing listens (the nodes table "
         "left at an internal address)", "server.public-url", {"url": None}, needs_tokenserver=True),
    Kind("tiny-limits", "info/configuration limits smaller than one record, and batches smaller than one POST",
         "server.limits", {"limits": {"max_record_payload_bytes": 512, "max_post_bytes": 256,
                                      "max_post_records": 1, "max_request_bytes": 1024,
                                      "max_total_bytes": 128, "max_total_records": 1}}),
    Kind("body-limit", "the proxy refuses request bodies over 1 MiB with an HTML 413 (nginx's default "
         "client_max_body_size)", "server.proxy-body-limit", {"bytes": 1024 * 1024}),
    Kind("proxy-auth", "the proxy demands its own login (HTTP basic auth) in front of every service",
         "server.proxy-auth", {"realm": "sync"}),
    Kind("no-node", "the tokenserver has no storage node to assign (an empty nodes table): every token "
         "request is a 503", "server.no-node", needs_tokenserver=True),
    Kind("wrong-oauth-server", "the tokenserver verifies OAuth tokens with another accounts server than the "
         "one that issued them", "server.oauth-server", needs_tokenserver=True),
    Kind("over-quota", "the node says no storage quota is left (X-Weave-Quota-Remaining: 0)",
         "server.quota", {"remaining": 0}),
    Kind("key-rollback", "the tokenserver accepts an X-KeyID whose keysChangedAt went backwards",
         "server.client-state", needs_tokenserver=True),
]  # fmt: skip
KINDS: dict[str, Kind] = {k.name: k for k in _KINDS}
_PREFIX_KINDS = ("path-prefix", "path-prefix-forwarded")

# syncstorage-rs' error bodies, byte for byte where clients read them
_NO_NODE = {"status": "internal-error", "errors": [{"location": "internal", "name": "",
            "description": "Unexpected error: unable to get a node"}]}  # fmt: skip
_BAD_OAUTH = {"status": "invalid-credentials", "errors": [{"location": "body", "name": "",
              "description": "Unauthorized"}]}  # fmt: skip
_HAWK_ID = re.compile(r'\bid="([^"]*)"')
_HAWK_TS = re.compile(r'\bts="([0-9]+)"')
_INFO_COLLECTIONS = re.compile(r"^/1\.5/[0-9]{1,10}/info/collections$")
_KEY_ID = re.compile(r"^([0-9]{1,15})-([A-Za-z0-9_-]{22})$")


def _html(status: str, text: str) -> tuple[str, list[tuple[str, str]], bytes]:
    code = status.split(" ", 1)[0]
    body = (
        f"<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1>"
        f"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n<!-- {code}: {text} -->\r\n"
    )
    return status, [("Content-Type", "text/html"), ("Server", "nginx")], body.encode()


def _json(
    status: str, obj: Any, headers: list[tuple[str, str]] | None = None
) -> tuple[str, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(obj).encode()


class Misconfig:
    """The misconfigurations in force on one stack (thread-safe; changed at run time)."""

    def __init__(self, stack: LocalStack):
        self._stack = stack
        self._lock = threading.Lock()
        self._active: dict[str, dict[str, Any]] = {}
        self._undo: dict[str, Callable[[], None]] = {}
        self._held: socket.socket | None = None
        self._kca: dict[str, int] = {}  # key-rollback: highest keysChangedAt seen per client state

    # -- turning on and off ---------------------------------------------------------
    def turn_on(self, kind: str, **params: Any) -> dict[str, Any]:
        """Apply ``kind`` (``params`` override its defaults); returns the parameters used."""
        spec = KINDS.get(kind)
        if spec is None:
            raise ValueError(f"unknown misconfiguration {kind!r}; choose one of {', '.join(KINDS)}")
        unknown = set(params) - set(spec.defaults)
        if unknown:
            raise ValueError(f"misconfiguration {kind!r} takes {sorted(spec.defaults) or 'no parameters'}, "
                             f"not {sorted(unknown)}")  # fmt: skip
        if spec.needs_tokenserver and self._stack.storage_only:
            raise ValueError(f"misconfiguration {kind!r} needs the tokenserver: this stack runs storage-only")
        if self._stack.url == "":
            raise RuntimeError("the stack is not running: start it before misconfiguring it")
        merged = {**spec.defaults, **params}
        with self._lock:
            if kind in self._active:
                raise ValueError(f"{kind!r} is already on; turn it off first")
            if kind in _PREFIX_KINDS and any(k in self._active for k in _PREFIX_KINDS):
                raise ValueError("path-prefix and path-prefix-forwarded exclude each other")
            self._undo[kind] = self._apply(kind, merged)
            self._active[kind] = merged
        return dict(merged)

    def turn_off(self, kind: str | None = None) -> None:
        """Undo ``kind`` (every misconfiguration when ``None``)."""
        with self._lock:
            kinds = list(self._active) if kind is None else [kind]
            for name in reversed(kinds):
                if name not in self._active:
                    raise ValueError(f"{name!r} is not on; on: {sorted(self._active) or 'none'}")
                self._undo.pop(name)()
                del self._active[name]

    def active(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._active.items()}

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None

    def _apply(self, kind: str, p: dict[str, Any]) -> Callable[[], None]:
        stack = self._stack
        if kind in _PREFIX_KINDS:
            prefix = "/" + str(p["prefix"]).strip("/")
            if prefix == "/" or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", prefix):
                raise ValueError(f"prefix must be a path such as /sync, got {p['prefix']!r}")
            p["prefix"] = prefix
            return self._move(prefix)
        if kind == "wrong-secret":
            nodes = self._nodes()
            old = [n.secret for n in nodes]
            other = secrets.token_hex(32)
            for n in nodes:
                n.secret = other

            def restore_secret() -> None:
                for n, s in zip(nodes, old, strict=True):
                    n.secret = s

            return restore_secret
        if kind == "tiny-limits":
            limits = p["limits"]
            if not isinstance(limits, dict):
                raise ValueError("limits must be an object of info/configuration limits")
            before = dict(stack.limits)
            stack.admin.set_config(**limits)

            def restore_limits() -> None:
                stack.limits.clear()
                stack.limits.update(before)

            return restore_limits
        if kind == "wrong-public-url" and p["url"] is None:
            # A port that is bound but never listened on: connecting is refused at once.
            self._held = socket.socket(socket.AF_INET6 if ":" in stack.host else socket.AF_INET)
            self._held.bind((stack.host, 0))
            host = stack.host if ":" not in stack.host else f"[{stack.host}]"
            p["url"] = f"http://{host}:{self._held.getsockname()[1]}"
            return self.close
        if kind == "key-rollback":
            self._kca.clear()
        if kind == "clock-skew":
            p["seconds"] = float(p["seconds"])
        return lambda: None

    def _nodes(self) -> list[Any]:
        stack = self._stack
        return [*stack.node_prefixes.values(), *([stack.root_node] if stack.root_node else [])]

    def _move(self, prefix: str) -> Callable[[], None]:
        """Serve the stack under ``prefix``: its URL, the nodes' URLs and the node URLs the
        tokenserver hands out all gain it (the ``public_url`` a correct setup declares)."""
        stack = self._stack
        old = stack.url
        parts = urlsplit(old)
        new = f"{parts.scheme}://{parts.netloc}{prefix}"

        def rebase(url: str, a: str, b: str) -> str:
            return b + url[len(a) :] if url.startswith(a) else url

        def move(a: str, b: str) -> None:
            stack.url = b
            for node in self._nodes():
                node.url = rebase(node.url, a, b)
            ts = getattr(stack, "tokenserver", None)
            if ts is not None:
                ts.nodes = {k: rebase(v, a, b) for k, v in ts.nodes.items()}

        move(old, new)
        return lambda: move(new, old)

    # -- what the front reads ---------------------------------------------------------
    def get(self, kind: str) -> dict[str, Any] | None:
        return self._active.get(kind)  # a dict read: atomic under the GIL

    def newest_kca(self, client_state: str, kca: int) -> int:
        with self._lock:
            best = max(self._kca.get(client_state, kca), kca)
            self._kca[client_state] = best
            return best


Answer = tuple[str, list[tuple[str, str]], bytes]


class Front:
    """The reverse proxy in front of the stack (and the nodes' clock): applies the
    misconfigurations in force, then hands the request to ``app``.

    waitress' channel asks the application for a path's body limit, and for an error
    body, before the request reaches any WSGI layer (synctools/server/transport.py): the
    front answers for the stack's :class:`Application` with the path the proxy passes on."""

    def __init__(self, app: Callable[..., Iterable[bytes]], stack: LocalStack):
        self.app = app
        self.stack = stack
        inner: Any = app
        while not hasattr(inner, "body_limit") and hasattr(inner, "app"):
            inner = inner.app
        self.application = inner

    def _passed_on(self, path: str) -> str:
        for kind in _PREFIX_KINDS:
            if (p := self.m.get(kind)) is not None and path.startswith(p["prefix"] + "/"):
                return path[len(p["prefix"]) :]
        return path

    def body_limit(self, path: str, headers: dict[str, str]) -> int:
        return int(self.application.body_limit(self._passed_on("/" + path.lstrip("/")), headers))

    def error_response(self, path: str, status: int, name: str, message: str = "") -> Any:
        return self.application.error_response(self._passed_on(path), status, name, message)

    @property
    def m(self) -> Misconfig:
        misconfig: Misconfig = self.stack.misconfig  # LocalStack is Any here (see above)
        return misconfig

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        m = self.m
        if not m._active:
            return self.app(environ, start_response)
        early = self._proxy(environ)
        if early is None:
            early = self._before(environ)
        if early is not None:
            status, headers, body = early
            start_response(status, [*headers, ("Content-Length", str(len(body)))])
            return [body]
        route = self._route(environ.get("PATH_INFO", ""))
        if route == "":
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None  # pragma: no cover - the stack never writes directly

        body = b"".join(self.app(environ, capture))
        status, headers = captured["status"], list(captured["headers"])
        status, headers, body = self._after(route, environ, status, headers, body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []

    def _route(self, path: str) -> str:
        if path.startswith("/__admin__/"):
            return ""
        if self.stack.storage_only or any(path.startswith(p + "/") for p in self.stack.node_prefixes):
            return "storage"
        return "token" if path.startswith("/token/") else ""

    # -- the proxy: prefix, Host, body size, its own login ------------------------------
    def _proxy(self, environ: dict[str, Any]) -> Answer | None:
        m = self.m
        prefix_kind = next((k for k in _PREFIX_KINDS if m.get(k) is not None), None)
        if prefix_kind is not None:
            prefix = m.get(prefix_kind)["prefix"]  # type: ignore[index]
            path = environ.get("PATH_INFO", "")
            if not path.startswith(prefix + "/"):
                return _html("404 Not Found", f"nothing is served outside {prefix}/")
            original = environ.get("REQUEST_URI", path)
            environ["PATH_INFO"] = path[len(prefix) :]
            if prefix_kind == "path-prefix":
                # what the node sees is what the proxy sent: the path without the prefix
                environ["REQUEST_URI"] = original[len(prefix) :] if original.startswith(prefix) else original
            else:
                environ["HTTP_X_FORWARDED_PREFIX"] = prefix  # the node rebuilds the signed path
        if environ.get("PATH_INFO", "").startswith("/__admin__/"):
            return None
        if (p := m.get("proxy-auth")) is not None and not environ.get("HTTP_AUTHORIZATION", "").startswith("Basic "):
            status, headers, body = _html("401 Authorization Required", "basic auth")
            return status, [*headers, ("WWW-Authenticate", f'Basic realm="{p["realm"]}"')], body
        if (p := m.get("host-header")) is not None:
            environ["HTTP_HOST"] = p["upstream"]
        if (p := m.get("body-limit")) is not None:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > int(p["bytes"]):
                return _html("413 Request Entity Too Large", "client_max_body_size")
        return None

    # -- the services' own misconfigurations ---------------------------------------------
    def _before(self, environ: dict[str, Any]) -> Answer | None:
        m = self.m
        route = self._route(environ.get("PATH_INFO", ""))
        bearer = environ.get("HTTP_AUTHORIZATION", "").startswith("Bearer ")
        if route == "token" and bearer:
            if m.get("wrong-oauth-server") is not None:
                return _json("401 Unauthorized", _BAD_OAUTH, [("X-Timestamp", str(int(time.time())))])
            if m.get("no-node") is not None:
                return _json("503 Service Unavailable", _NO_NODE, [("X-Timestamp", str(int(time.time())))])
            if m.get("key-rollback") is not None:
                key_id = _KEY_ID.match(environ.get("HTTP_X_KEYID", ""))
                if key_id:
                    kca = m.newest_kca(key_id.group(2), int(key_id.group(1)))
                    environ["HTTP_X_KEYID"] = f"{kca}-{key_id.group(2)}"
        if route == "storage" and (p := m.get("clock-skew")) is not None:
            return self._node_clock(environ, p)
        return None

    def _node_clock(self, environ: dict[str, Any], p: dict[str, Any]) -> Answer | None:
        """The node's own view of time: a token expired by its clock, or a Hawk timestamp
        outside its window, is refused as syncstorage-rs refuses it (401, body ``0``)."""
        node_now = time.time() + p["seconds"]
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Hawk "):
            return None
        ts = _HAWK_TS.search(header)
        stale = ts is not None and abs(int(ts.group(1)) - node_now) > p["hawk_window"]
        expires = _token_expiry(header)
        path = environ.get("PATH_INFO", "")
        for prefix in self.stack.node_prefixes:
            if path.startswith(prefix + "/"):
                path = path[len(prefix) :]
        expired = expires is not None and expires <= node_now and not _INFO_COLLECTIONS.match(path)
        if stale or expired:
            return (
                "401 Unauthorized",
                [
                    ("Content-Type", "application/json"),
                    ("WWW-Authenticate", "Hawk"),
                    ("X-Weave-Timestamp", f"{node_now:.2f}"),
                    ("Date", formatdate(node_now, usegmt=True)),
                ],
                b"0",
            )
        return None

    def _after(self, route: str, environ: dict[str, Any], status: str, headers: list[tuple[str, str]],
               body: bytes) -> Answer:  # fmt: skip
        m = self.m
        if route == "token" and status.startswith("200") and (p := m.get("wrong-public-url")) is not None:
            try:
                data = json.loads(body)
                endpoint = urlsplit(data["api_endpoint"])
                data["api_endpoint"] = p["url"].rstrip("/") + endpoint.path
                body = json.dumps(data).encode()
            except (ValueError, KeyError, TypeError):
                pass
        if route == "storage":
            if (p := m.get("clock-skew")) is not None:
                node_now = time.time() + p["seconds"]
                last = next((float(v) for k, v in headers if k.lower() == "x-last-modified"), 0.0)
                headers = [(k, v) for k, v in headers if k.lower() not in ("x-weave-timestamp", "date")]
                headers += [("X-Weave-Timestamp", f"{max(node_now, last):.2f}"),
                            ("Date", formatdate(node_now, usegmt=True))]  # fmt: skip
            if (p := m.get("over-quota")) is not None:
                headers.append(("X-Weave-Quota-Remaining", str(p["remaining"])))
        return status, headers, body


def _token_expiry(header: str) -> float | None:
    """``expires`` from the token id in a Hawk header (unverified: the node checks the
    signature after the clock has had its say)."""
    found = _HAWK_ID.search(header)
    if not found:
        return None
    try:
        raw = base64.urlsafe_b64decode(found.group(1).encode("ascii"))
        data = json.loads(raw[:-32].decode("utf-8"))
        return float(data["expires"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError):
        return None


def parse_kinds(value: str | Iterable[str] | dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``"path-prefix"``, ``["wrong-secret", "clock-skew"]`` or ``{"clock-skew": {"seconds": -600}}``
    → ``{kind: params}``, checked against :data:`KINDS`."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    out = dict(value) if isinstance(value, dict) else {str(k): {} for k in value}
    for kind, params in out.items():
        if kind not in KINDS:
            raise ValueError(f"unknown misconfiguration {kind!r}; choose one of {', '.join(KINDS)}")
        if not isinstance(params, dict):
            raise ValueError(f"the parameters of {kind!r} must be a dict")
    return out
