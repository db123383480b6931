"""``StagesView`` (where the sync stands), ``TraceView`` (its HTTP) and ``ResultView``."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from . import _html as h
from ._result import result_html
from ._source import View, html
from .grid import DataGrid


class ResultView(View):
    """Any stage result: what happened in words, its summary, decisions, warnings,
    tables and requests. A commit that met a 412 shows the sync's new plan to review."""

    def __init__(self, result: Any, *, sync: Any = None, **kwargs: Any) -> None:
        self.result = result
        self.body = html(result_html(result), "synctools-result-body")
        self.new_review: Any = None
        children: list[w.Widget] = [self.body]
        new_plan = getattr(result, "new_plan", None)
        if getattr(result, "status", None) == "conflict" and new_plan is not None:
            from .review import UploadReview

            self.new_review = UploadReview(sync if sync is not None else result.sync, new_plan)
            title = h.heading(f"New plan #{new_plan.id} after the conflict", "made against the server as it is now")
            children += [html(title, "synctools-new-plan"), self.new_review]
        super().__init__(children, **kwargs)
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
        super().__init__(
            [self.table, w.HBox([self.next_button, self.refresh_button, self.pick]), self.detail], **kwargs
        )
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
        self.table.value = (
            h.heading("Stages", repr(self.sync)) + f"<div style='{h.FONT}'>{where}</div>" + h.table(rows, tones=tones)
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
        self.detail.value = result_html(r) if r is not None else ""


class TraceView(View):
    """Every HTTP exchange of the sync (secrets already replaced by fingerprints in the
    trace) in a grid: sort, search, filter by service or to errors and server signals;
    click an exchange for its request and response headers."""

    COLUMNS = ["seq", "started", "service", "method", "url", "status", "elapsed_ms",
               "request_bytes", "response_bytes", "signals", "error"]  # fmt: skip

    def __init__(self, sync: Any, *, height: int = 300, **kwargs: Any) -> None:
        self.sync = sync
        self.service = w.Dropdown(description="service", options=["all"], value="all", layout=w.Layout(width="220px"))
        self.only_problems = w.Checkbox(value=False, description="only errors and server signals", indent=False)
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        h.paint(self.refresh_button, None)
        self.grid = DataGrid(self._trace(), key="seq", tone=_trace_tones, height=height)
        self.detail = html("", "synctools-trace-detail")
        self.service.observe(lambda _: self._filter(), names="value")
        self.only_problems.observe(lambda _: self._filter(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.grid.on_select(lambda seq: self.show_headers(int(seq)))
        bar = w.HBox([self.service, self.only_problems, self.refresh_button])
        super().__init__([bar, self.grid, self.detail], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-trace")
        self.refresh()

    def _trace(self) -> Any:
        f = self.sync.trace.reset_index()
        return f[[c for c in self.COLUMNS if c in f.columns]]

    def frame(self) -> Any:
        """The exchanges the grid shows now (filters, search and sort applied)."""
        return self.grid.view()

    def refresh(self) -> None:
        """Read the sync's trace again (after more stages ran)."""
        f = self._trace()
        services = sorted(set(f["service"].dropna())) if len(f) else []
        keep = self.service.value
        self.service.options = ["all", *services]
        self.service.value = keep if keep in self.service.options else "all"
        self.grid.set_frame(f)
        self._filter()

    def _filter(self) -> None:
        f = self.grid.frame
        if f.empty:
            self.grid.set_mask(None)
            return
        keep = f["service"] == self.service.value if self.service.value != "all" else f["service"].notna() | True
        if self.only_problems.value:
            keep &= _problem(f)
        self.grid.set_mask(keep)

    def show_headers(self, seq: int) -> None:
        """Show one exchange's request and response headers (what a click on a row does)."""
        row = self.sync.trace.loc[seq]
        self.detail.value = (
            h.heading(f"#{seq} {row['method']} {row['url']}", "headers as traced (secrets replaced)")
            + h.pairs([("request", ""), *sorted((row["request_headers"] or {}).items())])
            + h.pairs([("response", ""), *sorted((row["response_headers"] or {}).items())])
        )
        if self.grid.selected != str(seq):
            self.grid.select(str(seq))


def _problem(f: Any) -> Any:
    error = f["error"].notna() & (f["error"] != "")
    return error | (f["signals"].fillna("") != "") | (f["status"].fillna(0) >= 400)


def _trace_tones(f: Any) -> Any:
    bad = f["error"].notna() & (f["error"] != "") | (f["status"].fillna(0) >= 400)
    warn = f["signals"].fillna("") != ""
    return bad.map({True: "bad", False: None}).where(bad, warn.map({True: "warn", False: None}))


def _path(url: Any) -> str:
    text = str(url or "")
    rest = text.split("://", 1)[-1]
    return rest[rest.find("/") :] if "/" in rest else rest
