"""A stage result as themed HTML, read only from its public data.

Shared by :class:`~synctools.widgets.stages.ResultView` and the stages' detail pane.
Timestamps are local dates with the server's value on hover; nothing is cut. A commit
says what it did: records written per collection, or for a fresh start the wipe and
the new meta/global and crypto/keys; a 412 reads as a conflict.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from . import _html as h
from ._time import server_time

STATUS_TONES = {"committed": "ok", "nothing": "info", "partial": "warn", "conflict": "bad"}
#: columns whose text values are server timestamps (some results keep them as strings)
TIME_COLUMNS = (
    "modified",
    "last modified",
    "X-Last-Modified",
    "server modified",
    "base modified",
    "staged against",
    "server now",
)  # the last two: a conflict's row (Conflict.row())


def _as_time(value: Any) -> Any:
    return server_time(value)


def rows_of(rows: Any) -> list[dict[str, Any]]:
    """A result table (rows or a DataFrame) as rows, server times made timestamps."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    out: list[dict[str, Any]] = frame.to_dict("records")  # pandas is untyped here
    for row in out:
        for col in TIME_COLUMNS:
            if col in row:
                row[col] = _as_time(row[col])
    return out


_SERVER_TIME = re.compile(r"(?<![\d.])(\d{10}\.\d{2})(?![\d.])")


def words(text: str) -> str:
    """A stage's sentence as HTML, any server timestamp in it shown as a local date."""
    from ._time import when_html

    def local(match: re.Match[str]) -> str:
        return _as_time_html(match.group(1), when_html)

    return _SERVER_TIME.sub(local, h.esc(text))


def _as_time_html(raw: str, when_html: Any) -> str:
    shown = when_html(_as_time(raw))
    return shown if shown is not None else raw


def commit_words(result: Any) -> tuple[str, str]:
    """(tone, sentence) for a CommitResult: what happened, in words."""
    status = result.status
    written = sum(len(u.success) for u in result.uploads)
    kind = getattr(result, "plan_kind", "records")
    if status == "conflict":
        where = getattr(result, "conflict_collection", None) or ", ".join(
            sorted({u.collection for u in result.uploads} | set(result.failed))) or (
            "the server" if kind != "records" else "the collection")  # fmt: skip
        new = " A new plan against the server as it is now is below: review it." if result.new_plan is not None else ""
        return "bad", (
            f"Conflict (412 Precondition Failed): someone else wrote to {where} after this plan was made, "
            f"so nothing of it was written.{new}"
        )
    done = [f"{what}: {detail}" for what, detail in getattr(result, "done", [])]
    if status == "committed" and kind != "records":
        return "ok", "Committed: " + ("; ".join(done or result.decisions) or kind) + "."
    if status == "committed":
        return "ok", f"Committed: {written} record(s) written."
    if status == "partial":
        refused = sum(len(f) for f in result.failed.values())
        return (
            "warn",
            f"Partly committed: {written} record(s) written, {refused} refused by the server (they stay staged).",
        )
    if status == "nothing":
        return "info", "Nothing was accepted: nothing was written."
    return "warn", str(status)


def result_html(result: Any) -> str:
    """Heading, what happened, summary, decisions, warnings, tables and requests."""
    from ..results import CommitResult

    status = getattr(result, "status", None)
    tone = STATUS_TONES.get(status, "info") if isinstance(status, str) else ("warn" if result.warnings else "ok")
    label = status if isinstance(status, str) else ("done with warnings" if result.warnings else "done")
    parts = [
        f"<div style='{h.FONT};font-size:14px;font-weight:600;margin:4px 0'>{h.esc(result.stage)}() "
        f"{h.badge(label, tone)} <small style='font-weight:normal'>state after: <code>{h.esc(result.state)}</code>, "
        f"{result.seconds:.2f}s, {len(result.requests)} request(s)</small></div>"
    ]
    summary = list(result.summary())
    if isinstance(result, CommitResult):
        tone_words = commit_words(result)
        parts.append(h.banner(tone_words[1], tone_words[0]))
        # a snapshot that was not taken (nothing written, or a special commit) is not a row
        summary = [(k, v) for k, v in summary if not (k.startswith("snapshot") and v is None)]
        if not result.uploads:
            summary = [(k, v) for k, v in summary if k not in ("records written", "records refused")]
    if summary:
        parts.append(h.pairs((k, _as_time(v) if "modified" in k else v) for k, v in summary))
    for warning in result.warnings:
        parts.append(h.banner(words(warning), "warn", raw_html=True))
    if result.decisions:
        items = "".join(f"<li style='overflow-wrap:anywhere'>{words(d)}</li>" for d in result.decisions)
        parts.append(h.heading("Decided") + f"<ul style='{h.FONT};margin:2px 0'>{items}</ul>")
    for title, rows in result.tables():
        table = rows_of(rows)
        if table:
            parts.append(h.heading(title) + h.table(table))
    if result.requests:
        parts.append(
            f"<details style='{h.FONT}'><summary>HTTP ({len(result.requests)} request(s))</summary>"
            + h.table(rows_of(result.requests), mono=("path",))
            + "</details>"
        )
    return "".join(parts)
