"""``DiffView`` and ``UploadReview``: look at every planned change, decide, commit.

The review writes nothing by itself. Accept/Reject set ``change.accepted`` on the
plan's own :class:`~synctools.plan.PlannedChange` objects; the Commit button stays
disabled until every change is decided, then calls ``sync.commit(plan)`` (which uploads
only the accepted ones) and shows the result, or the conflict and the new plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from ..engines import mask
from ..plan import FreshStartPlan, Plan, PlannedChange, UploadPlan
from . import _html as h
from ._result import result_html, rows_of
from ._source import View, html, record_counts
from ._time import when_html

DECISION_WORDS = {None: "undecided", True: "accepted", False: "rejected"}
KIND_TONES = {"add": "added", "edit": "changed", "delete": "removed", "restore": "info"}


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def field_rows(change: PlannedChange) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Server vs local, one row per top-level field, changed fields toned."""
    before = mask(change.collection, change.before) or {}
    after = mask(change.collection, change.after) or {}
    kinds: dict[str, str] = {}
    for fc in change.changes:
        kinds.setdefault(_root(fc.path), "changed" if "." in fc.path or "[" in fc.path else fc.kind)
    rows, tones = [], []
    for key in list(before) + [k for k in after if k not in before]:
        kind = kinds.get(key)
        rows.append(
            {
                "field": key,
                "server now": h.expandable(_value(before[key])) if key in before else None,
                "after commit": h.expandable(_value(after[key])) if key in after else None,
                "change": kind or "",
            }
        )
        tones.append(kind)
    return rows, tones


def list_details(change: PlannedChange) -> list[str]:
    """For list fields that changed (e.g. a folder's children): which items came and went."""
    before = mask(change.collection, change.before) or {}
    after = mask(change.collection, change.after) or {}
    out = []
    for key in sorted(set(before) & set(after)):
        old, new = before[key], after[key]
        if isinstance(old, list) and isinstance(new, list) and old != new:
            plus = [x for x in new if x not in old]
            minus = [x for x in old if x not in new]
            bits = [f"+{_value(x)}" for x in plus] + [f"-{_value(x)}" for x in minus]  # every one: they are the change
            moved = " (same items, new order)" if not plus and not minus else ""
            out.append(f"{key}: {' '.join(bits)}{moved}")
    return out


def fresh_start_words(plan: FreshStartPlan, sync: Any = None) -> str:
    """What a fresh start does, counted: the records it deletes and the two it writes.

    ``plan.deletes`` counts each collection (``None`` where the server did not say); a
    missing count is taken from the sync's last download when it has one."""
    counts = record_counts(sync)
    known = {c: (n if n is not None else counts.get(c)) for c, n in plan.deletes.items()}
    if not known:
        deletes = "deletes nothing (the server holds no collections)"
    elif all(n is not None for n in known.values()):
        deletes = f"deletes {sum(n or 0 for n in known.values()):,} record(s) in {len(known)} collection(s)"
    else:
        counted = {c: n for c, n in known.items() if n is not None}
        deletes = f"deletes every record of {len(known)} collection(s)" + (
            f" ({sum(counted.values()):,} record(s) counted in {len(counted)} of them)" if counted else ""
        )
    return deletes + ", then writes a new meta/global and new crypto/keys"


def _batch_words(batch: dict[str, int]) -> str:
    size = f", {batch['bytes']:,} bytes" if "bytes" in batch else ""
    return f"{batch.get('records', '?')} record(s) in {batch.get('posts', '?')} POST(s){size}"


