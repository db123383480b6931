"""Plans: what a commit would write, shown before anything is written.

An :class:`UploadPlan` is plain data. It lists, per collection, every record that
would be uploaded with its diff against the server's version, the batches the
server's limits imply, and the ``X-If-Unmodified-Since`` guard. A person may
``reject()`` single changes; ``Sync.commit(plan)`` uploads only what is accepted.
Special plans (``kind="meta/global"`` or ``"fresh-start"``) carry their warning.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import engines
from .diff import FieldChange, diff_records, summarize
from .protocol.bso import BSO, ServerTime

_plan_ids = itertools.count(1)

#: Fields shown masked in diffs and tables unless a person asks to reveal them, by
#: collection: each engine's ``secret_fields`` (the engines own the policy).
SECRET_FIELDS = {name: set(cls.secret_fields) for name, cls in engines.ENGINES.items() if cls.secret_fields}


def mask(collection: str, record: dict[str, Any] | None, reveal: bool = False) -> dict[str, Any] | None:
    """``record`` with its secret fields masked at any depth (see :func:`synctools.engines.mask`)."""
    masked: dict[str, Any] | None = engines.mask(collection, record, reveal)
    return masked


@dataclass(frozen=True)
class Conflict:
    """A staged change whose server record changed after the change was staged."""

    collection: str
    id: str
    base_modified: ServerTime | None  # the server version the edit was made against
    server_modified: ServerTime | None
    server: dict[str, Any] | None  # the server's current cleartext (None: deleted or absent)
    local: dict[str, Any] | None  # the staged cleartext

    def row(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "id": self.id,
            "staged against": str(self.base_modified) if self.base_modified is not None else "(new)",
            "server now": str(self.server_modified) if self.server_modified is not None else "(absent)",
            "differences": summarize(
                diff_records(mask(self.collection, self.server), mask(self.collection, self.local))
            ),
        }


@dataclass
class PlannedChange:
    collection: str
    id: str
    kind: str  # add | edit | delete | restore
    before: dict[str, Any] | None  # server cleartext now (None: record absent)
    after: dict[str, Any] | None  # what will be uploaded (cleartext; None for a raw restore)
    bso: BSO  # the encrypted record that will be uploaded
    base_modified: ServerTime | None
    accepted: bool | None = None  # None: undecided; the review widget sets it
    staged_at: float = 0.0  # which staged version this is (a newer edit is not unstaged by commit)

    @property
    def changes(self) -> list[FieldChange]:
        return diff_records(mask(self.collection, self.before), mask(self.collection, self.after))

    def row(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "id": self.id,
            "kind": self.kind,
            "fields changed": len(self.changes),
            "diff": summarize(self.changes),
            "decision": {None: "undecided", True: "accept", False: "reject"}[self.accepted],
        }


@dataclass
class CollectionPlan:
    collection: str
    if_unmodified_since: ServerTime
    changes: list[PlannedChange] = field(default_factory=list)
    batches: list[dict[str, int]] = field(default_factory=list)  # [{"posts": n, "records": n}]
    too_large: dict[str, str] = field(default_factory=dict)  # ids the server's limits can never admit

    @property
    def accepted(self) -> list[PlannedChange]:
        return [c for c in self.changes if c.accepted is not False]


@dataclass
class UploadPlan:
    """Everything a commit would write. Nothing is written until ``sync.commit(plan)``."""

    kind: str = "records"  # records | meta/global | fresh-start
    collections: dict[str, CollectionPlan] = field(default_factory=dict)
    blocked: list[Conflict] = field(default_factory=list)
    warning: str | None = None
    special: dict[str, Any] = field(default_factory=dict)  # meta/global / fresh-start payloads
    id: int = field(default_factory=lambda: next(_plan_ids))
    generation: int = 0  # the sync's staging generation it was made from

    config: Any = field(default=None, repr=False, compare=False)  # the server's InfoConfiguration
    result: Any = field(default=None, repr=False, compare=False)  # the CommitResult, once committed
    _observers: list[Any] = field(default_factory=list, repr=False, compare=False)

    def observe(self, callback: Any) -> None:
        """Call ``callback(plan, event)`` on every decision (``"decision"``) and when the
        plan is committed (``"committed"``): how a review widget stays in step with code."""
        self._observers.append(callback)

    def _notify(self, event: str) -> None:
        for callback in list(self._observers):
            callback(self, event)

    def _committed(self, result: Any) -> None:
        self.result = result
        self._notify("committed")

    @property
    def sync(self) -> Any:
        """The :class:`~synctools.Sync` that made this plan (a weak reference)."""
        ref = getattr(self, "_sync_ref", None)
        return ref() if ref is not None else None

    def rebatch(self) -> UploadPlan:
        """Recompute each collection's batches for the changes still accepted."""
        if self.config is not None:
            from .net.batching import plan_packing

            for cp in self.collections.values():
                packing = plan_packing(self.config, [c.bso for c in cp.accepted])
                cp.too_large = dict(packing.failed)
                cp.batches = [{"posts": len(b), "records": sum(map(len, b))} for b in packing.batches]
        return self

    # ------------------------------------------------------------- review
    def changes(self) -> list[PlannedChange]:
        return [c for cp in self.collections.values() for c in cp.changes]

    def change(self, collection: str, record_id: str) -> PlannedChange:
        for c in self.collections.get(collection, CollectionPlan(collection, ServerTime(0))).changes:
            if c.id == record_id:
                return c
        raise KeyError(f"no planned change for {collection}/{record_id}")

    def accept(self, collection: str | None = None, record_id: str | None = None) -> UploadPlan:
        self._decide(True, collection, record_id)
        return self

    def reject(self, collection: str | None = None, record_id: str | None = None) -> UploadPlan:
        self._decide(False, collection, record_id)
        return self

    def _decide(self, value: bool, collection: str | None, record_id: str | None) -> None:
        for c in self.changes():
            if (collection is None or c.collection == collection) and (
                record_id is None or c.id == record_id
            ):
                c.accepted = value
        self._notify("decision")

    @property
    def undecided(self) -> list[PlannedChange]:
        return [c for c in self.changes() if c.accepted is None]

    @property
    def empty(self) -> bool:
        return self.kind == "records" and not any(cp.accepted for cp in self.collections.values())

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.row() for c in self.changes()])

    def diff(self, collection: str, record_id: str) -> pd.DataFrame:
        change = self.change(collection, record_id)
        return pd.DataFrame([c.__dict__ for c in change.changes])

    # ------------------------------------------------------------- display
    def __repr__(self) -> str:
        if self.kind != "records":
            return f"<UploadPlan #{self.id} {self.kind}: {self.warning or ''}>\n" + "\n".join(
                f"  {k}: {v}" for k, v in self.special.items() if k.startswith("show")
            )
        lines = [
            f"<UploadPlan #{self.id}: {len(self.changes())} change(s) in {len(self.collections)} collection(s)>"
        ]
        for name, cp in self.collections.items():
            posts = sum(b["posts"] for b in cp.batches)
            lines.append(
                f"  {name}: {len(cp.changes)} record(s), {len(cp.batches)} batch(es), {posts} POST(s),"
                f" X-If-Unmodified-Since {cp.if_unmodified_since}"
            )
            for c in cp.changes[:20]:
                lines.append(f"    {c.kind:7s} {c.id}  {summarize(c.changes)}")
            for rid, why in cp.too_large.items():
                lines.append(f"    TOO LARGE {rid}: {why} (it will not be sent)")
        for b in self.blocked:
            lines.append(
                f"  CONFLICT {b.collection}/{b.id}: resolve with sync.resolve() before it can upload"
            )
        if self.warning:
            lines.append(f"  WARNING: {self.warning}")
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        """In a Jupyter kernel, its synctools widget (``_repr_html_`` stays the fallback)."""
        from .widgets.display import mimebundle

        return mimebundle(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<div><h4>UploadPlan #{self.id} <small>({esc(self.kind)})</small></h4>"]
        if self.warning:
            parts.append(f"<p style='color:#b00'><b>⚠ {esc(self.warning)}</b></p>")
        if self.kind == "records":
            if self.changes():
                parts.append(self.frame.to_html(index=False, border=0))
            for name, cp in self.collections.items():
                parts.append(
                    f"<p>{esc(name)}: X-If-Unmodified-Since <code>{cp.if_unmodified_since}</code>,"
                    f" batches {esc(str(cp.batches))}</p>"
                )
            if self.blocked:
                parts.append("<p><b>Conflicts</b> (not in this plan)</p>")
                parts.append(pd.DataFrame([b.row() for b in self.blocked]).to_html(index=False, border=0))
        else:
            parts += [
                f"<p><b>{esc(k[5:])}</b>: {esc(str(v))}</p>"
                for k, v in self.special.items()
                if k.startswith("show")
            ]
        parts.append(
            "<p><i>Nothing has been written. Review, then <code>sync.commit(plan)</code>.</i></p></div>"
        )
        return "".join(parts)
