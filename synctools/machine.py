"""The stepwise sync: each stage of one Firefox Sync is a method a notebook cell calls.

:class:`Sync` is a thin façade over parts with one job each, sharing one
:class:`~synctools.stages.core.Core` (the state machine, the server setup, the storage
client, the local store, the trace):

- :class:`~synctools.stages.setup.SetupPart`: authenticate … fetch_crypto_keys, and the
  meta/global, fresh-start and engine-reset plans;
- :class:`~synctools.stages.view.LocalView`: download, and each collection's records,
  errors and frames;
- :class:`~synctools.stages.staging.Staging`: edit, add, delete, discard, merge, resolve;
- :class:`~synctools.stages.commit.Committer`: plans, commits, snapshots, restore.

The states and what moves between them are one table, :data:`synctools.states.TRANSITIONS`
(docs/stepwise-sync.md shows it, generated from the table). A stage called too early
raises :class:`StageOrderError` naming the stage to run first. Only :meth:`Sync.commit`
writes to the server, always with ``X-If-Unmodified-Since``.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import net, seams
from .engines import Frames
from .plan import Conflict, EngineResetPlan, FreshStartPlan, MetaGlobalPlan, Plan, UploadPlan
from .protocol.bso import BSO, ServerTime
from .protocol.crypto import CollectionKeys
from .protocol.keys import SyncKeys
from .protocol.metaglobal import MetaGlobal
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
from .stages.commit import Committer
from .stages.core import BackoffPolicy, Core, Options, ServerSetup, StorageFactory
from .stages.offline import Offline, OfflineError, OfflinePart
from .stages.setup import Credentials, Endpoints, SetupPart, data_dir, default_store_path
from .stages.staging import Keep, Staging
from .stages.view import LocalView
from .states import (
    NEXT_STAGE,
    SETUP_COLLECTIONS,
    STAGES,
    TRANSITIONS,
    BackoffActive,
    NodeReassigned,
    StageOrderError,
    StalePlanError,
    State,
    SyncError,
    UnreadableWrite,
    UpgradeRequired,
)
from .store import StagedChange, Store

if TYPE_CHECKING:  # pragma: no cover
    from .server import LocalStack

S = State

__all__ = [
    "NEXT_STAGE",
    "SETUP_COLLECTIONS",
    "STAGES",
    "TRANSITIONS",
    "BackoffActive",
    "Credentials",
    "NodeReassigned",
    "Offline",
    "OfflineError",
    "S",
    "StageOrderError",
    "StalePlanError",
    "State",
    "Sync",
    "SyncError",
    "UnreadableWrite",
    "UpgradeRequired",
    "data_dir",
    "default_store_path",
]


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
        on_backoff: BackoffPolicy = "stop",
        interactive: bool = False,
        page_size: int = 5000,
        progress: bool = True,
        storage_factory: StorageFactory | None = None,
        workers: int | None = None,
    ) -> None:
        if on_backoff not in ("stop", "wait"):
            raise ValueError("on_backoff must be 'stop' (raise and show the wait) or 'wait' (wait, then retry)")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive number of records, not {page_size!r}")
        auth = auth_url or net.fxa.PRODUCTION_AUTH_URL
        endpoints = Endpoints(auth, oauth_url or auth, token_url or net.tokenserver.PRODUCTION_TOKEN_URL)
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive number of processes (1: none), not {workers!r}")
        options = Options(on_backoff=on_backoff, interactive=interactive, page_size=page_size, progress=progress,
                          workers=workers)  # fmt: skip
        self._core = core = Core(options, store if isinstance(store, Store) else None, storage_factory)
        ref = weakref.ref(self)
        core.owner = ref
        self._setup = SetupPart(core, endpoints, credentials or Credentials(), store)
        self._view = LocalView(core)
        self._staging = Staging(core, self._view)
        self._committer = Committer(core, self._setup, self._view, self._staging)
        self._offline = OfflinePart(core, self._setup, self._view)

    # ------------------------------------------------------------------ constructors
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
    def from_session(cls, path: str | os.PathLike[str], *, token_url: str | None = None, **kwargs: Any) -> Sync:
        """Resume a session saved with ``save_session`` (``synctools login``)."""
        kwargs.setdefault("store", "auto")
        sync = cls(token_url=token_url, **kwargs)
        session = net.load_session(path, trace=sync.trace_log)
        sync._setup.session = session
        sync._setup.endpoints.auth_url = session.client.auth_url
        sync._setup.endpoints.oauth_url = session.client.oauth_url
        sync._setup.credentials = Credentials(email=session.email, session=session)
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
        if access_token is None and storage_token is None:
            raise ValueError("from_keys needs an OAuth access_token or a storage_token")
        sync = cls(token_url=token_url, **kwargs)
        if storage_token is not None:
            sync._setup.static_token = (
                storage_token if isinstance(storage_token, net.Token) else net.Token.from_json(dict(storage_token))
            )
        session = net.FxaSession.from_oauth(access_token or "", sync_keys, trace=sync.trace_log)
        sync._setup.session = session
        sync._setup.credentials = Credentials(session=session)
        return sync

    @classmethod
    def local(cls, stack: LocalStack, *, email: str | None = None, password: str | None = None,
              **kwargs: Any) -> Sync:  # fmt: skip
        """A sync against an embedded :class:`~synctools.server.LocalStack` (its demo account by default)."""
        if email is None:
            demo = getattr(stack, "demo_account", None)
            if demo is None:
                raise ValueError("this stack has no demo account: start it with demo=True or pass email/password")
            email, password = demo.email, demo.password
        kwargs.setdefault("interactive", False)
        kwargs.setdefault("progress", False)
        kwargs.setdefault("store", None)  # the stack is ephemeral: so is its local state
        account = email
        return cls.login(
            email,
            password or "",
            auth_url=stack.auth_url,
            oauth_url=stack.oauth_url,
            token_url=stack.token_url,
            code=lambda: str(stack.admin.verification_code(account) or ""),
            totp=lambda: str(stack.admin.totp_code(account) or ""),
            **kwargs,
        )

    def __repr__(self) -> str:
        creds = self._setup.credentials
        session = self._setup.session
        who = creds.email or (session.email if session else None) or "?"
        nxt = NEXT_STAGE.get(self.state)
        hint = f", next: {nxt}()" if nxt else ""
        if self.offline is not None:
            hint = f", offline as of {self.offline.as_of}"
        return f"<Sync {who} state={self.state.value}{hint}>"

    # ------------------------------------------------------------------ what it knows
    @property
    def state(self) -> State:
        """Where the sync stands (moved only by the table, :data:`TRANSITIONS`)."""
        return self._core.state

    @property
    def setup(self) -> ServerSetup:
        """What setup learnt of the server, as one immutable value."""
        return self._core.setup

    @property
    def results(self) -> dict[str, StageResult]:
        return self._core.results

    @property
    def trace_log(self) -> net.Trace:
        return self._core.trace_log

    @property
    def trace(self) -> pd.DataFrame:
        """Every HTTP exchange so far, secrets replaced by fingerprints."""
        return self._core.trace

    @property
    def store(self) -> Store | None:
        return self._core.store

    @property
    def session(self) -> net.FxaSession | None:
        return self._setup.session

    @property
    def keys(self) -> SyncKeys | None:
        return self._setup.keys

    @property
    def token(self) -> net.Token | None:
        return self._core.token

    @property
    def storage(self) -> net.StorageClient | None:
        return self._core.storage

    @property
    def tokenserver(self) -> net.TokenServerClient | None:
        return self._setup.tokenserver

    @property
    def config(self) -> net.InfoConfiguration | None:
        return self._core.setup.config

    @property
    def info_collections(self) -> dict[str, ServerTime]:
        return self._core.setup.info_collections

    @property
    def meta_global(self) -> MetaGlobal | None:
        return self._core.setup.meta_global

    @property
    def meta_global_modified(self) -> ServerTime | None:
        return self._core.setup.meta_global_modified

    @property
    def collection_keys(self) -> CollectionKeys | None:
        return self._core.setup.collection_keys

    @property
    def crypto_keys_modified(self) -> ServerTime | None:
        return self._core.setup.crypto_keys_modified

    @property
    def conflicts(self) -> list[Conflict]:
        """Staged changes that met newer server versions at the last merge."""
        return list(self._staging.conflicts)

    @property
    def auth_url(self) -> str:
        return self._setup.endpoints.auth_url

    @property
    def oauth_url(self) -> str:
        return self._setup.endpoints.oauth_url

    @property
    def token_url(self) -> str:
        return self._setup.endpoints.token_url

    @property
    def page_size(self) -> int:
        return self._core.options.page_size

    @property
    def progress(self) -> bool:
        return self._core.options.progress

    @property
    def interactive(self) -> bool:
        return self._core.options.interactive

    @property
    def on_backoff(self) -> BackoffPolicy:
        return self._core.options.on_backoff

    # ------------------------------------------------------------------ walking the stages
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
        result: StageResult = getattr(self, stage)()
        return result

    def compare(self, profile: Any, collection: str) -> pd.DataFrame:
        """A Firefox profile's ``collection`` next to this sync's records (see
        :mod:`synctools.device`): one row per record the two sides disagree on."""
        frame: pd.DataFrame = seams.comparer()(self, profile, collection)
        return frame

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
            if STAGES.index(stage) >= STAGES.index(until):
                break
        return results

    # ------------------------------------------------------------------ setup (1.1 - 2.3)
    def authenticate(self) -> AuthResult:
        """1.1: log in (if needed), verify the session, fetch the sync keys and OAuth token."""
        return self._setup.authenticate()

    def exchange_token(self) -> TokenResult:
        """1.2: trade the OAuth token (and X-KeyID) for storage node credentials."""
        return self._setup.exchange_token()

    def fetch_info(self) -> InfoResult:
        """2.1: ``info/configuration`` (404 = defaults) and ``info/collections``."""
        return self._setup.fetch_info()

    def fetch_meta_global(
        self, *, declined: Iterable[str] | None = None, enable: Mapping[str, bool] | None = None
    ) -> MetaGlobalResult:
        """2.2: fetch and validate ``meta/global``; compute engine states and, if it must
        change, a planned upload (never written here). ``enable`` maps engine → on/off
        to plan declining or accepting an engine."""
        return self._setup.fetch_meta_global(declined=declined, enable=enable)

    def fetch_crypto_keys(self) -> CryptoKeysResult:
        """2.3: fetch ``crypto/keys`` and decrypt it with kSync (or report why not)."""
        return self._setup.fetch_crypto_keys()

    def plan_fresh_start(self, *, declined: Iterable[str] | None = None) -> FreshStartPlan:
        """A plan to wipe the server and write new meta/global and crypto/keys.

        Nothing happens until ``sync.commit(plan)``; the warning says what is lost.
        """
        return self._setup.plan_fresh_start(declined=declined)

    def plan_engine_reset(self, engine: str, *, wipe: bool = False) -> EngineResetPlan:
        """A plan to start one engine over: a new syncID in meta/global (every device then
        resets it) and, with ``wipe=True``, its collection deleted first. Review, then commit."""
        return self._setup.plan_engine_reset(engine, wipe=wipe)

    def open_offline(self, reason: str = "asked for", collections: Iterable[str] | None = None) -> StageResult:
        """Work from the local store alone, when the server does not answer: the setup
        stages and ``download`` run again, each answered by what the store kept of the
        server (meta/global and crypto/keys as sent, the mirror), and the state moves as
        online. Needs :meth:`authenticate` first (no network with a saved session that
        holds the keys); ``collections`` limits what is decrypted (default: all mirrored).
        Afterwards :attr:`offline` says why and as of when, and every network stage,
        commit and server-reading plan raises :class:`OfflineError`."""
        return self._offline.open_offline(reason, collections)

    @property
    def offline(self) -> Offline | None:
        """Why and as of when this sync works from the local store alone (None: online)."""
        offline: Offline | None = self._core.offline
        return offline

    # ------------------------------------------------------------------ records (3)
    def download(self, collections: Iterable[str] | str | None = None) -> DownloadResult:
        """3: for each collection, read what is newer than the last sync (paged), decrypt
        it into the local store, and keep every record's error."""
        return self._view.download(collections)

    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        """The decrypted records of a downloaded collection, by id (a copy)."""
        return self._view.records_dict(collection)

    def record(self, collection: str, record_id: str) -> dict[str, Any]:
        return self._view.record(collection, record_id)

    def envelope(self, collection: str, record_id: str) -> BSO | None:
        """The record's server envelope as last seen (id, modified, sortindex, ttl, payload)."""
        return self._view.envelope(collection, record_id)

    def envelopes(self, collection: str) -> dict[str, BSO]:
        """Every record's server envelope of a downloaded collection, by id (a copy)."""
        return self._view.envelopes(collection)

    @property
    def downloaded(self) -> list[str]:
        """The collections this sync holds records of (downloaded, or read from the store)."""
        return self._view.downloaded()

    def errors(self, collection: str | None = None, *, validate: bool = False) -> pd.DataFrame:
        """Every record that failed to decrypt, with why. ``validate=True`` also builds
        each collection's frame and adds the records whose cleartext breaks the
        collection's record shape (reason ``bad-record``), as the frames show them."""
        return self._view.errors(collection, validate=validate)

    def collection_frames(self, name: str, *, reveal: bool = False) -> Frames:
        """All frames of a downloaded collection (``.main`` plus companions such as
        history's ``.visits``, and bookmarks' ``.tree``), failed records included. Built
        once per state of the collection and reused until it changes."""
        return self._view.collection_frames(name, reveal=reveal)

    def frame(self, name: str, part: str = "main", *, reveal: bool = False) -> pd.DataFrame:
        """The downloaded collection as a typed DataFrame; ``part="visits"`` for history's
        visits. Records that failed to decrypt are rows with their ``error``. Passwords
        and card numbers stay masked unless ``reveal=True``."""
        frame: pd.DataFrame = self.collection_frames(name, reveal=reveal)[part]
        return frame

    def frames(self, *, reveal: bool = False) -> dict[str, pd.DataFrame]:
        """The main frame of every downloaded collection."""
        return {name: self.frame(name, reveal=reveal) for name in self._view.downloaded()}

    # ------------------------------------------------------------------ staging and merge
    def edit(self, collection: str, record_id: str, changes: Mapping[str, Any]) -> StagedChange:
        """Stage an edit: ``changes`` are merged into the record's fields."""
        return self._staging.edit(collection, record_id, changes)

    def add(self, collection: str, record: Mapping[str, Any], *, sortindex: int | None = None,
            ttl: int | None = None) -> StagedChange:  # fmt: skip
        """Stage a new record (it needs an ``id``)."""
        return self._staging.add(collection, record, sortindex=sortindex, ttl=ttl)

    def delete(self, collection: str, record_id: str) -> StagedChange:
        """Stage a tombstone (Sync deletes by uploading ``{"id", "deleted": true}``)."""
        return self._staging.delete(collection, record_id)

    def discard(self, collection: str, record_id: str | None = None) -> int:
        """Drop staged changes (one record or a whole collection)."""
        return self._staging.discard(collection, record_id)

    def staged(self) -> pd.DataFrame:
        """The staged changes awaiting review (secret fields masked)."""
        return self._staging.staged()

    def merge(self) -> MergeResult:
        """Three-way: server changes vs the mirror vs staged edits. Conflicts are listed
        with both versions; nothing is chosen silently."""
        return self._staging.merge()

    def resolve(self, collection: str, record_id: str, keep: Keep) -> None:
        """Settle a conflict: keep ``'local'`` (re-stage on top of the server version),
        ``'server'`` (drop the staged change) or a merged record dict."""
        self._staging.resolve(collection, record_id, keep)

    # ------------------------------------------------------------------ plans and commits
    def plan_upload(self) -> UploadPlan:
        """An :class:`UploadPlan`: per collection the records, their diffs against the
        server's version and the batches the server's limits imply."""
        return self._committer.plan_upload()

    @property
    def plan(self) -> UploadPlan | None:
        """The current records plan (None once committed or when staging moved on)."""
        return self._committer.plan

    def commit(self, plan: Plan) -> CommitResult:
        """The only method that writes: the plan's writes, each with X-If-Unmodified-Since.

        A records plan is uploaded in batched POSTs, atomic per collection; on 412 it
        stops, downloads again, merges again and hands back a new plan
        (``result.new_plan``): nothing the server had is overwritten."""
        committer = self._committer
        if isinstance(plan, UploadPlan):
            result = committer.commit_records(plan)
            if result.status == "conflict" and result.conflict_collection is not None:
                self.download([result.conflict_collection])
                merge = self.merge()
                result.decisions.append(f"re-merged: {len(merge.conflicts)} conflict(s)")
                result.new_plan = self.plan_upload()
        elif isinstance(plan, MetaGlobalPlan):
            result = committer.commit_meta_global(plan)
        elif isinstance(plan, FreshStartPlan):
            result = committer.commit_fresh_start(plan)
        elif isinstance(plan, EngineResetPlan):
            result = committer.commit_engine_reset(plan)
        else:
            raise TypeError(f"not a plan: {type(plan).__name__} (make one with sync.plan_upload() and friends)")
        plan._committed(result)  # a review widget showing this plan follows
        return result

    def snapshots(self) -> pd.DataFrame:
        """Every snapshot of what a commit replaced (for :meth:`restore`)."""
        return self._committer.snapshots()

    def restore(self, snapshot: int) -> UploadPlan:
        """Stage the server versions a commit replaced, and plan putting them back.

        Records that did not exist before get a tombstone; records whose keys changed
        since are re-encrypted under the current keys from the cleartext the snapshot
        kept, or refused with why (the plan's warning). Review, then commit the plan."""
        refused = self._committer.stage_restore(snapshot)
        if self.state not in (S.DOWNLOADED, S.MERGED, S.PLANNED, S.COMMITTED):
            raise StageOrderError(
                "restore staged the records; run the stages up to download(), then merge() and plan_upload()"
                + (f". Not restorable: {'; '.join(refused)}" if refused else "")
            )
        self.merge()
        plan = self.plan_upload()
        if refused:
            plan.warning = "not restored: " + "; ".join(refused)
        return plan

    # ------------------------------------------------------------------ backoff
    @property
    def backoff(self) -> net.ServerSignal | None:
        """The server's latest X-Weave-Backoff / Retry-After still in force, if any."""
        return self._core.backoff

    def wait_backoff(self) -> float:
        """Wait (with a countdown) until the server's backoff ends; returns seconds waited."""
        return self._core.wait_backoff()

    def ignore_backoff(self, ignore: bool = True) -> None:
        """Go on despite the server's backoff request (a debugging tool's prerogative)."""
        self._core.ignore_backoff = ignore
