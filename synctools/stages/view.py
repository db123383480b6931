"""Stage 3, download, and what a sync knows of each collection: one
:class:`CollectionView` per collection (each record's server envelope and its error, if
it failed, and the timestamp that guards writes), read by ``records``, ``errors`` and the
frames.

A view holds records as *parts*: each page a download read, each set of records a commit
wrote, each slice of the local store's mirror after a restart. A part keeps its envelopes
as columns (:class:`~synctools.protocol._columns.BSOColumns`) and what the collection's
engine parsed from its cleartexts (history: Arrow columns, no Python object per record or
visit), so the frames are assembled from parts already parsed, once per version of the
view. Cleartext dicts are not kept: ``records`` decrypts again on demand (one record, or
all of them in bulk), which costs little and keeps a million-record view within a few
times its payload bytes. See docs/dataframes.md, "Speed and memory".
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .. import engines, net
from .._threads import prefetch
from ..engines import Frames, _workers
from ..engines.base import Part, live_env
from ..protocol._columns import NO_TIME, BSOColumns
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CryptoError, KeyBundle, decrypt_many
from ..results import DownloadResult
from ..states import SETUP_COLLECTIONS, Event, SyncError
from ._pipeline import Absorber, MirrorWriter, gc_paused, mirror_behind
from .core import Core

#: how far a collection's X-Last-Modified may run ahead of the server's X-Weave-Timestamp:
#: servers give each write a time strictly after the last (``max(now, last + 0.01)``), so a
#: burst of writes runs ahead of the clock by 10 ms a write; a time further ahead is corrupt
GUARD_SLACK = ServerTime(500)
#: records per part when the mirror is read back (Arrow parses big parts best)
STORE_PART = 16384


@dataclass
class CollectionView:
    """What this sync knows of one collection, as one thing.

    ``seen`` is the server time this view reflects: the ``X-If-Unmodified-Since`` of any
    write to the collection (never the shared store's: another Sync on the same store
    must not lend it a newer guard). ``version`` changes with every change to the
    records, so frames built from the view are reused until then.
    """

    name: str
    seen: ServerTime = field(default_factory=lambda: ServerTime(0))
    errors: dict[str, CryptoError] = field(default_factory=dict)
    version: int = 0
    read: bool = False  # downloaded by this sync, or found in the local store's mirror
    parts: list[Part] = field(default_factory=list, repr=False)
    _bundles: list[KeyBundle] = field(default_factory=list, repr=False)  # the key of each part
    _starts: list[int] = field(default_factory=list, repr=False)  # each part's first row number
    _where: dict[str, int] = field(default_factory=dict, repr=False)  # record id -> its live row
    _rows: int = 0
    _frames: dict[bool, Frames] = field(default_factory=dict, repr=False)
    _frames_version: int = -1

    # ------------------------------------------------------------------ keeping
    def add_part(self, env: BSOColumns, bundle: KeyBundle, parsed: Any, errors: list[CryptoError | None]) -> None:
        """Keep records read together; each replaces any older version of its record (and
        within the part, the last of several with one id wins, as in the mirror)."""
        n = len(env)
        if not n:
            return
        start = self._rows
        where = self._where
        own = np.arange(start, start + n, dtype=np.int64)
        fresh = where.keys().isdisjoint(env.ids)  # the common case: no id seen before
        before: list[int | None] = [] if fresh else list(map(where.get, env.ids))
        had = len(where)
        where.update(zip(env.ids, range(start, start + n)))
        if fresh and len(where) - had == n:  # and no id twice in the part: every row is live
            live = np.ones(n, dtype=bool)
        else:
            live = np.fromiter(map(where.__getitem__, env.ids), np.int64, n) == own
        key = own.copy()
        old = [(i, r) for i, r in enumerate(before) if r is not None]
        if old:  # a newer version takes the place of the one it replaces
            at = np.fromiter((r for _i, r in old), np.int64, len(old))
            key[[i for i, _r in old]] = self._keys_of(at)
            self._kill(at)
        if len(where) - had != n - len(old):  # one id twice in the part: the last wins, at the first's place
            first: dict[str, int] = {}
            for i, rid in enumerate(env.ids):
                first.setdefault(rid, int(key[i]))
            key = np.fromiter((first[rid] for rid in env.ids), np.int64, n)
        self.parts.append(Part(env, parsed, live, key))
        self._bundles.append(bundle)
        self._starts.append(start)
        self._rows += n
        errs = self.errors
        if errs:  # a newer version clears an old error; the part's own errors follow
            for rid in list(filter(errs.__contains__, env.ids)):
                del errs[rid]
        for i in [i for i, e in enumerate(errors) if e is not None]:
            if live[i]:
                errs[env.ids[i]] = errors[i]  # type: ignore[assignment]
        self.version += 1

    def _keys_of(self, at: np.ndarray) -> np.ndarray:
        """The frame places (keys) of rows ``at``."""
        which = np.searchsorted(np.asarray(self._starts, dtype=np.int64), at, side="right") - 1
        out = np.empty(len(at), dtype=np.int64)
        for k in np.unique(which).tolist():
            sel = which == k
            key = self.parts[k].key
            assert key is not None
            out[sel] = key[at[sel] - self._starts[k]]
        return out

    def _kill(self, at: np.ndarray) -> None:
        """Mark older rows dead; empty a part whose every row is dead (its payloads go)."""
        which = np.searchsorted(np.asarray(self._starts, dtype=np.int64), at, side="right") - 1
        for k in np.unique(which).tolist():
            part = self.parts[k]
            part.live[at[which == k] - self._starts[k]] = False
            if not part.live.any():
                empty = np.zeros(0, dtype=bool)
                self.parts[k] = Part(BSOColumns.empty(), None, empty, np.zeros(0, dtype=np.int64))

    def _locate(self, record_id: str) -> tuple[int, int] | None:
        row = self._where.get(record_id)
        if row is None:
            return None
        k = bisect.bisect_right(self._starts, row) - 1
        return k, row - self._starts[k]

    # ------------------------------------------------------------------ reading
    def envelope(self, record_id: str) -> BSO | None:
        at = self._locate(record_id)
        return None if at is None else self.parts[at[0]].env.bso(at[1])

    def base(self, record_id: str) -> ServerTime | None:
        """The server version of a record this view holds (what an edit is made against)."""
        at = self._locate(record_id)
        if at is None:
            return None
        m = int(self.parts[at[0]].env.modified[at[1]])
        return None if m == NO_TIME else ServerTime(m)

    def modified(self) -> np.ndarray:
        """Every record's server time (int64 hundredths of a second; -1 when unknown)."""
        got = [part.env.modified if rows is None else part.env.modified[rows] for part, _b, rows in self.live_parts()]
        return np.concatenate(got) if got else np.zeros(0, dtype=np.int64)

    @property
    def envelopes(self) -> Mapping[str, BSO]:
        """Every record's envelope by id (BSOs built on access)."""
        return _Envelopes(self)

    @property
    def records(self) -> RecordsView:
        """Every record that decrypted, by id: a read-only mapping that decrypts on access."""
        return RecordsView(self)

    @property
    def total(self) -> int:
        return len(self._where)

    def live_parts(self) -> Iterator[tuple[Part, KeyBundle, np.ndarray | None]]:
        for part, bundle in zip(self.parts, self._bundles):
            if len(part.env):
                yield part, bundle, part.live_rows()

    def frames(self, reveal: bool) -> Frames:
        """Every frame of the collection, built once per version of the view."""
        if self._frames_version != self.version:
            self._frames.clear()
            self._frames_version = self.version
        if reveal not in self._frames:
            engine = engines.get(self.name)
            parts = [p for p in self.parts if len(p.env)]
            built = self._frames[reveal] = engine.assemble(parts, reveal=reveal)
            self._compact(engine, parts, built)
        return self._frames[reveal]

    def _compact(self, engine: engines.Engine, parts: list[Part], built: Frames) -> None:
        """Stand one part, sharing the frames' memory, for all the parts they came from
        (same records, same order, same keys from here on): a big collection then holds
        its parse once. Only where the engine can (history), and the parts share a key."""
        if len(parts) < 2 and all(p.live.all() for p in parts):
            return
        bundles = {id(b) for p, b in zip(self.parts, self._bundles) if len(p.env)}
        if len(bundles) != 1:
            return
        parsed = engine.compact(built)
        if parsed is None:
            return
        env = live_env(parts)
        n = len(env)
        bundle = next(b for p, b in zip(self.parts, self._bundles) if len(p.env))
        self.parts = [Part(env, parsed, np.ones(n, dtype=bool), np.arange(n, dtype=np.int64))]
        self._bundles = [bundle]
        self._starts = [0]
        self._rows = n
        self._where.update(zip(env.ids, range(n)))  # in place: a million ids need no second dict


