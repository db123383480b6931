"""``StatusLine``: what a long, silent step is doing, and for how long, as it happens.

Starting the embedded stack with the demo account takes seconds (8–15 on a loaded
machine) with nothing to show; a notebook cell passes a status line as the progress
callback::

    stack = LocalStack(demo=True).start(progress=StatusLine("Starting the embedded stack"))

In a kernel the line is a widget that shows the current step and the seconds elapsed
(a ticker updates it while a step runs); outside one each step is printed to stderr.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from . import _html as h
from ._source import View, html
from .display import in_kernel


class StatusLine(View):
    """Call it with each step's text; ``done()`` (or a step starting with "ready") ends it."""

    def __init__(self, title: str, *, tick: float = 0.5, show: bool | None = None, **kwargs: Any) -> None:
        self.title = title
        self.steps: list[tuple[float, str]] = []
        self.started = time.monotonic()
        self.finished: float | None = None
        self.line = html("", "synctools-status-line")
        super().__init__([self.line], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-progress")
        self._widget = in_kernel() if show is None else show
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._tick = tick
        self._handle: Any = None
        self._draw()
        if self._widget:
            from IPython.display import display

            self._handle = display(self, display_id=True)

    def __call__(self, step: str) -> None:
        self.steps.append((time.monotonic() - self.started, step))
        if not self._widget:
            print(f"{self.title}: {step} ({self.steps[-1][0]:.1f}s)", file=sys.stderr)
        if step.startswith("ready"):
            self.done()
            return
        self._draw()
        if self._widget and self._ticker is None:
            self._ticker = threading.Thread(target=self._run_ticker, name="synctools-status", daemon=True)
            self._ticker.start()

    def done(self) -> None:
        """The work ended: stop the ticker, show the total time."""
        if self.finished is None:
            self.finished = time.monotonic() - self.started
        self._stop.set()
        self._draw()
        if self._handle is not None:  # the saved notebook's HTML shows the end, not "starting"
            self._handle.update(self)

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._tick):
            self._draw()

    def _draw(self) -> None:
        now = self.finished if self.finished is not None else time.monotonic() - self.started
        current = self.steps[-1][1] if self.steps else "starting"
        if self.finished is not None:
            state, tone = h.badge("done", "ok"), "ok"
            current = next((s for _, s in reversed(self.steps) if s.startswith("ready")), current)
        else:
            state, tone = h.badge("working", "info"), "info"
        past = "".join(
            f"<li>{h.esc(step)} <small>({at:.1f}s)</small></li>"
            for at, step in self.steps[:-1]
            if not step.startswith("ready")
        )
        self.line.value = (
            f"<div class='synctools-banner' data-tone='{tone}' style='{h.FONT};background:{h.tint(tone, 10)};"
            f"border-left:4px solid {h.TONE_BASE[tone]};padding:4px 8px'>"
            f"<b>{h.esc(self.title)}</b> {state} {h.esc(current)} — {now:.1f}s"
            + (f"<ul style='margin:2px 0'>{past}</ul>" if past else "")
            + "</div>"
        )
