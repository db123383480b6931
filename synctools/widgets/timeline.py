"""``TimelineView``: the sync on one time axis — a lane per stage, a bar per request.

Each bar starts when the request was sent and is as long as it took; its colour says
how it ended (2xx, 4xx, 5xx or a transport error, a server signal such as backoff)
and its height how many bytes came back (log scale). Hover a bar for the request in
full. ``sections`` marks named moments (notebook 04 marks each fault it injects), so
what a fault did is read on the same axis as everything else.

Drawn as inline SVG with theme variables: no plotting library, follows the theme.
Stage lanes come from each stage result's ``trace_seq`` (the first and last exchange it made).
"""

from __future__ import annotations

import html as _html
from typing import Any

import pandas as pd

from . import _html as h
from ._source import View, html
from ._time import local

WIDTH, LEFT, RIGHT, LANE, TOP = 980, 170, 20, 26, 34
OTHER = "outside a stage"


def stage_of(sync: Any, trace: pd.DataFrame) -> dict[int, str]:
    """``{seq: stage}``: the trace exchanges each stage result made (``result.trace_seq``,
    its first and last exchange; a stage run again replaces its result, so the latest
    run is the one shown)."""
    out: dict[int, str] = {}
    for stage, result in sync.results.items():
        span = getattr(result, "trace_seq", None)
        if span is None:
            continue
        first, last = span
        out.update({int(seq): stage for seq in trace.index if first <= int(seq) <= last})
    return out


def _tone(row: Any) -> str:
    status = row["status"]
    if isinstance(row["error"], str) and row["error"]:
        return "bad"
    if pd.isna(status):
        return "bad"
    if status >= 500:
        return "bad"
    if status >= 400 or (isinstance(row["signals"], str) and row["signals"]):
        return "warn"
    return "ok"


def timeline_svg(sync: Any, *, since: int = 0, sections: dict[str, int] | None = None) -> str:
    """The SVG (and a legend) for the trace after exchange ``since``; ``sections``
    maps a label to the trace length when it began (``len(sync.trace)`` then)."""
    trace = sync.trace
    trace = trace[trace.index > since]
    if trace.empty:
        return f"<p style='{h.FONT}'><i>no requests yet</i></p>"
    stages = stage_of(sync, trace)
    lanes: list[str] = []
    for seq in trace.index:
        lane = stages.get(seq, OTHER)
        if lane not in lanes:
            lanes.append(lane)
    t0 = trace["started"].min()
    ends = trace["started"] + pd.to_timedelta(trace["elapsed_ms"].fillna(0), unit="ms")
    span = max((ends.max() - t0).total_seconds(), 0.001)
    scale = (WIDTH - LEFT - RIGHT) / span
    height = TOP + LANE * len(lanes) + 30
    fg, border = h.FG, h.BORDER
    out = [
        f"<svg class='synctools-timeline-svg' viewBox='0 0 {WIDTH} {height}' width='100%' "
        f"style='max-width:{WIDTH}px;{h.FONT}'"
        f" role='img' aria-label='timeline of {len(trace)} requests'>"
    ]
    for i, lane in enumerate(lanes):  # lane labels and guides
        y = TOP + i * LANE
        n = sum(1 for s in trace.index if stages.get(s, OTHER) == lane)
        out.append(f"<text x='4' y='{y + 17}' style='fill:{fg};font-size:12px'>{_html.escape(lane)} ({n})</text>")
        out.append(f"<line x1='{LEFT}' x2='{WIDTH - RIGHT}' y1='{y + LANE}' y2='{y + LANE}' style='stroke:{border}'/>")
    ticks = 6
    for k in range(ticks + 1):  # the time axis, seconds since the first request
        x: float = LEFT + (WIDTH - LEFT - RIGHT) * k / ticks
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{TOP - 4}' y2='{height - 26}' style='stroke:{border}'/>")
        out.append(
            f"<text x='{x:.1f}' y='{height - 10}' text-anchor='middle' style='fill:{fg};font-size:11px'>"
            f"{span * k / ticks:.2f}s</text>"
        )
    out.append(f"<text x='4' y='14' style='fill:{fg};font-size:12px'>from {_html.escape(local(t0) or '')}</text>")
    for label, mark in (sections or {}).items():  # named moments (faults) as dashed lines
        after = trace[trace.index > mark]
        if after.empty:
            continue
        x = LEFT + float((after["started"].iloc[0] - t0).total_seconds()) * scale
        out.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='20' y2='{height - 26}' "
            f"style='stroke:{h.TONE_BASE['info']};stroke-dasharray:4 3;stroke-width:2'/>"
        )
        out.append(
            f"<text x='{x + 3:.1f}' y='28' style='fill:{fg};font-size:11px;font-weight:600'>"
            f"{_html.escape(label)}</text>"
        )
    for seq, row in trace.iterrows():
        lane_no = lanes.index(stages.get(seq, OTHER))
        bx = LEFT + float((row["started"] - t0).total_seconds()) * scale
        wide = max(2.5, float(row["elapsed_ms"] or 0) / 1000 * scale)
        size = int(row["response_bytes"] or 0)
        bar = 6 + min(14, max(0, len(str(size)) - 1) * 2.5)  # log10 of the bytes, so 10 B and 1 MB both show
        by = TOP + lane_no * LANE + (LANE - bar) / 2
        tone = _tone(row)
        status = "error" if pd.isna(row["status"]) else int(row["status"])
        tip = (
            f"#{seq} {row['method']} {row['url']}\nstatus {status} · {row['elapsed_ms']:.0f} ms · "
            f"sent {int(row['request_bytes'] or 0):,} B · received {size:,} B"
            + (f"\nsignals: {row['signals']}" if row["signals"] else "")
            + (f"\nerror: {row['error']}" if row["error"] else "")
        )
        out.append(
            f"<rect data-seq='{seq}' data-tone='{tone}' x='{bx:.1f}' y='{by:.1f}' width='{wide:.1f}' height='{bar:.1f}'"
            f" style='fill:{h.tint(tone, 70)};stroke:{h.TONE_BASE[tone]}'><title>{_html.escape(tip)}</title></rect>"
        )
    out.append("</svg>")
    legend = " ".join(
        h.badge(text, tone)
        for text, tone in (("2xx", "ok"), ("4xx or a server signal", "warn"), ("5xx or no answer", "bad"))
    )
    note = (
        f"<div style='{h.FONT}'>{legend} · bar height: bytes received (log scale) · hover a bar for the request</div>"
    )
    return "".join(out) + note


class TimelineView(View):
    """``TimelineView(sync, since=0, sections=None)``: stages and requests on one time axis."""

    def __init__(self, sync: Any, *, since: int = 0, sections: dict[str, int] | None = None, **kwargs: Any) -> None:
        self.sync = sync
        self.since = since
        self.sections = dict(sections or {})
        trace = sync.trace
        n = int((trace.index > since).sum())
        self.body = html(h.heading("Timeline", f"{n} request(s) in {len(sync.results)} stage result(s)")
                         + timeline_svg(sync, since=since, sections=self.sections), "synctools-timeline")  # fmt: skip
        super().__init__([self.body], **kwargs)
        self.add_class("synctools-view")
        self.add_class("synctools-timeline-view")
