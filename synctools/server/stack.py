"""``LocalStack``: accounts, tokenserver and two storage nodes on one port, in background
threads, served by waitress."""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waitress.server import create_server

from .. import seams
from ..protocol._util import fingerprint
from .accounts import AccountsService
from .accounts_api import AccountsAPI, ProfileAPI
from .accounts_db import SCHEMA as ACCOUNTS_SCHEMA
from .admin import Admin, RequestLog, client_state_of
from .app import Application
from .db import Database
from .dockerflow import Dockerflow
from .faults import FaultTable
from .misconfig import Front, Misconfig, parse_kinds
from .storage import DEFAULT_LIMITS, StorageNode
from .tokenserver import TokenServer
from .transport import channel_for

#: bytes of one answer held in memory before waitress spills it to a temporary file
OUTBUF_IN_MEMORY = 64 << 20
#: open connections the stack serves at once (waitress defaults to 100; each idle one costs a file descriptor)
CONNECTION_LIMIT = 500
# node key -> path prefix; node 1 sits where a real Firefox saw it (/storage/1.5/{uid}).
NODE_PREFIXES = {"node1": "/storage", "node2": "/storage2"}
STORAGE_PATH_RE = re.compile(r"^(/[^/]*)?/1\.5/([0-9]{1,10})/storage/([^/]+)")


