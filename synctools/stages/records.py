"""Stage 3 and what follows it: download, the decrypted records and their frames,
staging edits, and the three-way merge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from .. import net
from ..plan import Conflict, mask
from ..protocol.bso import BSO, ServerTime, valid_collection_name
from ..protocol.crypto import CryptoError, decrypt_many
from ..results import (
    DownloadResult,
    MergeResult,
    StageResult,
)
from ..states import (
    SETUP_COLLECTIONS,
    S,
    StageOrderError,
    SyncError,
)
from ..store import StagedChange
from .base import SyncBase


class RecordStages(SyncBase):
    def download(self, collections: Iterable[str] | None = None) -> DownloadResult:
        """3: for each collection, read what is newer than the last sync (paged), decrypt
        it into the local store, and keep every record's error."""
        started = self._enter("download")
        assert self.storage is not None and self.store is not None
        result = DownloadResult("download", self.state.value)
        try:  # one cheap request, so "nothing new" is never read off a stale info/collections
            self.info_collections = self._call(self.storage.info_collections)
        except net.NotFound:
            self.info_collections = {}
        if isinstance(collections, str):
            collections = [collections]
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
        if coll not in self._seen:
            self._load_from_store(coll)
        # newer than what THIS object has seen: another Sync on the same store may have
        # moved the store on, but our records (and the guard of our writes) are ours
        newer = self._seen.get(coll, ServerTime(0))
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
            self._seen[coll] = reader.last_modified
        row["errors"] = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))
        row["total"] = len(self._records.get(coll, {})) + len(self._errors.get(coll, {}))
        row["seconds"] = round(time.perf_counter() - t0, 3)
        return row

    def _keep(self, coll: str, bsos: list[BSO]) -> list[CryptoError | None]:
        """Decrypt server records and hold them in memory: each record's cleartext or
        its error (a newer version replaces the other), and its envelope."""
        results = decrypt_many(self._bundle(coll), [b.payload for b in bsos], [b.id for b in bsos])
        recs = self._records.setdefault(coll, {})
        errs = self._errors.setdefault(coll, {})
        errors: list[CryptoError | None] = []
        for b, r in zip(bsos, results):
            if isinstance(r, CryptoError):
                errs[b.id] = r
                recs.pop(b.id, None)
                errors.append(r)
            else:
                recs[b.id] = r
                errs.pop(b.id, None)
                errors.append(None)
        self._envelopes.setdefault(coll, {}).update({b.id: b for b in bsos})
        return errors

    def _absorb(self, coll: str, bsos: list[BSO]) -> list[CryptoError]:
        """Keep records just read from the server, and write them to the mirror."""
        assert self.store is not None
        errors = self._keep(coll, bsos)
        self.store.upsert_mirror(coll, list(zip(bsos, errors)))
        return [e for e in errors if e is not None]

    def _load_from_store(self, coll: str) -> None:
        """After a kernel restart: decrypt the mirror again (nothing is fetched)."""
        assert self.store is not None
        # the guard first, then the rows: if another Sync moves the store on in between,
        # our guard is older than our rows (a needless 412), never newer (an overwrite)
        self._seen[coll] = self.store.last_sync(coll)
        mirror = self.store.mirror(coll)
        if mirror:
            self._keep(coll, [m.bso for m in mirror])

    def records(self, collection: str) -> dict[str, dict[str, Any]]:
        """The decrypted records of a downloaded collection, by id (read-only view)."""
        if collection not in self._records and self.store is not None and self.collection_keys is not None:
            self._load_from_store(collection)
        return dict(self._records.get(collection, {}))

    def envelope(self, collection: str, record_id: str) -> BSO | None:
        """The record's server envelope as last seen (id, modified, sortindex, ttl, payload)."""
        return self._envelopes.get(collection, {}).get(record_id)

    def errors(self, collection: str | None = None, *, validate: bool = False) -> pd.DataFrame:
        """Every record that failed to decrypt, with why. ``validate=True`` also builds
        each collection's frame and adds the records whose cleartext breaks the
        collection's record shape (reason ``bad-record``), as the frames show them."""
        rows = [
            {"collection": c, "id": rid, "reason": e.reason, "error": str(e)}
            for c, errs in sorted(self._errors.items())
            if collection in (None, c)
            for rid, e in sorted(errs.items())
        ]
        if validate:
            for c in sorted(self._records):
                if collection not in (None, c):
                    continue
                df = self.frame(c)
                bad = df[df["error"].notna() & ~df["id"].isin(list(self._errors.get(c, {})))]
                rows += [{"collection": c, "id": r.id, "reason": "bad-record", "error": r.error} for r in bad.itertuples()]
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
        from .. import frames

        if name not in self._envelopes and name not in self._records and name not in self._errors:
            known = sorted(set(self._envelopes) | set(self._records)) or ["none yet"]
            raise KeyError(f"{name!r} was not downloaded (downloaded: {', '.join(known)}): run sync.download([{name!r}])")
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

    def _stage(self, change: StagedChange) -> StagedChange:
        if self.store is None:
            raise StageOrderError("staging needs the local store: run sync.authenticate() first")
        if not valid_collection_name(change.collection) or change.collection in SETUP_COLLECTIONS:
            raise ValueError(
                f"cannot stage into {change.collection!r}: a collection name is 1-32 of [a-zA-Z0-9._-],"
                " and meta/crypto change only through their own plans"
            )
        self.store.stage(change)
        self._generation += 1
        if self.state in (S.PLANNED, S.COMMITTED):
            self.state = S.DOWNLOADED  # the plan no longer covers every staged change: merge again
        return change

    def edit(self, collection: str, record_id: str, changes: Mapping[str, Any]) -> StagedChange:
        """Stage an edit: ``changes`` are merged into the record's fields."""
        staged = {c.id: c for c in self.store.staged(collection)} if self.store else {}
        prior = staged.get(record_id)
        if prior is not None and prior.record is not None and prior.kind != "delete":
            base_rec, base = prior.record, prior.base_modified
        elif prior is not None and prior.kind == "delete":  # editing after a staged delete: undelete
            server = self._records.get(collection, {}).get(record_id, {"id": record_id})
            base_rec = {k: v for k, v in server.items() if k != "deleted"}
            base = prior.base_modified
        else:
            base_rec, base = self.record(collection, record_id), self._base(collection, record_id)
        new = {**base_rec, **dict(changes), "id": record_id}
        env = self._envelopes.get(collection, {}).get(record_id)
        if prior is not None:  # editing a staged change keeps what it is (an add stays an add)
            kind, sortindex, ttl = ("add" if prior.kind == "add" else "edit"), prior.sortindex, prior.ttl
        else:
            kind, sortindex, ttl = "edit", env.sortindex if env else None, env.ttl if env else None
        return self._stage(StagedChange(collection, record_id, kind, new, base, sortindex, ttl))

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
        self._need_store("discard")
        assert self.store is not None
        n = self.store.unstage(collection, record_id)
        self._generation += 1
        return n

    def staged(self) -> pd.DataFrame:
        """The staged changes awaiting review (secret fields masked)."""
        self._need_store("staged")
        assert self.store is not None
        rows = [
            {"collection": c.collection, "id": c.id, "kind": c.kind, "staged against": str(c.base_modified),
             "record": json.dumps(mask(c.collection, c.record))[:200] if c.record else "(raw restore)"}
            for c in self.store.staged()
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["collection", "id", "kind", "staged against", "record"])

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
        staged = next((c for c in self.store.staged(collection) if c.id == record_id), None)
        if keep == "server" or staged is None:
            self.store.unstage(collection, record_id)
        elif keep == "local":  # the same change, now on top of the server's version
            self.store.stage(replace(staged, base_modified=conflict.server_modified, staged_at=0.0))
        elif isinstance(keep, Mapping):  # fields merged by hand onto the server's version
            record = {**(conflict.server or {}), **dict(keep), "id": record_id}
            kind = "delete" if record.get("deleted") else "edit"
            self.store.stage(StagedChange(collection, record_id, kind, record, conflict.server_modified,
                                          staged.sortindex, staged.ttl))  # fmt: skip
        else:
            raise ValueError("keep must be 'local', 'server' or a dict of fields to merge onto the server's version")
        self._conflicts.remove(conflict)
        self._generation += 1
        if self.state in (S.PLANNED, S.COMMITTED):
            self.state = S.MERGED
