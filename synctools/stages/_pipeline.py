"""Reading a collection as a pipeline: the next page is in flight while this one decrypts.

Five threads share the work of a download (or three, of reading the local store back):

- :func:`synctools._threads.prefetch` runs the source (the storage client's pages, read
  into columns; or SQLite reading the mirror) in a thread, one or two parts ahead; the
  reader itself sends each page's request from a thread of its own as soon as the page
  before names its offset (:meth:`synctools.net.reader.CollectionReader.pages`);
- :class:`MirrorWriter` writes each page of a download, as the server sent it, to the
  mirror in a thread (SQLite releases the GIL) while the next is requested; pages that
  arrive while it writes go in together, in one transaction;
- the caller's thread decrypts each part (:func:`decrypt_many` with ``raw=True``; the
  compiled loop releases the GIL);
- :class:`Absorber`'s worker parses the cleartexts with the collection's engine (for
  history, the compiled reader or Arrow's, which release the GIL), then the caller's
  thread adds the part to the view, in order; why a record failed is noted in the mirror
  by the same writer thread, after its page.

Nothing is lost on the way out: when the source fails (a 412 mid-read, a node move) or
the caller is interrupted, every part already read is still parsed, mirrored and kept
before the error goes on.
"""

from __future__ import annotations

import gc
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ..engines import _workers, decrypt_and_parse
from ..protocol._columns import BSOColumns
from ..protocol.crypto import CryptoError, KeyBundle, decrypt_many

if TYPE_CHECKING:  # pragma: no cover
    from ..engines import Engine
    from ..store import Store


