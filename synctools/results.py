"""Result objects returned by each stage of :class:`synctools.Sync`.

Each says what was requested, what came back, what was decided and how long it took,
as text (``repr``) and HTML (``_repr_html_``) for notebooks. The rich widgets of
``synctools.widgets`` build on the same data.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .display import mimebundle
from .protocol.bso import ServerTime

if TYPE_CHECKING:  # pragma: no cover
    from .net import UploadResult
    from .plan import Conflict, MetaGlobalPlan, UploadPlan
    from .protocol.metaglobal import MetaGlobal, MetaGlobalChanges

#: what fetch_crypto_keys found
KeysStatus = Literal["ok", "missing", "undecryptable"]
#: how a commit ended: all written, a 412 stopped it, the server refused some records,
#: nothing was accepted, or (for a fresh start or meta/global) the plan's writes done
CommitStatus = Literal["committed", "conflict", "partial", "nothing"]


def _table(rows: list[dict[str, Any]] | pd.DataFrame, max_rows: int = 30) -> str:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if frame.empty:
        return "<p><i>none</i></p>"
    table: str = frame.head(max_rows).to_html(index=False, border=0, escape=True)  # pandas is untyped here
    return table


@dataclass
class StageResult:
    """What one stage did. ``requests`` are the HTTP exchanges it made (from the trace)."""

    stage: str
    state: str  # the sync's state after the stage
    seconds: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    started_at: datetime | None = None  # wall-clock UTC when the stage began
    trace_seq: tuple[int, int] | None = None  # the first and last trace exchange it made (seq)
    _sync_ref: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    @property
    def sync(self) -> Any:
        """The :class:`~synctools.Sync` that produced this result (a weak reference)."""
        return self._sync_ref() if self._sync_ref is not None else None

    # subclasses fill these two
    def summary(self) -> list[tuple[str, Any]]:
        return []

    def tables(self) -> list[tuple[str, Any]]:
        return []

    def __repr__(self) -> str:
        lines = [f"{self.stage}: {self.state} in {self.seconds:.2f}s, {len(self.requests)} request(s)"]
        lines += [f"  {k}: {v}" for k, v in self.summary()]
        lines += [f"  decided: {d}" for d in self.decisions]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        for title, rows in self.tables():
            frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
            if not frame.empty:
                lines.append(f"  {title}:")
                lines += ["    " + line for line in frame.head(20).to_string(index=False).splitlines()]
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any] | None:
        """In a Jupyter kernel, its registered widget (``_repr_html_`` stays the fallback)."""
        return mimebundle(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [
            f"<div class='synctools-result'><h4>{esc(self.stage)} → <code>{esc(self.state)}</code>"
            f" <small>({self.seconds:.2f}s, {len(self.requests)} request(s))</small></h4>"
        ]
        if self.summary():
            parts.append("<table>")
            parts += [
                f"<tr><th style='text-align:left'>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                for k, v in self.summary()
            ]
            parts.append("</table>")
        for w in self.warnings:
            parts.append(f"<p style='color:var(--jp-warn-color0, #b35900)'>⚠ {esc(w)}</p>")
        if self.decisions:
            parts.append("<p><b>Decided</b></p><ul>" + "".join(f"<li>{esc(d)}</li>" for d in self.decisions) + "</ul>")
        for title, rows in self.tables():
            parts.append(f"<p><b>{esc(title)}</b></p>{_table(rows)}")
        if self.requests:
            reqs = [{k: r.get(k) for k in ("method", "path", "status", "ms")} for r in self.requests]
            parts.append(f"<details><summary>HTTP ({len(reqs)})</summary>{_table(reqs, 100)}</details>")
        parts.append("</div>")
        return "".join(parts)


@dataclass(repr=False)
class AuthResult(StageResult):
    email: str | None = None
    uid: str | None = None
    kid: str | None = None
    key_fingerprint: str | None = None
    verification: str | None = None

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("account", self.email),
            ("uid", self.uid),
            ("X-KeyID", self.kid),
            ("kSync", f"fingerprint {self.key_fingerprint}"),
            ("verification", self.verification or "none needed"),
        ]


@dataclass(repr=False)
class TokenResult(StageResult):
    api_endpoint: str = ""
    uid: int | None = None
    duration: int | None = None
    token_fingerprint: str = ""

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("api_endpoint", self.api_endpoint),
            ("storage uid", self.uid),
            ("token lifetime (s)", self.duration),
            ("Hawk id", f"fingerprint {self.token_fingerprint}"),
        ]


@dataclass(repr=False)
class InfoResult(StageResult):
    configuration: dict[str, Any] = field(default_factory=dict)
    collections: dict[str, ServerTime] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("collections on server", len(self.collections)),
            ("changed since last sync", ", ".join(self.changed) or "none"),
        ]

    def tables(self) -> list[tuple[str, Any]]:
        return [
            (
                "info/collections",
                [
                    {"collection": k, "modified": str(v), "changed": k in self.changed}
                    for k, v in sorted(self.collections.items())
                ],
            ),
            ("info/configuration", [{"limit": k, "value": v} for k, v in sorted(self.configuration.items())]),
        ]


@dataclass(repr=False)
class MetaGlobalResult(StageResult):
    meta_global: MetaGlobal | None = None
    engines: pd.DataFrame = field(default_factory=pd.DataFrame)
    plan: MetaGlobalChanges | None = None  # what a client would change, as rules say
    upload: MetaGlobalPlan | None = None  # when meta/global must change: review, then commit
    problems: list[str] = field(default_factory=list)
    modified: ServerTime | None = None

    def summary(self) -> list[tuple[str, Any]]:
        mg = self.meta_global
        return [
            ("status", self.plan.status if self.plan else "?"),
            ("storageVersion", mg.storage_version if mg else "missing"),
            ("syncID", mg.sync_id if mg else None),
            ("declined", ", ".join(sorted(mg.declined)) if mg else None),
            ("modified", None if self.modified is None else str(self.modified)),
        ]

    def tables(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [("engines", self.engines)]
        if self.plan is not None and self.plan.changes:
            out.append(("changes a client would make", [c.__dict__ for c in self.plan.changes]))
        return out


@dataclass(repr=False)
class CryptoKeysResult(StageResult):
    fingerprints: dict[str, str] = field(default_factory=dict)
    usage: list[dict[str, Any]] = field(default_factory=list)
    status: KeysStatus = "ok"
    modified: ServerTime | None = None

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("status", self.status),
            ("default key", self.fingerprints.get("default")),
            ("modified", None if self.modified is None else str(self.modified)),
        ]

    def tables(self) -> list[tuple[str, Any]]:
        return [("which key each collection uses", self.usage)]


@dataclass(repr=False)
class DownloadResult(StageResult):
    collections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.collections)

    def summary(self) -> list[tuple[str, Any]]:
        total = sum(c["downloaded"] for c in self.collections)
        failed = sum(c["failed"] for c in self.collections)
        return [("records downloaded", total), ("records that failed", failed)]

    def tables(self) -> list[tuple[str, Any]]:
        return [("per collection", self.collections)]


@dataclass(repr=False)
class MergeResult(StageResult):
    incoming: list[dict[str, Any]] = field(default_factory=list)
    outgoing: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("server changes since last merge", sum(r["changed"] for r in self.incoming)),
            ("staged changes ready", len(self.outgoing)),
            ("conflicts", len(self.conflicts)),
        ]

    def tables(self) -> list[tuple[str, Any]]:
        return [
            ("staged changes", self.outgoing),
            ("conflicts (resolve with sync.resolve)", [c.row() for c in self.conflicts]),
        ]


@dataclass(repr=False)
class CommitResult(StageResult):
    status: CommitStatus = "committed"
    uploads: list[UploadResult] = field(default_factory=list)
    snapshot: int | None = None
    new_plan: UploadPlan | None = None  # after a 412: the plan made against the server's new state
    failed: dict[str, dict[str, str]] = field(default_factory=dict)
    conflict_collection: str | None = None  # the collection whose write met a 412
    plan_kind: str = "records"  # the kind of plan committed (records, meta/global, fresh-start, engine-reset)
    done: list[tuple[str, str]] = field(default_factory=list)  # what it did, counted: (what, detail)

    def summary(self) -> list[tuple[str, Any]]:
        status = {
            "conflict": "conflict: someone else wrote first (412); nothing of theirs was overwritten",
            "nothing": "nothing accepted: nothing written",
        }.get(self.status, self.status)
        rows: list[tuple[str, Any]] = [("status", status), ("plan", self.plan_kind)]
        if self.plan_kind == "records":
            rows.append(("records written", sum(len(u.success) for u in self.uploads)))
            if self.failed:
                rows.append(("records refused", sum(len(f) for f in self.failed.values())))
            if self.snapshot is not None:
                rows.append(("snapshot (for sync.restore)", self.snapshot))
        rows += self.done
        if self.new_plan is not None:
            n = len(self.new_plan.changes())
            rows.append(("new plan to review", f"result.new_plan (#{self.new_plan.id}, {n} change(s))"))
        return rows

    def tables(self) -> list[tuple[str, Any]]:
        return [
            (
                "uploads",
                [
                    {
                        "collection": u.collection,
                        "ok": len(u.success),
                        "failed": len(u.failed),
                        "POSTs": u.posts,
                        "commits": u.commits,
                        "modified": str(u.modified),
                    }
                    for u in self.uploads
                ],
            )
        ]
