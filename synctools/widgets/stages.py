"""``StagesView`` (where the sync stands), ``TraceView`` (its HTTP) and ``ResultView``."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import _html as h
from ._source import View, html


class ResultView(View):
    """Any stage result: its summary, decisions, warnings, tables and requests."""

    def __init__(self, result: Any, **kwargs: Any) -> None:
        self.result = result
        tone = "bad" if getattr(result, "status", "") == "conflict" else None
        top = h.banner(f"{result.stage}: {result.status}", tone) if tone else ""
        self.body = html(top + result._repr_html_(), "synctools-result-body")
        super().__init__([self.body], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-result")


class StagesView(View):
    """The stages of one sync in order: which ran, what they took, which comes next.
    "Run next stage" runs ``sync.next()`` (never commit: that stays a person's act)."""

    def __init__(self, sync: Any, **kwargs: Any) -> None:
        self.sync = sync
        self.table = html("", "synctools-stages-table")
        self.next_button = w.Button(description="Run next stage", icon="play")
        self.next_button.add_class("synctools-next")
        self.next_button.on_click(lambda _: self.run_next())
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.pick = w.Dropdown(description="Result of", options=[], layout=w.Layout(width="320px"))
        self.pick.observe(lambda _: self._show_pick(), names="value")
        self.detail = html("", "synctools-stage-detail")
        super().__init__([self.table, w.HBox([self.next_button, self.refresh_button, self.pick]), self.detail], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-stages")
        self.refresh()

    def rows(self) -> tuple[list[dict[str, Any]], list[str | None]]:
        from ..machine import NEXT_STAGE, STAGES, State

        nxt = NEXT_STAGE.get(self.sync.state)
        rows, tones = [], []
        for n, stage in enumerate(STAGES, 1):
            r = self.sync.results.get(stage)
            if stage == nxt:
                status, tone = "next", "info"
            elif stage == "commit" and self.sync.state is State.PLANNED:
                status, tone = "yours: review the plan, then commit", "info"
            elif r is not None:
                status, tone = ("done with warnings", "warn") if r.warnings else ("done", "ok")
            else:
                status, tone = "", None
            rows.append(
                {
                    "#": n,
                    "stage": f"{stage}()",
                    "status": status,
                    "state after": r.state if r is not None else None,
                    "seconds": round(r.seconds, 3) if r is not None else None,
                    "requests": len(r.requests) if r is not None else None,
                    "warnings": "; ".join(r.warnings) if r is not None else None,
                }
            )
            tones.append(tone)
        return rows, tones

    def refresh(self) -> None:
        from ..machine import NEXT_STAGE

        rows, tones = self.rows()
        nxt = NEXT_STAGE.get(self.sync.state)
        where = f"state <b>{h.esc(self.sync.state.value)}</b>; " + (
            f"next: <code>sync.{h.esc(nxt)}()</code>" if nxt else "no automatic next stage"
        )
        self.table.value = h.heading("Stages", repr(self.sync)) + f"<div style='{h.FONT}'>{where}</div>" + h.table(
            rows, tones=tones, width=100
        )
        self.next_button.disabled = nxt is None
        self.next_button.description = f"Run {nxt}()" if nxt else "Run next stage"
        self.pick.options = [s for s in self.sync.results]
        self._show_pick()

    def run_next(self) -> None:
        try:
            self.sync.next()
        except Exception as exc:  # a stage's expected failure is shown, not raised into the frontend
            self.refresh()
            self.detail.value = h.banner(f"{type(exc).__name__}: {exc}", "bad")
            return
        self.refresh()
        self.pick.value = list(self.sync.results)[-1] if self.sync.results else None

    def _show_pick(self) -> None:
        r = self.sync.results.get(self.pick.value) if self.pick.value else None
        self.detail.value = r._repr_html_() if r is not None else ""


class TraceView(View):
    """Every HTTP exchange of the sync (secrets already replaced by fingerprints in the
    trace), filterable by service and to errors/server signals, one page at a time."""

    COLUMNS = ["seq", "service", "method", "path", "status", "elapsed_ms", "signals", "error"]

    def __init__(self, sync: Any, page_size: int = 40, **kwargs: Any) -> None:
        self.sync = sync
        self.page_size = page_size
        self.page = 0
        self.service = w.Dropdown(description="service", options=["all"], value="all", layout=w.Layout(width="220px"))
        self.only_problems = w.Checkbox(value=False, description="only errors and server signals", indent=False)
        self.prev_button = w.Button(description="◀", layout=w.Layout(width="40px"))
        self.next_button = w.Button(description="▶", layout=w.Layout(width="40px"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.pick = w.Dropdown(description="headers of", options=[], layout=w.Layout(width="200px"))
        self.table = html("", "synctools-trace-table")
        self.detail = html("", "synctools-trace-detail")
        self.service.observe(lambda _: self._first_page(), names="value")
        self.only_problems.observe(lambda _: self._first_page(), names="value")
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(1))
        self.refresh_button.on_click(lambda _: self.refresh())
        self.pick.observe(lambda _: self._show_headers(), names="value")
        bar = w.HBox([self.service, self.only_problems, self.prev_button, self.next_button, self.refresh_button, self.pick])
        super().__init__([bar, self.table, self.detail], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-trace")
        self.refresh()

    def frame(self) -> Any:
        f = self.sync.trace.reset_index()
        if f.empty:
            return f
        f["path"] = f["url"].map(_path)
        if self.service.value != "all":
            f = f[f["service"] == self.service.value]
        if self.only_problems.value:
            bad = f["error"].notna() & (f["error"] != "") | (f["signals"] != "") | (f["status"].fillna(0) >= 400)
            f = f[bad]
        return f

    def refresh(self) -> None:
        services = sorted(set(self.sync.trace["service"].dropna())) if len(self.sync.trace) else []
        keep = self.service.value
        self.service.options = ["all", *services]
        self.service.value = keep if keep in self.service.options else "all"
        self._draw()

    def _first_page(self) -> None:
        self.page = 0
        self._draw()

    def _turn(self, step: int) -> None:
        self.page += step
        self._draw()

    def _draw(self) -> None:
        f = self.frame()
        pages = max(1, -(-len(f) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        part = f.iloc[self.page * self.page_size : (self.page + 1) * self.page_size] if len(f) else f
        rows = part[self.COLUMNS].to_dict("records") if len(part) else []
        tones = [
            "bad" if (r["status"] or 0) >= 400 or r["error"] else ("warn" if r["signals"] else None) for r in rows
        ]
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        title = h.heading("HTTP trace", f"{len(f)} exchange(s), page {self.page + 1} of {pages}")
        self.table.value = title + h.table(rows, self.COLUMNS, tones=tones, width=90, empty="no requests yet")
        self.pick.options = [int(r["seq"]) for r in rows]

    def _show_headers(self) -> None:
        if self.pick.value is None:
            self.detail.value = ""
            return
        row = self.sync.trace.loc[self.pick.value]
        self.detail.value = (
            h.heading(f"#{self.pick.value} {row['method']} {_path(row['url'])}", "headers as traced (secrets replaced)")
            + h.pairs([("request", ""), *sorted((row["request_headers"] or {}).items())])
            + h.pairs([("response", ""), *sorted((row["response_headers"] or {}).items())])
        )


def _path(url: Any) -> str:
    text = str(url or "")
    rest = text.split("://", 1)[-1]
    return rest[rest.find("/") :] if "/" in rest else rest