class CollectionView(Protocol):
    """What an Absorber needs of the view it fills (stages.view.CollectionView)."""

    name: str

    def add_part(self, env: BSOColumns, bundle: KeyBundle, parsed: Any, errors: list[CryptoError | None]) -> None: ...


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a pipeline runs (nestable, any thread).

    A read builds millions of short-lived objects (SQLite's row tuples, page lists,
    bytes) that hold no cycles, so reference counting frees them all; the collector,
    which runs every 700 allocations, only re-walks the ever larger heap (reading the
    mirror back takes twice as long with it on). It is restored as it was, after."""
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


INLINE_BELOW = 256  # rows: a small part (a commit's records) is cheaper without the thread hop


class MirrorWriter:
    """Writes a download's pages to the store's mirror in a thread, in order.

    Pages that arrive while it writes go in together, in one transaction: a network faster
    than SQLite never waits for it, and a big download is written in few transactions
    (each commit rewrites the mirror's index pages it touched; on 1,000,000 records,
    committing every 5,000 took 18.5 s of CPU, every 200,000 9.7 s). Notes of records that
    failed (:meth:`notes`) are written after the rows they are about. ``backlog`` bounds
    the rows waiting: :meth:`rows` waits while more are queued. A write error comes out of
    the next :meth:`rows` and out of the ``with`` block, which returns only when every
    page given is in the mirror, however the read ended (a 412 midway, an interrupt)."""

    def __init__(self, store: Store, collection: str, backlog: int = 200_000) -> None:
        self.store = store
        self.collection = collection
        self.backlog = backlog
        self._items: list[tuple[str, BSOColumns, Any]] = []
        self._queued = 0
        self._closing = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="synctools-mirror", daemon=True)
        self._thread.start()

    def rows(self, env: BSOColumns) -> None:
        """Mirror a page as the server sent it (its malformed envelopes' errors included)."""
        with self._cond:
            while self._queued >= self.backlog and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            self._items.append(("rows", env, None))
            self._queued += len(env)
            self._cond.notify_all()

    def notes(self, env: BSOColumns, errors: list[CryptoError | None]) -> None:
        """Say why records of a page mirrored already failed (on the very version stored)."""
        with self._cond:
            self._items.append(("notes", env, errors))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
                items, self._items = self._items, []
                self._queued = 0
                self._cond.notify_all()
            try:
                self._write(items)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return

    def _write(self, items: list[tuple[str, BSOColumns, Any]]) -> None:
        run: list[BSOColumns] = []
        for kind, env, errors in [*items, ("end", BSOColumns.empty(), None)]:
            if kind == "rows":
                run.append(env)
                continue
            if run:  # consecutive pages: one transaction
                self.store.upsert_mirror_columns(self.collection, BSOColumns.concat(run))
                run = []
            if kind == "notes":
                self.store.set_mirror_errors(self.collection, env, errors)

    def __enter__(self) -> MirrorWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error


def mirror_behind(pages: Iterator[Any], writer: MirrorWriter) -> Iterator[Any]:
    """Each page of a download handed to the mirror's ``writer`` as it arrives, while the
    next page is requested (see :class:`MirrorWriter`)."""
    for page in pages:
        writer.rows(page.records)
        yield page


class Absorber:
    """Decrypts and parses parts (here and in a worker thread, or in worker processes),
    keeps them in ``view`` in order, and mirrors them (in a writer thread).

    ``mirror``: the :class:`MirrorWriter` that wrote the pages already (a download): notes
    of records that failed go to it, so that they land after their rows. Without one, the
    Absorber writes each part to the mirror itself.

    Use as a context manager; ``failed`` lists every record that failed (decryption or
    cleartext), in order, once it has exited. ``workers`` > 1 sends the parts to that
    many processes once ``PARALLEL_FROM`` records have been put (small reads never pay
    for starting them); a broken pool falls back to this process.
    """

    def __init__(
        self,
        view: CollectionView,
        bundle: KeyBundle,
        engine: Engine,
        *,
        store: Store | None,
        workers: int = 1,
        mirror: MirrorWriter | None = None,
    ) -> None:
        self.view = view
        self.bundle = bundle
        self.engine = engine
        self.store = store
        self.workers = workers
        self.failed: list[CryptoError] = []
        self._pending: deque[tuple[BSOColumns, Future[tuple[Any, list[Any]]]]] = deque()
        self._writes: list[Future[int]] = []
        self._parse: ThreadPoolExecutor | None = None
        self._write: ThreadPoolExecutor | None = None
        self._mirror = mirror
        self._seen = 0

    def __enter__(self) -> Absorber:
        return self

    def put(self, env: BSOColumns) -> None:
        if not len(env):
            return
        self._seen += len(env)
        fut: Future[tuple[Any, list[Any]]] | None = None
        # a part with malformed envelopes (rare) stays in this process: their errors replace
        # what decrypting their payloads gave, before the engine sees them
        if self.workers > 1 and self._seen > _workers.PARALLEL_FROM and env.errors is None:
            try:
                fut = _workers.pool(self.workers).submit(
                    decrypt_and_parse, self.view.name, self.bundle, env.payloads, env.ids
                )
            except (_workers.BrokenProcessPool, RuntimeError):
                _workers.shutdown()
                self.workers = 1
        if fut is None:
            raw = _decrypt(self.bundle, env)
            if len(env) < INLINE_BELOW and not self._pending:
                self._keep(env, self.engine.parse_cleartexts(raw, env.ids))
                return
            if self._parse is None:
                self._parse = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synctools-parse")
            fut = self._parse.submit(self.engine.parse_cleartexts, raw, env.ids)
        self._pending.append((env, fut))
        while self._pending and (self._pending[0][1].done() or len(self._pending) > 2 * self.workers + 2):
            self._take()

    def _take(self) -> None:
        env, fut = self._pending.popleft()
        try:
            done = fut.result()
        except _workers.BrokenProcessPool:  # a worker died (out of memory?): do it here
            _workers.shutdown()
            self.workers = 1
            done = self.engine.parse_cleartexts(_decrypt(self.bundle, env), env.ids)
        self._keep(env, done)

    def _keep(self, env: BSOColumns, done: tuple[Any, list[Any]]) -> None:
        parsed, errors = done
        self.view.add_part(env, self.bundle, parsed, errors)
        self.failed.extend(e for e in errors if e is not None)
        if self.store is None:
            return
        if self._mirror is not None:  # the pages are in the mirror already
            if any(e is not None for e in errors):  # rare: say why, after the rows
                self._mirror.notes(env, errors)
            return
        if self._write is None:
            self._write = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synctools-mirror")
        self._writes.append(self._write.submit(self.store.upsert_mirror_columns, self.view.name, env, errors))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        first: BaseException | None = None
        try:
            while self._pending:  # keep every part read, even on the way out of an error
                try:
                    self._take()
                except BaseException as err:  # noqa: BLE001 - the first one is raised below
                    first = first or err
            for w in self._writes:  # the mirror holds every part kept before we return
                try:
                    w.result()
                except BaseException as err:  # noqa: BLE001
                    first = first or err
        finally:
            for pool in (self._parse, self._write):
                if pool is not None:
                    pool.shutdown(wait=True)
        if first is not None and exc is None:
            raise first


def _decrypt(bundle: KeyBundle, env: BSOColumns) -> list[Any]:
    """``decrypt_many(raw=True)`` of a part, each malformed envelope's error in its row:
    the server sent that record broken, so that is its error (as the checked path says),
    whatever its payload decrypts to."""
    raw = decrypt_many(bundle, env.payloads, env.ids, raw=True)
    if env.errors is not None:
        raw = [r if e is None else e for r, e in zip(raw, env.errors)]
    return raw
