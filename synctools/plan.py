"""Plans: what a commit would write, shown before anything is written.

Every plan is plain data of one of four kinds, each its own type:

- :class:`UploadPlan` (``kind="records"``): per collection, every record that would be
  uploaded with its diff against the server's version, the batches the server's limits
  imply, and the ``X-If-Unmodified-Since`` guard. A person may ``reject()`` single
  changes; ``Sync.commit(plan)`` uploads only what is accepted.
- :class:`MetaGlobalPlan` (``"meta/global"``): a new meta/global, with before and after.
- :class:`FreshStartPlan` (``"fresh-start"``): wipe the server, then new meta/global and
  crypto/keys; its warning says what is lost.
- :class:`EngineResetPlan` (``"engine-reset"``): a new syncID for one engine in
  meta/global (other devices then start that engine over), and for a wipe, its
  collection deleted.

Each says what it will do in :meth:`Plan.effects` (counted: N records deleted,
meta/global written...), which every view shows.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import pandas as pd

from . import engines
from .diff import FieldChange, diff_records, summarize
from .display import mimebundle
from .protocol.bso import BSO, ServerTime
from .protocol.crypto import CollectionKeys
from .protocol.metaglobal import MetaGlobal
from .store import ChangeKind

if TYPE_CHECKING:  # pragma: no cover
    from .net import InfoConfiguration


class CommitOutcome(Protocol):
    """What a plan keeps of its commit (a :class:`synctools.results.CommitResult`, which
    sits above plans: results refer to plans, so plans name only what they read)."""

    @property
    def status(self) -> str: ...
    @property
    def new_plan(self) -> UploadPlan | None: ...
    def _repr_html_(self) -> str: ...


PlanKind = Literal["records", "meta/global", "fresh-start", "engine-reset"]
PlanEvent = Literal["decision", "committed"]

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
    kind: ChangeKind
    before: dict[str, Any] | None  # server cleartext now (None: record absent)
    after: dict[str, Any] | None  # what will be uploaded (cleartext)
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
    unreadable: dict[str, str] = field(default_factory=dict)  # ids left out: nobody could read them
    groups: list[frozenset[str]] = field(default_factory=list)  # linked changes: all or none

    @property
    def accepted(self) -> list[PlannedChange]:
        return [c for c in self.changes if c.accepted is not False]

    def group_of(self, record_id: str) -> frozenset[str]:
        """The changes decided with ``record_id`` (itself alone when it is not linked)."""
        return next((g for g in self.groups if record_id in g), frozenset({record_id}))

    def half_decided(self) -> list[frozenset[str]]:
        """Linked groups whose changes are not all accepted or all rejected."""
        decided = {c.id: c.accepted is not False for c in self.changes}
        return [g for g in self.groups if len({decided[i] for i in g if i in decided}) > 1]


@dataclass(eq=False, repr=False)
class Plan:
    """What every plan has. Nothing is written until ``sync.commit(plan)``."""

    kind: ClassVar[PlanKind]

    warning: str | None = None
    id: int = field(default_factory=lambda: next(_plan_ids))
    generation: int = 0  # the sync's staging generation it was made from
    config: InfoConfiguration | None = field(default=None, repr=False)  # the server's limits
    result: CommitOutcome | None = field(default=None, repr=False)  # once committed
    _observers: list[Callable[[Plan, PlanEvent], None]] = field(default_factory=list, repr=False)
    _sync_ref: Callable[[], Any] | None = field(default=None, repr=False)

    def observe(self, callback: Callable[[Plan, PlanEvent], None]) -> None:
        """Call ``callback(plan, event)`` on every decision (``"decision"``) and when the
        plan is committed (``"committed"``): how a review widget stays in step with code."""
        self._observers.append(callback)

    def _notify(self, event: PlanEvent) -> None:
        for callback in list(self._observers):
            callback(self, event)

    def _committed(self, result: CommitOutcome) -> None:
        self.result = result
        self._notify("committed")

    @property
    def sync(self) -> Any:
        """The :class:`~synctools.Sync` that made this plan (a weak reference)."""
        return self._sync_ref() if self._sync_ref is not None else None

    @property
    def empty(self) -> bool:
        """True when committing would write nothing."""
        return False

    def effects(self) -> list[tuple[str, str]]:
        """What committing will do, as (what, detail) lines, counted."""
        return []

    # ------------------------------------------------------------- display
    def _title(self) -> str:
        return f"<{type(self).__name__} #{self.id} {self.kind}>"

    def __repr__(self) -> str:
        lines = [self._title()]
        lines += [f"  {what}: {detail}" for what, detail in self.effects()]
        if self.warning:
            lines.append(f"  WARNING: {self.warning}")
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        """In a Jupyter kernel, its registered widget (``_repr_html_`` stays the fallback)."""
        return mimebundle(self)

    def _html_body(self) -> list[str]:
        esc = html.escape
        return [f"<p><b>{esc(what)}</b>: {esc(detail)}</p>" for what, detail in self.effects()]

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<div><h4>{esc(type(self).__name__)} #{self.id} <small>({esc(self.kind)})</small></h4>"]
        if self.warning:
            parts.append(f"<p style='color:var(--jp-error-color1, #b00)'><b>⚠ {esc(self.warning)}</b></p>")
        parts += self._html_body()
        parts.append("<p><i>Nothing has been written. Review, then <code>sync.commit(plan)</code>.</i></p></div>")
        return "".join(parts)


@dataclass(eq=False, repr=False)
class UploadPlan(Plan):
    """Records to upload, per collection (``kind="records"``)."""

    kind: ClassVar[PlanKind] = "records"

    collections: dict[str, CollectionPlan] = field(default_factory=dict)
    blocked: list[Conflict] = field(default_factory=list)

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
        cp = self.collections.get(collection)
        for c in cp.changes if cp is not None else []:
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
        """Decide changes; a change linked to others decides its whole group (a bookmark
        moved is accepted or rejected with both folders, never half)."""
        ids = None
        if record_id is not None and collection in self.collections:
            ids = self.collections[collection].group_of(record_id)
        for c in self.changes():
            if (collection is None or c.collection == collection) and (ids is None or c.id in ids):
                c.accepted = value
        self._notify("decision")

    def linked(self, collection: str, record_id: str) -> list[PlannedChange]:
        """The changes that go with this one (itself included), decided and written together."""
        cp = self.collections.get(collection)
        if cp is None:
            return []
        group = cp.group_of(record_id)
        return [c for c in cp.changes if c.id in group]

    def half_decided(self) -> list[tuple[str, frozenset[str]]]:
        """Linked groups decided part one way, part the other: a commit refuses them."""
        return [(name, g) for name, cp in self.collections.items() for g in cp.half_decided()]

    @property
    def undecided(self) -> list[PlannedChange]:
        return [c for c in self.changes() if c.accepted is None]

    @property
    def empty(self) -> bool:
        return not any(cp.accepted for cp in self.collections.values())

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.row() for c in self.changes()])

    def diff(self, collection: str, record_id: str) -> pd.DataFrame:
        change = self.change(collection, record_id)
        return pd.DataFrame([c.__dict__ for c in change.changes])

    def effects(self) -> list[tuple[str, str]]:
        out = []
        for name, cp in self.collections.items():
            kinds: dict[str, int] = {}
            for c in cp.accepted:
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
            what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing accepted"
            posts = sum(b["posts"] for b in cp.batches)
            out.append((name, f"{what}; {len(cp.batches)} batch(es), {posts} POST(s)"))
        if self.blocked:
            out.append(("conflicts", f"{len(self.blocked)} left out until resolved"))
        return out

    # ------------------------------------------------------------- display
    def __repr__(self) -> str:
        n = len(self.changes())
        lines = [f"<UploadPlan #{self.id}: {n} change(s) in {len(self.collections)} collection(s)>"]
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
            for rid, why in cp.unreadable.items():
                lines.append(f"    LEFT OUT {rid}: {why}")
            for group in cp.groups:
                lines.append(f"    LINKED {', '.join(sorted(group))}: decided and written together")
        for b in self.blocked:
            lines.append(f"  CONFLICT {b.collection}/{b.id}: resolve with sync.resolve() before it can upload")
        if self.warning:
            lines.append(f"  WARNING: {self.warning}")
        return "\n".join(lines)

    __str__ = __repr__

    def _html_body(self) -> list[str]:
        esc = html.escape
        parts = []
        if self.changes():
            parts.append(self.frame.to_html(index=False, border=0))
        else:
            parts.append("<p>No change to upload.</p>")
        for name, cp in self.collections.items():
            parts.append(
                f"<p>{esc(name)}: X-If-Unmodified-Since <code>{cp.if_unmodified_since}</code>,"
                f" batches {esc(str(cp.batches))}</p>"
            )
            for rid, why in {**cp.too_large, **cp.unreadable}.items():
                parts.append(f"<p>left out <code>{esc(rid)}</code>: {esc(why)}</p>")
        if self.blocked:
            parts.append("<p><b>Conflicts</b> (not in this plan)</p>")
            parts.append(pd.DataFrame([b.row() for b in self.blocked]).to_html(index=False, border=0))
        return parts


@dataclass(eq=False, repr=False)
class MetaGlobalPlan(Plan):
    """Replace meta/global (``kind="meta/global"``), guarded by the version read."""

    kind: ClassVar[PlanKind] = "meta/global"

    meta_global: MetaGlobal | None = None
    if_unmodified_since: ServerTime = field(default_factory=lambda: ServerTime(0))
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    def effects(self) -> list[tuple[str, str]]:
        changes = diff_records(self.before, self.after)
        return [
            ("writes", f"meta/global (X-If-Unmodified-Since {self.if_unmodified_since})"),
            ("changes", summarize(changes, limit=12) or "none"),
        ]


@dataclass(eq=False, repr=False)
class FreshStartPlan(Plan):
    """Wipe the server, then write a new meta/global and crypto/keys (``kind="fresh-start"``)."""

    kind: ClassVar[PlanKind] = "fresh-start"

    meta_global: MetaGlobal | None = None
    collection_keys: CollectionKeys | None = None
    if_unmodified_since: ServerTime = field(default_factory=lambda: ServerTime(0))
    deletes: dict[str, int | None] = field(default_factory=dict)  # collection -> records (None: unknown)

    @property
    def records_deleted(self) -> int | None:
        counts = list(self.deletes.values())
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def effects(self) -> list[tuple[str, str]]:
        n = self.records_deleted
        what = ", ".join(f"{c} ({k if k is not None else '?'})" for c, k in sorted(self.deletes.items()))
        keys = self.collection_keys.fingerprints() if self.collection_keys else {}
        return [
            (
                "deletes",
                f"{n if n is not None else 'every'} record(s) on the server: {what or 'none (server is empty)'}",
            ),
            ("writes", "a new meta/global and new crypto/keys (X-If-Unmodified-Since: 0)"),
            ("new default key", f"fingerprint {keys.get('default', '?')}"),
            ("guard", f"the wipe is refused if the server changed after {self.if_unmodified_since}"),
        ]


@dataclass(eq=False, repr=False)
class EngineResetPlan(Plan):
    """Start one engine over (``kind="engine-reset"``): a new syncID for it in
    meta/global, so every device resets that engine; with ``wipe``, its collection is
    deleted first (devices then upload their copy again)."""

    kind: ClassVar[PlanKind] = "engine-reset"

    engine: str = ""
    wipe: bool = False
    meta_global: MetaGlobal | None = None
    if_unmodified_since: ServerTime = field(default_factory=lambda: ServerTime(0))  # meta/global's
    collection_if_unmodified_since: ServerTime | None = None  # the wiped collection's
    records: int | None = None  # how many records a wipe deletes
    old_sync_id: str | None = None

    def effects(self) -> list[tuple[str, str]]:
        new = self.meta_global.engines[self.engine].sync_id if self.meta_global else "?"
        out = []
        if self.wipe:
            n = "?" if self.records is None else str(self.records)
            out.append(("deletes", f"the {self.engine} collection: {n} record(s)"))
        out.append(("writes", f"meta/global: {self.engine} syncID {self.old_sync_id} → {new}"))
        return out
