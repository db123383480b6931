"""``CompareView``: a profile's records next to the server's (``sync.compare(profile, c)``).

Pick a problem (missing on the server, missing on the device, deleted on one side,
differs, undecryptable), page through the rows, open one to see both versions side by
side with the differing fields marked. Colours are JupyterLab's CSS variables only, so
the view follows the light and dark themes.
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as w
import pandas as pd

from . import _html as h
from ._source import View
from ._source import html as html_widget

LABELS = {
    "missing_on_server": "missing on the server",
    "missing_on_device": "missing on the device",
    "deleted_on_one_side": "deleted on one side",
    "differs": "differs",
    "server_undecryptable": "server record undecryptable",
}
#: each problem's row tint, from the views' shared theme colours (dark themes stay dark)
TONE = {
    "missing_on_server": h.tint("warn"),
    "missing_on_device": h.tint("info"),
    "deleted_on_one_side": h.tint("bad"),
    "differs": h.BG_HEAD,
    "server_undecryptable": h.tint("bad"),
}
FONT = h.FONT
MONO = f"{h.MONO};color:{h.FG}"
CELL = f"border:1px solid {h.BORDER};padding:2px 6px;text-align:left;vertical-align:top"
MARK = f"background:{h.tint('changed', 30)};outline:1px solid {h.TONE_BASE['changed']}"


def _esc(v: Any, n: int = 90) -> str:
    text = "—" if v is None or (isinstance(v, float) and v != v) else str(v)
    return html.escape(text if len(text) <= n else text[: n - 1] + "…")


def rows_html(df: pd.DataFrame) -> str:
    if df.empty:
        return f"<p style='{FONT}'><i>no rows: the device and the server agree here</i></p>"
    head = "".join(
        f"<th style='{CELL};background:{h.BG_HEAD}'>{name}</th>" for name in ("id", "problem", "fields", "detail")
    )
    body = []
    for r in df.itertuples():
        tone = TONE.get(str(r.problem), h.BG)
        fields = ", ".join(r.fields) if isinstance(r.fields, list) else ""
        body.append(
            f"<tr style='background:{tone}'><td style='{CELL};{MONO}'>{_esc(r.id, 40)}</td>"
            f"<td style='{CELL}'>{_esc(LABELS.get(str(r.problem), r.problem))}</td>"
            f"<td style='{CELL}'>{_esc(fields)}</td>"
            f"<td style='{CELL}'>{_esc(r.detail, 120)}</td></tr>"
        )
    return f"<table style='border-collapse:collapse;{FONT}'><tr>{head}</tr>{''.join(body)}</table>"


def side_by_side(row: Any) -> str:
    """Both versions of one row, field by field; differing fields marked."""
    device = row["device"] if isinstance(row["device"], dict) else None
    server = row["server"] if isinstance(row["server"], dict) else None
    fields = list(dict.fromkeys([*(device or {}), *(server or {})]))
    marked = set(row["fields"]) if isinstance(row["fields"], list) else set()
    lines = [
        f"<tr><th style='{CELL}'>field</th><th style='{CELL}'>device (the profile)</th>"
        f"<th style='{CELL}'>server</th></tr>"
    ]
    for f in fields:
        style = MARK if f in marked else ""
        dv = "— (no record)" if device is None else json.dumps(device.get(f), default=str, ensure_ascii=False)
        sv = "— (no record)" if server is None else json.dumps(server.get(f), default=str, ensure_ascii=False)
        lines.append(f"<tr style='{style}'><td style='{CELL};{FONT}'>{html.escape(f)}</td><td style='{CELL};{MONO}'>"
                     f"{_esc(dv, 400)}</td><td style='{CELL};{MONO}'>{_esc(sv, 400)}</td></tr>")  # fmt: skip
    title = f"<p style='{FONT}'><b>{_esc(row['id'], 80)}</b>: {_esc(row['detail'], 300)}</p>"
    return title + f"<table style='border-collapse:collapse'>{''.join(lines)}</table>"


class CompareView(View):
    """The comparison of one collection; ``CompareView(sync, profile, "bookmarks")`` or
    ``CompareView(frame)`` with a frame from ``sync.compare(...)``."""

    def __init__(self, source: Any, profile: Any = None, collection: str | None = None, *,
                 page_size: int = 15, **kwargs: Any) -> None:  # fmt: skip
        if isinstance(source, pd.DataFrame):
            frame = source
        else:
            if profile is None or collection is None:
                raise TypeError(
                    "CompareView(sync, profile, collection) or CompareView(sync.compare(profile, collection))"
                )
            frame = source.compare(profile, collection)
        self.frame = frame
        self.page_size = page_size
        self.page = 0
        counts = frame["problem"].value_counts() if len(frame) else pd.Series(dtype=int)
        options = [(f"all ({len(frame)})", "")] + [
            (f"{LABELS.get(p, p)} ({int(counts.get(p, 0))})", p) for p in LABELS if int(counts.get(p, 0))
        ]
        self.problem = w.Dropdown(options=options, value="", description="show")
        self.prev_button = w.Button(description="◀ prev", layout=w.Layout(width="80px"))
        self.next_button = w.Button(description="next ▶", layout=w.Layout(width="80px"))
        self.page_label = w.HTML()
        self.table = html_widget("", "synctools-compare-table")
        self.pick = w.Dropdown(description="open", options=[], layout=w.Layout(width="420px"))
        self.detail = html_widget("", "synctools-compare-detail")
        info = frame.attrs.get("synctools", {})
        self.header = w.HTML(f"<p style='{FONT}'><b>{_esc(info.get('collection', ''))}</b>: {info.get('device', '?')} "
                             f"record(s) on the device, {info.get('server', '?')} on the server, "
                             f"{len(frame)} that disagree</p>")  # fmt: skip
        self.problem.observe(lambda _: self._first(), names="value")
        self.prev_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(1))
        self.pick.observe(lambda _: self.show(self.pick.value), names="value")
        super().__init__([self.header, w.HBox([self.problem, self.prev_button, self.next_button, self.page_label]),
                          self.table, self.pick, self.detail], **kwargs)  # fmt: skip
        self._first()

    def rows(self) -> pd.DataFrame:
        if not self.problem.value:
            return self.frame
        return self.frame[self.frame["problem"] == self.problem.value]

    def _first(self) -> None:
        self.page = 0
        self.render()

    def turn(self, step: int) -> None:
        pages = max(1, -(-len(self.rows()) // self.page_size))
        self.page = min(max(0, self.page + step), pages - 1)
        self.render()

    def render(self) -> None:
        rows = self.rows()
        pages = max(1, -(-len(rows) // self.page_size))
        part = rows.iloc[self.page * self.page_size : (self.page + 1) * self.page_size]
        self.table.value = rows_html(part)
        self.page_label.value = f"<span style='{FONT}'>page {self.page + 1} of {pages} · {len(rows)} row(s)</span>"
        self.pick.options = [("", None)] + [
            (f"{r.id} — {LABELS.get(str(r.problem), r.problem)}", r.Index) for r in part.itertuples()
        ]
        if len(part):
            self.pick.value = part.index[0]
        else:
            self.detail.value = ""

    def show(self, index: Any) -> None:
        if index is None or index not in self.frame.index:
            self.detail.value = ""
            return
        self.detail.value = side_by_side(self.frame.loc[index])
