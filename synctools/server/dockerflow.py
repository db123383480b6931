"""Dockerflow endpoints, as syncstorage-rs serves them: ``__heartbeat__``,
``__lbheartbeat__`` and ``__version__``.

syncstorage-rs answers them at the root of its app (behind a proxy: under the proxy's
prefix). The embedded stack answers them at the root and under each service prefix
(``/token``, ``/storage``, ``/storage2``), so a client that looks beside the URL it was
given finds them, as it would on a real server. Like syncstorage-rs, these answers carry
no ``X-Weave-Timestamp``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

# The stack is passed in, never imported (it imports this module): ``Any`` keeps the
# dependency one-way, type-only imports included.
LocalStack = Any

NAMES = ("__heartbeat__", "__lbheartbeat__", "__version__")
SOURCE = "https://github.com/synctools/synctools (embedded stack)"


def _version() -> str:
    try:
        return metadata.version("synctools")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0+unknown"


class Dockerflow:
    """WSGI middleware: answers the three Dockerflow names, passes everything else on."""

    def __init__(self, app: Callable[..., Iterable[bytes]], stack: LocalStack):
        self.app = app
        self.stack = stack
        self.version = _version()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        head, _, name = path.rpartition("/")
        if name in NAMES and self._mounted(head) and environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
            status, body = self._answer(name)
            data = json.dumps(body, separators=(",", ":")).encode()
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
            return [data] if environ.get("REQUEST_METHOD") != "HEAD" else []
        return self.app(environ, start_response)

    def _mounted(self, head: str) -> bool:
        """At the root, or directly under one of the services' prefixes."""
        if head == "":
            return True
        if self.stack.storage_only:
            return False
        return head in ("/token", *self.stack.node_prefixes)

    def _answer(self, name: str) -> tuple[str, dict[str, Any]]:
        if name == "__lbheartbeat__":
            return "200 OK", {}
        if name == "__version__":
            return "200 OK", {"source": SOURCE, "version": self.version, "commit": "", "build": ""}
        ok = self._databases_ok()
        body = {
            "status": "Ok" if ok else "Err",
            "database": "Ok" if ok else "Err",
            "version": self.version,
            "quota": {"enabled": False, "size": self.stack.limits.get("max_quota_limit", 0)},
        }
        return ("200 OK" if ok else "503 Service Unavailable"), body

    def _databases_ok(self) -> bool:
        nodes = [*self.stack.node_prefixes.values()]
        if self.stack.root_node is not None:
            nodes.append(self.stack.root_node)
        try:
            for node in nodes:
                node.store.db.conn().execute("SELECT 1").fetchone()
        except (sqlite3.Error, RuntimeError):
            return False
        return True