class DiffView(View):
    """One planned change: the server's version and the local one side by side,
    changed fields highlighted, with Accept and Reject buttons."""

    def __init__(
        self,
        change: PlannedChange,
        on_decide: Callable[[DiffView], None] | None = None,
        *,
        linked: Sequence[str] = (),
        decide: Callable[[PlannedChange, bool | None], None] | None = None,
        **kwargs: Any,
    ):
        self.change = change
        self._on_decide = on_decide
        self._decide = decide  # the plan's own decision, which takes a linked group whole
        rows, tones = field_rows(change)
        against = when_html(change.base_modified) if change.base_modified is not None else None
        sub = f"staged against the server's version of {against}" if against else "new on the server"
        title = (
            f"<div style='{h.FONT};font-size:14px;font-weight:600;margin:4px 0'>{h.esc(change.kind)} "
            f"{h.esc(change.collection)}/{h.esc(change.id)} <small style='font-weight:normal'>{sub}</small></div>"
        )
        parts = [title]
        if linked:
            parts.append(h.banner(f"linked with {', '.join(linked)}: a move touches the item and both folders,"
                                  " so these changes are accepted or rejected together", "info"))  # fmt: skip
        if change.after is None:
            parts.append(
                h.banner("raw restore: puts back the exact bytes the server had (they do not decrypt)", "info")
            )
        parts.append(h.table(rows, ["field", "server now", "after commit", "change"], tones=tones,
                             empty="no fields"))  # fmt: skip
        parts += [f"<div style='{h.FONT}'>{h.esc(line)}</div>" for line in list_details(change)]
        self.body = html("".join(parts), "synctools-diff-body")
        self.accept_button = w.Button(description="Accept", icon="check", tooltip="upload this change on commit")
        self.reject_button = w.Button(description="Reject", icon="times", tooltip="leave the server's version as it is")
        self.accept_button.add_class("synctools-accept")
        self.reject_button.add_class("synctools-reject")
        self.accept_button.on_click(lambda _: self.decide(True))
        self.reject_button.on_click(lambda _: self.decide(False))
        self.status = w.HTML()
        self.status.add_class("synctools-decision")
        super().__init__([self.body, w.HBox([self.accept_button, self.reject_button, self.status])], **kwargs)
        self.layout.border = f"1px solid {h.BORDER}"
        self.layout.padding = "4px"
        self.layout.margin = "4px 0"
        self.add_class("synctools-diff")
        self._draw()

    def decide(self, accepted: bool | None) -> None:
        """Accept (True), reject (False) or undo (None); the plan sees it at once (and, for
        a linked change, decides its whole group)."""
        if self._decide is not None:
            self._decide(self.change, accepted)
        else:
            self.change.accepted = accepted
        self._draw()
        if self._on_decide is not None:
            self._on_decide(self)

    def lock(self) -> None:
        """After a commit, decisions are history: the buttons stop working."""
        self.accept_button.disabled = self.reject_button.disabled = True

    def _draw(self) -> None:
        a = self.change.accepted
        h.paint(self.accept_button, "ok" if a is True else None)
        h.paint(self.reject_button, "bad" if a is False else None)
        tone = {None: "muted", True: "ok", False: "bad"}[a]
        self.status.value = h.badge(DECISION_WORDS[a], tone)


def _grouped(plan: UploadPlan) -> list[PlannedChange]:
    """The plan's changes in order, each linked group together where its first member is."""
    out: list[PlannedChange] = []
    placed: set[tuple[str, str]] = set()
    for c in plan.changes():
        for member in plan.linked(c.collection, c.id) or [c]:
            if (member.collection, member.id) not in placed:
                placed.add((member.collection, member.id))
                out.append(member)
    return out


