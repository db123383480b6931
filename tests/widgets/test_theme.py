"""No fixed colours in the widgets: every colour is a JupyterLab theme variable (its
fallbacks inside ``var(--jp-…, fallback)`` are the only literal colours allowed)."""

from __future__ import annotations

import re
from pathlib import Path

import synctools.widgets

WIDGETS = Path(synctools.widgets.__file__).parent
#: CSS named colours (CSS Color Module Level 4), minus words that are also plain English
NAMED = (
    "aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown "
    "burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan "
    "darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred "
    "darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink "
    "deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold "
    "goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush "
    "lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey "
    "lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow "
    "lime limegreen linen magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen "
    "mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin "
    "navajowhite navy oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise "
    "palevioletred papayawhip peachpuff peru pink plum powderblue purple rebeccapurple red rosybrown royalblue "
    "saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue slateblue slategray slategrey snow "
    "springgreen steelblue tan teal thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen"
).split()
COLOUR_PROPS = (
    r"(?:color|background(?:-color)?|border(?:-[a-z]+)*|outline(?:-color)?"
    r"|fill|stroke|box-shadow|text-decoration-color)"
)
LITERAL = re.compile(
    r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\s*\(|"
    + COLOUR_PROPS
    + r"\s*:\s*[^;'\"]*?\b(?:"
    + "|".join(NAMED)
    + r")\b",
    re.IGNORECASE,
)


def strip_vars(text: str) -> str:
    """Remove every ``var(--jp-…[, fallback])`` (nested ones included); what stays is
    outside any theme variable. A ``var(--vscode-…)`` alone is not a JupyterLab variable."""
    out, i = [], 0
    while i < len(text):
        j = text.find("var(--jp-", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        depth, k = 0, j + 3
        while k < len(text):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            k += 1
            if depth == 0:
                break
        i = k
    return "".join(out)


def offending(text: str) -> list[str]:
    return [m.group(0) for m in LITERAL.finditer(strip_vars(text))]


STYLE = re.compile(r"""style=(?:'([^']*)'|"([^"]*)")|<style[^>]*>(.*?)</style>""", re.S)


def offending_html(markup: str) -> list[str]:
    """Colours in what a view draws: its style attributes and style elements (a bookmark
    titled "Issue #122" is text, not a colour)."""
    return [hit for m in STYLE.finditer(markup) for hit in offending("".join(g or "" for g in m.groups()))]


def sources() -> list[Path]:
    return sorted(p for p in WIDGETS.rglob("*") if p.suffix in (".py", ".js", ".css", ".html"))


def test_the_check_finds_fixed_colours_and_allows_theme_fallbacks():
    assert offending("color:#57606a") == ["#57606a"]
    assert offending("background: rgb(1,2,3)") == ["rgb("]
    assert offending("border:1px solid red") and offending("style='color: white'")
    assert offending("fill:var(--vscode-foreground, #000)") == ["#000"]  # VS Code's alone is not enough
    assert offending("color:var(--jp-ui-font-color1, var(--vscode-foreground, #1f2328))") == []
    assert (
        offending("background:color-mix(in srgb, var(--jp-error-color1, #d32f2f) 16%, var(--jp-layout-color1, white))")
        == []
    )
    assert offending("a red banner explains") == []  # prose is not a colour
    assert offending_html("<td style='color:#fff'>Issue #122</td>") == ["#fff"]  # styles, not text


def test_no_widget_source_has_a_colour_outside_a_theme_variable():
    found = {str(p.relative_to(WIDGETS)): offending(p.read_text()) for p in sources()}
    found = {k: v for k, v in found.items() if v}
    assert found == {}
    assert len(sources()) >= 10


def test_the_html_a_view_draws_has_no_fixed_colour(demo_sync):
    from synctools.widgets import CollectionBrowser, CryptoKeysView, MetaGlobalView, StagesView, TraceView
    from synctools.widgets._source import html_of

    for view in (MetaGlobalView(demo_sync), CryptoKeysView(demo_sync), StagesView(demo_sync),
                 TraceView(demo_sync), CollectionBrowser(demo_sync, "passwords")):  # fmt: skip
        assert offending_html(html_of(view)) == [], type(view).__name__