class LocalStack:
    """The embedded Firefox Sync stack. Use as a context manager, or ``start()``/``stop()``.

    ``data_dir=None`` keeps everything in a temporary directory removed on stop.
    ``storage_only=True`` serves one storage node at the root (``/1.5/{uid}/...``) that
    accepts tokens minted with ``secret`` (e.g. by Mozilla's tokenlib).
    ``misconfigure`` names self-hosting mistakes to reproduce once started (a kind of
    :data:`synctools.server.misconfig.KINDS`, a list of them, or ``{kind: params}``).
    """

    def __init__(
        self,
        demo: bool = False,
        data_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: str | None = None,
        *,
        storage_only: bool = False,
        threads: int = 8,
        admin_secret: str | None = None,
        snapshot: str | Path | dict[str, Any] | None = None,
        misconfigure: str | list[str] | dict[str, dict[str, Any]] | None = None,
    ):
        self.demo = demo
        #: a snapshot (synctools.snapshot) or about:sync export to load on start; then
        #: ``snapshot_account`` has the email and password to log in with
        self.snapshot = snapshot
        self.snapshot_account: Any = None
        self.host = host
        self.port = port
        self.storage_only = storage_only
        self.secret = secret if secret is not None else secrets.token_hex(32)
        self.admin_secret = admin_secret if admin_secret is not None else secrets.token_hex(16)
        self.threads = threads
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._tmp: str | None = None
        self.limits: dict[str, int] = dict(DEFAULT_LIMITS)
        self.faults = FaultTable()
        self.request_log = RequestLog()
        self.admin = Admin(self)
        self._misconfigure = parse_kinds(misconfigure)
        self.misconfig = Misconfig(self)
        self.demo_account: Any = None
        self.node_prefixes: dict[str, StorageNode] = {}
        self.root_node: StorageNode | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._databases: list[Database] = []
        self.url = ""

    def __repr__(self) -> str:
        state = self.url or "stopped"
        return f"<LocalStack {state} secret={fingerprint(self.secret.encode())}>"

    # -- URLs ---------------------------------------------------------------------
    @property
    def auth_url(self) -> str:
        return self.url + "/v1"

    @property
    def oauth_url(self) -> str:
        return self.url + "/v1"

    @property
    def profile_url(self) -> str:
        return self.url + "/profile/v1"

    @property
    def token_server_url(self) -> str:
        return self.url + "/token"

    @property
    def token_url(self) -> str:
        return self.url + "/token/1.0/sync/1.5"

    @property
    def admin_url(self) -> str:
        return self.url + "/__admin__"

    @property
    def nodes(self) -> list[str]:
        if self.storage_only:
            return [self.url]
        return [self.url + prefix for prefix in NODE_PREFIXES.values()]

    def node_by_url(self, url: str) -> StorageNode:
        for node in self.node_prefixes.values():
            if node.url == url:
                return node
        if self.root_node is not None and self.root_node.url == url:
            return self.root_node
        raise LookupError(f"no storage node at {url!r}")

    # -- lifecycle ----------------------------------------------------------------
    def start(self, progress: Callable[[str], None] | None = None) -> LocalStack:
        """Start serving; ``progress(step)`` is told each step (the demo load takes seconds)."""
        say = progress or (lambda step: None)
        if self._server is not None:
            raise RuntimeError("the stack is already running")
        say("opening the databases")
        if self._data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="synctools-stack-")
            data = Path(self._tmp)
        else:
            data = self._data_dir
            data.mkdir(parents=True, exist_ok=True)
        # the proxy in front (misconfigurations), Dockerflow beside, the services behind
        app = Front(Dockerflow(Application(self), self), self)
        server = create_server(
            app,
            host=self.host,
            port=self.port,
            threads=self.threads,
            ident="synctools",
            asyncore_loop_timeout=0.2,
            # a notebook or a script that makes a Sync per cell leaves idle keep-alive
            # connections behind: past waitress' 100 it stops accepting and every client
            # hangs. Idle ones close after a minute; many more may wait meanwhile.
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=60,
            clear_untrusted_proxy_headers=True,
            # a page of 5,000 records is 2.8 MB: past waitress' 1 MB it spilled each answer
            # to a temporary file and read it back in socket-buffer slices
            outbuf_overflow=OUTBUF_IN_MEMORY,
        )
        server.channel_class = channel_for(app)
        self._server = server
        port = server.effective_port
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self.url = f"http://{host}:{port}"
        try:
            self._build(data)
        except BaseException:
            self._close_server()
            raise
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, args=(server,), name="synctools-stack", daemon=True)
        self._thread.start()
        if self.demo:
            say(f"serving on {self.url}; building and loading the demo account")
            self._install_demo()
        if self.snapshot is not None:
            from .snapshot import load_snapshot

            say("loading the snapshot")
            self.snapshot_account = load_snapshot(self.admin, self.snapshot)
        try:
            for kind, params in self._misconfigure.items():
                self.misconfig.turn_on(kind, **params)
        except BaseException:
            self.stop()
            raise
        say(f"ready on {self.url}")
        return self

    def in_process(self, url: str = "http://synctools.invalid") -> Application:
        """The stack's WSGI application, built without a socket or a thread: the real
        server code for tests that drive it in-process (mount it on a requests session
        with a WSGI adapter). ``stop()`` removes its data as usual."""
        if self._server is not None or self.url:
            raise RuntimeError("the stack is already running")
        self._tmp = tempfile.mkdtemp(prefix="synctools-stack-")
        self.url = url.rstrip("/")
        self._build(Path(self._tmp))
        return Application(self)

    def _build(self, data: Path) -> None:
        if self.storage_only:
            db = str(data / "storage.db")
            self.root_node = StorageNode("root", self.url, db, self.secret, self.limits)
            return
        accounts_db = Database(str(data / "accounts.db"), ACCOUNTS_SCHEMA)
        self._databases.append(accounts_db)
        self.accounts = AccountsService(accounts_db, self._account_created)
        self.accounts_api = AccountsAPI(self.accounts, lambda: self.auth_url)
        self.profile_api = ProfileAPI(self.accounts)
        node_urls = {key: self.url + prefix for key, prefix in NODE_PREFIXES.items()}
        self.tokenserver = TokenServer(accounts_db, self.accounts, node_urls, self.secret)
        for key, prefix in NODE_PREFIXES.items():
            self.node_prefixes[prefix] = StorageNode(
                key,
                node_urls[key],
                str(data / f"{key}.db"),
                self.secret,
                self.limits,
                is_assigned=self.tokenserver.is_assigned,
                is_revoked=self.tokenserver.registry.is_revoked,
            )

    def _account_created(self, fxa_uid: str, kb: bytes | None, key_rotation_timestamp: int) -> None:
        # FxA knows kB only when we chose or generated it (admin); then the tokenserver
        # record starts with the right client state, as after a first real sign-in.
        state = client_state_of(kb) if kb is not None else None
        self.tokenserver.allocate(fxa_uid, state, key_rotation_timestamp if kb else None)

    def _install_demo(self) -> None:
        # the demo data sits above the server (it encrypts records): reached through a seam
        self.demo_account = seams.demo_installer()(self.admin)

    def concurrent_write(self, path: str) -> None:
        """Fault "412": another client writes to the collection named in ``path``."""
        m = STORAGE_PATH_RE.match(path)
        if not m:
            return
        prefix = m.group(1) or ""
        node = self.root_node if self.storage_only else self.node_prefixes.get(prefix)
        if node is not None:
            node.store.touch(int(m.group(2)), m.group(3))

    def _serve(self, server: Any) -> None:
        # Our own loop (not server.run) so that stop() can end it between polls and the
        # sockets are closed by this thread, never under a running select().
        from waitress import wasyncore

        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.2, map=server._map, count=1)
        server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(server._map)
        server.close()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        if self._thread is not None:
            # Wake the loop. The serving thread may already have seen _stopping and
            # closed the trigger, in which case there is nothing left to wake.
            with contextlib.suppress(OSError):
                server.pull_trigger()
            self._thread.join(timeout=10)
            self._thread = None
        else:
            from waitress import wasyncore

            wasyncore.close_all(server._map)
            server.close()

    def stop(self) -> None:
        self._close_server()
        if self.url:
            self.misconfig.turn_off()
        self.misconfig.close()
        for node in [*self.node_prefixes.values(), *([self.root_node] if self.root_node else [])]:
            node.close()
        for db in self._databases:
            db.close()
        self._databases.clear()
        self.node_prefixes.clear()
        self.root_node = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
