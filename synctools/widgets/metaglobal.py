"""``MetaGlobalView``: meta/global at a glance, problems highlighted and explained."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import _html as h
from ._source import View, html, record_counts, result_and_sync
from ._time import server_time, when_html

STATE_WORDS = {
    "enabled": "enabled",
    "declined": "declined",
    "unknown-kept": "unknown (kept)",
    "missing": "disabled",
}


def engine_rows(result: Any, sync: Any = None) -> tuple[list[dict[str, Any]], list[str | None]]:
    """One row per engine with its problem (if any) in plain words, and the row tones."""
    counts = record_counts(sync)
    info = getattr(sync, "info_collections", None) or {}
    changes = {c.engine: c for c in (result.plan.changes if result.plan is not None else ())}
    rows: list[dict[str, Any]] = []
    tones: list[str | None] = []
    frame = result.engines
    for rec in [] if frame is None or frame.empty else frame.to_dict("records"):
        name = rec["engine"]
        tone, note = _problem(rec, changes.get(name))
        modified = info.get(name)
        rows.append(
            {
                "engine": name,
                "state": STATE_WORDS.get(rec["state"], rec["state"]),
                "version": _int(rec.get("version")),
                "Firefox writes": _int(rec.get("known_version")),
                "syncID": rec.get("syncID"),
                "in info/collections": bool(rec.get("on_server")),
                "records": counts.get(name),
                "last modified": modified,  # a local date, the server's value on hover
                "problem": note,
            }
        )
        tones.append(tone)
    return rows, tones


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value != value else int(value)
    except (TypeError, ValueError):
        return None


def _problem(rec: dict[str, Any], change: Any) -> tuple[str | None, str]:
    """Why a row deserves attention (tone, explanation); the first rule that fits wins."""
    state, on_server = rec["state"], bool(rec.get("on_server"))
    version, known = _int(rec.get("version")), _int(rec.get("known_version"))
    if change is not None and change.action not in ("reset-local",):
        return "warn", f"a client would {change.action} it: {change.reason}"
    if version is not None and known is not None and version > known:
        return "bad", f"version {version} is newer than Firefox's {known}: a client must not write it"
    if version is not None and known is not None and version < known:
        return "warn", f"version {version} is older than {known}: Firefox would reset the engine and re-upload"
    if state == "missing" and on_server:
        return "bad", "records on the server but the engine is not in meta/global: no client syncs them"
    if state == "declined" and on_server:
        return "warn", "declined, yet its old records are still on the server (Firefox leaves them; nobody reads them)"
    if state == "unknown-kept":
        return "info", "not an engine Firefox knows; kept because other clients may implement it"
    if state == "missing":
        return (
            "info",
            "not listed and not declined: disabled by the client that wrote meta/global; Firefox would add it",
        )
    if state == "enabled" and not on_server:
        return None, "enabled; nothing uploaded yet"
    if change is not None:
        return "info", f"local state reset: {change.reason}"
    return None, ""


class MetaGlobalView(View):
    """meta/global: storage version, global syncID and the engines, with problems explained.

    ``MetaGlobalView(sync)`` (after ``fetch_meta_global``; record counts and last-modified
    times appear once the sync has them) or ``MetaGlobalView(sync.results["fetch_meta_global"])``.
    """

    def __init__(self, source: Any, *, sync: Any = None, **kwargs: Any) -> None:
        from ..results import MetaGlobalResult

        result, found = result_and_sync(source, "fetch_meta_global", MetaGlobalResult)
        self.result = result
        self.sync = found if found is not None else sync
        self.rows, self.tones = engine_rows(result, self.sync)
        self.header = html(self._header(), "synctools-meta-header")
        self.only_problems = w.Checkbox(value=False, description="only engines with problems", indent=False)
        self.table = html("", "synctools-engines")
        self.only_problems.observe(lambda _: self._draw(), names="value")
        self._draw()
        super().__init__([self.header, self.only_problems, self.table], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-metaglobal")

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Rows that need attention (tone bad or warn)."""
        return [r for r, t in zip(self.rows, self.tones) if t in ("bad", "warn")]

    def _header(self) -> str:
        r, mg = self.result, self.result.meta_global
        plan = r.plan
        when = when_html(server_time(r.modified)) if r.modified else None
        parts = [h.heading("meta/global") + (f"<div style='{h.FONT}'>modified {when}</div>" if when else "")]
        parts.append(
            h.pairs(
                [
                    ("storageVersion", mg.storage_version if mg else "missing"),
                    ("global syncID", mg.sync_id if mg else "—"),
                    ("declined", ", ".join(sorted(mg.declined)) if mg and mg.declined else "none"),
                    ("status", f"{plan.status}: {plan.reason}" if plan is not None else "?"),
                ]
            )
        )
        for problem in r.problems:
            parts.append(h.banner(problem, "bad"))
        for warning in r.warnings:
            if warning not in r.problems:
                parts.append(h.banner(warning, "warn"))
        if plan is not None and plan.status == "upload":
            parts.append(h.banner("meta/global must change: review result.upload, then sync.commit(it)", "warn"))
        return "".join(parts)

    def _draw(self) -> None:
        keep = [i for i, t in enumerate(self.tones) if not self.only_problems.value or t in ("bad", "warn")]
        rows = [self.rows[i] for i in keep]
        tones = [self.tones[i] for i in keep]
        note = (
            ""
            if self.sync is not None
            else h.banner(
                "Shown from the result alone: pass the sync (MetaGlobalView(sync)) for record counts and times.", "info"
            )
        )
        self.table.value = h.table(rows, tones=tones, mono=("syncID",), empty="no engines") + note
