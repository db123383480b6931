"""Small HTML builders shared by the views, and the one palette they all use.

Everything is inline-styled on purpose: the same markup is the widget's content in
JupyterLab and the static fallback (``text/html``) where no widget manager runs, and
an ``ipywidgets.HTML`` value may not be allowed its own ``<style>`` everywhere.

Colours come only from JupyterLab's theme variables (``--jp-…``), so a view follows
Light, Dark and the high-contrast theme. Each variable falls back to VS Code's own
(``--vscode-…``) and then to a light default for classic Notebook and static HTML.
Text is always a font colour on a background made from the layout colour; a tone
(problem, warning, change) is a tint of the layout colour, never a fixed light
background under theme-coloured text. ``tests/widgets/test_theme.py`` greps this
package for any colour outside ``var(--jp-…, fallback)``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._time import when_html

# ---------------------------------------------------------------- the palette
FG = "var(--jp-ui-font-color1, var(--vscode-foreground, #1f2328))"
#: secondary text: only on the plain layout background (its contrast is lower)
FG_MUTED = "var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #57606a))"
BG = "var(--jp-layout-color1, var(--vscode-editor-background, #ffffff))"
BG_HEAD = "var(--jp-layout-color2, var(--vscode-editorWidget-background, #eeeeee))"
BORDER = "var(--jp-border-color2, var(--vscode-panel-border, #d0d7de))"
LINK = "var(--jp-content-link-color, var(--vscode-textLink-foreground, #0b5cad))"

#: The base colour of each tone; backgrounds are a tint of it over the layout colour.
TONE_BASE = {
    "bad": "var(--jp-error-color1, var(--vscode-errorForeground, #d32f2f))",
    "warn": "var(--jp-warn-color1, var(--vscode-editorWarning-foreground, #f57c00))",
    "info": "var(--jp-brand-color1, var(--vscode-focusBorder, #1976d2))",
    "ok": "var(--jp-success-color1, var(--vscode-testing-iconPassed, #388e3c))",
    "added": "var(--jp-success-color1, var(--vscode-gitDecoration-addedResourceForeground, #388e3c))",
    "removed": "var(--jp-error-color1, var(--vscode-gitDecoration-deletedResourceForeground, #d32f2f))",
    "changed": "var(--jp-warn-color1, var(--vscode-gitDecoration-modifiedResourceForeground, #f57c00))",
    "muted": "var(--jp-layout-color3, var(--vscode-disabledForeground, #bdbdbd))",
}


def tint(tone: str, percent: int = 16) -> str:
    """A background for ``tone``: its colour mixed into the layout colour (dark stays dark)."""
    return f"color-mix(in srgb, {TONE_BASE[tone]} {percent}%, {BG})"


#: Row/cell backgrounds by tone (kept as a name for the views that index it).
TONES = {name: tint(name) for name in TONE_BASE}
FONT = f"font-family:var(--jp-ui-font-family, sans-serif);font-size:12px;line-height:1.45;color:{FG}"
MONO = "font-family:var(--jp-code-font-family, monospace);font-size:12px"
_TABLE = f"border-collapse:collapse;{FONT};margin:2px 0 8px 0"
#: long text wraps inside its cell (never cut): ids, urls and reasons keep their meaning
_CELL = (
    f"border:1px solid {BORDER};padding:2px 6px;text-align:left;vertical-align:top;color:{FG};"
    "overflow-wrap:break-word;max-width:48em"
)
_HEAD = f"{_CELL};background:{BG_HEAD};font-weight:600"


def esc(value: Any) -> str:
    return html.escape(text(value))


def text(value: Any, width: int | None = None) -> str:
    """A cell's text: missing values as an em dash; ``width`` cuts only where asked."""
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


class Markup(str):
    """HTML already built (and escaped) by this module: a table puts it in as it is."""


def expandable(text_value: str, limit: int = 240) -> str:
    """Long text as a ``<details>``: its start as the summary, the whole inside (never cut)."""
    if len(text_value) <= limit:
        return Markup(html.escape(text_value))
    head = html.escape(text_value[:limit])
    return Markup(
        f"<details><summary style='cursor:pointer'>{head}… <i>({len(text_value):,} characters: click for all)</i>"
        f"</summary><div style='overflow-wrap:anywhere'>{html.escape(text_value)}</div></details>"
    )


