"""The stepwise sync: each stage of one Firefox Sync is a method a notebook cell calls.

The states and the stages that move between them are one table, :data:`TRANSITIONS`
(read it like application-services' ``SetupState`` and h11's ``_state.py``)::

    stage               may run from                                 leads to
    authenticate        NEW                                          AUTHENTICATED
    exchange_token      AUTHENTICATED and later                      TOKEN
    fetch_info          TOKEN and later                              INFO
    fetch_meta_global   INFO and later                               META_GLOBAL | FRESH_START_REQUIRED | UPGRADE_REQUIRED
    fetch_crypto_keys   META_GLOBAL and later                        READY | FRESH_START_REQUIRED
    download            READY and later                              DOWNLOADED
    merge               DOWNLOADED and later                         MERGED
    plan_upload         MERGED, PLANNED, COMMITTED                   PLANNED
    commit(plan)        PLANNED (records); META_GLOBAL+ (meta/global); FRESH_START_REQUIRED (fresh start)

Running an earlier stage again rewinds to its state. A stage called too early raises
:class:`StageOrderError` naming the stage to run first. Only :meth:`Sync.commit` writes
to the server, always with ``X-If-Unmodified-Since``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import net
from .plan import Conflict, UploadPlan
from .protocol.bso import BSO, ServerTime
from .protocol.crypto import CollectionKeys, CryptoError
from .protocol.keys import SyncKeys
from .protocol.metaglobal import MetaGlobal
from .results import (
    StageResult,
)
from .stages.commit import CommitStages
from .stages.setup import SetupStages, data_dir, default_store_path  # noqa: F401 - public
from .states import (  # noqa: F401 - the public names of the state machine
    _NETWORK_STAGES,
    NEXT_STAGE,
    SETUP_COLLECTIONS,
    STAGES,
    TRANSITIONS,
    BackoffActive,
    S,
    StageOrderError,
    StalePlanError,
    State,
    SyncError,
    UpgradeRequired,
)
from .store import Store


@dataclass
class Credentials:
    """How a Sync authenticates. Secrets never appear in repr."""

    email: str | None = None
    password: str | None = None
    totp: str | Callable[[], str] | None = None
    code: str | Callable[[], str] | None = None
    session: net.FxaSession | None = None

    def __repr__(self) -> str:
        return f"Credentials(email={self.email!r})"


class Sync(SetupStages, CommitStages):
    """One sync of one account, run stage by stage. See the module docstring."""

    def __init__(
        self,
        *,
        auth_url: str | None = None,
        oauth_url: str | None = None,
        token_url: str | None = None,
        credentials: Credentials | None = None,
        store: Store | str | Path | None = None,
        on_backoff: str = "stop",
        interactive: bool = False,
        page_size: int = 1000,
        progress: bool = True,
    ) -> None:
        self.trace_log = net.Trace()
        self.auth_url = auth_url or net.fxa.PRODUCTION_AUTH_URL
        self.oauth_url = oauth_url or self.auth_url
        self.token_url = token_url or net.tokenserver.PRODUCTION_TOKEN_URL
        self._credentials = credentials or Credentials()
        self._store_arg = store
        self.store: Store | None = store if isinstance(store, Store) else None
        if on_backoff not in ("stop", "wait"):
            raise ValueError(
                "on_backoff must be 'stop' (raise and show the wait) or 'wait' (wait, then retry)"
            )
        self.on_backoff = on_backoff
        self.interactive = interactive
        self.page_size = page_size
        self.progress = progress
        self.state = State.NEW
        self.results: dict[str, StageResult] = {}
        self.session: net.FxaSession | None = self._credentials.session
        self.keys: SyncKeys | None = None
        self.token: net.Token | None = None
        self.storage: net.StorageClient | None = None
        self.tokenserver: net.TokenServerClient | None = None
        self.config: net.InfoConfiguration | None = None
        self.info_collections: dict[str, ServerTime] = {}
        self.meta_global: MetaGlobal | None = None
        self.meta_global_modified: ServerTime | None = None
        self.collection_keys: CollectionKeys | None = None
        self.crypto_keys_modified: ServerTime | None = None
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._errors: dict[str, dict[str, CryptoError]] = {}
        self._conflicts: list[Conflict] = []
        self._generation = 0  # bumped whenever staged changes change
        self._plan: UploadPlan | None = None
        self._upgrade: str | None = None
        self._static_token: net.Token | None = None
        # the collection timestamps this object's view reflects: what its writes are guarded by
        self._seen: dict[str, ServerTime] = {}
        self._envelopes: dict[str, dict[str, BSO]] = {}  # server envelopes by collection, id
        self._notes: list[str] = []  # warnings raised between stages, shown by the next one
        self._ignore_backoff = False
        self._marks: dict[str, int] = {}  # stage -> trace length when it started

    @classmethod
    def login(
        cls,
        email: str,
        password: str,
        *,
        auth_url: str | None = None,
        oauth_url: str | None = None,
        token_url: str | None = None,
        totp: str | Callable[[], str] | None = None,
        code: str | Callable[[], str] | None = None,
        store: Store | str | Path | None = "auto",
        interactive: bool = True,
        **kwargs: Any,
    ) -> Sync:
        """A sync that logs in with email and password when :meth:`authenticate` runs.

        Mozilla's servers by default; pass ``auth_url``/``token_url`` for a self-hosted
        stack. A TOTP or emailed code is asked for at the prompt (``interactive``) or
        taken from ``totp``/``code`` (a string or a callable returning one).
        """
        creds = Credentials(email=email, password=password, totp=totp, code=code)
        return cls(auth_url=auth_url, oauth_url=oauth_url, token_url=token_url, credentials=creds,
                   store=store, interactive=interactive, **kwargs)  # fmt: skip

    @classmethod
    def from_session(
        cls, path: str | os.PathLike[str], *, token_url: str | None = None, **kwargs: Any
    ) -> Sync:
        """Resume a session saved with ``save_session`` (``synctools login``)."""
        kwargs.setdefault("store", "auto")
        sync = cls(token_url=token_url, **kwargs)
        sync.session = net.load_session(path, trace=sync.trace_log)
        sync.auth_url = sync.session.client.auth_url
        sync.oauth_url = sync.session.client.oauth_url
        sync._credentials = Credentials(email=sync.session.email, session=sync.session)
        return sync

    @classmethod
    def from_keys(
        cls,
        *,
        access_token: str | None = None,
        sync_keys: SyncKeys | Mapping[str, Any] | None = None,
        ksync: bytes | None = None,
        kid: str | None = None,
        token_url: str | None = None,
        storage_token: net.Token | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Sync:
        """With an OAuth token and keys (kSync + kid, or the JWK) in hand: no login.

        With ``storage_token`` (a tokenserver answer: id, key, uid, api_endpoint,
        duration) even the tokenserver is skipped, e.g. for a syncstorage-rs node.
        """
        if sync_keys is None:
            if ksync is None or kid is None:
                raise ValueError("from_keys needs sync_keys (SyncKeys or JWK) or both ksync and kid")
            sync_keys = SyncKeys.from_ksync(ksync, kid)
        elif isinstance(sync_keys, Mapping):
            sync_keys = SyncKeys.from_jwk(sync_keys)
        sync = cls(token_url=token_url, **kwargs)
        if storage_token is not None:
            sync._static_token = (
                storage_token
                if isinstance(storage_token, net.Token)
                else net.Token.from_json(dict(storage_token))
            )
        if access_token is None and storage_token is None:
            raise ValueError("from_keys needs an OAuth access_token or a storage_token")
        sync.session = net.FxaSession.from_oauth(access_token or "", sync_keys, trace=sync.trace_log)
        sync._credentials = Credentials(session=sync.session)
        return sync

    @classmethod
    def local(
        cls, stack: Any, *, email: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Sync:
        """A sync against an embedded :class:`~synctools.server.LocalStack` (its demo account by default)."""
        if email is None:
            demo = getattr(stack, "demo_account", None)
            if demo is None:
                raise ValueError(
                    "this stack has no demo account: start it with demo=True or pass email/password"
                )
            email, password = demo.email, demo.password
        kwargs.setdefault("interactive", False)
        kwargs.setdefault("progress", False)
        kwargs.setdefault("store", None)  # the stack is ephemeral: so is its local state
        return cls.login(
            email,
            password or "",
            auth_url=stack.auth_url,
            oauth_url=stack.oauth_url,
            token_url=stack.token_url,
            code=lambda: stack.admin.verification_code(email),
            totp=lambda: stack.admin.totp_code(email),
            **kwargs,
        )

    def __repr__(self) -> str:
        who = self._credentials.email or (self.session.email if self.session else None) or "?"
        nxt = NEXT_STAGE.get(self.state)
        hint = f", next: {nxt}()" if nxt else ""
        return f"<Sync {who} state={self.state.value}{hint}>"

    def next(self) -> StageResult:
        """Run the next stage from where the sync stands."""
        stage = NEXT_STAGE.get(self.state)
        if stage is None:
            what = {
                S.PLANNED: "review the plan, then sync.commit(plan)",
                S.COMMITTED: "the sync is done; download() again to see new server changes",
                S.FRESH_START_REQUIRED: "the server needs a fresh start: review sync.plan_fresh_start()",
                S.UPGRADE_REQUIRED: "the server needs a newer client; nothing can be done safely",
            }[self.state]
            raise StageOrderError(f"no automatic next stage in state '{self.state.value}': {what}")
        return getattr(self, stage)()

    def compare(self, profile: Any, collection: str) -> Any:
        """A Firefox profile's ``collection`` next to this sync's records: synctools.device.compare."""
        from .device.compare import compare_with_sync

        return compare_with_sync(self, profile, collection)

    def run(self, until: str = "plan_upload") -> list[StageResult]:
        """Run stages in order up to and including ``until`` (never ``commit``)."""
        if until not in STAGES or until == "commit":
            raise ValueError(f"until must be one of {STAGES[:-1]} (commit is only ever explicit)")
        results = []
        while True:
            stage = NEXT_STAGE.get(self.state)
            if stage is None:
                break
            results.append(self.next())
            if stage == until or STAGES.index(stage) >= STAGES.index(until):
                break
        return results
