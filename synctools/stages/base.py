"""The state-machine plumbing every stage shares: entering and finishing a stage,
backoff, node moves, keys per collection."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .. import net
from ..plan import Conflict, UploadPlan
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError, KeyBundle
from ..protocol.keys import SyncKeys
from ..protocol.metaglobal import MetaGlobal
from ..results import (
    StageResult,
)
from ..states import (
    _NETWORK_STAGES,
    NEXT_STAGE,
    TRANSITIONS,
    BackoffActive,
    S,
    StageOrderError,
    State,
    SyncError,
    UpgradeRequired,
)
from ..store import Store


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


class SyncBase:
    # Attributes set by Sync.__init__ (declared here so each stage module type-checks).
    trace_log: net.Trace
    auth_url: str
    oauth_url: str
    token_url: str
    _credentials: Any
    _store_arg: Any
    store: Store | None
    on_backoff: str
    interactive: bool
    page_size: int
    progress: bool
    state: State
    results: dict[str, StageResult]
    session: net.FxaSession | None
    keys: SyncKeys | None
    token: net.Token | None
    storage: net.StorageClient | None
    tokenserver: net.TokenServerClient | None
    config: net.InfoConfiguration | None
    info_collections: dict[str, ServerTime]
    meta_global: MetaGlobal | None
    meta_global_modified: ServerTime | None
    collection_keys: CollectionKeys | None
    crypto_keys_modified: ServerTime | None
    _records: dict[str, dict[str, dict[str, Any]]]
    _errors: dict[str, dict[str, CryptoError]]
    _conflicts: list[Conflict]
    _generation: int
    _plan: UploadPlan | None
    _upgrade: str | None
    _static_token: net.Token | None
    _envelopes: dict[str, dict[str, BSO]]
    _seen: dict[str, ServerTime]
    _notes: list[str]
    _ignore_backoff: bool
    _marks: dict[str, int]

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

    @property
    def trace(self) -> pd.DataFrame:
        """Every HTTP exchange so far, secrets replaced by fingerprints."""
        return self.trace_log.frame()

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

    def _forget(self, collection: str | None = None) -> None:
        """Drop what this object holds of one collection (or all) and its pending plan:
        after a reset, nothing of the old view may guard, snapshot or plan a write."""
        for held in (self._records, self._errors, self._envelopes, self._seen):
            if collection is None:
                held.clear()
            else:
                held.pop(collection, None)
        self._conflicts = [c for c in self._conflicts if collection not in (None, c.collection)]
        self._plan = None

    def _node_moved(self, old: str, new: str, result: StageResult | None) -> None:
        assert self.store is not None
        self.store.reset_all()
        self._forget()
        msg = (
            f"node reassigned: {old} → {new}. The new node's data is not the data we knew, so every"
            " last-sync time was reset; the next download reads everything again"
        )
        if result is not None:
            result.warnings.append(msg)
        self._notes.append(msg)

    def _need_store(self, what: str) -> None:
        if self.store is None:
            raise StageOrderError(f"{what}() needs the local store, opened by authenticate(): run sync.authenticate() first")

    def _bundle(self, coll: str) -> KeyBundle:
        if self.collection_keys is None:
            raise StageOrderError("no collection keys: run sync.fetch_crypto_keys() first")
        return self.collection_keys.bundle_for(coll)

    def _own(self, plan: UploadPlan) -> UploadPlan:
        plan._sync_ref = weakref.ref(self)  # type: ignore[attr-defined]
        plan.config = self.config
        return plan

    def _base(self, collection: str, record_id: str) -> ServerTime | None:
        env = self._envelopes.get(collection, {}).get(record_id)
        return env.modified if env is not None else None
