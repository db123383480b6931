"""What every part of a sync shares: the state machine, the server setup as last read,
the storage client, the local store, the trace, the results, and the stage bracket.

Each stage runs inside :meth:`Core.stage`: the table is asked whether the stage may run
(:meth:`Machine.check`), a backoff in force stops networked stages, and on the way out
:meth:`Core.finish` fires the stage's event with its outcome (the only state change) and
fills the result with the requests the stage made and the server signals it met.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

import pandas as pd

from .. import net
from ..net.http import RetryPolicy
from ..plan import Plan
from ..protocol.bso import ServerTime
from ..protocol.crypto import CollectionKeys, KeyBundle
from ..protocol.metaglobal import MetaGlobal
from ..results import StageResult
from ..states import (
    WRITES,
    BackoffActive,
    Event,
    Machine,
    NodeReassigned,
    Outcome,
    StageOrderError,
    State,
)
from ..store import Store

R = TypeVar("R", bound=StageResult)
P = TypeVar("P", bound=Plan)
T = TypeVar("T")

#: events whose stage talks to a server (a backoff in force stops them)
NETWORK_EVENTS = frozenset(
    {
        Event.EXCHANGE_TOKEN,
        Event.FETCH_INFO,
        Event.FETCH_META_GLOBAL,
        Event.FETCH_CRYPTO_KEYS,
        Event.DOWNLOAD,
        Event.COMMIT,
        Event.COMMIT_FRESH_START,
        Event.COMMIT_META_GLOBAL,
        Event.COMMIT_ENGINE_RESET,
    }
)


@dataclass(frozen=True)
class ServerSetup:
    """What setup learnt of the server, one immutable value per step (a new value
    replaces the old): config and info/collections after ``fetch_info``, meta/global
    after ``fetch_meta_global``, the collection keys after ``fetch_crypto_keys`` —
    then it is :attr:`ready`."""

    config: net.InfoConfiguration | None = None
    info_collections: dict[str, ServerTime] = field(default_factory=dict)
    info_modified: ServerTime | None = None  # info/collections' X-Last-Modified
    meta_global: MetaGlobal | None = None
    meta_global_modified: ServerTime | None = None
    collection_keys: CollectionKeys | None = None
    crypto_keys_modified: ServerTime | None = None

    @property
    def ready(self) -> bool:
        return self.config is not None and self.meta_global is not None and self.collection_keys is not None

    def bundle(self, collection: str) -> KeyBundle:
        """The key that opens (and seals) ``collection``'s records."""
        if self.collection_keys is None:
            raise StageOrderError("no collection keys: run sync.fetch_crypto_keys() first")
        return self.collection_keys.bundle_for(collection)

    def seen_collection(self, collection: str, modified: ServerTime) -> ServerSetup:
        """This setup with ``collection`` known at ``modified`` (after a read or a write)."""
        return replace(self, info_collections={**self.info_collections, collection: modified})


class StorageFactory(Protocol):
    def __call__(
        self,
        token: net.Token,
        *,
        token_provider: Callable[[], net.Token] | None,
        trace: net.Trace,
        on_backoff: RetryPolicy,
    ) -> net.StorageClient: ...


def _exchange_row(e: Any) -> dict[str, Any]:
    url = str(getattr(e, "url", ""))
    path = url.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else path
    return {
        "method": getattr(e, "method", None),
        "path": path,
        "status": getattr(e, "status", None),
        "ms": round(float(getattr(e, "elapsed_ms", 0) or 0), 1),
    }


#: what a networked stage does while the server asks clients to back off
BackoffPolicy = Literal["stop", "wait"]


@dataclass
class Options:
    on_backoff: BackoffPolicy = "stop"
    interactive: bool = False
    page_size: int = 5000  # records per download page (Firefox asks for 1000; fewer, bigger pages are faster)
    progress: bool = True
    workers: int | None = None  # processes for big collections; None: engines._workers decides


