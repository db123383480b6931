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

import enum
import json
import os
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from . import net
from .plan import CollectionPlan, Conflict, PlannedChange, UploadPlan, mask
from .protocol._util import fingerprint
from .protocol.bso import BSO, ServerTime
from .protocol.crypto import CollectionKeys, CryptoError, KeyBundle, decrypt_many
from .protocol.keys import SyncKeys
from .protocol.metaglobal import MetaGlobal, MetaGlobalError, engine_table, plan_changes
from .results import (
    AuthResult,
    CommitResult,
    CryptoKeysResult,
    DownloadResult,
    InfoResult,
    MergeResult,
    MetaGlobalResult,
    StageResult,
    TokenResult,
)
from .store import StagedChange, Store, store_key

SETUP_COLLECTIONS = ("meta", "crypto")


class State(enum.Enum):
    NEW = "new"
    AUTHENTICATED = "authenticated"
    TOKEN = "token"  # noqa: S105 - a state name
    INFO = "info"
    META_GLOBAL = "meta_global"
    READY = "ready"
    DOWNLOADED = "downloaded"
    MERGED = "merged"
    PLANNED = "planned"
    COMMITTED = "committed"
    FRESH_START_REQUIRED = "fresh_start_required"
    UPGRADE_REQUIRED = "upgrade_required"

    def __repr__(self) -> str:
        return f"State.{self.name}"


S = State
_ORDER = [
    S.NEW,
    S.AUTHENTICATED,
    S.TOKEN,
    S.INFO,
    S.META_GLOBAL,
    S.READY,
    S.DOWNLOADED,
    S.MERGED,
    S.PLANNED,
    S.COMMITTED,
]


def _from(state: State) -> frozenset[State]:
    """``state`` and every later state of the main line."""
    return frozenset(_ORDER[_ORDER.index(state) :])


#: stage -> (states it may run from, the stage to run first otherwise)
TRANSITIONS: dict[str, tuple[frozenset[State], str]] = {
    "authenticate": (frozenset(_ORDER), ""),
    "exchange_token": (_from(S.AUTHENTICATED) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "authenticate"),
    "fetch_info": (_from(S.TOKEN) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "exchange_token"),
    "fetch_meta_global": (_from(S.INFO) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "fetch_info"),
    "fetch_crypto_keys": (_from(S.META_GLOBAL), "fetch_meta_global"),
    "download": (_from(S.READY), "fetch_crypto_keys"),
    "merge": (_from(S.DOWNLOADED), "download"),
    "plan_upload": (frozenset({S.MERGED, S.PLANNED, S.COMMITTED}), "merge"),
    "commit": (frozenset({S.PLANNED}), "plan_upload"),
}

#: the stage sync.next() runs from each state
NEXT_STAGE: dict[State, str | None] = {
    S.NEW: "authenticate",
    S.AUTHENTICATED: "exchange_token",
    S.TOKEN: "fetch_info",
    S.INFO: "fetch_meta_global",
    S.META_GLOBAL: "fetch_crypto_keys",
    S.READY: "download",
    S.DOWNLOADED: "merge",
    S.MERGED: "plan_upload",
    S.PLANNED: None,  # only a person commits
    S.COMMITTED: None,
    S.FRESH_START_REQUIRED: None,  # only a person commits a fresh start
    S.UPGRADE_REQUIRED: None,
}

STAGES = list(TRANSITIONS)
_NETWORK_STAGES = {
    "exchange_token",
    "fetch_info",
    "fetch_meta_global",
    "fetch_crypto_keys",
    "download",
    "commit",
}


class SyncError(Exception):
    """An expected failure of a stage, with what to do about it."""


class StageOrderError(SyncError):
    """A stage was called before the stage it depends on."""


class StalePlanError(SyncError):
    """The plan no longer matches the staged changes or the server state."""


class BackoffActive(SyncError):
    """The server asked clients to wait; ``signal.until`` says until when."""

    def __init__(self, message: str, signal: net.ServerSignal):
        super().__init__(message)
        self.signal = signal


class UpgradeRequired(SyncError):
    """The server's data has a newer storage version than this client understands."""


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


def _ask(prompt: str) -> str:
    import getpass

    return getpass.getpass(prompt)


