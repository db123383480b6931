"""Stage 3, download, and what a sync knows of each collection: one
:class:`CollectionView` per collection (each record's server envelope and its cleartext
or its error, and the timestamp that guards writes), read by ``records``, ``errors`` and
the frames."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from .. import net
from ..engines import Frames
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CryptoError, decrypt_many
from ..results import DownloadResult
from ..states import SETUP_COLLECTIONS, Event, SyncError
from .core import Core

#: how far a collection's X-Last-Modified may run ahead of the server's X-Weave-Timestamp:
#: servers give each write a time strictly after the last (``max(now, last + 0.01)``), so a
#: burst of writes runs ahead of the clock by 10 ms a write; a time further ahead is corrupt
GUARD_SLACK = ServerTime(500)


@dataclass
class CollectionView:
    """What this sync knows of one collection, as one thing.

    ``seen`` is the server time this view reflects: the ``X-If-Unmodified-Since`` of any
    write to the collection (never the shared store's: another Sync on the same store
    must not lend it a newer guard). ``version`` changes with every change, so frames
    built from the view are reused until then.
    """

    name: str
    seen: ServerTime = field(default_factory=lambda: ServerTime(0))
    envelopes: dict[str, BSO] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, CryptoError] = field(default_factory=dict)
    version: int = 0
    read: bool = False  # downloaded by this sync, or found in the local store's mirror
    _frames: dict[bool, Frames] = field(default_factory=dict, repr=False)
    _frames_version: int = -1

    def keep(self, bsos: list[BSO], results: list[dict[str, Any] | CryptoError]) -> list[CryptoError | None]:
        """Each record's cleartext or its error (a newer version replaces the other), and
        its envelope."""
        errors: list[CryptoError | None] = []
        for b, r in zip(bsos, results):
            if isinstance(b, net.MalformedBSO) and b.error is not None:
                r = b.error  # the server sent its envelope malformed: that is its error
            if isinstance(r, CryptoError):
                self.errors[b.id] = r
                self.records.pop(b.id, None)
                errors.append(r)
            else:
                self.records[b.id] = r
                self.errors.pop(b.id, None)
                errors.append(None)
            self.envelopes[b.id] = b
        self.version += 1
        return errors

    def base(self, record_id: str) -> ServerTime | None:
        """The server version of a record this view holds (what an edit is made against)."""
        env = self.envelopes.get(record_id)
        return env.modified if env is not None else None

    @property
    def total(self) -> int:
        return len(self.records) + len(self.errors)

    def frames(self, reveal: bool) -> Frames:
        """Every frame of the collection, built once per version of the view."""
        from .. import frames

        if self._frames_version != self.version:
            self._frames.clear()
            self._frames_version = self.version
        if reveal not in self._frames:
            ids = [*self.records, *self.errors]
            items: list[Any] = [*self.records.values(), *self.errors.values()]
            envelopes = [self.envelopes.get(rid) for rid in ids]
            self._frames[reveal] = frames.frames_from_records(self.name, items, envelopes=envelopes, reveal=reveal)
        return self._frames[reveal]


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
        names = list(collections) if collections is not None else [c for c in sorted(info) if c not in SETUP_COLLECTIONS]
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
            progress=core.options.progress, total=None,
        )  # fmt: skip
        reasons: dict[str, int] = {}

        def read() -> None:  # page by page: each is decrypted and stored as it arrives
            for page in reader.pages():
                row["pages"] += 1
                failed = self.absorb(coll, page.records)
                for err in failed:
                    reasons[err.reason] = reasons.get(err.reason, 0) + 1
                row["downloaded"] += len(page.records)
                row["failed"] += len(failed)

        try:  # core.call around the whole read: a node move on page 5 is one too
            core.call(read)
        except net.CollectionChanged as exc:
            result.warnings.append(f"{coll}: {exc}; run download() again to read a consistent view")
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
        results = decrypt_many(self.core.setup.bundle(coll), [b.payload for b in bsos], [b.id for b in bsos])
        errors = self.view(coll).keep(bsos, results)
        store.upsert_mirror(coll, list(zip(bsos, errors)))
        return [e for e in errors if e is not None]

    def _load_from_store(self, coll: str) -> CollectionView:
        """After a kernel restart: decrypt the mirror again (nothing is fetched)."""
        store = self.core.store
        # the guard first, then the rows: if another Sync moves the store on in between,
        # our guard is older than our rows (a needless 412), never newer (an overwrite)
        view = CollectionView(coll, seen=store.last_sync(coll) if store is not None else ServerTime(0))
        if store is not None and self.core.setup.collection_keys is not None:
            mirror = store.mirror(coll)
            if mirror:
                view.read = True
                bsos = [net.answers.from_mirror(m.bso, m.error, m.reason) for m in mirror]
                view.keep(bsos, decrypt_many(self.core.setup.bundle(coll), [b.payload for b in bsos],
                                             [b.id for b in bsos]))  # fmt: skip
        return view

    # ------------------------------------------------------------------ reading
    def _held(self, collection: str) -> CollectionView | None:
        view = self.views.get(collection)
        if view is None and self.core.store is not None and self.core.setup.collection_keys is not None:
            view = self.view(collection)
        return view

    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        view = self._held(collection)
        return dict(view.records) if view is not None else {}

    def record(self, collection: str, record_id: str) -> dict[str, Any]:
        view = self.views.get(collection)
        rec = view.records.get(record_id) if view is not None else None
        if rec is None:
            err = view.errors.get(record_id) if view is not None else None
            if err is not None:
                raise SyncError(f"{collection}/{record_id} did not decrypt: {err}")
            raise KeyError(f"no record {collection}/{record_id} was downloaded")
        return rec

    def envelopes(self, collection: str) -> dict[str, BSO]:
        view = self._held(collection)
        return dict(view.envelopes) if view is not None else {}

    def envelope(self, collection: str, record_id: str) -> BSO | None:
        view = self.views.get(collection)
        return view.envelopes.get(record_id) if view is not None else None

    def base(self, collection: str, record_id: str) -> ServerTime | None:
        view = self.views.get(collection)
        return view.base(record_id) if view is not None else None

    def downloaded(self) -> list[str]:
        return sorted(n for n, v in self.views.items() if v.read)

    def errors(self, collection: str | None = None, *, validate: bool = False) -> pd.DataFrame:
        rows = [
            {"collection": c, "id": rid, "reason": e.reason, "error": str(e)}
            for c, view in sorted(self.views.items())
            if collection in (None, c)
            for rid, e in sorted(view.errors.items())
        ]
        if validate:
            for c, view in sorted(self.views.items()):
                if collection not in (None, c) or not view.records:
                    continue
                df = view.frames(False).main
                bad = df[df["error"].notna() & ~df["id"].isin(list(view.errors))]
                rows += [{"collection": c, "id": r.id, "reason": "bad-record", "error": r.error}
                         for r in bad.itertuples()]  # fmt: skip
        return pd.DataFrame(rows, columns=["collection", "id", "reason", "error"])

    def collection_frames(self, name: str, *, reveal: bool = False) -> Frames:
        view = self.views.get(name)
        if view is None or not view.read:
            known = self.downloaded() or ["none yet"]
            raise KeyError(
                f"{name!r} was not downloaded (downloaded: {', '.join(known)}): run sync.download([{name!r}])"
            )
        return view.frames(reveal)
