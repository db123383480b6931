"""An overall deadline per request, on top of requests' per-read timeout.

requests' ``timeout`` bounds each socket read, not the request: a server that trickles
one byte every few seconds keeps a request alive for ever. Each request sent through a
:class:`DeadlineAdapter` gets a watchdog thread; when the deadline passes it shuts the
request's socket down, which wakes the blocked read at once (sending, reading the status
line, the headers or the body), and the sender raises :class:`RequestDeadlineExceeded`.
Opening the connection has no socket to cut yet: the connect timeout bounds it.

The watchdog finds the socket through the urllib3 connection the request runs on: the
pools this adapter builds use connection classes that register themselves with the
watch of the thread sending the request.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class RequestDeadlineExceeded(requests.exceptions.Timeout):
    """The whole request took longer than its deadline (see :class:`Watch`)."""

    def __init__(self, deadline: float, elapsed: float, received: int | None = None) -> None:
        self.deadline = deadline
        self.elapsed = elapsed
        self.received = received
        got = "" if received is None else f", {received} bytes received"
        super().__init__(f"no complete answer within the {deadline:g} s deadline ({elapsed:.1f} s{got})")


class Watch:
    """The watchdog of one request: after ``deadline`` seconds, cut its connection."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.started = time.monotonic()
        self.expired = threading.Event()
        self._done = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="synctools-deadline", daemon=True)

    def __enter__(self) -> Watch:
        _local.watch = self
        if math.isfinite(self.deadline):  # math.inf: no deadline, no watchdog
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        _local.watch = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def attach(self, conn: Any) -> None:
        self._conn = conn
        if self.expired.is_set():
            self._cut()

    def _run(self) -> None:
        if self._done.wait(self.deadline):
            return
        self.expired.set()
        # The connection may not have its socket yet (still connecting): keep cutting
        # until the sender has given up.
        while not self._done.is_set():
            self._cut()
            self._done.wait(0.05)

    def _cut(self) -> None:
        sock = getattr(self._conn, "sock", None)
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Watched:
    """Mixin: a urllib3 connection that hands itself to the current request's watch."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.attach(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with pools whose connections a :class:`Watch` can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager
