"""Staging a person's changes and the three-way merge: edit, add, delete, discard,
merge and resolve. Staged changes live in the local store (encrypted at rest); a change
staged after a plan was made makes that plan stale (the STAGE event rewinds)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import pandas as pd

from ..plan import Conflict, mask
from ..protocol.bso import ServerTime, valid_collection_name
from ..results import MergeResult
from ..states import SETUP_COLLECTIONS, Event
from ..store import ChangeKind, StagedChange
from .core import Core
from .view import LocalView

Keep = Literal["local", "server"] | Mapping[str, Any]


class Staging:
    """What a person means to change, and how it meets what the server has."""

    def __init__(self, core: Core, view: LocalView) -> None:
        self.core = core
        self.view = view
        self.conflicts: list[Conflict] = []
        self.generation = 0  # bumped whenever staged changes change: a plan names the one it saw
        core.on_forget(self.forget)

    def forget(self, collection: str | None) -> None:
        self.conflicts = [c for c in self.conflicts if collection not in (None, c.collection)]

    def bump(self) -> None:
        self.generation += 1

    # ------------------------------------------------------------------ staging
    def stage(self, change: StagedChange) -> StagedChange:
        core = self.core
        core.machine.check(Event.STAGE)
        store = core.need_store("staging")
        if not valid_collection_name(change.collection) or change.collection in SETUP_COLLECTIONS:
            raise ValueError(
                f"cannot stage into {change.collection!r}: a collection name is 1-32 of [a-zA-Z0-9._-],"
                " and meta/crypto change only through their own plans"
            )
        store.stage(change)
        self.bump()
        core.machine.fire(Event.STAGE)  # a plan no longer covers every staged change: merge again
        return change

    def edit(self, collection: str, record_id: str, changes: Mapping[str, Any]) -> StagedChange:
        """Stage an edit: ``changes`` are merged into the record's fields."""
        store = self.core.store
        staged = {c.id: c for c in store.staged(collection)} if store is not None else {}
        prior = staged.get(record_id)
        base: ServerTime | None
        if prior is not None and prior.record is not None and prior.kind != "delete":
            base_rec, base = prior.record, prior.base_modified
        elif prior is not None and prior.kind == "delete":  # editing after a staged delete: undelete
            server = self.view.records(collection).get(record_id, {"id": record_id})
            base_rec = {k: v for k, v in server.items() if k != "deleted"}
            base = prior.base_modified
        else:
            base_rec, base = self.view.record(collection, record_id), self.view.base(collection, record_id)
        new = {**base_rec, **dict(changes), "id": record_id}
        env = self.view.envelope(collection, record_id)
        kind: ChangeKind
        if prior is not None:  # editing a staged change keeps what it is (an add stays an add)
            kind = "add" if prior.kind == "add" else "edit"
            sortindex, ttl = prior.sortindex, prior.ttl
        else:
            kind, sortindex, ttl = "edit", env.sortindex if env else None, env.ttl if env else None
        return self.stage(StagedChange(collection, record_id, kind, new, base, sortindex, ttl))

    def add(self, collection: str, record: Mapping[str, Any], *, sortindex: int | None = None,
            ttl: int | None = None) -> StagedChange:  # fmt: skip
        """Stage a new record (it needs an ``id``)."""
        rec = dict(record)
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError("a record to add needs a string 'id' (Firefox uses 12 base64url characters)")
        return self.stage(StagedChange(collection, rid, "add", rec, self.view.base(collection, rid), sortindex, ttl))

    def delete(self, collection: str, record_id: str) -> StagedChange:
        """Stage a tombstone (Sync deletes by uploading ``{"id", "deleted": true}``)."""
        tomb = {"id": record_id, "deleted": True}
        return self.stage(StagedChange(collection, record_id, "delete", tomb, self.view.base(collection, record_id)))

    def discard(self, collection: str, record_id: str | None = None) -> int:
        """Drop staged changes (one record or a whole collection)."""
        store = self.core.need_store("discard")
        self.core.machine.check(Event.STAGE)
        n = store.unstage(collection, record_id)
        self.bump()
        self.core.machine.fire(Event.STAGE)
        return n

    def staged(self) -> pd.DataFrame:
        """The staged changes awaiting review (secret fields masked)."""
        store = self.core.need_store("staged")
        rows = [
            {"collection": c.collection, "id": c.id, "kind": c.kind, "staged against": str(c.base_modified),
             "record": json.dumps(mask(c.collection, c.record))[:200] if c.record else "(raw restore)"}
            for c in store.staged()
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["collection", "id", "kind", "staged against", "record"])

    # ------------------------------------------------------------------ merge
    def merge(self) -> MergeResult:
        """Three-way: server changes vs the mirror vs staged edits. Conflicts are listed
        with both versions; nothing is chosen silently."""
        core = self.core
        started = core.begin(Event.MERGE)
        store = core.need_store("merge")
        result = MergeResult("merge", core.state.value)
        merged_at = store.get_state("merged_at", {})
        for coll, view in sorted(self.view.views.items()):
            if not view.total:
                continue
            since = ServerTime(merged_at.get(coll, 0))
            modified = view.modified()  # every record's server time, as one array
            result.incoming.append({"collection": coll, "changed": int((modified > since).sum())})
            merged_at[coll] = int(modified.max(initial=0))
        store.set_state("merged_at", merged_at)
        self.conflicts = []
        for change in store.staged():
            server_mod = self.view.base(change.collection, change.id)
            server_rec = (
                self.view.records(change.collection).get(change.id) if change.collection in self.view.views else None
            )
            if server_mod != change.base_modified and server_rec != change.record:
                self.conflicts.append(Conflict(change.collection, change.id, change.base_modified, server_mod,
                                               server_rec, change.record))  # fmt: skip
            else:
                result.outgoing.append({"collection": change.collection, "id": change.id, "kind": change.kind})
        result.conflicts = list(self.conflicts)
        if self.conflicts:
            result.warnings.append(
                f"{len(self.conflicts)} staged change(s) meet newer server versions: choose with"
                " sync.resolve(collection, id, 'local' | 'server' | record)"
            )
        return core.finish(Event.MERGE, result, started)

    def resolve(self, collection: str, record_id: str, keep: Keep) -> None:
        """Settle a conflict: keep ``'local'`` (re-stage on top of the server version),
        ``'server'`` (drop the staged change) or a merged record dict."""
        core = self.core
        conflict = next((c for c in self.conflicts if (c.collection, c.id) == (collection, record_id)), None)
        if conflict is None:
            raise KeyError(f"no conflict for {collection}/{record_id}: run sync.merge() to list them")
        core.machine.check(Event.RESOLVE)
        store = core.need_store("resolve")
        staged = next((c for c in store.staged(collection) if c.id == record_id), None)
        if keep == "server" or staged is None:
            store.unstage(collection, record_id)
        elif keep == "local":  # the same change, now on top of the server's version
            store.stage(replace(staged, base_modified=conflict.server_modified, staged_at=0.0))
        elif isinstance(keep, Mapping):  # fields merged by hand onto the server's version
            record = {**(conflict.server or {}), **dict(keep), "id": record_id}
            kind: ChangeKind = "delete" if record.get("deleted") else "edit"
            store.stage(StagedChange(collection, record_id, kind, record, conflict.server_modified,
                                     staged.sortindex, staged.ttl))  # fmt: skip
        else:
            raise ValueError("keep must be 'local', 'server' or a dict of fields to merge onto the server's version")
        self.conflicts.remove(conflict)
        self.bump()
        core.machine.fire(Event.RESOLVE)
