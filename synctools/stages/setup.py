"""Stages 1.1–2.3: authenticate, exchange_token, fetch_info, fetch_meta_global,
fetch_crypto_keys — and the plans they may call for (meta/global, fresh start, one
engine reset). Each stage leaves a new :class:`~synctools.stages.core.ServerSetup`."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from .. import net
from ..plan import EngineResetPlan, FreshStartPlan, MetaGlobalPlan
from ..protocol._util import fingerprint
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError
from ..protocol.keys import SyncKeys
from ..protocol.metaglobal import (
    MetaGlobal,
    MetaGlobalChanges,
    MetaGlobalError,
    engine_table,
    new_sync_id,
    plan_changes,
)
from ..results import AuthResult, CryptoKeysResult, InfoResult, MetaGlobalResult, TokenResult
from ..states import SETUP_COLLECTIONS, Event, Outcome, SyncError
from ..store import Store, store_key
from .core import Core, ServerSetup


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


Answer = str | Callable[[], str] | None


@dataclass
class Credentials:
    """How a Sync authenticates. Secrets never appear in repr."""

    email: str | None = None
    password: str | None = None
    totp: Answer = None
    code: Answer = None
    session: net.FxaSession | None = None

    def __repr__(self) -> str:
        return f"Credentials(email={self.email!r})"


@dataclass
class Endpoints:
    auth_url: str
    oauth_url: str
    token_url: str


class SetupPart:
    """Accounts, tokenserver, info, meta/global and crypto/keys: what a sync must know
    of the account and its server before any record is read."""

    def __init__(self, core: Core, endpoints: Endpoints, credentials: Credentials,
                 store_arg: Store | str | Path | None) -> None:  # fmt: skip
        self.core = core
        self.endpoints = endpoints
        self.credentials = credentials
        self.store_arg = store_arg
        self.session: net.FxaSession | None = credentials.session
        self.keys: SyncKeys | None = None
        self.tokenserver: net.TokenServerClient | None = None
        self.static_token: net.Token | None = None

    # ------------------------------------------------------------------ 1.1
    def authenticate(self) -> AuthResult:
        """1.1: log in (if needed), verify the session, fetch the sync keys and OAuth token."""
        core = self.core
        started = core.begin(Event.AUTHENTICATE)
        result = AuthResult("authenticate", core.state.value)
        creds = self.credentials
        if self.session is None:
            if not creds.email or not creds.password:
                raise SyncError("no credentials: use Sync.login(email, password), Sync.from_session or Sync.from_keys")
            client = net.FxaClient(self.endpoints.auth_url, self.endpoints.oauth_url, trace=core.trace_log)
            self.session = client.login(creds.email, creds.password)
            result.decisions.append(f"logged in (key stretching v{self.session.key_stretch_version})")
        session = self.session
        if session.needs_verification:
            method = session.verification_method or "email"
            result.verification = method
            if method in ("totp-2fa", "totp"):
                session.verify_totp(self._answer(creds.totp, "TOTP code: "))
            else:
                session.verify_code(self._answer(creds.code, "Code from the verification email: "))
            result.decisions.append(f"session verified by {method}")
        if self.static_token is None and session.sync_keys is None:
            # with a login, the OAuth token now proves the session before anything else;
            # a saved session with keys needs no network here (exchange_token renews the
            # token if it expired), so it can open offline (Sync.open_offline)
            session.oauth_token()
        self.keys = session.fetch_keys()
        creds.password = None  # no longer needed: drop it
        self._open_store()
        result.email = session.email
        result.uid = session.uid
        result.kid = self.keys.kid
        result.key_fingerprint = self.keys.fingerprint
        return core.finish(Event.AUTHENTICATE, result, started)

    def _answer(self, given: Answer, prompt: str) -> str:
        if callable(given):
            value = given()
        elif given:
            value = given
        elif self.core.options.interactive:
            value = getpass.getpass(prompt)
        else:
            raise SyncError(f"the session needs verification: pass {prompt.split(':')[0]!r} (totp= or code=)")
        if not value:
            raise SyncError("no verification code was given")
        return str(value)

    def _open_store(self) -> None:
        assert self.keys is not None
        core = self.core
        if core.store is None:
            arg = self.store_arg
            if arg == "auto":
                arg = default_store_path(self.keys.kid, self.endpoints.token_url)
            core.store = arg if isinstance(arg, Store) else Store(arg)
        core.store.set_key(store_key(self.keys.ksync))
        core.trace_log.add_secret(self.keys.ksync)

    # ------------------------------------------------------------------ 1.2
    def exchange_token(self) -> TokenResult:
        """1.2: trade the OAuth token (and X-KeyID) for storage node credentials."""
        core = self.core
        started = core.begin(Event.EXCHANGE_TOKEN)
        assert self.session is not None and self.keys is not None
        result = TokenResult("exchange_token", core.state.value)
        if self.static_token is not None:
            token = self.static_token
            result.decisions.append("storage token given: tokenserver skipped")
        else:
            self.tokenserver = self.tokenserver or net.TokenServerClient(
                self.endpoints.token_url, trace=core.trace_log, on_backoff=core.backoff_policy()
            )
            token = self.tokenserver.exchange(self.session.oauth_token().access_token, self.keys)
        self._use_token(token, result)
        return core.finish(Event.EXCHANGE_TOKEN, result, started)

    def _use_token(self, token: net.Token, result: TokenResult) -> None:
        core = self.core
        store = core.need_store("exchange_token")
        known = store.get_state("node")
        provider = None
        if self.tokenserver is not None and self.session is not None:
            provider = self.session.token_provider(self.tokenserver)
        core.token = token
        core.storage = core.storage_factory(
            token, token_provider=provider, trace=core.trace_log, on_backoff=core.backoff_policy()
        )
        if known is not None and known != token.api_endpoint:
            core.node_moved(known, token.api_endpoint, result)
        store.set_state("node", token.api_endpoint)
        result.api_endpoint = token.api_endpoint
        result.uid = token.uid
        result.duration = token.duration
        result.token_fingerprint = fingerprint(token.id.encode())

    # ------------------------------------------------------------------ 2.1
    def fetch_info(self) -> InfoResult:
        """2.1: ``info/configuration`` (404 = defaults) and ``info/collections``."""
        core = self.core
        started = core.begin(Event.FETCH_INFO)
        storage = core.need_storage("fetch_info")
        store = core.need_store("fetch_info")
        result = InfoResult("fetch_info", core.state.value)
        try:
            config = core.call(storage.info_configuration)
        except net.NotFound:
            config = net.InfoConfiguration()
            result.decisions.append("info/configuration is missing (404): using the protocol's default limits")
        collections = self.read_info_collections()
        core.setup = ServerSetup(config=config, info_collections=collections, info_modified=storage.info_last_modified)
        result.configuration = {k: v for k, v in config.__dict__.items() if k != "raw"}
        result.collections = dict(collections)
        result.changed = [c for c, t in collections.items() if t > store.last_sync(c)]
        store.set_state("server/info", {  # for Sync.open_offline: what the server said, and when
            "read_at": time.time(), "node": core.token.api_endpoint if core.token else None,
            "configuration": config.raw, "collections": {k: int(v) for k, v in collections.items()},
        })  # fmt: skip
        core.take_notes(result)
        return core.finish(Event.FETCH_INFO, result, started)

    def read_info_collections(self) -> dict[str, ServerTime]:
        storage = self.core.need_storage("fetch_info")
        try:
            return self.core.call(storage.info_collections)
        except net.NotFound:
            return {}

    # ------------------------------------------------------------------ 2.2
    def fetch_meta_global(
        self, *, declined: Iterable[str] | None = None, enable: Mapping[str, bool] | None = None
    ) -> MetaGlobalResult:
        """2.2: fetch and validate ``meta/global``; compute engine states and, if it must
        change, a planned upload (never written here). ``enable`` maps engine → on/off
        to plan declining or accepting an engine."""
        core = self.core
        started = core.begin(Event.FETCH_META_GLOBAL)
        storage = core.need_storage("fetch_meta_global")
        store = core.need_store("fetch_meta_global")
        result = MetaGlobalResult("fetch_meta_global", core.state.value)
        try:
            bso: BSO | None = core.call(lambda: storage.get_record("meta", "global"))
        except net.NotFound:
            bso = None
        store.set_server_record("meta", "global", bso)  # as sent: for Sync.open_offline
        outcome = self.read_meta_global(bso, result, declined, enable)
        return core.finish(Event.FETCH_META_GLOBAL, result, started, outcome)

    def read_meta_global(
        self,
        bso: BSO | None,
        result: MetaGlobalResult,
        declined: Iterable[str] | None = None,
        enable: Mapping[str, bool] | None = None,
    ) -> Outcome:
        """meta/global as read (from the server, or from the store when offline):
        validate it, plan engine changes; the outcome the stage ends with."""
        core = self.core
        store = core.need_store("fetch_meta_global")
        meta: MetaGlobal | None = None
        modified: ServerTime | None = None
        if bso is not None:
            modified = bso.modified
            result.modified = bso.modified
            try:
                meta = MetaGlobal.from_payload(bso.payload)
            except MetaGlobalError as exc:
                result.warnings.append(f"meta/global is malformed ({exc}): a fresh start is needed")
        else:
            result.warnings.append("meta/global is missing: the server has no sync data set up")
        setup = core.setup
        changes = plan_changes(
            meta,
            info_collections=[c for c in setup.info_collections if c not in SETUP_COLLECTIONS],
            local_declined=declined if declined is not None else (meta.declined if meta else None),
            user_changes=enable,
            local_sync_ids=store.get_state("sync_ids"),
        )
        result.meta_global = meta
        result.plan = changes
        if meta is not None:
            result.engines = pd.DataFrame(engine_table(meta, setup.info_collections))
            result.problems = meta.problems()
            result.warnings.extend(result.problems)
        result.decisions.extend(f"{c.engine}: {c.action} ({c.reason})" for c in changes.changes)
        if changes.status == "upgrade-required":
            core.machine.upgrade_reason = changes.reason
            result.warnings.append(changes.reason + ". Nothing will be written.")
            return Outcome.UPGRADE
        if changes.status == "fresh-start" or meta is None:
            result.decisions.append("fresh start required: see sync.plan_fresh_start() (it would erase the server)")
            return Outcome.FRESH_START
        core.setup = replace(setup, meta_global=meta, meta_global_modified=modified,
                             collection_keys=None, crypto_keys_modified=None)  # fmt: skip
        self._apply_local_resets(changes, meta, result)
        if changes.status == "upload" and changes.proposed is not None:
            result.upload = self.meta_global_plan(changes.proposed, changes.reason)
            result.decisions.append("meta/global must change: review result.upload, then sync.commit(it)")
        return Outcome.OK

    def _apply_local_resets(self, changes: MetaGlobalChanges, meta: MetaGlobal, result: MetaGlobalResult) -> None:
        """Local resets are local: forgetting what we mirrored never touches the server."""
        store = self.core.need_store("fetch_meta_global")
        for change in changes.changes:
            if change.action != "reset-local":
                continue
            if change.engine == "*":
                store.reset_all()
                self.core.forget(None)
            else:
                store.reset_collection(change.engine)
                self.core.forget(change.engine)
            result.decisions.append(f"local state of {change.engine} reset ({change.reason})")
        ids = {"global": meta.sync_id, **{n: e.sync_id for n, e in meta.engines.items()}}
        store.set_state("sync_ids", ids)

    def meta_global_plan(self, proposed: MetaGlobal, reason: str) -> MetaGlobalPlan:
        setup = self.core.setup
        return self.core.own(
            MetaGlobalPlan(
                warning=f"{reason}: this replaces meta/global, which every device reads",
                meta_global=proposed,
                if_unmodified_since=setup.meta_global_modified or ServerTime(0),
                before=setup.meta_global.to_payload() if setup.meta_global else None,
                after=proposed.to_payload(),
            )
        )

    # ------------------------------------------------------------------ 2.3
    def fetch_crypto_keys(self) -> CryptoKeysResult:
        """2.3: fetch ``crypto/keys`` and decrypt it with kSync (or report why not)."""
        core = self.core
        started = core.begin(Event.FETCH_CRYPTO_KEYS)
        storage = core.need_storage("fetch_crypto_keys")
        store = core.need_store("fetch_crypto_keys")
        result = CryptoKeysResult("fetch_crypto_keys", core.state.value)
        try:
            bso: BSO | None = core.call(lambda: storage.get_record("crypto", "keys"))
        except net.NotFound:
            bso = None
        store.set_server_record("crypto", "keys", bso)  # the server's ciphertext, never the keys
        return core.finish(Event.FETCH_CRYPTO_KEYS, result, started, self.read_crypto_keys(bso, result))

    def read_crypto_keys(self, bso: BSO | None, result: CryptoKeysResult) -> Outcome:
        """crypto/keys as read (from the server, or from the store when offline): decrypt
        it with kSync, or say why not; the outcome the stage ends with."""
        core = self.core
        assert self.keys is not None
        if bso is None:
            result.status = "missing"
            result.warnings.append("crypto/keys is missing: a fresh start is needed (sync.plan_fresh_start())")
            return Outcome.FRESH_START
        result.modified = bso.modified
        try:
            keys = CollectionKeys.from_cleartext(self.keys.bundle.decrypt(bso.payload, "keys"))
        except CryptoError as exc:
            result.status = "undecryptable"
            result.warnings.append(
                f"crypto/keys cannot be decrypted with this account's kSync ({exc.reason}). The account's"
                " keys changed (a password reset?) after the data was uploaded: the old data cannot be read."
                " A fresh start (sync.plan_fresh_start()) replaces it with new keys; other devices re-upload."
            )
            return Outcome.FRESH_START
        core.setup = replace(core.setup, collection_keys=keys, crypto_keys_modified=bso.modified)
        fps = keys.fingerprints()
        result.fingerprints = fps
        for coll in sorted(c for c in core.setup.info_collections if c not in SETUP_COLLECTIONS):
            own = coll in keys.collections
            result.usage.append({"collection": coll, "key": "own" if own else "default",
                                 "fingerprint": fps[coll] if own else fps["default"]})  # fmt: skip
        return Outcome.OK

    def current_collection_keys(self) -> tuple[CollectionKeys, ServerTime | None]:
        """crypto/keys as the server holds it NOW (one GET), decrypted with kSync: what
        a commit checks every payload against, so it never writes what nobody can read."""
        core = self.core
        storage = core.need_storage("commit")
        assert self.keys is not None
        try:
            bso = core.call(lambda: storage.get_record("crypto", "keys"))
        except net.NotFound:
            raise SyncError(
                "crypto/keys is gone from the server: nothing written (nobody could read it)."
                " Run sync.fetch_info() and the stages after it"
            ) from None
        try:
            return CollectionKeys.from_cleartext(self.keys.bundle.decrypt(bso.payload, "keys")), bso.modified
        except CryptoError as exc:
            raise SyncError(
                f"crypto/keys on the server no longer opens with this account's kSync ({exc.reason}):"
                " nothing written. Run sync.fetch_info() and the stages after it"
            ) from None

    # ------------------------------------------------------------------ plans
    def plan_fresh_start(self, *, declined: Iterable[str] | None = None) -> FreshStartPlan:
        """A plan to wipe the server and write new meta/global and crypto/keys.

        Nothing happens until ``sync.commit(plan)``; the warning says what is lost.
        """
        core = self.core
        core.machine.check(Event.PLAN_FRESH_START)
        storage = core.need_storage("plan_fresh_start")
        setup = core.setup
        if not setup.info_collections:  # a fresh start may be planned right after exchange_token
            setup = replace(setup, info_collections=self.read_info_collections(),
                            info_modified=storage.info_last_modified)  # fmt: skip
        try:
            counts: dict[str, int] = core.call(storage.info_collection_counts)
        except net.StorageError:
            counts = {}
        declined = declined if declined is not None else (setup.meta_global.declined if setup.meta_global else ())
        meta = MetaGlobal.fresh(declined)
        keys = CollectionKeys.generate()
        deletes: dict[str, int | None] = {c: counts.get(c) for c in sorted(setup.info_collections)
                                          if c not in SETUP_COLLECTIONS}  # fmt: skip
        lost = ", ".join(deletes) or "nothing (server is empty)"
        core.machine.fire(Event.PLAN_FRESH_START)
        plan = FreshStartPlan(
            warning=(
                f"FRESH START: deletes EVERY record of this account on the server ({lost}), then writes a"
                " new meta/global and new crypto/keys. Other devices must re-upload their data and will see"
                " the new keys; records only on the server are lost for good."
            ),
            meta_global=meta,
            collection_keys=keys,
            # the wipe is guarded by the account's storage timestamp as last read
            if_unmodified_since=setup.info_modified or max(setup.info_collections.values(), default=ServerTime(0)),
            deletes=deletes,
        )
        return self.core.own(plan)

    def plan_engine_reset(self, engine: str, *, wipe: bool = False) -> EngineResetPlan:
        """A plan to start one engine over: a new syncID for ``engine`` in meta/global (every
        device then resets it) and, with ``wipe=True``, its collection deleted first."""
        core = self.core
        core.machine.check(Event.COMMIT_ENGINE_RESET)
        setup = core.setup
        meta = setup.meta_global
        assert meta is not None  # the table allows this only once meta/global was read
        if engine not in meta.engines:
            known = ", ".join(sorted(meta.engines)) or "none"
            raise ValueError(f"{engine!r} is not an engine in meta/global (engines: {known})")
        info = meta.engines[engine]
        new = replace(meta, engines={**meta.engines, engine: replace(info, sync_id=new_sync_id())})
        records = None
        if wipe:
            try:
                records = core.call(core.need_storage("plan_engine_reset").info_collection_counts).get(engine, 0)
            except net.StorageError:
                records = None
        action = f"deletes every {engine} record on the server, then " if wipe else ""
        plan = EngineResetPlan(
            warning=(
                f"ENGINE RESET: {action}gives {engine} a new syncID in meta/global. Every device then resets"
                f" its {engine} engine and uploads its local {engine} data again"
                + ("; records only on the server are lost." if wipe else ".")
            ),
            engine=engine,
            wipe=wipe,
            meta_global=new,
            if_unmodified_since=setup.meta_global_modified or ServerTime(0),
            collection_if_unmodified_since=setup.info_collections.get(engine),
            records=records,
            old_sync_id=info.sync_id,
        )
        return self.core.own(plan)