class Sync:
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
        self._envelopes: dict[str, dict[str, BSO]] = {}  # server envelopes by collection, id
        self._notes: list[str] = []  # warnings raised between stages, shown by the next one
        self._ignore_backoff = False
        self._marks: dict[str, int] = {}  # stage -> trace length when it started

    # ================================================================ constructors
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

    # ================================================================ state machine
    def _enter(self, stage: str) -> float:
        allowed, first = TRANSITIONS[stage]
        if self.state not in allowed:
            if self.state is S.UPGRADE_REQUIRED:
                raise UpgradeRequired(self._upgrade or "the server needs a newer client")
            if self.state is S.FRESH_START_REQUIRED and stage in ("fetch_crypto_keys", "download"):
                raise StageOrderError(
                    f"{stage}() cannot run: the server needs a fresh start. Review sync.plan_fresh_start(),"
                    " then commit it (this erases the server's data)"
                )
            now = NEXT_STAGE.get(self.state) or first
            needs = f" (it needs {first}() done)" if first != now else ""
            raise StageOrderError(
                f"{stage}() cannot run in state '{self.state.value}'{needs}: run sync.{now}() first"
            )
        if stage in _NETWORK_STAGES:
            self._respect_backoff(stage)
        self._marks[stage] = len(self.trace_log.exchanges)
        return time.perf_counter()

    @property
    def backoff(self) -> net.ServerSignal | None:
        """The server's latest X-Weave-Backoff / Retry-After still in force, if any."""
        if self._ignore_backoff:
            return None
        candidates = [c.backoff for c in (self.storage,) if c is not None]
        return next((b for b in candidates if b is not None), None)

    def _respect_backoff(self, stage: str) -> None:
        sig = self.backoff
        if sig is None or sig.until is None:
            return
        left = (sig.until - datetime.now(UTC)).total_seconds()
        if left <= 0:
            return
        if self.on_backoff == "wait":
            self.wait_backoff()
            return
        raise BackoffActive(
            f"{stage}() not run: {sig.describe()}; {left:.0f}s remain. Wait with sync.wait_backoff(),"
            " or call sync.ignore_backoff() to go on anyway (the server may refuse or ban the client)",
            sig,
        )

    def wait_backoff(self) -> float:
        """Wait (with a countdown) until the server's backoff ends; returns seconds waited."""
        sig = self.backoff
        if sig is None or sig.until is None:
            return 0.0
        left = max(0.0, (sig.until - datetime.now(UTC)).total_seconds())
        from tqdm.auto import tqdm

        with tqdm(total=int(left), desc="server backoff", unit="s", disable=not self.progress) as bar:
            end = time.monotonic() + left
            while (now := time.monotonic()) < end:
                time.sleep(min(1.0, end - now))
                bar.update(1)
        return left

    def ignore_backoff(self, ignore: bool = True) -> None:
        """Go on despite the server's backoff request (a debugging tool's prerogative)."""
        self._ignore_backoff = ignore

    def _finish(self, stage: str, result: StageResult, started: float) -> StageResult:
        result._sync_ref = weakref.ref(self)  # type: ignore[attr-defined]
        result.seconds = time.perf_counter() - started
        result.state = self.state.value
        exchanges = self.trace_log.exchanges[self._marks.get(stage, 0) :]
        result.requests = [_exchange_row(e) for e in exchanges]
        for e in exchanges:  # what the servers asked of us is shown, never swallowed
            for sig in e.signals:
                result.warnings.append(sig.describe())
        self.results[stage] = result
        return result

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

    @property
    def trace(self) -> pd.DataFrame:
        """Every HTTP exchange so far, secrets replaced by fingerprints."""
        return self.trace_log.frame()

    # ================================================================ 1.1 authenticate
    def authenticate(self) -> AuthResult:
        """1.1: log in (if needed), verify the session, fetch the sync keys and OAuth token."""
        started = self._enter("authenticate")
        result = AuthResult("authenticate", self.state.value)
        creds = self._credentials
        if self.session is None:
            if not creds.email or not creds.password:
                raise SyncError(
                    "no credentials: use Sync.login(email, password), Sync.from_session or Sync.from_keys"
                )
            client = net.FxaClient(self.auth_url, self.oauth_url, trace=self.trace_log)
            self.session = client.login(creds.email, creds.password)
            result.decisions.append(f"logged in (key stretching v{self.session.key_stretch_version})")
        else:
            result.skipped = self.session.sync_keys is not None
        session = self.session
        if session.needs_verification:
            method = session.verification_method or "email"
            result.verification = method
            if method in ("totp-2fa", "totp"):
                session.verify_totp(self._answer(creds.totp, "TOTP code: "))
            else:
                session.verify_code(self._answer(creds.code, "Code from the verification email: "))
            result.decisions.append(f"session verified by {method}")
        if self._static_token is None:
            session.oauth_token()
        self.keys = session.fetch_keys()
        creds.password = None  # no longer needed: drop it
        self._open_store()
        self.state = S.AUTHENTICATED
        result.email = session.email
        result.uid = session.uid
        result.kid = self.keys.kid
        result.key_fingerprint = self.keys.fingerprint
        return self._finish("authenticate", result, started)  # type: ignore[return-value]

    def _answer(self, given: str | Callable[[], str] | None, prompt: str) -> str:
        if callable(given):
            value = given()
        elif given:
            value = given
        elif self.interactive:
            value = _ask(prompt)
        else:
            raise SyncError(f"the session needs verification: pass {prompt.split(':')[0]!r} (totp= or code=)")
        if not value:
            raise SyncError("no verification code was given")
        return str(value)

    def _open_store(self) -> None:
        assert self.keys is not None
        if self.store is None:
            arg = self._store_arg
            if arg == "auto":
                arg = default_store_path(self.keys.kid, self.token_url)
            self.store = arg if isinstance(arg, Store) else Store(arg)
        self.store.set_key(store_key(self.keys.ksync))
        self.trace_log.add_secret(self.keys.ksync)

    # ================================================================ 1.2 exchange_token
    def exchange_token(self) -> TokenResult:
        """1.2: trade the OAuth token (and X-KeyID) for storage node credentials."""
        started = self._enter("exchange_token")
        assert self.session is not None and self.keys is not None and self.store is not None
        result = TokenResult("exchange_token", self.state.value)
        if self._static_token is not None:
            token = self._static_token
            result.decisions.append("storage token given: tokenserver skipped")
        else:
            self.tokenserver = self.tokenserver or net.TokenServerClient(
                self.token_url, trace=self.trace_log, on_backoff=self._backoff_policy()
            )
            token = self.tokenserver.exchange(self.session.oauth_token().access_token, self.keys)
        self._use_token(token, result)
        self.state = S.TOKEN
        return self._finish("exchange_token", result, started)  # type: ignore[return-value]

    def _use_token(self, token: net.Token, result: TokenResult | None) -> None:
        assert self.store is not None
        known = self.store.get_state("node")
        self.token = token
        provider = None
        if self.tokenserver is not None and self.session is not None:
            provider = self.session.token_provider(self.tokenserver)
        self.storage = net.StorageClient(
            token, token_provider=provider, trace=self.trace_log, on_backoff=self._backoff_policy()
        )
        if known is not None and known != token.api_endpoint:
            self._node_moved(known, token.api_endpoint, result)
        self.store.set_state("node", token.api_endpoint)
        if result is not None:
            result.api_endpoint = token.api_endpoint
            result.uid = token.uid
            result.duration = token.duration
            result.token_fingerprint = fingerprint(token.id.encode())

    def _node_moved(self, old: str, new: str, result: StageResult | None) -> None:
        assert self.store is not None
        self.store.reset_all()
        self._records.clear()
        self._errors.clear()
        msg = (
            f"node reassigned: {old} → {new}. The new node's data is not the data we knew, so every"
            " last-sync time was reset; the next download reads everything again"
        )
        if result is not None:
            result.warnings.append(msg)
        self._notes.append(msg)

    def _backoff_policy(self) -> Callable[[net.ServerSignal], bool | None]:
        if self.on_backoff == "wait":
            return net.wait_and_retry(max_wait=900)
        return net.never_retry

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run a storage call; a node reassignment mid-call resets and says so."""
        try:
            return fn()
        except net.NodeReassigned as exc:
            assert self.storage is not None
            self._node_moved(exc.old_endpoint, exc.new_endpoint, None)
            assert self.store is not None
            self.store.set_state("node", exc.new_endpoint)
            self.state = S.TOKEN
            raise SyncError(
                f"the storage node moved to {exc.new_endpoint}: local state was reset."
                " Run sync.fetch_info() and the stages after it again"
            ) from None

    # ================================================================ 2.1 fetch_info
    def fetch_info(self) -> InfoResult:
        """2.1: ``info/configuration`` (404 = defaults) and ``info/collections``."""
        started = self._enter("fetch_info")
        assert self.storage is not None and self.store is not None
        result = InfoResult("fetch_info", self.state.value)
        try:
            self.config = self._call(self.storage.info_configuration)
        except net.NotFound:
            self.config = net.InfoConfiguration()
            result.decisions.append(
                "info/configuration is missing (404): using the protocol's default limits"
            )
        try:
            self.info_collections = self._call(self.storage.info_collections)
        except net.NotFound:
            self.info_collections = {}
        result.configuration = {k: v for k, v in self.config.__dict__.items() if k != "raw"}
        result.collections = {k: str(v) for k, v in self.info_collections.items()}
        result.changed = [c for c, t in self.info_collections.items() if t > self.store.last_sync(c)]
        result.warnings.extend(self._notes)
        self._notes.clear()
        self.state = S.INFO
        return self._finish("fetch_info", result, started)  # type: ignore[return-value]

    # ================================================================ 2.2 fetch_meta_global
    def fetch_meta_global(
        self, *, declined: Iterable[str] | None = None, enable: Mapping[str, bool] | None = None
    ) -> MetaGlobalResult:
        """2.2: fetch and validate ``meta/global``; compute engine states and, if it must
        change, a planned upload (never written here). ``enable`` maps engine → on/off
        to plan declining or accepting an engine."""
        started = self._enter("fetch_meta_global")
        assert self.storage is not None and self.store is not None
        result = MetaGlobalResult("fetch_meta_global", self.state.value)
        meta: MetaGlobal | None = None
        try:
            bso = self._call(lambda: self.storage.get_record("meta", "global"))  # type: ignore[union-attr]
            self.meta_global_modified = bso.modified
            result.modified = str(bso.modified)
            try:
                meta = MetaGlobal.from_payload(bso.payload)
            except MetaGlobalError as exc:
                result.warnings.append(f"meta/global is malformed ({exc}): a fresh start is needed")
        except net.NotFound:
            self.meta_global_modified = None
            result.warnings.append("meta/global is missing: the server has no sync data set up")
        local_ids = self.store.get_state("sync_ids")
        plan = plan_changes(
            meta,
            info_collections=[c for c in self.info_collections if c not in SETUP_COLLECTIONS],
            local_declined=declined if declined is not None else (meta.declined if meta else None),
            user_changes=enable,
            local_sync_ids=local_ids,
        )
        result.meta_global = meta
        result.plan = plan
        if meta is not None:
            result.engines = pd.DataFrame(engine_table(meta, self.info_collections))
            result.problems = meta.problems()
            result.warnings.extend(result.problems)
        result.decisions.extend(f"{c.engine}: {c.action} ({c.reason})" for c in plan.changes)
        if plan.status == "upgrade-required":
            self._upgrade = plan.reason
            self.state = S.UPGRADE_REQUIRED
            result.warnings.append(plan.reason + ". Nothing will be written.")
        elif plan.status == "fresh-start" or meta is None:
            self.state = S.FRESH_START_REQUIRED
            result.decisions.append(
                "fresh start required: see sync.plan_fresh_start() (it would erase the server)"
            )
        else:
            self.meta_global = meta
            self._apply_local_resets(plan, meta, result)
            if plan.status == "upload" and plan.proposed is not None:
                result.upload = self._meta_global_plan(plan.proposed, plan.reason)
                result.decisions.append("meta/global must change: review result.upload, then sync.commit(it)")
            self.state = S.META_GLOBAL
        return self._finish("fetch_meta_global", result, started)  # type: ignore[return-value]

    def _apply_local_resets(self, plan: Any, meta: MetaGlobal, result: StageResult) -> None:
        """Local resets are local: forgetting what we mirrored never touches the server."""
        assert self.store is not None
        for change in plan.changes:
            if change.action != "reset-local":
                continue
            if change.engine == "*":
                self.store.reset_all()
                self._records.clear()
                self._errors.clear()
            else:
                self.store.reset_collection(change.engine)
                self._records.pop(change.engine, None)
            result.decisions.append(f"local state of {change.engine} reset ({change.reason})")
        ids = {"global": meta.sync_id, **{n: e.sync_id for n, e in meta.engines.items()}}
        self.store.set_state("sync_ids", ids)

    def _meta_global_plan(self, proposed: MetaGlobal, reason: str) -> UploadPlan:
        return self._own(
            UploadPlan(
                kind="meta/global",
                warning=f"{reason}: this replaces meta/global, which every device reads",
                special={
                    "meta_global": proposed,
                    "if_unmodified_since": self.meta_global_modified or ServerTime(0),
                    "show_before": self.meta_global.to_payload() if self.meta_global else None,
                    "show_after": proposed.to_payload(),
                },
                generation=self._generation,
            )
        )

    # ================================================================ 2.3 fetch_crypto_keys
    def fetch_crypto_keys(self) -> CryptoKeysResult:
        """2.3: fetch ``crypto/keys`` and decrypt it with kSync (or report why not)."""
        started = self._enter("fetch_crypto_keys")
        assert self.storage is not None and self.keys is not None
        result = CryptoKeysResult("fetch_crypto_keys", self.state.value)
        try:
            bso = self._call(lambda: self.storage.get_record("crypto", "keys"))  # type: ignore[union-attr]
        except net.NotFound:
            result.status = "missing"
            result.warnings.append(
                "crypto/keys is missing: a fresh start is needed (sync.plan_fresh_start())"
            )
            self.state = S.FRESH_START_REQUIRED
            return self._finish("fetch_crypto_keys", result, started)  # type: ignore[return-value]
        self.crypto_keys_modified = bso.modified
        result.modified = str(bso.modified)
        try:
            keys = CollectionKeys.from_cleartext(self.keys.bundle.decrypt(bso.payload, "keys"))
        except CryptoError as exc:
            result.status = "undecryptable"
            result.warnings.append(
                f"crypto/keys cannot be decrypted with this account's kSync ({exc.reason}). The account's"
                " keys changed (a password reset?) after the data was uploaded: the old data cannot be read."
                " A fresh start (sync.plan_fresh_start()) replaces it with new keys; other devices re-upload."
            )
            self.state = S.FRESH_START_REQUIRED
            return self._finish("fetch_crypto_keys", result, started)  # type: ignore[return-value]
        self.collection_keys = keys
        fps = keys.fingerprints()
        result.fingerprints = fps
        for coll in sorted(c for c in self.info_collections if c not in SETUP_COLLECTIONS):
            own = coll in keys.collections
            result.usage.append({"collection": coll, "key": "own" if own else "default",
                                 "fingerprint": fps[coll] if own else fps["default"]})  # fmt: skip
        self.state = S.READY
        return self._finish("fetch_crypto_keys", result, started)  # type: ignore[return-value]

    # ================================================================ fresh start
    def plan_fresh_start(self, *, declined: Iterable[str] | None = None) -> UploadPlan:
        """A plan to wipe the server and write new meta/global and crypto/keys.

        Nothing happens until ``sync.commit(plan)``; the warning says what is lost.
        """
        if self.storage is None:
            raise StageOrderError(
                "plan_fresh_start() needs storage credentials: run sync.exchange_token() first"
            )
        counts = {c: t for c, t in self.info_collections.items()}
        declined = (
            declined if declined is not None else (self.meta_global.declined if self.meta_global else ())
        )
        meta = MetaGlobal.fresh(declined)
        keys = CollectionKeys.generate()
        lost = (
            ", ".join(sorted(c for c in counts if c not in SETUP_COLLECTIONS)) or "nothing (server is empty)"
        )
        return self._own(
            UploadPlan(
                kind="fresh-start",
                warning=(
                    "FRESH START: deletes EVERY record of this account on the server ("
                    + lost
                    + "), then writes a new meta/global and new crypto/keys. Other devices must re-upload"
                    " their data and will see the new keys; records only on the server are lost for good."
                ),
                special={
                    "meta_global": meta,
                    "collection_keys": keys,
                    "show_deletes": lost,
                    "show_meta_global": meta.to_payload(),
                    "show_keys": keys.fingerprints(),
                },
                generation=self._generation,
            )
        )

    def _own(self, plan: UploadPlan) -> UploadPlan:
        plan._sync_ref = weakref.ref(self)  # type: ignore[attr-defined]
        plan.config = self.config
        return plan

    # ================================================================ 3 download
    def download(self, collections: Iterable[str] | None = None) -> DownloadResult:
        """3: for each collection, read what is newer than the last sync (paged), decrypt
        it into the local store, and keep every record's error."""
        started = self._enter("download")
        assert self.storage is not None and self.store is not None
        result = DownloadResult("download", self.state.value)
        names = list(collections) if collections is not None else [
            c for c in sorted(self.info_collections) if c not in SETUP_COLLECTIONS
        ]  # fmt: skip
        for coll in names:
            result.collections.append(self._download_one(coll, result))
        result.warnings.extend(self._notes)
        self._notes.clear()
        self.state = S.DOWNLOADED
        return self._finish("download", result, started)  # type: ignore[return-value]

    def _download_one(self, coll: str, result: StageResult) -> dict[str, Any]:
        assert self.storage is not None and self.store is not None
        t0 = time.perf_counter()
        if coll not in self._records:
            self._load_from_store(coll)
        newer = self.store.last_sync(coll)
        server_ts = self.info_collections.get(coll)
        row: dict[str, Any] = {
            "collection": coll,
            "downloaded": 0,
            "failed": 0,
            "pages": 0,
            "errors": "",
            "newer": str(newer),
        }
        if server_ts is not None and server_ts <= newer:
            row.update(total=len(self._records.get(coll, {})) + len(self._errors.get(coll, {})), seconds=0.0)
            return row
        reader = self.storage.iter_collection(
            coll, newer=newer if newer else None, full=True, sort="oldest", limit=self.page_size,
            progress=self.progress, total=None,
        )  # fmt: skip
        reasons: dict[str, int] = {}
        try:
            pages = self._call(lambda: list(reader.pages()))
        except net.CollectionChanged as exc:
            result.warnings.append(f"{coll}: {exc}; run download() again to read a consistent view")
            row["errors"] = "changed during read"
            return row
        for page in pages:
            row["pages"] += 1
            failed = self._absorb(coll, page.records)
            for err in failed:
                reasons[err.reason] = reasons.get(err.reason, 0) + 1
            row["downloaded"] += len(page.records)
            row["failed"] += len(failed)
        if reader.last_modified is not None:
            self.store.set_last_sync(coll, reader.last_modified)
        row["errors"] = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
        row["total"] = len(self._records.get(coll, {})) + len(self._errors.get(coll, {}))
        row["seconds"] = round(time.perf_counter() - t0, 3)
        return row

    def _bundle(self, coll: str) -> KeyBundle:
        if self.collection_keys is None:
            raise StageOrderError("no collection keys: run sync.fetch_crypto_keys() first")
        return self.collection_keys.bundle_for(coll)

    def _absorb(self, coll: str, bsos: list[BSO]) -> list[CryptoError]:
        """Decrypt server records, keep them in memory, and write the mirror."""
        assert self.store is not None
        results = decrypt_many(self._bundle(coll), [b.payload for b in bsos], [b.id for b in bsos])
        recs = self._records.setdefault(coll, {})
        errs = self._errors.setdefault(coll, {})
        failed = []
        rows: list[tuple[BSO, CryptoError | None]] = []
        for b, r in zip(bsos, results):
            if isinstance(r, CryptoError):
                errs[b.id] = r
                recs.pop(b.id, None)
                failed.append(r)
                rows.append((b, r))
            else:
                recs[b.id] = r
                errs.pop(b.id, None)
                rows.append((b, None))
        self._envelopes.setdefault(coll, {}).update({b.id: b for b in bsos})
        self.store.upsert_mirror(coll, rows)
        return failed

    def _load_from_store(self, coll: str) -> None:
        """After a kernel restart: decrypt the mirror again (nothing is fetched)."""
        assert self.store is not None
        mirror = self.store.mirror(coll)
        if not mirror:
            return
        bsos = [m.bso for m in mirror]
        results = decrypt_many(self._bundle(coll), [b.payload for b in bsos], [b.id for b in bsos])
        recs = self._records.setdefault(coll, {})
        errs = self._errors.setdefault(coll, {})
        for b, r in zip(bsos, results):
            if isinstance(r, CryptoError):
                errs[b.id] = r
            else:
                recs[b.id] = r
        self._envelopes.setdefault(coll, {}).update({b.id: b for b in bsos})

    # ================================================================ records and staging
    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        """The decrypted records of a downloaded collection, by id (read-only view)."""
        if collection not in self._records and self.store is not None and self.collection_keys is not None:
            self._load_from_store(collection)
        return dict(self._records.get(collection, {}))

    def envelope(self, collection: str, record_id: str) -> BSO | None:
        """The record's server envelope as last seen (id, modified, sortindex, ttl, payload)."""
        return self._envelopes.get(collection, {}).get(record_id)

    def errors(self, collection: str | None = None) -> pd.DataFrame:
        """Every record that failed to decrypt or validate, with why."""
        rows = [
            {"collection": c, "id": rid, "reason": e.reason, "error": str(e)}
            for c, errs in sorted(self._errors.items())
            if collection in (None, c)
            for rid, e in sorted(errs.items())
        ]
        return pd.DataFrame(rows, columns=["collection", "id", "reason", "error"])

    def record(self, collection: str, record_id: str) -> dict[str, Any]:
        rec = self._records.get(collection, {}).get(record_id)
        if rec is None:
            err = self._errors.get(collection, {}).get(record_id)
            if err is not None:
                raise SyncError(f"{collection}/{record_id} did not decrypt: {err}")
            raise KeyError(f"no record {collection}/{record_id} was downloaded")
        return rec

    def collection_frames(self, name: str, *, reveal: bool = False) -> Any:
        """All frames of a downloaded collection (``.main`` plus companions such as
        history's ``.visits``, and bookmarks' ``.tree``), failed records included."""
        from . import frames

        recs = self.records(name)
        errs = self._errors.get(name, {})
        env = self._envelopes.get(name, {})
        items: list[Any] = [*recs.values(), *errs.values()]
        envelopes = [env.get(rid) for rid in [*recs, *errs]]
        return frames.frames_from_records(name, items, envelopes=envelopes, reveal=reveal)

    def frame(self, name: str, part: str = "main", *, reveal: bool = False) -> pd.DataFrame:
        """The downloaded collection as a typed DataFrame; ``part="visits"`` for history's
        visits. Records that failed to decrypt are rows with their ``error``. Passwords
        and card numbers stay masked unless ``reveal=True``."""
        return self.collection_frames(name, reveal=reveal)[part]

    def frames(self, *, reveal: bool = False) -> dict[str, pd.DataFrame]:
        """The main frame of every downloaded collection."""
        names = sorted(set(self._envelopes) | set(self._records) | set(self._errors))
        return {name: self.frame(name, reveal=reveal) for name in names}

    def _base(self, collection: str, record_id: str) -> ServerTime | None:
        env = self._envelopes.get(collection, {}).get(record_id)
        return env.modified if env is not None else None

    def _stage(self, change: StagedChange) -> StagedChange:
        if self.store is None:
            raise StageOrderError("staging needs the local store: run sync.authenticate() first")
        self.store.stage(change)
        self._generation += 1
        if self.state in (S.PLANNED, S.COMMITTED):
            self.state = S.DOWNLOADED  # the plan no longer covers every staged change: merge again
        return change

    def edit(self, collection: str, record_id: str, changes: Mapping[str, Any]) -> StagedChange:
        """Stage an edit: ``changes`` are merged into the record's fields."""
        staged = {c.id: c for c in self.store.staged(collection)} if self.store else {}
        prior = staged.get(record_id)
        if prior is not None and prior.record is not None:
            base_rec, base = prior.record, prior.base_modified
        else:
            base_rec, base = self.record(collection, record_id), self._base(collection, record_id)
        new = {**base_rec, **dict(changes), "id": record_id}
        env = self._envelopes.get(collection, {}).get(record_id)
        return self._stage(StagedChange(collection, record_id, "edit", new, base,
                                        env.sortindex if env else None, env.ttl if env else None))  # fmt: skip

    def add(
        self,
        collection: str,
        record: Mapping[str, Any],
        *,
        sortindex: int | None = None,
        ttl: int | None = None,
    ) -> StagedChange:
        """Stage a new record (it needs an ``id``)."""
        rec = dict(record)
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("a record to add needs a string 'id' (Firefox uses 12 base64url characters)")
        return self._stage(
            StagedChange(collection, rid, "add", rec, self._base(collection, rid), sortindex, ttl)
        )

    def delete(self, collection: str, record_id: str) -> StagedChange:
        """Stage a tombstone (Sync deletes by uploading ``{"id", "deleted": true}``)."""
        tomb = {"id": record_id, "deleted": True}
        return self._stage(
            StagedChange(collection, record_id, "delete", tomb, self._base(collection, record_id))
        )

    def discard(self, collection: str, record_id: str | None = None) -> int:
        """Drop staged changes (one record or a whole collection)."""
        assert self.store is not None
        n = self.store.unstage(collection, record_id)
        self._generation += 1
        return n

    def staged(self) -> pd.DataFrame:
        """The staged changes awaiting review (secret fields masked)."""
        assert self.store is not None
        rows = [
            {"collection": c.collection, "id": c.id, "kind": c.kind, "staged against": str(c.base_modified),
             "record": json.dumps(mask(c.collection, c.record))[:200] if c.record else "(raw restore)"}
            for c in self.store.staged()
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["collection", "id", "kind", "staged against", "record"])

    # ================================================================ merge
    def merge(self) -> MergeResult:
        """Three-way: server changes vs the mirror vs staged edits. Conflicts are listed
        with both versions; nothing is chosen silently."""
        started = self._enter("merge")
        assert self.store is not None
        result = MergeResult("merge", self.state.value)
        seen = self.store.get_state("merged_at", {})
        for coll, env in sorted(self._envelopes.items()):
            since = ServerTime(seen.get(coll, 0))
            changed = sum(1 for b in env.values() if b.modified is not None and b.modified > since)
            result.incoming.append({"collection": coll, "changed": changed})
            seen[coll] = int(max((b.modified or 0 for b in env.values()), default=0))
        self.store.set_state("merged_at", seen)
        self._conflicts = []
        for change in self.store.staged():
            server_env = self._envelopes.get(change.collection, {}).get(change.id)
            server_mod = server_env.modified if server_env else None
            server_rec = self._records.get(change.collection, {}).get(change.id)
            if server_mod != change.base_modified and server_rec != change.record:
                self._conflicts.append(
                    Conflict(
                        change.collection,
                        change.id,
                        change.base_modified,
                        server_mod,
                        server_rec,
                        change.record,
                    )
                )
            else:
                result.outgoing.append(
                    {"collection": change.collection, "id": change.id, "kind": change.kind}
                )
        result.conflicts = list(self._conflicts)
        if self._conflicts:
            result.warnings.append(
                f"{len(self._conflicts)} staged change(s) meet newer server versions: choose with"
                " sync.resolve(collection, id, 'local' | 'server' | record)"
            )
        self.state = S.MERGED
        return self._finish("merge", result, started)  # type: ignore[return-value]

    def resolve(self, collection: str, record_id: str, keep: str | Mapping[str, Any]) -> None:
        """Settle a conflict: keep ``'local'`` (re-stage on top of the server version),
        ``'server'`` (drop the staged change) or a merged record dict."""
        conflict = next((c for c in self._conflicts if (c.collection, c.id) == (collection, record_id)), None)
        if conflict is None:
            raise KeyError(f"no conflict for {collection}/{record_id}: run sync.merge() to list them")
        assert self.store is not None
        if keep == "server":
            self.store.unstage(collection, record_id)
        else:
            record = conflict.local if keep == "local" else dict(keep)  # type: ignore[arg-type]
            kind = "delete" if record and record.get("deleted") else "edit"
            self.store.stage(StagedChange(collection, record_id, kind, record, conflict.server_modified))
        self._conflicts.remove(conflict)
        self._generation += 1
        if self.state in (S.PLANNED, S.COMMITTED):
            self.state = S.MERGED

    # ================================================================ plan_upload
    def plan_upload(self) -> UploadPlan:
        """An :class:`UploadPlan`: per collection the records, their diffs against the
        server's version and the batches the server's limits imply."""
        started = self._enter("plan_upload")
        assert self.store is not None and self.config is not None
        plan = UploadPlan(generation=self._generation, blocked=list(self._conflicts))
        blocked = {(c.collection, c.id) for c in self._conflicts}
        for change in self.store.staged():
            if (change.collection, change.id) in blocked:
                continue
            cp = plan.collections.get(change.collection)
            if cp is None:
                xius = self.store.last_sync(change.collection)
                if not xius:  # never downloaded: guard with what info/collections said
                    xius = self.info_collections.get(change.collection, ServerTime(0))
                cp = plan.collections[change.collection] = CollectionPlan(change.collection, xius)
            cp.changes.append(self._planned(change))
        plan.config = self.config
        plan._sync_ref = weakref.ref(self)  # type: ignore[attr-defined]
        plan.rebatch()
        self._plan = plan
        self.state = S.PLANNED
        stage_result = StageResult("plan_upload", self.state.value)
        stage_result.decisions.append(f"plan #{plan.id}: {len(plan.changes())} change(s)")
        self._finish("plan_upload", stage_result, started)
        return plan

    def _planned(self, change: StagedChange) -> PlannedChange:
        before = self._records.get(change.collection, {}).get(change.id)
        if change.raw_payload is not None:
            payload, after = change.raw_payload, None
            try:
                after = self._bundle(change.collection).decrypt(payload, change.id)
            except CryptoError:
                after = None  # restoring a record that never decrypted: put back its bytes as they were
        else:
            after = change.record
            payload = json.dumps(self._bundle(change.collection).encrypt(after or {}), separators=(",", ":"))
        bso = BSO(change.id, payload, None, change.sortindex, change.ttl)
        return PlannedChange(
            change.collection, change.id, change.kind, before, after, bso, change.base_modified
        )

    # ================================================================ commit
    def commit(self, plan: UploadPlan) -> CommitResult:
        """The only method that writes. Batched POSTs with X-If-Unmodified-Since, atomic
        per collection; on 412 it stops, downloads again, merges again and hands back a
        new plan (``result.new_plan``); nothing the server had is overwritten."""
        if plan.kind == "meta/global":
            return self._commit_meta_global(plan)
        if plan.kind == "fresh-start":
            return self._commit_fresh_start(plan)
        started = self._enter("commit")
        assert self.storage is not None and self.store is not None
        if plan is not self._plan or plan.generation != self._generation:
            raise StalePlanError(
                "this plan is stale (staged changes moved on): run sync.merge() and sync.plan_upload() again"
            )
        result = CommitResult("commit", self.state.value)
        to_send = {name: cp for name, cp in plan.collections.items() if cp.accepted}
        if not to_send:
            result.status = "nothing"
            result.decisions.append("nothing accepted: nothing written")
            self.state = S.COMMITTED
            return self._finish("commit", result, started)  # type: ignore[return-value]
        replaced = [(c.collection, c.id, self._envelopes.get(c.collection, {}).get(c.id))
                    for cp in to_send.values() for c in cp.accepted]  # fmt: skip
        result.snapshot = self.store.snapshot(
            f"before commit of plan #{plan.id}", self.token.api_endpoint if self.token else None, replaced
        )
        for name, cp in to_send.items():
            records = [c.bso for c in cp.accepted]
            try:
                assert self.storage is not None
                upload = self._call(
                    partial(self.storage.upload, name, records, if_unmodified_since=cp.if_unmodified_since)
                )
            except net.PreconditionFailed as exc:
                if not result.uploads:  # nothing was written: the snapshot holds nothing replaced
                    self.store.drop_snapshot(result.snapshot)
                    result.snapshot = None
                result.status = "conflict"
                result.warnings.append(
                    f"{name}: someone else wrote to the collection (server now {exc.last_modified}, plan made"
                    f" against {cp.if_unmodified_since}); nothing of {name} was written. Downloaded again and"
                    " merged again: review result.new_plan"
                )
                self.state = S.READY
                try:  # what the server has now; the download reads everything newer than our view
                    self.info_collections = self._call(self.storage.info_collections)  # type: ignore[union-attr]
                except net.NotFound:
                    pass
                if exc.last_modified is not None:
                    self.info_collections[name] = max(
                        self.info_collections.get(name, exc.last_modified), exc.last_modified
                    )
                self.download([name])
                merge = self.merge()
                result.decisions.append(f"re-merged: {len(merge.conflicts)} conflict(s)")
                result.new_plan = self.plan_upload()
                self.results["commit"] = result
                return self._finish("commit", result, started)  # type: ignore[return-value]
            result.uploads.append(upload)
            self._after_upload(name, cp, upload, result)
        if result.failed:
            result.status = "partial"
        self.state = S.COMMITTED
        self._plan = None
        return self._finish("commit", result, started)  # type: ignore[return-value]

    def _after_upload(self, name: str, cp: CollectionPlan, upload: Any, result: CommitResult) -> None:
        assert self.store is not None
        ok = set(upload.success)
        written = [c for c in cp.accepted if c.id in ok]
        if upload.failed:
            result.failed[name] = dict(upload.failed)
            result.warnings.append(
                f"{name}: the server refused {len(upload.failed)} record(s); they stay staged"
            )
        if not upload.atomic:
            result.warnings.append(
                f"{name}: more records than one batch holds; committed in {upload.commits} batches"
            )
        modified = upload.modified
        bsos = [BSO(c.id, c.bso.payload, modified, c.bso.sortindex, c.bso.ttl) for c in written]
        self._absorb(name, bsos)
        for c in written:
            self.store.unstage(name, c.id)
        if modified is not None:
            self.store.set_last_sync(name, modified)
            self.info_collections[name] = modified
        self._generation += 1
        result.decisions.append(f"{name}: {len(written)} record(s) written at {modified}")

    def _commit_meta_global(self, plan: UploadPlan) -> CommitResult:
        started = self._enter_special(
            {S.META_GLOBAL, S.READY, S.DOWNLOADED, S.MERGED, S.PLANNED, S.COMMITTED}, "fetch_meta_global"
        )
        assert self.storage is not None
        result = CommitResult("commit", self.state.value)
        meta: MetaGlobal = plan.special["meta_global"]
        xius = plan.special["if_unmodified_since"]
        try:
            modified = self._call(
                lambda: self.storage.put_record(
                    "meta", BSO("global", meta.to_json()), if_unmodified_since=xius
                )
            )  # type: ignore[union-attr]
        except net.PreconditionFailed as exc:
            result.status = "conflict"
            result.warnings.append(
                f"meta/global changed on the server ({exc.last_modified}): run sync.fetch_meta_global() again"
            )
            self.state = S.INFO
            return self._finish("commit", result, started)  # type: ignore[return-value]
        self.meta_global, self.meta_global_modified = meta, modified
        result.decisions.append(f"meta/global written at {modified}")
        return self._finish("commit", result, started)  # type: ignore[return-value]

    def _commit_fresh_start(self, plan: UploadPlan) -> CommitResult:
        started = self._enter_special(set(State) - {S.NEW, S.AUTHENTICATED}, "exchange_token")
        assert self.storage is not None and self.keys is not None
        result = CommitResult("commit", self.state.value)
        meta: MetaGlobal = plan.special["meta_global"]
        keys: CollectionKeys = plan.special["collection_keys"]
        self._call(lambda: self.storage.delete_storage(if_unmodified_since=None))  # type: ignore[union-attr]
        result.decisions.append("all server storage deleted (X-Confirm-Delete)")
        self._call(
            lambda: self.storage.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=0)
        )  # type: ignore[union-attr]
        payload = json.dumps(self.keys.bundle.encrypt(keys.to_cleartext()))
        self._call(lambda: self.storage.put_record("crypto", BSO("keys", payload), if_unmodified_since=0))  # type: ignore[union-attr]
        result.decisions.append("new meta/global and crypto/keys written (X-If-Unmodified-Since: 0)")
        assert self.store is not None
        self.store.reset_all()
        self._records.clear()
        self._errors.clear()
        self._envelopes.clear()
        self.state = S.TOKEN
        result.decisions.append("local state reset: run sync.fetch_info() and the stages after it")
        return self._finish("commit", result, started)  # type: ignore[return-value]

    def _enter_special(self, allowed: set[State], first: str) -> float:
        if self.state not in allowed:
            raise StageOrderError(
                f"this plan cannot be committed in state '{self.state.value}': run sync.{first}() first"
            )
        self._marks["commit"] = len(self.trace_log.exchanges)
        return time.perf_counter()

    # ================================================================ snapshots
    def snapshots(self) -> pd.DataFrame:
        assert self.store is not None
        return pd.DataFrame([s.__dict__ for s in self.store.snapshots()],
                            columns=["snapshot", "created_at", "label", "node", "records"])  # fmt: skip

    def restore(self, snapshot: int) -> UploadPlan:
        """Stage the server versions a commit replaced, and plan putting them back.

        Records that did not exist before get a tombstone. Review, then commit the plan.
        """
        if self.store is None:
            raise StageOrderError("restore() needs the local store: run sync.authenticate() first")
        for coll, rid, bso in self.store.snapshot_records(int(snapshot)):
            base = self._base(coll, rid)
            if bso is None:
                change = StagedChange(coll, rid, "delete", {"id": rid, "deleted": True}, base)
            else:
                change = StagedChange(
                    coll, rid, "restore", None, base, bso.sortindex, bso.ttl, raw_payload=bso.payload
                )
            self.store.stage(change)
        self._generation += 1
        if self.state in (S.DOWNLOADED, S.MERGED, S.PLANNED, S.COMMITTED):
            self.state = S.DOWNLOADED
            self.merge()
            return self.plan_upload()
        raise StageOrderError(
            "restore staged the records; run the stages up to download(), then merge() and plan_upload()"
        )


def data_dir() -> Path:
    """Where synctools keeps per-user data: ``$SYNCTOOLS_DATA_DIR``, else
    ``$XDG_DATA_HOME/synctools``, else ``~/.local/share/synctools``."""
    if os.environ.get("SYNCTOOLS_DATA_DIR"):
        return Path(os.environ["SYNCTOOLS_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "synctools"


def default_store_path(kid: str, token_url: str) -> Path:
    """One store per account and server, named by a fingerprint (no email on disk)."""
    return data_dir() / "stores" / f"{fingerprint((kid + '|' + token_url).encode(), 16)}.sqlite"


def _exchange_row(e: Any) -> dict[str, Any]:
    d = e.__dict__ if hasattr(e, "__dict__") else dict(e)
    url = str(d.get("url", ""))
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else path
    return {
        "method": d.get("method"),
        "path": path,
        "status": d.get("status"),
        "ms": round(float(d.get("elapsed_ms", d.get("ms", 0)) or 0), 1),
    }
