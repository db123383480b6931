"""Planning and committing (the only writes): records, meta/global, a fresh start, one
engine reset; snapshots and restore.

Before anything is written, every payload the commit will write must verify and
decrypt under the crypto/keys the server holds at that moment (one GET): a commit never
writes what nobody can read. Every write carries ``X-If-Unmodified-Since``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import partial

import pandas as pd

from .. import engines, net
from ..plan import CollectionPlan, EngineResetPlan, FreshStartPlan, MetaGlobalPlan, PlannedChange, UploadPlan
from ..protocol.bso import BSO, ServerTime
from ..protocol.crypto import CollectionKeys, CryptoError, decrypt_many
from ..protocol.metaglobal import MetaGlobal
from ..results import CommitResult, StageResult
from ..states import Event, Outcome, StageOrderError, StalePlanError, SyncError, UnreadableWrite
from ..store import SnapshotRecord, StagedChange
from .core import Core
from .setup import SetupPart
from .staging import Staging
from .view import LocalView


class Committer:
    """Plans and commits. ``commit`` of a records plan that meets a 412 ends in the
    CONFLICT outcome (the state rewinds to READY); the :class:`~synctools.Sync` then
    downloads, merges and plans again, each a stage of its own."""

    def __init__(self, core: Core, setup: SetupPart, view: LocalView, staging: Staging) -> None:
        self.core = core
        self.setup = setup
        self.view = view
        self.staging = staging
        self.plan: UploadPlan | None = None  # the current records plan
        core.on_forget(self._drop_plan)

    def _drop_plan(self, _collection: str | None) -> None:
        self.plan = None

    # ------------------------------------------------------------------ plan
    def plan_upload(self) -> UploadPlan:
        """An :class:`UploadPlan`: per collection the records, their diffs against the
        server's version and the batches the server's limits imply. A change nobody could
        read once written (a restored payload under keys that changed) is left out, with why."""
        core = self.core
        started = core.begin(Event.PLAN_UPLOAD)
        store = core.need_store("plan_upload")
        conflicts = self.staging.conflicts
        plan = UploadPlan(generation=self.staging.generation, blocked=list(conflicts))
        blocked = {(c.collection, c.id) for c in conflicts}
        for change in store.staged():
            if (change.collection, change.id) in blocked:
                continue
            cp = plan.collections.get(change.collection)
            if cp is None:
                cp = plan.collections[change.collection] = CollectionPlan(
                    change.collection, self.guard(change.collection)
                )
            cp.changes.append(self._planned(change))
        for name, cp in plan.collections.items():  # leave out what nobody could read once written
            cp.unreadable = self._unreadable(name, [c.bso for c in cp.changes])
            cp.changes = [c for c in cp.changes if c.id not in cp.unreadable]
            cp.groups = [
                frozenset(g) for g in engines.get(name).linked([(c.id, c.before, c.after) for c in cp.changes])
            ]
        core.own(plan)
        plan.rebatch()
        self.plan = plan
        stage_result = StageResult("plan_upload", core.state.value)
        stage_result.decisions.append(f"plan #{plan.id}: {len(plan.changes())} change(s)")
        left_out = sum(len(cp.unreadable) for cp in plan.collections.values())
        if left_out:
            stage_result.warnings.append(f"{left_out} staged change(s) left out: nobody could read them (see the plan)")
        core.finish(Event.PLAN_UPLOAD, stage_result, started)
        return plan

    def guard(self, collection: str) -> ServerTime:
        """X-If-Unmodified-Since for a collection: the timestamp THIS object's view of it
        reflects. A collection the server has but we never read cannot be written: a
        record there could be replaced unseen (and a snapshot would miss it)."""
        view = self.view.views.get(collection)
        if view is not None and view.read and view.seen:
            return view.seen
        if collection in self.core.setup.info_collections:
            raise StageOrderError(
                f"{collection} has records on the server that were not downloaded: run"
                f" sync.download([{collection!r}]) first, so no record there is replaced unseen"
            )
        return ServerTime(0)  # a new collection: it must still not exist when we write

    def _planned(self, change: StagedChange) -> PlannedChange:
        bundle = self.core.setup.bundle(change.collection)
        before = self.view.records(change.collection).get(change.id) if change.collection in self.view.views else None
        if change.raw_payload is not None:  # a restore, byte for byte
            payload = change.raw_payload
            try:
                after = bundle.decrypt(payload, change.id)
            except CryptoError:
                after = None
        else:
            after = change.record
            payload = json.dumps(bundle.encrypt(after or {}), separators=(",", ":"))
        bso = BSO(change.id, payload, None, change.sortindex, change.ttl)
        return PlannedChange(change.collection, change.id, change.kind, before, after, bso, change.base_modified,
                             staged_at=change.staged_at)  # fmt: skip

    def _unreadable(self, collection: str, bsos: list[BSO], keys: CollectionKeys | None = None) -> dict[str, str]:
        """Which payloads would not verify and decrypt under ``keys`` (ours by default), and why."""
        bundle = (keys or self.core.setup.collection_keys or CollectionKeys.generate()).bundle_for(collection)
        results = decrypt_many(bundle, [b.payload for b in bsos], [b.id for b in bsos])
        return {
            b.id: f"it would not decrypt under {collection}'s current key ({r.reason}): nobody could read it."
            " Restore it from its cleartext, or edit it anew"
            for b, r in zip(bsos, results)
            if isinstance(r, CryptoError)
        }

    def _check_readable(self, payloads: dict[str, list[BSO]]) -> None:
        """Raise :class:`UnreadableWrite` unless every payload opens under the crypto/keys
        the server holds now."""
        keys, modified = self.setup.current_collection_keys()
        bad = {coll: self._unreadable(coll, bsos, keys) for coll, bsos in payloads.items()}
        bad = {c: why for c, why in bad.items() if why}
        if bad:
            changed = modified != self.core.setup.crypto_keys_modified
            cause = (
                f"crypto/keys changed on the server (now {modified}, read at {self.core.setup.crypto_keys_modified})"
                if changed
                else "they were sealed with keys the server no longer uses"
            )
            n = sum(len(v) for v in bad.values())
            raise UnreadableWrite(
                f"nothing written: {n} record(s) would not decrypt under the server's crypto/keys ({cause})."
                " Run sync.fetch_crypto_keys() and plan again",
                {c: sorted(v) for c, v in bad.items()},
            )

    # ------------------------------------------------------------------ commit: records
    def commit_records(self, plan: UploadPlan) -> CommitResult:
        core = self.core
        started = core.begin(Event.COMMIT)
        storage = core.need_storage("commit")
        store = core.need_store("commit")
        if plan is not self.plan or plan.generation != self.staging.generation:
            raise StalePlanError(
                "this plan is stale (staged changes moved on): run sync.merge() and sync.plan_upload() again"
            )
        half = plan.half_decided()
        if half:
            which = "; ".join(f"{name}: {', '.join(sorted(g))}" for name, g in half)
            raise StalePlanError(
                f"linked changes are decided part one way, part the other ({which}): written half, they would"
                " break the tree. Accept or reject each group whole (plan.accept/reject on any of its records)"
            )
        result = CommitResult("commit", core.state.value)
        to_send = {name: cp for name, cp in plan.collections.items() if cp.accepted}
        if not to_send:
            result.status = "nothing"
            result.decisions.append("nothing accepted: nothing written")
            self.plan = None
            return core.finish(Event.COMMIT, result, started)
        self._check_readable({name: [c.bso for c in cp.accepted] for name, cp in to_send.items()})
        replaced = [
            SnapshotRecord(c.collection, c.id, self.view.envelope(c.collection, c.id),
                           self.view.records(c.collection).get(c.id) if c.collection in self.view.views else None)
            for cp in to_send.values() for c in cp.accepted
        ]  # fmt: skip
        node = core.token.api_endpoint if core.token else None
        result.snapshot = store.snapshot(f"before commit of plan #{plan.id}", node, replaced)
        for name, cp in to_send.items():
            try:
                upload = core.call(
                    partial(
                        storage.upload, name, [c.bso for c in cp.accepted], if_unmodified_since=cp.if_unmodified_since
                    )
                )
            except net.PreconditionFailed as exc:
                done = exc.partial  # batches committed before the 412 (an upload larger than one batch)
                if done is not None and done.success:
                    result.uploads.append(done)
                    self._after_upload(name, cp, done, result)
                    what = f"{len(done.success)} record(s) of {name} were written by earlier batches; the rest was not"
                else:
                    what = f"nothing of {name} was written"
                if not result.uploads and result.snapshot is not None:  # the snapshot holds nothing replaced
                    store.drop_snapshot(result.snapshot)
                    result.snapshot = None
                result.status = "conflict"
                result.warnings.append(
                    f"{name}: someone else wrote to the collection (server now {exc.last_modified}, plan made"
                    f" against {cp.if_unmodified_since}); {what}. Downloaded again and merged again:"
                    " review result.new_plan"
                )
                result.conflict_collection = name
                self.plan = None
                return core.finish(Event.COMMIT, result, started, Outcome.CONFLICT)
            except SyncError:  # the node moved mid-commit: nothing more is written
                if not result.uploads and result.snapshot is not None:
                    store.drop_snapshot(result.snapshot)
                raise
            result.uploads.append(upload)
            self._after_upload(name, cp, upload, result)
        if result.failed:
            result.status = "partial"
        self.plan = None
        return core.finish(Event.COMMIT, result, started)

    def _after_upload(self, name: str, cp: CollectionPlan, upload: net.UploadResult, result: CommitResult) -> None:
        store = self.core.need_store("commit")
        ok = set(upload.success)
        written = [c for c in cp.accepted if c.id in ok]
        if upload.failed:
            result.failed[name] = dict(upload.failed)
            result.warnings.append(f"{name}: the server refused {len(upload.failed)} record(s); they stay staged")
        if not upload.atomic:
            result.warnings.append(f"{name}: more records than one batch holds; committed in {upload.commits} batches")
        modified = upload.modified
        why = self.view.insane_guard(name, modified) if modified is not None else "no X-Last-Modified"
        if why is None and modified is not None:
            self.view.absorb(name, [BSO(c.id, c.bso.payload, modified, c.bso.sortindex, c.bso.ttl) for c in written])
            store.set_last_sync(name, modified)
            self.view.view(name).seen = modified
            self.core.setup = self.core.setup.seen_collection(name, modified)
        else:  # written, but the server's answer cannot guard anything: read it again first
            result.warnings.append(f"{name}: written, but {why}; download {name} again before writing to it")
        for c in written:  # only the version planned: a newer edit staged meanwhile stays
            store.unstage(name, c.id, staged_at=c.staged_at)
        self.staging.bump()
        result.decisions.append(f"{name}: {len(written)} record(s) written at {modified}")

    # ------------------------------------------------------------------ commit: meta/global
    def commit_meta_global(self, plan: MetaGlobalPlan) -> CommitResult:
        core = self.core
        started = core.begin(Event.COMMIT_META_GLOBAL)
        result = CommitResult("commit", core.state.value, plan_kind=plan.kind)
        meta = plan.meta_global
        assert meta is not None
        try:
            modified = self._write_meta_global(meta, plan.if_unmodified_since)
        except net.PreconditionFailed as exc:
            result.status = "conflict"
            result.warnings.append(
                f"meta/global changed on the server ({exc.last_modified}): nothing written; "
                "run sync.fetch_meta_global() again"
            )
            return core.finish(Event.COMMIT_META_GLOBAL, result, started, Outcome.CONFLICT)
        result.done.append(("written", f"meta/global at {modified}"))
        result.decisions.append(f"meta/global written at {modified}")
        return core.finish(Event.COMMIT_META_GLOBAL, result, started)

    def _write_meta_global(self, meta: MetaGlobal, if_unmodified_since: ServerTime) -> ServerTime:
        """PUT meta/global, guarded; the setup then holds what was written."""
        core = self.core
        storage = core.need_storage("commit")
        modified: ServerTime = core.call(
            lambda: storage.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=if_unmodified_since)
        )
        core.setup = replace(core.setup, meta_global=meta, meta_global_modified=modified)
        return modified

    # ------------------------------------------------------------------ commit: fresh start
    def commit_fresh_start(self, plan: FreshStartPlan) -> CommitResult:
        core = self.core
        started = core.begin(Event.COMMIT_FRESH_START)
        storage = core.need_storage("commit")
        store = core.need_store("commit")
        keys = self.setup.keys
        assert keys is not None and plan.meta_global is not None and plan.collection_keys is not None
        result = CommitResult("commit", core.state.value, plan_kind=plan.kind)
        meta, new_keys = plan.meta_global, plan.collection_keys
        payload = json.dumps(keys.bundle.encrypt(new_keys.to_cleartext()))
        try:  # never write keys nobody can open: they must open with kSync before the wipe
            CollectionKeys.from_cleartext(keys.bundle.decrypt(payload, "keys"))
        except CryptoError as exc:  # pragma: no cover - our own encryption; a bug if it happens
            raise UnreadableWrite(f"the new crypto/keys would not open with kSync ({exc.reason}): nothing written",
                                  {"crypto": ["keys"]}) from None  # fmt: skip
        try:  # guarded: a write by anyone since the plan was made stops the wipe
            core.call(lambda: storage.delete_storage(if_unmodified_since=plan.if_unmodified_since))
        except net.PreconditionFailed as exc:
            result.status = "conflict"
            result.warnings.append(
                f"someone wrote to the server after this fresh-start plan was made (now {exc.last_modified}):"
                " nothing was deleted. Run sync.fetch_info() and review a new plan"
            )
            return core.finish(Event.COMMIT_FRESH_START, result, started, Outcome.CONFLICT)
        n = plan.records_deleted
        result.done.append(("deleted", f"{n if n is not None else 'every'} record(s): all server storage"))
        result.decisions.append("all server storage deleted (X-Confirm-Delete)")
        core.call(lambda: storage.put_record("meta", BSO("global", meta.to_json()), if_unmodified_since=0))
        core.call(lambda: storage.put_record("crypto", BSO("keys", payload), if_unmodified_since=0))
        result.done.append(("written", "a new meta/global and new crypto/keys"))
        result.decisions.append("new meta/global and crypto/keys written (X-If-Unmodified-Since: 0)")
        store.reset_all()
        core.forget(None)
        result.decisions.append("local state reset: run sync.fetch_info() and the stages after it")
        return core.finish(Event.COMMIT_FRESH_START, result, started)

    # ------------------------------------------------------------------ commit: one engine
    def commit_engine_reset(self, plan: EngineResetPlan) -> CommitResult:
        core = self.core
        started = core.begin(Event.COMMIT_ENGINE_RESET)
        storage = core.need_storage("commit")
        store = core.need_store("commit")
        meta, engine = plan.meta_global, plan.engine
        assert meta is not None
        result = CommitResult("commit", core.state.value, plan_kind=plan.kind)
        if plan.wipe:
            try:
                core.call(lambda: storage.delete_collection(
                    engine, if_unmodified_since=plan.collection_if_unmodified_since or ServerTime(0)))  # fmt: skip
            except net.PreconditionFailed as exc:
                result.status = "conflict"
                result.warnings.append(f"{engine} changed on the server ({exc.last_modified}): nothing deleted or"
                                       " written; run sync.fetch_info() and plan again")  # fmt: skip
                return core.finish(Event.COMMIT_ENGINE_RESET, result, started, Outcome.CONFLICT)
            except net.NotFound:
                pass  # nothing to delete
            n = "every" if plan.records is None else str(plan.records)
            result.done.append(("deleted", f"{n} {engine} record(s)"))
        try:
            self._write_meta_global(meta, plan.if_unmodified_since)
        except net.PreconditionFailed as exc:
            result.status = "conflict"
            wiped = f"the {engine} collection WAS deleted, but " if plan.wipe else ""
            result.warnings.append(f"{wiped}meta/global changed on the server ({exc.last_modified}) and was not"
                                   " written; run sync.fetch_meta_global() and plan the reset again")  # fmt: skip
            return core.finish(Event.COMMIT_ENGINE_RESET, result, started, Outcome.CONFLICT)
        store.reset_collection(engine)
        core.forget(engine)
        ids = dict(store.get_state("sync_ids", {}) or {})
        ids[engine] = meta.engines[engine].sync_id
        store.set_state("sync_ids", ids)
        result.done.append(("written", f"meta/global: {engine} syncID {plan.old_sync_id} → {ids[engine]}"))
        result.decisions.append(f"local state of {engine} reset: download it again")
        return core.finish(Event.COMMIT_ENGINE_RESET, result, started)

    # ------------------------------------------------------------------ snapshots
    def snapshots(self) -> pd.DataFrame:
        store = self.core.need_store("snapshots")
        return pd.DataFrame([s.__dict__ for s in store.snapshots()],
                            columns=["snapshot", "created_at", "label", "node", "records"])  # fmt: skip

    def stage_restore(self, snapshot: int) -> list[str]:
        """Stage putting back what a commit replaced; returns why any record could not be.

        A record whose old payload still opens under the current keys goes back byte for
        byte; one whose keys changed since (a fresh start, a new node) is re-encrypted from
        the cleartext the snapshot kept; one with neither is refused, with why."""
        store = self.core.need_store("restore")
        refused = []
        for rec in store.snapshot_records(int(snapshot)):
            coll, rid, bso = rec.collection, rec.id, rec.bso
            base = self.view.base(coll, rid)
            if bso is None:
                self.staging.stage(StagedChange(coll, rid, "delete", {"id": rid, "deleted": True}, base))
                continue
            opens = self.core.setup.collection_keys is not None and not self._unreadable(coll, [bso])
            if opens:
                self.staging.stage(StagedChange(coll, rid, "restore", None, base, bso.sortindex, bso.ttl,
                                                raw_payload=bso.payload))  # fmt: skip
            elif rec.cleartext is not None:
                self.staging.stage(StagedChange(coll, rid, "restore", rec.cleartext, base, bso.sortindex, bso.ttl))
            else:
                refused.append(
                    f"{coll}/{rid}: its old payload does not open under the current keys and it never"
                    " decrypted, so it cannot be re-encrypted: not restored"
                )
        return refused