class Core:
    """The shared middle of a :class:`~synctools.Sync`; each part holds one."""

    def __init__(self, options: Options, store: Store | None, storage_factory: StorageFactory | None) -> None:
        self.options = options
        self.machine = Machine()
        self.trace_log = net.Trace()
        self.store = store
        self.setup = ServerSetup()
        self.storage: net.StorageClient | None = None
        self.storage_factory: StorageFactory = storage_factory or net.StorageClient
        self.token: net.Token | None = None
        self.results: dict[str, StageResult] = {}
        self.notes: list[str] = []  # warnings raised between stages, shown by the next one
        self.ignore_backoff = False
        self.offline: Any = None  # an Offline (stages/offline.py) once the sync works from the store alone
        self._marks: dict[Event, int] = {}  # trace length when each event began
        self._began: dict[Event, datetime] = {}
        self._forgetters: list[weakref.WeakMethod[Callable[[str | None], None]]] = []
        self.owner: Callable[[], Any] = lambda: None  # a weak reference to the Sync

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> State:
        return self.machine.state

    def on_forget(self, forget: Callable[[str | None], None]) -> None:
        """``forget(collection or None)`` (a part's method) runs whenever what is known of a
        collection (or of everything) must be dropped: node moved, syncID changed, fresh
        start. Held weakly, so parts and core make no reference cycle (a Sync, its storage
        session and its sockets go as soon as the last reference does)."""
        self._forgetters.append(weakref.WeakMethod(forget))

    def forget(self, collection: str | None = None) -> None:
        for ref in self._forgetters:
            fn = ref()
            if fn is not None:
                fn(collection)

    def need_store(self, what: str) -> Store:
        if self.store is None:
            raise StageOrderError(
                f"{what}() needs the local store, opened by authenticate(): run sync.authenticate() first"
            )
        return self.store

    def need_storage(self, what: str) -> net.StorageClient:
        if self.offline is not None:
            raise self.offline.refuse(f"{what}()")
        if self.storage is None:
            raise StageOrderError(f"{what}() needs storage credentials: run sync.exchange_token() first")
        return self.storage

    # ------------------------------------------------------------------ a stage
    def begin(self, event: Event) -> float:
        """Check the table allows ``event`` now, and respect a backoff in force."""
        self.machine.check(event)
        if event in NETWORK_EVENTS:
            if self.offline is not None:
                raise self.offline.refuse("committing a plan" if event in WRITES else f"{event.value}()")
            self.respect_backoff(event.value)
        self._marks[event] = len(self.trace_log.exchanges)
        self._began[event] = datetime.now(UTC)
        return time.perf_counter()

    def finish(self, event: Event, result: R, started: float, outcome: Outcome = Outcome.OK,
               *, name: str | None = None) -> R:  # fmt: skip
        """Fire ``event`` with ``outcome`` (the state change) and complete ``result``."""
        self.machine.fire(event, outcome)
        owner = self.owner()
        result._sync_ref = weakref.ref(owner) if owner is not None else None
        result.seconds = time.perf_counter() - started
        result.state = self.state.value
        exchanges = self.trace_log.exchanges[self._marks.get(event, 0) :]
        result.requests = [_exchange_row(e) for e in exchanges]
        result.started_at = self._began.get(event)
        result.trace_seq = (exchanges[0].seq, exchanges[-1].seq) if exchanges else None
        for e in exchanges:  # what the servers asked of us is shown, never swallowed
            result.warnings.extend(sig.describe() for sig in e.signals)
        self.results[name or event.value] = result
        return result

    def take_notes(self, result: StageResult) -> None:
        result.warnings.extend(self.notes)
        self.notes.clear()

    def own(self, plan: P) -> P:
        """Tie a plan to this sync (weakly) and the server's limits."""
        owner = self.owner()
        plan._sync_ref = weakref.ref(owner) if owner is not None else None
        plan.config = self.setup.config
        return plan

    # ------------------------------------------------------------------ storage calls
    def call(self, fn: Callable[[], T]) -> T:
        """Run a storage call; a node reassignment mid-call resets and says so."""
        try:
            return fn()
        except net.NodeReassigned as exc:
            self.node_moved(exc.old_endpoint, exc.new_endpoint)
            raise NodeReassigned(exc.old_endpoint, exc.new_endpoint) from None

    def node_moved(self, old: str, new: str, result: StageResult | None = None) -> None:
        """Forget the old node: every last-sync time, the mirror, the plan (staged edits
        stay), and name the new node everywhere the old one was shown."""
        store = self.need_store("node_moved")
        store.reset_all()
        store.set_state("node", new)
        self.forget(None)
        self.setup = ServerSetup()
        if self.storage is not None:
            self.token = self.storage.token
        token_result = self.results.get(Event.EXCHANGE_TOKEN.value)
        if token_result is not None and self.token is not None and hasattr(token_result, "api_endpoint"):
            token_result.api_endpoint = self.token.api_endpoint
        msg = (
            f"node reassigned: {old} → {new}. The new node's data is not the data we knew, so every"
            " last-sync time was reset; the next download reads everything again"
        )
        if result is not None:
            result.warnings.append(msg)
        self.notes.append(msg)
        if self.machine.allows(Event.NODE_MOVED):
            self.machine.fire(Event.NODE_MOVED)

    # ------------------------------------------------------------------ backoff
    @property
    def backoff(self) -> net.ServerSignal | None:
        if self.ignore_backoff or self.storage is None:
            return None
        return self.storage.backoff

    def respect_backoff(self, stage: str) -> None:
        sig = self.backoff
        if sig is None or sig.until is None:
            return
        left = (sig.until - datetime.now(UTC)).total_seconds()
        if left <= 0:
            return
        if self.options.on_backoff == "wait":
            self.wait_backoff()
            return
        raise BackoffActive(
            f"{stage}() not run: {sig.describe()}; {left:.0f}s remain. Wait with sync.wait_backoff(),"
            " or call sync.ignore_backoff() to go on anyway (the server may refuse or ban the client)",
            sig,
        )

    def wait_backoff(self) -> float:
        sig = self.backoff
        if sig is None or sig.until is None:
            return 0.0
        left = max(0.0, (sig.until - datetime.now(UTC)).total_seconds())
        from tqdm.auto import tqdm

        with tqdm(total=int(left), desc="server backoff", unit="s", disable=not self.options.progress) as bar:
            end = time.monotonic() + left
            while (now := time.monotonic()) < end:
                time.sleep(min(1.0, end - now))
                bar.update(1)
        return left

    def backoff_policy(self) -> RetryPolicy:
        if self.options.on_backoff == "wait":
            return net.wait_and_retry(max_wait=900)
        return net.never_retry

    @property
    def trace(self) -> pd.DataFrame:
        return self.trace_log.frame()