class UploadReview(View):
    """Review an :class:`UploadPlan`: every change as a :class:`DiffView`, the batches,
    and a Commit button that is disabled until every change is decided.

    ``UploadReview(sync, plan)``; with ``sync=None`` (a plan shown on its own) the
    decisions still apply to the plan, and ``sync.commit(plan)`` commits it.
    """

    def __init__(self, sync: Any, plan: Plan, *, max_changes: int = 200, **kwargs: Any) -> None:
        self.sync = sync
        self.plan = plan
        self.result: Any = None
        self.new_review: UploadReview | None = None
        self.error: str | None = None
        self._special: bool | None = None  # the decision on a meta/global or fresh-start plan
        up = plan if isinstance(plan, UploadPlan) else None
        changes = _grouped(up) if up is not None else []
        self.diffs = [
            DiffView(c, on_decide=lambda _: self._refresh(), decide=self._decide_linked,
                     linked=[o.id for o in up.linked(c.collection, c.id) if o.id != c.id] if up is not None else ())
            for c in changes[:max_changes]
        ]  # fmt: skip
        self.hidden = len(changes) - len(self.diffs)
        self.header = html(self._header(), "synctools-review-header")
        self.accept_all = w.Button(description="Accept all", icon="check-double")
        self.reject_all = w.Button(description="Reject all", icon="ban")
        self.accept_all.on_click(lambda _: self._decide_all(True))
        self.reject_all.on_click(lambda _: self._decide_all(False))
        self.batches = html("", "synctools-batches")
        self.commit_button = w.Button(description="Commit", icon="upload", disabled=True)
        h.paint(self.commit_button, "info")
        for b in (self.accept_all, self.reject_all):
            h.paint(b, None)
        self.commit_button.add_class("synctools-commit")
        self.commit_button.on_click(lambda _: self.commit())
        self.status = html("", "synctools-review-status")
        self.result_box = w.VBox([])
        self.result_box.add_class("synctools-commit-result")
        body: list[w.Widget] = [self.header]
        if isinstance(plan, UploadPlan) and plan.empty and not changes:
            self.commit_button.layout.display = "none"  # an empty plan offers nothing to decide or commit
        elif isinstance(plan, UploadPlan):
            body += [w.HBox([self.accept_all, self.reject_all]), *self.diffs]
        else:
            self.special_accept = w.Button(description="Accept", icon="check")
            self.special_reject = w.Button(description="Reject", icon="times")
            self.special_accept.add_class("synctools-accept")
            self.special_reject.add_class("synctools-reject")
            self.special_accept.on_click(lambda _: self._decide_special(True))
            self.special_reject.on_click(lambda _: self._decide_special(False))
            h.paint(self.special_accept, None)
            h.paint(self.special_reject, None)
            body.append(w.HBox([self.special_accept, self.special_reject]))
        body += [self.batches, w.HBox([self.commit_button, self.status]), self.result_box]
        super().__init__(body, **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-review")
        plan.observe(self._on_plan_event)  # decisions and commits made in code show here too
        if plan.result is not None:
            self._on_plan_event(plan, "committed")
        self._refresh()

    def _on_plan_event(self, plan: Plan, event: str) -> None:
        if event == "decision":
            for d in self.diffs:
                d._draw()
        elif event == "committed" and self.result is None:
            self.result = plan.result
            self.commit_button.disabled = True
            for d in self.diffs:
                d.lock()
            self.accept_all.disabled = self.reject_all.disabled = True
            self._show_result(plan.result)
        self._refresh()

    # ------------------------------------------------------------------ decisions
    @property
    def undecided(self) -> int:
        if not isinstance(self.plan, UploadPlan):
            return 0 if self._special is not None else 1
        return len(self.plan.undecided)

    @property
    def can_commit(self) -> bool:
        if self.sync is None or self.result is not None or self.undecided:
            return False
        if isinstance(self.plan, UploadPlan):
            return bool(self.plan.changes())
        return self._special is True

    def _decide_linked(self, change: PlannedChange, value: bool | None) -> None:
        """One Accept/Reject click: the plan decides the change's linked group with it."""
        plan = self.plan
        if not isinstance(plan, UploadPlan):
            change.accepted = value
        elif value is True:
            plan.accept(change.collection, change.id)
        elif value is False:
            plan.reject(change.collection, change.id)
        else:
            for c in plan.linked(change.collection, change.id) or [change]:
                c.accepted = None
            for d in self.diffs:
                d._draw()

    def _decide_all(self, value: bool) -> None:
        if isinstance(self.plan, UploadPlan):
            self.plan.accept() if value else self.plan.reject()
        for d in self.diffs:
            d._draw()
        self._refresh()

    def _decide_special(self, value: bool) -> None:
        self._special = value
        h.paint(self.special_accept, "ok" if value else None)
        h.paint(self.special_reject, "bad" if not value else None)
        self._refresh()

    # ------------------------------------------------------------------ commit
    def commit(self) -> Any:
        """What the Commit button does: ``sync.commit(plan)``, then show what happened."""
        if not self.can_commit:
            raise RuntimeError(self._why_not())
        self.commit_button.disabled = True
        self.commit_button.description = "Committing…"
        self.error = None
        try:
            result = self.sync.commit(self.plan)
        except Exception as exc:  # shown in the widget; the plan stays reviewable
            self.error = f"{type(exc).__name__}: {exc}"
            self.commit_button.description = "Commit"
            self._refresh()
            return None
        if self.result is None:  # the plan's "committed" event has normally drawn it already
            self._on_plan_event(self.plan, "committed")
        return result

    def _show_result(self, result: Any) -> None:
        children: list[w.Widget] = [html(result_html(result), "synctools-commit-report")]
        if result.status == "conflict" and result.new_plan is not None:
            self.new_review = UploadReview(self.sync, result.new_plan)
            children += [html(h.heading(f"New plan #{result.new_plan.id} after the conflict",
                                        "made against the server as it is now")), self.new_review]  # fmt: skip
        self.result_box.children = children

    def _why_not(self) -> str:
        if self.sync is None:
            return "this review has no sync: use UploadReview(sync, plan), or sync.commit(plan) in code"
        if self.result is not None:
            return f"already committed ({self.result.status})"
        if self.undecided:
            return f"decide {self.undecided} more change(s) first"
        return "nothing to commit"

    # ------------------------------------------------------------------ drawing
    def _header(self) -> str:
        plan = self.plan
        if not isinstance(plan, UploadPlan):
            sub = (
                fresh_start_words(plan, self.sync) if isinstance(plan, FreshStartPlan) else f"{plan.kind}: one decision"
            )
            parts = [h.heading(f"Plan #{plan.id} ({plan.kind})", sub)]
            if plan.warning:
                parts.append(h.banner(plan.warning, "bad"))
            parts.append(h.table([{"what": what, "detail": detail} for what, detail in plan.effects()]))
            return "".join(parts)
        changes = plan.changes()
        sub = f"{len(changes)} change(s) in {len(plan.collections)} collection(s)" if changes else "nothing to upload"
        parts = [h.heading(f"Upload plan #{plan.id}", sub)]
        if plan.warning:
            parts.append(h.banner(plan.warning, "bad"))
        if not changes and not plan.blocked:
            parts.append(h.banner("Nothing to upload: no staged change reached this plan, so there is nothing"
                                  " to decide or commit. Stage edits (sync.edit/add/delete), then"
                                  " sync.merge() and sync.plan_upload().", "info"))  # fmt: skip
        if plan.blocked:
            parts.append(h.heading("Conflicts (not in this plan)", "settle with sync.resolve(collection, id, ...)"))
            parts.append(h.table(rows_of([b.row() for b in plan.blocked]), tones=["bad"] * len(plan.blocked)))
        if self.hidden:
            parts.append(
                h.banner(
                    f"{self.hidden} more change(s) are not drawn: decide them with plan.accept()/plan.reject()", "info"
                )
            )
        return "".join(parts)

    def _batches_html(self) -> str:
        rows = []
        if not isinstance(self.plan, UploadPlan):
            return ""
        for name, cp in self.plan.collections.items():
            decided = [c.accepted for c in cp.changes]
            batches = "; ".join(_batch_words(b) for b in cp.batches)
            too_large = getattr(cp, "too_large", None)
            if too_large:
                batches += f"; {len(too_large)} record(s) too large for the server"
            rows.append(
                {
                    "collection": name,
                    "changes": len(cp.changes),
                    "accepted": decided.count(True),
                    "rejected": decided.count(False),
                    "undecided": decided.count(None),
                    "X-If-Unmodified-Since": cp.if_unmodified_since,
                    "batches (for the changes not rejected)": batches or "—",
                }
            )
        if not rows:
            return ""
        return h.heading("Batches", "one atomic batch per collection when the server's limits allow") + h.table(rows)

    def _refresh(self) -> None:
        records = isinstance(self.plan, UploadPlan)
        if isinstance(self.plan, UploadPlan) and self.result is None:
            self.plan.rebatch()  # the batches shown are those the commit will make
        self.batches.value = self._batches_html()
        if self.result is None:
            self.commit_button.disabled = not self.can_commit
            n = sum(1 for c in self.plan.changes() if c.accepted) if isinstance(self.plan, UploadPlan) else 0
            if records and self.can_commit:
                self.commit_button.description = f"Commit {n} change(s)"
        else:
            self.commit_button.description = {"committed": "Committed", "conflict": "Conflict"}.get(
                self.result.status, self.result.status.capitalize()
            )
        if self.error:
            msg = h.banner(f"Commit failed: {self.error}", "bad")
        elif self.result is not None:
            msg = f"<span style='{h.FONT}'>status: <b>{h.esc(self.result.status)}</b></span>"
        elif self.can_commit:
            msg = f"<span style='{h.FONT}'>ready: everything is decided</span>"
        else:
            msg = f"<span style='{h.FONT}'>{h.esc(self._why_not())}</span>"
        self.status.value = msg
