"""Stages 1.1–2.3: authenticate, exchange_token, fetch_info, fetch_meta_global,
fetch_crypto_keys, and the fresh-start plan."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .. import net
from ..plan import UploadPlan
from ..protocol._util import fingerprint
from ..protocol.bso import ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError
from ..protocol.metaglobal import MetaGlobal, MetaGlobalError, engine_table, plan_changes
from ..results import (
    AuthResult,
    CryptoKeysResult,
    InfoResult,
    MetaGlobalResult,
    StageResult,
    TokenResult,
)
from ..states import (
    SETUP_COLLECTIONS,
    S,
    StageOrderError,
    SyncError,
)
from ..store import Store, store_key
from .base import SyncBase


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


def _ask(prompt: str) -> str:
    import getpass

    return getpass.getpass(prompt)


class SetupStages(SyncBase):
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

    def fetch_meta_global(
        self, *, declined: Iterable[str] | None = None, enable: Mapping[str, bool] | None = None
    ) -> MetaGlobalResult:
        """2.2: fetch and validate ``meta/global``; compute engine states and, if it must
        change, a planned upload (never written here). ``enable`` maps engine → on/off
        to plan declining or accepting an engine."""
        started = self._enter("fetch_meta_global")
        assert self.storage is not None and self.store is not None
        storage = self.storage
        result = MetaGlobalResult("fetch_meta_global", self.state.value)
        meta: MetaGlobal | None = None
        try:
            bso = self._call(lambda: storage.get_record("meta", "global"))
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
                self._forget()
            else:
                self.store.reset_collection(change.engine)
                self._forget(change.engine)
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

    def fetch_crypto_keys(self) -> CryptoKeysResult:
        """2.3: fetch ``crypto/keys`` and decrypt it with kSync (or report why not)."""
        started = self._enter("fetch_crypto_keys")
        assert self.storage is not None and self.keys is not None
        storage = self.storage
        result = CryptoKeysResult("fetch_crypto_keys", self.state.value)
        try:
            bso = self._call(lambda: storage.get_record("crypto", "keys"))
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
                    # the wipe is guarded by the account's storage timestamp as last read
                    "if_unmodified_since": self.storage.info_last_modified
                    or max(self.info_collections.values(), default=ServerTime(0)),
                    "show_deletes": lost,
                    "show_meta_global": meta.to_payload(),
                    "show_keys": keys.fingerprints(),
                },
                generation=self._generation,
            )
        )