class _Envelopes(Mapping[str, BSO]):
    def __init__(self, view: CollectionView) -> None:
        self._view = view

    def __getitem__(self, record_id: str) -> BSO:
        env = self._view.envelope(record_id)
        if env is None:
            raise KeyError(record_id)
        return env

    def __iter__(self) -> Iterator[str]:
        return iter(self._view._where)

    def __len__(self) -> int:
        return len(self._view._where)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._view._where

    def values(self) -> Iterator[BSO]:  # type: ignore[override]
        for part, _bundle, rows in self._view.live_parts():
            for i in range(len(part.env)) if rows is None else rows.tolist():
                yield part.env.bso(i)


class RecordsView(Mapping[str, dict[str, Any]]):
    """The records of a view that decrypted, by id, in the order first read. Each access
    decrypts again, so every value is a fresh dict (changing it changes nothing held);
    :meth:`to_dict` decrypts them all in bulk."""

    def __init__(self, view: CollectionView) -> None:
        self._view = view

    def __getitem__(self, record_id: str) -> dict[str, Any]:
        view = self._view
        at = view._locate(record_id)
        if at is None or record_id in view.errors:
            raise KeyError(record_id)
        env = view.parts[at[0]].env
        got = decrypt_many(view._bundles[at[0]], [env.payloads[at[1]]], [record_id])[0]
        if isinstance(got, CryptoError):  # it decrypted when read: the same bytes must again
            raise SyncError(f"{view.name}/{record_id} no longer decrypts: {got}")
        return got  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        errors = self._view.errors
        return iter([r for r in self._view._where if r not in errors]) if errors else iter(self._view._where)

    def __len__(self) -> int:
        return len(self._view._where) - len(self._view.errors)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._view._where and record_id not in self._view.errors

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every record, decrypted in bulk (one pass per part)."""
        got: dict[str, dict[str, Any]] = {}
        for part, bundle, rows in self._view.live_parts():
            env = part.env if rows is None else part.env.take(rows)
            for rid, rec in zip(env.ids, decrypt_many(bundle, env.payloads, env.ids)):
                if not isinstance(rec, CryptoError):
                    got[rid] = rec
        return {rid: got[rid] for rid in self if rid in got}


class LocalView:
    """The collections this sync read (from the server or, after a restart, from the
    local store's mirror), and stage 3 that reads them."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.views: dict[str, CollectionView] = {}
        core.on_forget(self.forget)

    def forget(self, collection: str | None) -> None:
        if collection is None:
            self.views.clear()
        else:
            self.views.pop(collection, None)

    def view(self, collection: str) -> CollectionView:
        """The view of ``collection``, loaded from the local store's mirror the first time
        (a kernel restart costs a decrypt, never a download)."""
        view = self.views.get(collection)
        if view is None:
            view = self.views[collection] = self._load_from_store(collection)
        return view

    def known(self) -> list[str]:
        return sorted(self.views)

    # ------------------------------------------------------------------ 3 download
    def download(self, collections: Iterable[str] | str | None = None) -> DownloadResult:
        """3: for each collection, read what is newer than the last sync (paged), decrypt
        it into the local store, and keep every record's error."""
        core = self.core
        started = core.begin(Event.DOWNLOAD)
        storage = core.need_storage("download")
        result = DownloadResult("download", core.state.value)
        try:  # one cheap request, so "nothing new" is never read off a stale info/collections
            info = core.call(storage.info_collections)
        except net.NotFound:
            info = {}
        core.setup = replace(core.setup, info_collections=info, info_modified=storage.info_last_modified)
        if isinstance(collections, str):
            collections = [collections]
        names = (
            list(collections) if collections is not None else [c for c in sorted(info) if c not in SETUP_COLLECTIONS]
        )
        for coll in names:
            result.collections.append(self._download_one(coll, result))
        core.take_notes(result)
        return core.finish(Event.DOWNLOAD, result, started)

    def _download_one(self, coll: str, result: DownloadResult) -> dict[str, Any]:
        core = self.core
        storage = core.need_storage("download")
        store = core.need_store("download")
        t0 = time.perf_counter()
        view = self.view(coll)
        view.read = True
        # newer than what THIS object has seen: another Sync on the same store may have
        # moved the store on, but our records (and the guard of our writes) are ours
        newer = view.seen
        server_ts = core.setup.info_collections.get(coll)
        row: dict[str, Any] = {"collection": coll, "downloaded": 0, "failed": 0, "pages": 0,
                               "errors": "", "newer": str(newer)}  # fmt: skip
        if server_ts is not None and server_ts <= newer:
            row.update(total=view.total, seconds=0.0)
            return row
        reader = storage.iter_collection(
            coll, newer=newer if newer else None, full=True, sort="oldest", limit=core.options.page_size,
            progress=core.options.progress, total=None, columns=True,
        )  # fmt: skip
        reasons: dict[str, int] = {}
        # The next page is read (and its JSON parsed) in a thread while this one decrypts
        # here; the mirror's writer and the engine's parse run in two more: see
        # stages/_pipeline.py. Every page read is in the mirror when the read ends.
        writer = MirrorWriter(store, coll)
        absorber = Absorber(view, self.core.setup.bundle(coll), engines.get(coll), store=store,
                            workers=self._workers(), mirror=writer)  # fmt: skip
        changed: net.CollectionChanged | None = None

        def read_all() -> None:
            nonlocal changed
            # Leaving this block waits for every page's parse and mirror write, so a node
            # move (which core.call turns into a reset of the mirror) comes after them.
            with gc_paused(), writer, absorber, prefetch(mirror_behind(reader.pages(), writer)) as pages:
                try:
                    for page in pages:
                        row["pages"] += 1
                        row["downloaded"] += len(page.records)
                        absorber.put(page.records)
                except net.CollectionChanged as exc:
                    changed = exc

        core.call(read_all)
        for err in absorber.failed:
            reasons[err.reason] = reasons.get(err.reason, 0) + 1
        row["failed"] = len(absorber.failed)
        if changed is not None:
            result.warnings.append(f"{coll}: {changed}; run download() again to read a consistent view")
            row["errors"] = "changed during read"
            return row
        guard = reader.last_modified
        if guard is not None:
            why = self.insane_guard(coll, guard)
            if why is None:
                store.set_last_sync(coll, guard)
                view.seen = guard
            else:
                result.warnings.append(f"{coll}: {why}; the records read are kept, but no write will be"
                                       " guarded by that time: download again before writing")  # fmt: skip
                reasons["impossible X-Last-Modified"] = 1
        row["errors"] = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
        row["total"] = view.total
        row["seconds"] = round(time.perf_counter() - t0, 3)
        return row

    def _workers(self) -> int:
        """Processes for reading a big collection (the Absorber starts them only once a
        read passes ``PARALLEL_FROM`` records)."""
        chosen = self.core.options.workers
        return chosen if chosen is not None else _workers.allowed_workers()

    def insane_guard(self, coll: str, when: ServerTime) -> str | None:
        """Why a server time must not guard writes to ``coll`` (None: it may). A guard is
        sane when it is not after the server's own clock (X-Weave-Timestamp of the same
        exchange) and not before what this view already saw of the collection."""
        storage = self.core.storage
        now = storage.server_time if storage is not None else None
        if now is not None and when > now + GUARD_SLACK:
            return f"the server answered X-Last-Modified {when}, after its own time {now}"
        seen = self.views[coll].seen if coll in self.views else ServerTime(0)
        if when < seen:
            return f"the server answered X-Last-Modified {when}, before {seen} already seen for {coll}"
        return None

    def absorb(self, coll: str, bsos: list[BSO]) -> list[CryptoError]:
        """Keep records just read from (or written to) the server, and mirror them."""
        store = self.core.need_store("download")
        absorber = Absorber(self.view(coll), self.core.setup.bundle(coll), engines.get(coll), store=store)
        with absorber:
            absorber.put(BSOColumns.from_bsos(bsos))
        return absorber.failed

    def _load_from_store(self, coll: str) -> CollectionView:
        """After a kernel restart: decrypt the mirror again (nothing is fetched), in big
        parts read from SQLite in a thread while the previous one decrypts."""
        store = self.core.store
        # the guard first, then the rows: if another Sync moves the store on in between,
        # our guard is older than our rows (a needless 412), never newer (an overwrite)
        view = CollectionView(coll, seen=store.last_sync(coll) if store is not None else ServerTime(0))
        if store is not None and self.core.setup.collection_keys is not None:
            absorber = Absorber(view, self.core.setup.bundle(coll), engines.get(coll), store=None,
                                workers=self._workers())  # fmt: skip
            mirror = store.mirror_columns(coll, STORE_PART, envelope_error=net.answers.envelope_error)
            with gc_paused(), absorber, prefetch(mirror) as parts:
                for env in parts:
                    absorber.put(env)
            view.read = view.total > 0
        return view

    # ------------------------------------------------------------------ reading
    def _held(self, collection: str) -> CollectionView | None:
        view = self.views.get(collection)
        if view is None and self.core.store is not None and self.core.setup.collection_keys is not None:
            view = self.view(collection)
        return view

    def records(self, collection: str) -> Mapping[str, dict[str, Any]]:
        """The records of ``collection`` that decrypted (read-only; decrypted on access)."""
        view = self._held(collection)
        return view.records if view is not None else {}

    def records_dict(self, collection: str) -> dict[str, dict[str, Any]]:
        """The records of ``collection`` that decrypted, as a dict (decrypted in bulk)."""
        view = self._held(collection)
        return view.records.to_dict() if view is not None else {}

    def record(self, collection: str, record_id: str) -> dict[str, Any]:
        view = self.views.get(collection)
        if view is not None and record_id in view.records:
            return view.records[record_id]
        err = view.errors.get(record_id) if view is not None else None
        if err is not None:
            raise SyncError(f"{collection}/{record_id} did not decrypt: {err}")
        raise KeyError(f"no record {collection}/{record_id} was downloaded")

    def envelopes(self, collection: str) -> dict[str, BSO]:
        view = self._held(collection)
        return dict(view.envelopes) if view is not None else {}

    def envelope(self, collection: str, record_id: str) -> BSO | None:
        view = self.views.get(collection)
        return view.envelope(record_id) if view is not None else None

    def base(self, collection: str, record_id: str) -> ServerTime | None:
        view = self.views.get(collection)
        return view.base(record_id) if view is not None else None

    def downloaded(self) -> list[str]:
        """Collections read by this sync, or held in the local store's mirror (after a
        restart, their frames come from the mirror, without a download)."""
        names = {n for n, v in self.views.items() if v.read}
        store = self.core.store
        if store is not None and self.core.setup.collection_keys is not None:
            names |= {n for n in store.mirror_collections() if n not in self.views and n not in SETUP_COLLECTIONS}
        return sorted(names)

    def errors(self, collection: str | None = None, *, validate: bool = False) -> pd.DataFrame:
        rows = [
            {"collection": c, "id": rid, "reason": e.reason, "error": str(e)}
            for c, view in sorted(self.views.items())
            if collection in (None, c)
            for rid, e in sorted(view.errors.items())
        ]
        if validate:
            for c, view in sorted(self.views.items()):
                if collection not in (None, c) or not len(view.records):
                    continue
                df = view.frames(False).main
                bad = df[df["error"].notna() & ~df["id"].isin(list(view.errors))]
                rows += [{"collection": c, "id": r.id, "reason": "bad-record", "error": r.error}
                         for r in bad.itertuples()]  # fmt: skip
        return pd.DataFrame(rows, columns=["collection", "id", "reason", "error"])

    def collection_frames(self, name: str, *, reveal: bool = False) -> Frames:
        """The collection's frames: built once per version of its view, and handed out as
        shallow copies (copy-on-write), so a caller's changes never reach the next caller."""
        view = self._held(name)
        if view is None or not view.read:
            known = self.downloaded() or ["none yet"]
            raise KeyError(
                f"{name!r} was not downloaded (downloaded: {', '.join(known)}): run sync.download([{name!r}])"
            )
        built = view.frames(reveal)
        return Frames(built.collection, built.main.copy(deep=False),
                      {k: df.copy(deep=False) for k, df in built.companions.items()}, built.tree)  # fmt: skip
