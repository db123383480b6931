"""What the stack changes in waitress: bodies refused before they are read, errors in the
services' own JSON, and a way for a fault to drop the connection.

waitress reads a whole request body (up to ``max_request_body_size``, 1 GiB by default)
before the application sees the request, so a size check in the application comes too
late: a client declaring 200 MB would be read in full first. Here the parser asks the
application for the path's limit as soon as the headers are in, and a body over it is
never read: the request goes to the application marked ``synctools.body_refused`` with
an empty body, the application answers 413, and the connection closes (the unread
body dies with it).
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import unquote, urlsplit

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask, WSGITask

BODY_REFUSED = "synctools.body_refused"


class _Parser(HTTPRequestParser):
    refused = False

    def __init__(self, adj: Any, app: Any):
        super().__init__(adj)
        self.app = app

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)  # waitress is untyped
        if self.error is not None or not self.headers_finished or self.refused:
            return consumed
        # A declared length is checked before any body byte is read; a chunked body
        # (no length) as its bytes arrive.
        size = max(self.content_length, self.body_bytes_received)
        if size > 0 and size > self.app.body_limit(getattr(self, "path", "/"), self.headers):
            self.refused = True
            self.completed = True
            self.expect_continue = False  # no "100 Continue": we do not want the body
            self.body_rcv = None  # the application gets an empty body stream
            return len(data)  # and the rest of this read is dropped with the connection
        return consumed


class _Task(WSGITask):
    """Gives the app a way to drop the connection without answering (fault "drop"), and
    closes the connection after a refused body."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()  # waitress is untyped
        environ["synctools.drop"] = self._drop
        if getattr(self.request, "refused", False):
            environ[BODY_REFUSED] = True
        return environ

    def execute(self) -> None:
        if getattr(self.request, "refused", False):
            self.set_close_on_finish()  # the body was never read: the connection cannot go on
        super().execute()

    def _drop(self) -> None:
        sock = self.channel.socket
        try:
            # RST instead of FIN: the client sees a reset, as with a crashed server.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_on_finish = True


class _ErrorTask(ErrorTask):
    """waitress's own refusals (a malformed request, headers too large, a broken chunked
    body) answered with the service's usual error body instead of waitress's text page."""

    def execute(self) -> None:
        error = self.request.error
        # A transfer coding we cannot read is the client's fault: 400, as actix (under
        # syncstorage-rs) answers, not waitress's 501.
        status = 400 if error.code == 501 else error.code
        app = self.channel.app
        resp = app.error_response(_path_of(self.request), status, error.reason)
        self.status = resp.status_line
        self.response_headers.extend(resp.headers)
        self.set_close_on_finish()
        self.content_length = len(resp.body)
        self.write(resp.body)


def _path_of(request: Any) -> str:
    """The request's path, enough to tell which service it was for, even when waitress
    stopped parsing before it set ``path`` (a bad header comes before the start line
    is cracked)."""
    path = getattr(request, "path", None)
    if path:
        return str(path)
    target = getattr(request, "first_line", b"").split(b" ")
    if len(target) >= 2:
        return unquote(urlsplit(target[1].decode("latin-1")).path) or "/"
    return "/"


def channel_for(app: Any) -> type[HTTPChannel]:
    """The waitress channel class for ``app`` (the stack's Application: waitress wraps
    the WSGI callable it serves, so the parser is handed the application itself)."""

    class Channel(HTTPChannel):
        task_class = _Task
        error_task_class = _ErrorTask

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.app = app
            super().__init__(*args, **kwargs)

        def parser_class(self, adj: Any) -> _Parser:
            return _Parser(adj, app)

    return Channel
