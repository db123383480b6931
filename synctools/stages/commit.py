"""Planning and committing uploads (the only writes), meta/global and fresh-start
commits, snapshots and restore."""

from __future__ import annotations

import json
import time
import weakref
from functools import partial
from typing import Any

import pandas as pd

from .. import net
from ..plan import CollectionPlan, PlannedChange, UploadPlan
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError
from ..protocol.metaglobal import MetaGlobal
from ..results import (
    CommitResult,
    StageResult,
)
from ..states import (
    S,
    StageOrderError,
    StalePlanError,
    State,
    SyncError,
)
from ..store import StagedChange
from .records import RecordStages


class CommitStages(RecordStages):
    # Commit needs the record stages: after a 412 it downloads and merges again.

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
                cp = plan.collections[change.collection] = CollectionPlan(
                    change.collection, self._guard(change.collection)
                )
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

    def _guard(self, collection: str) -> ServerTime:
        """X-If-Unmodified-Since for a collection: the timestamp THIS object's view of it
        reflects. A collection the server has but we never read cannot be written: a
        record there could be replaced unseen (and a snapshot would miss it)."""
        seen = self._seen.get(collection)
        if seen is not None:
            return seen
        if collection in self.info_collections:
            raise StageOrderError(
                f"{collection} has records on the server that were not downloaded: run"
                f" sync.download([{collection!r}]) first, so no record there is replaced unseen"
            )
        return ServerTime(0)  # a new collection: it must still not exist when we write

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
            change.collection, change.id, change.kind, before, after, bso, change.base_modified,
            staged_at=change.staged_at,
        )  # fmt: skip

    def commit(self, plan: UploadPlan) -> CommitResult:
        """The only method that writes. Batched POSTs with X-If-Unmodified-Since, atomic
        per collection; on 412 it stops, downloads again, merges again and hands back a
        new plan (``result.new_plan``); nothing the server had is overwritten."""
        if plan.kind == "meta/global":
            result = self._commit_meta_global(plan)
        elif plan.kind == "fresh-start":
            result = self._commit_fresh_start(plan)
        else:
            result = self._commit_records(plan)
        plan._committed(result)  # a review widget showing this plan follows
        return result

    def _commit_records(self, plan: UploadPlan) -> CommitResult:
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
                # batches committed before the 412 (an upload larger than one batch) are written
                done = getattr(exc, "partial", None)
                if done is not None and done.success:
                    result.uploads.append(done)
                    self._after_upload(name, cp, done, result)
                    what = f"{len(done.success)} record(s) of {name} were written by earlier batches; the rest was not"
                else:
                    what = f"nothing of {name} was written"
                if not result.uploads:  # nothing was written: the snapshot holds nothing replaced
                    self.store.drop_snapshot(result.snapshot)
                    result.snapshot = None
                result.status = "conflict"
                result.warnings.append(
                    f"{name}: someone else wrote to the collection (server now {exc.last_modified}, plan made"
                    f" against {cp.if_unmodified_since}); {what}. Downloaded again and"
                    " merged again: review result.new_plan"
                )
                self.state = S.READY
                self.download([name])
                merge = self.merge()
                result.decisions.append(f"re-merged: {len(merge.conflicts)} conflict(s)")
                result.new_plan = self.plan_upload()
                self.results["commit"] = result
                return self._finish("commit", result, started)  # type: ignore[return-value]
            except SyncError:  # the node moved mid-commit: nothing more is written
                if not result.uploads:
                    self.store.drop_snapshot(result.snapshot)
                raise
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
        for c in written:  # only the version planned: a newer edit staged meanwhile stays
            self.store.unstage(name, c.id, staged_at=c.staged_at)
        if modified is not None:
            self.store.set_last_sync(name, modified)
            self._seen[name] = modified
            self.info_collections[name] = modified
        self._generation += 1
        result.decisions.append(f"{name}: {len(written)} record(s) written at {modified}")

    def _commit_meta_global(self, plan: UploadPlan) -> CommitResult:
        started = self._enter_special(
            {S.META_GLOBAL, S.READY, S.DOWNLOADED, S.MERGED, S.PLANNED, S.COMMITTED}, "fetch_meta_global"
        )
        assert self.storage is not None
        storage = self.storage
        result = CommitResult("commit", self.state.value)
        meta: MetaGlobal = plan.special["meta_global"]
        xius = plan.special["if_unmodified_since"]
        try:
            modified = self._call(
                lambda: storage.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=xius)
            )
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
        storage = self.storage
        result = CommitResult("commit", self.state.value)
        meta: MetaGlobal = plan.special["meta_global"]
        keys: CollectionKeys = plan.special["collection_keys"]
        try:  # guarded: a write by anyone since the plan was made stops the wipe
            self._call(lambda: storage.delete_storage(if_unmodified_since=plan.special["if_unmodified_since"]))
        except net.PreconditionFailed as exc:
            result.status = "conflict"
            result.warnings.append(
                f"someone wrote to the server after this fresh-start plan was made (now {exc.last_modified}):"
                " nothing was deleted. Run sync.fetch_info() and review a new plan"
            )
            self.state = S.TOKEN
            return self._finish("commit", result, started)  # type: ignore[return-value]
        result.decisions.append("all server storage deleted (X-Confirm-Delete)")
        self._call(lambda: storage.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=0))
        payload = json.dumps(self.keys.bundle.encrypt(keys.to_cleartext()))
        self._call(lambda: storage.put_record("crypto", BSO("keys", payload), if_unmodified_since=0))
        result.decisions.append("new meta/global and crypto/keys written (X-If-Unmodified-Since: 0)")
        assert self.store is not None
        self.store.reset_all()
        self._forget()
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

    def snapshots(self) -> pd.DataFrame:
        self._need_store("snapshots")
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
