"""For testing code that uses synctools: the real storage node, in-process.

No socket, no thread, no login.

``InProcessNode`` builds the embedded stack's storage-only node with
``LocalStack.in_process()`` and serves it to a ``requests`` session through a small
WSGI adapter, so a :class:`~synctools.Sync` made by :func:`node_sync` runs every stage
against the server's own code in milliseconds (the accounts service and tokenserver are
skipped with a storage token, as ``Sync.from_keys(storage_token=...)`` does for a bare
syncstorage-rs node).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from synctools import net
from synctools.machine import Sync
from synctools.protocol import tokens
from synctools.protocol.bso import BSO
from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.keys import SyncKeys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

URL = "http://node.invalid"
SECRET = "in-process secret"  # noqa: S105 - the test node's token secret, not a user's


class WSGIAdapter(BaseAdapter):
    """Sends a prepared request to a WSGI app and builds the ``requests.Response``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        super().__init__()
        self.app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        raw = request.body or b""
        body = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else b"".join(raw)  # type: ignore[arg-type]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(url.path),
            "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
            "QUERY_STRING": url.query,
            "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in request.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        environ.setdefault("HTTP_HOST", url.netloc)
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        content = b"".join(self.app(environ, start_response))
        resp = requests.Response()
        resp.status_code = int(answer["status"].split(" ", 1)[0])
        resp.reason = answer["status"].split(" ", 1)[-1]
        resp.headers = CaseInsensitiveDict(answer["headers"])
        resp._content = content
        resp.url = request.url or ""
        resp.request = request
        resp.encoding = "utf-8"
        return resp

    def close(self) -> None:
        pass


class InProcessNode:
    """One storage-only node of the embedded stack, in-process, and one account on it."""

    def __init__(self, uid: int = 1) -> None:
        self.stack = LocalStack(storage_only=True, secret=SECRET)
        self.app = self.stack.in_process(URL)
        self.uid = uid
        self.keys = SyncKeys.from_ksync(bytes(range(64)), "1234567890123-abcdefghijklmnopqrstuv")
        self.collection_keys = CollectionKeys.generate()

    def close(self) -> None:
        self.stack.stop()

    def token(self) -> net.Token:
        token_id = tokens.make_token({"uid": self.uid, "node": URL}, SECRET, 3600)
        return net.Token.from_json({
            "id": token_id, "key": tokens.derived_secret(token_id, SECRET), "uid": self.uid,
            "api_endpoint": f"{URL}/1.5/{self.uid}", "duration": 3600,
        })  # fmt: skip

    def storage_factory(self, token: net.Token, **kwargs: Any) -> net.StorageClient:
        client = net.StorageClient(token, **kwargs)
        client.session.mount(URL, WSGIAdapter(self.app))
        return client

    def client(self) -> net.StorageClient:
        """A second client of the same account (another device)."""
        return self.storage_factory(self.token(), trace=net.Trace())

    # -- putting an account on the node
    def set_up(self, meta: MetaGlobal | None = None, *, keys: bool = True) -> None:
        c = self.client()
        meta = meta or MetaGlobal.fresh(())
        c.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=None)
        if keys:
            payload = json.dumps(self.keys.bundle.encrypt(self.collection_keys.to_cleartext()))
            c.put_record("crypto", BSO("keys", payload), if_unmodified_since=None)

    def put(self, collection: str, records: Iterable[Mapping[str, Any]]) -> None:
        bundle = self.collection_keys.bundle_for(collection)
        bsos = [BSO(str(r["id"]), json.dumps(bundle.encrypt(dict(r)))) for r in records]
        self.client().upload(collection, bsos, if_unmodified_since=None)

    def sync(self, **kwargs: Any) -> Sync:
        kwargs.setdefault("progress", False)
        return Sync.from_keys(sync_keys=self.keys, storage_token=self.token(),
                              storage_factory=self.storage_factory, **kwargs)  # fmt: skip


@contextmanager
def in_process_node(**kwargs: Any) -> Iterator[InProcessNode]:
    node = InProcessNode(**kwargs)
    try:
        yield node
    finally:
        node.close()