def cell(value: Any) -> str:
    """A cell's HTML: a timestamp as a local date (raw value on hover), else escaped text."""
    if isinstance(value, Markup):
        return value
    shown = when_html(value)
    return shown if shown is not None else esc(value)


def table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    tones: Sequence[str | None] | None = None,
    cell_tones: Mapping[tuple[int, str], str] | None = None,
    width: int | None = None,
    empty: str = "none",
    mono: Iterable[str] = (),
) -> str:
    """An HTML table; ``tones[i]`` tints row i, ``cell_tones[(i, col)]`` one cell.

    Text is never cut: long values wrap in their cell (``width`` is accepted for old
    callers and ignored)."""
    del width
    if not rows:
        return f"<p style='{FONT}'><i>{esc(empty)}</i></p>"
    cols = list(columns) if columns is not None else list(rows[0].keys())
    mono_cols = set(mono)
    head = "".join(f"<th style='{_HEAD}'>{esc(c)}</th>" for c in cols)
    body = []
    for i, row in enumerate(rows):
        tone = tones[i] if tones is not None and i < len(tones) else None
        style = f" style='background:{TONES[tone]}'" if tone else ""
        data = f" data-tone='{tone}'" if tone else ""
        cells = []
        for c in cols:
            ct = cell_tones.get((i, c)) if cell_tones else None
            bg = f";background:{TONES[ct]}" if ct else ""
            font = f";{MONO}" if c in mono_cols else ""
            cells.append(f"<td style='{_CELL}{bg}{font}'>{cell(row.get(c))}</td>")
        body.append(f"<tr{style}{data}>{''.join(cells)}</tr>")
    return f"<table style='{_TABLE}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value table."""
    rows = "".join(
        f"<tr><th style='{_HEAD}'>{esc(k)}</th><td style='{_CELL};{MONO}'>{cell(v)}</td></tr>" for k, v in items
    )
    return f"<table style='{_TABLE}'>{rows}</table>"


def banner(message: str, tone: str = "warn", *, raw_html: bool = False) -> str:
    body = message if raw_html else esc(message)
    return (
        f"<div class='synctools-banner' data-tone='{tone}' style='{FONT};background:{tint(tone)};"
        f"border-left:4px solid {TONE_BASE.get(tone, BORDER)};padding:4px 8px;margin:4px 0;"
        f"overflow-wrap:anywhere'>{body}</div>"
    )


def badge(label: str, tone: str) -> str:
    """A small labelled chip (severity, status): tinted, with a border of its tone."""
    return (
        f"<span style='{FONT};background:{tint(tone, 22)};border:1px solid {TONE_BASE[tone]};"
        f"border-radius:3px;padding:0 4px;font-weight:600'>{esc(label)}</span>"
    )


def heading(title: str, subtitle: str = "") -> str:
    sub = f" <small style='color:{FG_MUTED};font-weight:normal'>{esc(subtitle)}</small>" if subtitle else ""
    return f"<div style='{FONT};font-size:14px;font-weight:600;margin:4px 0'>{esc(title)}{sub}</div>"


def pretty_json(value: Any, highlight: Iterable[str] = ()) -> str:
    """Indented JSON in a <pre>; top-level keys in ``highlight`` get a tinted band."""
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
    return f"<pre style='{MONO};color:{FG};margin:0;white-space:pre-wrap;overflow-wrap:anywhere'>{body}</pre>"


def paint(button: Any, tone: str | None) -> None:
    """Mark an ipywidgets Button by tone with theme variables: a border of the tone's
    colour, bold text. The stock ``button_style`` fills put white text on mid-tone
    colours (under 4.5:1), and ``ButtonStyle`` accepts only ``var(--x, colour)``."""
    button.style.button_color = "var(--jp-layout-color2, #eeeeee)"
    button.style.text_color = "var(--jp-ui-font-color1, #1f2328)"
    button.style.font_weight = "bold" if tone else ""
    button.layout.border = f"2px solid {TONE_BASE[tone]}" if tone else f"1px solid {BORDER}"
