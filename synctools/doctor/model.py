"""What the doctor reports: findings, the fixes it proposes as data, and the report.

A :class:`Fix` is a list of :class:`Op` — ``sync.edit``/``add``/``delete`` calls written
down instead of made. Nothing is staged until a person calls ``finding.stage(sync)``
(or ``report.stage_fixes(sync)``); nothing reaches the server until they review and
commit the plan, exactly as for hand-made edits.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from synctools.display import mimebundle

from .anonymize import anonymize
from .registry import CHECKS, SEVERITIES, CheckInfo, register

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

__all__ = ["CHECKS", "CHECK_FAILED", "SEVERITIES", "CheckInfo", "Finding", "Fix", "Link", "Op", "Report", "register"]
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


#: a check that raised: reported as one finding, never allowed to hide the others
CHECK_FAILED = register(
    "doctor.check-failed", "error", "a check raised an error on some record; the other checks still ran"
)


@dataclass(frozen=True)
class Op:
    """One staged change, as data.

    ``action`` is ``"edit"`` (merge ``changes`` into the record; ``append``/``remove``
    add or drop ids in its ``children`` list, applied to the record as staged so far, so
    two fixes touching one folder compose), ``"add"`` (upload ``record`` as it is, e.g.
    re-encrypted with the right key) or ``"delete"`` (a tombstone).
    """

    action: str
    collection: str
    id: str
    changes: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    append: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    list_field: str = "children"
    #: ``(old, new)`` ids to substitute in ``list_field`` in place (a record given a new id)
    replace: tuple[tuple[str, str], ...] = ()
    #: make ``list_field`` unique, keeping each id's first place
    unique: bool = False
    #: fields to remove from the record (sent as the whole record, since an edit only merges)
    drop: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f"{self.collection}/{self.id}"
        if self.action == "delete":
            return f"delete {where} (tombstone)"
        if self.action == "add":
            return f"re-upload {where}"
        parts = [f"{k}={_short(v)}" for k, v in (self.changes or {}).items()]
        parts += [f"{self.list_field} += {list(self.append)}"] if self.append else []
        parts += [f"{self.list_field} -= {list(self.remove)}"] if self.remove else []
        parts += [f"{self.list_field}: {old} → {new}" for old, new in self.replace]
        parts += [f"{self.list_field}: each id once"] if self.unique else []
        parts += [f"drop {', '.join(self.drop)}"] if self.drop else []
        return f"edit {where}: " + ", ".join(parts)

    def apply(self, sync: Sync) -> None:
        if self.action == "delete":
            sync.delete(self.collection, self.id)
        elif self.action == "add":
            assert self.record is not None
            sync.add(self.collection, self.record)
        elif self.action == "edit":
            changes = dict(self.changes or {})
            if self.append or self.remove or self.replace or self.unique:
                current = _current(sync, self.collection, self.id)
                raw = current.get(self.list_field)
                items = [c for c in (raw if isinstance(raw, list) else []) if c not in self.remove]
                subst = dict(self.replace)
                items = [subst.get(c, c) if isinstance(c, str) else c for c in items]
                if self.unique:  # by value: a malformed list may hold numbers, objects or lists
                    seen: set[str] = set()
                    kept = []
                    for c in items:
                        key = json.dumps(c, sort_keys=True, default=str)
                        if key not in seen:
                            seen.add(key)
                            kept.append(c)
                    items = kept
                items += [c for c in self.append if c not in items]
                changes[self.list_field] = items
            if self.drop:
                record = {k: v for k, v in {**_current(sync, self.collection, self.id), **changes}.items()
                          if k not in self.drop}  # fmt: skip
                env = getattr(sync, "_envelopes", {}).get(self.collection, {}).get(self.id)
                sync.add(self.collection, record, sortindex=getattr(env, "sortindex", None))
            else:
                sync.edit(self.collection, self.id, changes)
        else:  # pragma: no cover - ops are built by the checks only
            raise ValueError(f"unknown fix action {self.action!r}")


def _current(sync: Sync, collection: str, record_id: str) -> dict[str, Any]:
    """The record as staged so far, else as downloaded."""
    if sync.store is not None:
        for change in sync.store.staged(collection):
            if change.id == record_id and change.record is not None:
                return change.record
    return sync.record(collection, record_id)


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Link:
    """Records that one change touches together: moving a bookmark edits the bookmark and
    both folders. Committing part of a link leaves the tree worse than before, so a
    review must accept or reject a link as a whole."""

    why: str
    records: tuple[tuple[str, str], ...]  # (collection, id)


@dataclass(frozen=True)
class Fix:
    """A proposed fix: what it does in words, and the staged edits that do it."""

    description: str
    ops: tuple[Op, ...]
    #: what to check in the plan before committing, when the fix rests on a judgement
    caution: str | None = None
    #: groups of records this fix changes together (see :class:`Link`)
    links: tuple[Link, ...] = ()

    def __str__(self) -> str:
        text = f"{self.description} [" + "; ".join(op.describe() for op in self.ops) + "]"
        return text + (f" CAUTION: {self.caution}" if self.caution else "")


@dataclass
class Finding:
    """One problem found: which check, how bad, which records, why, and maybe a fix."""

    check: str
    severity: str
    collection: str | None
    record_ids: list[str]
    explanation: str
    fix: Fix | None = None
    #: machine-readable facts (ids, counts, reasons) that hold no urls, titles or secrets
    facts: dict[str, Any] = field(default_factory=dict)
    #: fixes a person chooses between (keep copy 1, keep copy 2, ...) when no single one is safe
    choices: list[Fix] = field(default_factory=list)

    def stage(self, sync: Sync, choice: int | None = None) -> list[str]:
        """Stage this finding's fix (or ``choices[choice]``) on ``sync``; nothing is uploaded.
        Returns what was staged."""
        if choice is not None:
            if not 0 <= choice < len(self.choices):
                raise ValueError(f"{self.check}: choice must be 0..{len(self.choices) - 1}, got {choice}")
            fix: Fix | None = self.choices[choice]
        else:
            fix = self.fix
        if fix is None:
            hint = (
                f" Pick one of its {len(self.choices)} choices: finding.stage(sync, choice=N)." if self.choices else ""
            )
            raise ValueError(f"{self.check} has no safe automatic fix: {self.explanation}{hint}")
        for op in fix.ops:
            op.apply(sync)
        return [op.describe() for op in fix.ops]

    def row(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "collection": self.collection,
            "record_ids": list(self.record_ids),
            "explanation": self.explanation,
            "fix": str(self.fix) if self.fix else None,
        }

    def __str__(self) -> str:
        where = f"{self.collection}: " if self.collection else ""
        ids = ", ".join(self.record_ids[:5]) + (f" (+{len(self.record_ids) - 5})" if len(self.record_ids) > 5 else "")
        lines = [f"[{self.severity.upper()}] {self.check} — {where}{ids or '(account)'}", f"    {self.explanation}"]
        if self.fix:
            lines.append(f"    fix: {self.fix.description}")
            if self.fix.caution:
                lines.append(f"    caution: {self.fix.caution}")
            lines += [f"      · {op.describe()}" for op in self.fix.ops[:8]]
            if len(self.fix.ops) > 8:
                lines.append(f"      · … {len(self.fix.ops) - 8} more")
        for i, choice in enumerate(self.choices):
            lines.append(f"    choice {i}: {choice.description}")
        return "\n".join(lines)


FRAME_COLUMNS = ["check", "severity", "collection", "record_ids", "explanation", "fix"]


class Report:
    """The doctor's findings. ``frame`` is a DataFrame (one row per finding);
    ``str(report)`` reads in a terminal and the report renders as HTML in a notebook."""

    def __init__(self, findings: Iterable[Finding], *, context: dict[str, Any] | None = None,
                 sync: Sync | None = None, checked: Sequence[str] = (),
                 skipped: dict[str, str] | None = None, seconds: float | None = None) -> None:  # fmt: skip
        self.findings = sorted(findings, key=lambda f: (_RANK[f.severity], f.check, f.collection or "", f.record_ids))
        self.context = context or {}
        self.checked = list(checked)  # the collections whose records were examined
        #: checks that could not run, with why (no device list without a session token, say)
        self.skipped = dict(skipped or {})
        #: how long the checks took
        self.seconds = seconds
        self._sync = sync

    # --------------------------------------------------------------- queries
    @property
    def sync(self) -> Sync | None:
        """The sync that was checked (stage fixes on it, or read its records)."""
        return self._sync

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.row() for f in self.findings], columns=FRAME_COLUMNS)

    def __len__(self) -> int:
        return len(self.findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def of(self, check: str) -> list[Finding]:
        """The findings of one check (an exact id, or a prefix such as ``"bookmarks."``)."""
        return [f for f in self.findings if f.check == check or (check.endswith(".") and f.check.startswith(check))]

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fix is not None]

    def stage_fixes(self, sync: Sync, checks: Iterable[str] | None = None) -> list[str]:
        """Stage every proposed fix (or those of ``checks``); review with merge/plan_upload."""
        wanted = set(checks) if checks is not None else None
        staged: list[str] = []
        for f in self.fixable:
            if wanted is None or f.check in wanted:
                staged += f.stage(sync)
        return staged

    def anonymized(self) -> dict[str, Any]:
        """The findings and the shapes of the records involved, with urls, titles,
        usernames, device names and every secret removed (ids hashed): safe to share."""
        return anonymize(self.findings, self._sync)

    # --------------------------------------------------------------- display
    def _headline(self) -> str:
        c = self.counts
        if not self.findings:
            return "synctools doctor: no problems found"
        return (f"synctools doctor: {len(self.findings)} finding(s) — {c['error']} error(s), "
                f"{c['warning']} warning(s), {c['info']} note(s); {len(self.fixable)} with a proposed fix")  # fmt: skip

    def __str__(self) -> str:
        lines = [self._headline()]
        if self.checked:
            lines.append("checked: " + ", ".join(self.checked))
        for check_id, why in sorted(self.skipped.items()):
            lines.append(f"not checked: {check_id} ({why})")
        for f in self.findings:
            lines += ["", str(f)]
        if self.fixable:
            lines += ["", "To apply the fixes: report.stage_fixes(sync); sync.merge(); plan = sync.plan_upload();"
                      " review the plan; sync.commit(plan)"]  # fmt: skip
        return "\n".join(lines)

    def __repr__(self) -> str:
        c = self.counts
        return f"<doctor Report: {c['error']} error(s), {c['warning']} warning(s), {c['info']} note(s)>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        """In a Jupyter kernel, the registered widget (DoctorView); HTML stays the fallback."""
        return mimebundle(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        colour = {"error": "var(--jp-error-color1, #b00)", "warning": "var(--jp-warn-color1, #b60)",
                  "info": "var(--jp-info-color1, #06b)"}  # fmt: skip
        parts = [f"<div class='synctools-doctor'><h4>{esc(self._headline())}</h4>"]
        if self.findings:
            parts.append(
                "<table><tr><th>severity</th><th>check</th><th>collection</th><th>records</th>"
                "<th style='text-align:left'>explanation</th><th style='text-align:left'>proposed fix</th></tr>"
            )
            for f in self.findings:
                ids = ", ".join(f.record_ids[:5]) + (" …" if len(f.record_ids) > 5 else "")
                fix = esc(f.fix.description) if f.fix else "<i>none</i>"
                if f.fix and f.fix.caution:
                    fix += f"<br><b style='color:var(--jp-warn-color1, #b60)'>caution:</b> {esc(f.fix.caution)}"
                if f.fix:
                    fix += (
                        "<details><summary>edits</summary><ul>"
                        + "".join(f"<li><code>{esc(op.describe())}</code></li>" for op in f.fix.ops)
                        + "</ul></details>"
                    )
                parts.append(
                    f"<tr><td style='color:{colour[f.severity]}'><b>{f.severity}</b></td>"
                    f"<td><code>{esc(f.check)}</code></td>"
                    f"<td>{esc(f.collection or '')}</td><td><code>{esc(ids)}</code></td>"
                    f"<td style='text-align:left'>{esc(f.explanation)}</td><td style='text-align:left'>{fix}</td></tr>"
                )
            parts.append("</table>")
            if self.fixable:
                parts.append("<p>Stage the fixes with <code>report.stage_fixes(sync)</code>, then "
                             "<code>sync.merge()</code>, <code>plan = sync.plan_upload()</code>, review, "
                             "<code>sync.commit(plan)</code>.</p>")  # fmt: skip
        parts.append("</div>")
        return "".join(parts)
