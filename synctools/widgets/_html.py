"""Small HTML builders shared by the views.

Everything is inline-styled on purpose: the same markup is the widget's content in
JupyterLab and the static fallback (``text/html``) where no widget manager runs, and
an ``ipywidgets.HTML`` value may not be allowed its own ``<style>`` everywhere.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Row/cell tones: bad (red), warn (amber), info (blue), ok (green), and diff tones.
TONES = {
    "bad": "#fde2e1",
    "warn": "#fff4ce",
    "info": "#e8f1fb",
    "ok": "#e6f4ea",
    "added": "#e6ffec",
    "removed": "#ffebe9",
    "changed": "#fff8c5",
    "muted": "#f4f4f4",
}
FONT = "font-family:var(--jp-ui-font-family, sans-serif);font-size:12px"
MONO = "font-family:var(--jp-code-font-family, monospace);font-size:12px"
_TABLE = f"border-collapse:collapse;{FONT};margin:2px 0 8px 0"
_CELL = "border:1px solid #d0d7de;padding:2px 6px;text-align:left;vertical-align:top"


def esc(value: Any) -> str:
    return html.escape(text(value))


def text(value: Any, width: int | None = None) -> str:
    """A cell's text: missing values as an em dash, long text cut with an ellipsis."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        out = "—"
    elif value is True:
        out = "yes"
    elif value is False:
        out = "no"
    else:
        try:
            import pandas as pd

            if value is pd.NA or value is pd.NaT:
                return "—"
        except ImportError:  # pragma: no cover
            pass
        out = value if isinstance(value, str) else str(value)
    if width is not None and len(out) > width:
        out = out[: width - 1] + "…"
    return out


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    tones: Sequence[str | None] | None = None,
    cell_tones: Mapping[tuple[int, str], str] | None = None,
    width: int | None = 80,
    empty: str = "none",
    mono: Iterable[str] = (),
) -> str:
    """An HTML table; ``tones[i]`` colours row i, ``cell_tones[(i, col)]`` one cell."""
    if not rows:
        return f"<p style='{FONT}'><i>{esc(empty)}</i></p>"
    cols = list(columns) if columns is not None else list(rows[0].keys())
    mono_cols = set(mono)
    head = "".join(f"<th style='{_CELL};background:#f6f8fa'>{esc(c)}</th>" for c in cols)
    body = []
    for i, row in enumerate(rows):
        tone = tones[i] if tones is not None and i < len(tones) else None
        style = f" style='background:{TONES[tone]}'" if tone else ""
        cells = []
        for c in cols:
            ct = cell_tones.get((i, c)) if cell_tones else None
            bg = f";background:{TONES[ct]}" if ct else ""
            font = f";{MONO}" if c in mono_cols else ""
            cells.append(f"<td style='{_CELL}{bg}{font}'>{esc(text(row.get(c), width))}</td>")
        body.append(f"<tr{style}>{''.join(cells)}</tr>")
    return f"<table style='{_TABLE}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table."""
    rows = "".join(
        f"<tr><th style='{_CELL};background:#f6f8fa'>{esc(k)}</th><td style='{_CELL};{MONO}'>{esc(v)}</td></tr>"
        for k, v in items
    )
    return f"<table style='{_TABLE}'>{rows}</table>"


def banner(message: str, tone: str = "warn") -> str:
    border = {"bad": "#cf222e", "warn": "#bf8700", "info": "#0969da", "ok": "#1a7f37"}.get(tone, "#999")
    return (
        f"<div style='{FONT};background:{TONES.get(tone, '#fff')};border-left:4px solid {border};"
        f"padding:4px 8px;margin:4px 0'>{esc(message)}</div>"
    )


def heading(title: str, subtitle: str = "") -> str:
    sub = f" <small style='color:#57606a;font-weight:normal'>{esc(subtitle)}</small>" if subtitle else ""
    return f"<div style='{FONT};font-size:14px;font-weight:600;margin:4px 0'>{esc(title)}{sub}</div>"


def pretty_json(value: Any, highlight: Iterable[str] = ()) -> str:
    """Indented JSON in a <pre>; top-level keys in ``highlight`` get a yellow line."""
    marked = set(highlight)
    if not isinstance(value, Mapping) or not marked:
        body = esc(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    else:
        # one block per top-level key so a changed field is one coloured band
        items = list(value.items())
        lines = ["<span style='display:block'>{</span>"]
        for n, (k, v) in enumerate(items):
            dumped = json.dumps(v, indent=2, ensure_ascii=False, default=str).replace("\n", "\n  ")
            bg = f";background:{TONES['changed']}" if k in marked else ""
            comma = "," if n < len(items) - 1 else ""
            lines.append(f"<span style='display:block{bg}'>{esc(f'  {json.dumps(k)}: {dumped}{comma}')}</span>")
        lines.append("<span style='display:block'>}</span>")
        body = "".join(lines)
    return f"<pre style='{MONO};margin:0;white-space:pre-wrap;word-break:break-all'>{body}</pre>"
