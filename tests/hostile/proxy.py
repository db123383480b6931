"""A hostile server: a reverse proxy on 127.0.0.1 between our client and the real
embedded stack, which mangles exactly one answer (the n-th that matches a rule).

Everything else passes through byte for byte, except that the stack's own URL is
rewritten to the proxy's in answer bodies, so the tokenserver's ``api_endpoint`` sends
the storage client through the proxy too. The ``Host`` header is passed on unchanged,
so Hawk signatures (made for the proxy's URL) verify at the stack.

Every answer of the credential services (accounts, tokenserver) is remembered as the
stack sent it, so a test can check that none of those secrets shows in any error.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """An answer on its way back; a mangling may change any of it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    trickle: float = 0.0  # seconds between bytes (headers and body)
    declared_length: int | None = None  # a Content-Length that lies about the body

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def set_header(self, name: str, value: str | None) -> None:
        low = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != low]
        if value is not None:
            self.headers.append((name, value))


Mangle = Callable[[Answer, Request], Answer]


@dataclass
class Rule:
    """Mangle the ``nth`` answer to ``method`` ``path`` (a regex searched in the path).

    ``intercept`` (optional) answers requests itself, without the stack (the endless
    pager answers the offsets it invented)."""

    method: str
    path: str
    mangle: Mangle
    nth: int = 1
    intercept: Callable[[Request], Answer | None] | None = None
    seen: int = 0
    fired: bool = False
    original: Answer | None = None  # what the stack sent, before mangling

    def matches(self, req: Request) -> bool:
        return req.method == self.method and re.search(self.path, req.path) is not None


@dataclass
class HostileProxy:
    upstream: str  # the stack's URL, http://127.0.0.1:port
    host: str = "127.0.0.1"
    rule: Rule | None = None
    credential_bodies: list[bytes] = field(default_factory=list)
    url: str = ""
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> HostileProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a cut is clean

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{self.host}:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def arm(self, rule: Rule | None) -> None:
        with self._lock:
            self.rule = rule
            self.credential_bodies = []

    # ------------------------------------------------------------------ plumbing
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(h.command, parts.path, parse_qs(parts.query), dict(h.headers.items()), body)
        rule = self.rule
        answer = None
        if rule is not None and rule.fired and rule.intercept is not None:
            answer = rule.intercept(req)
        if answer is None:
            answer = self._forward(h, req)
            if self._is_credential(req):
                self.credential_bodies.append(answer.body)
            if rule is not None and not rule.fired and rule.matches(req):
                with self._lock:
                    rule.seen += 1
                    hit = rule.seen == rule.nth and not rule.fired
                    if hit:
                        rule.fired = True
                if hit:
                    rule.original = Answer(answer.status, list(answer.headers), answer.body)
                    answer = rule.mangle(answer, req)  # a mangling that breaks is a test bug: let it show
        self._write(h, answer)

    @staticmethod
    def _is_credential(req: Request) -> bool:
        return req.path.startswith(("/v1/", "/token/"))

    def _forward(self, h: BaseHTTPRequestHandler, req: Request) -> Answer:
        up = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(h.command, h.path, body=req.body or None, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            hdrs = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive")
            ]
            status = resp.status
        finally:
            conn.close()
        # The stack names itself (api_endpoint, Location): send the client back through us.
        body = body.replace(self.upstream.encode(), self.url.encode())
        return Answer(status, hdrs, body)

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, a: Answer) -> None:
        length = a.declared_length if a.declared_length is not None else len(a.body)
        reason = http.client.responses.get(a.status, "Whatever")
        head = f"HTTP/1.0 {a.status} {reason}\r\n"
        for k, v in a.headers:
            head += f"{k}: {v}\r\n"
        head += f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        data = head.encode("latin-1") + a.body
        try:
            if a.trickle:
                for i in range(len(data)):
                    h.wfile.write(data[i : i + 1])
                    h.wfile.flush()
                    time.sleep(a.trickle)
            else:
                h.wfile.write(data)
                h.wfile.flush()
        except OSError:  # the client gave up (a deadline): that is the point
            pass
        try:
            h.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        h.close_connection = True
