"""prefs.js, read as data: ``user_pref("name", value);`` statements, never executed.

Firefox writes prefs.js in the grammar of modules/libpref/parser (``pref``, ``user_pref``,
``sticky_pref``; strings in double or single quotes with ``\\"``, ``\\\\``, ``\\n``,
``\\xNN``, ``\\uNNNN`` escapes; integers; ``true``/``false``; ``//``, ``#`` and
``/* */`` comments). mozprofile's reader ``eval()``\\ s each line as Python, which no one
should do with a profile someone sent them; this tokenizer only reads. A statement it
cannot read becomes a row with its ``error`` and the line number; the others still load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<comment>//[^\n]*|\#[^\n]*|/\*.*?\*/)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<int>[+-]?\d+)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[(),;])
      | (?P<bad>.)""",
    re.S | re.X,
)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)", re.S)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "'": "'", "\\": "\\"}
FUNCTIONS = ("user_pref", "pref", "sticky_pref")
MAX_INT = 2**31  # libpref stores ints as int32


@dataclass(frozen=True)
class Pref:
    name: str | None
    value: Any
    function: str | None
    line: int
    error: str | None = None


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "xu" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _SIMPLE.get(e, e)

    text = _ESCAPE.sub(one, body)
    # \uD83D\uDE00: a surrogate pair written as two escapes
    return (
        text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        if re.search("[\ud800-\udfff]", text)
        else text
    )


def parse(text: str) -> list[Pref]:
    """Every pref statement of ``text``, in order; unreadable ones with their ``error``."""
    tokens: list[tuple[str, str, int]] = []
    line = 1
    for m in _TOKEN.finditer(text):
        kind, value = m.lastgroup or "bad", m.group()
        if kind not in ("ws", "comment"):
            tokens.append((kind, value, line))
        line += value.count("\n")
    out: list[Pref] = []
    i = 0
    while i < len(tokens):
        start = tokens[i][2]
        stmt, i = _statement(tokens, i)
        if stmt is None:
            continue
        if isinstance(stmt, str):
            out.append(Pref(None, None, None, start, stmt))
        else:
            out.append(Pref(stmt[1], stmt[2], stmt[0], start))
    return out


def _statement(tokens: list[tuple[str, str, int]], i: int) -> tuple[tuple[str, str, Any] | str | None, int]:
    """One statement from ``tokens[i]``: (function, name, value), an error text, or None."""

    def skip(j: int) -> int:  # to after the next ';' (or the end): resynchronise after an error
        while j < len(tokens) and tokens[j][1] != ";":
            j += 1
        return j + 1

    kind, fn, _ = tokens[i]
    if kind != "ident" or fn not in FUNCTIONS:
        return f"expected user_pref(…); found {fn[:40]!r}", skip(i)
    want = [("punct", "("), ("str", None), ("punct", ","), ("value", None)]
    j = i + 1
    got: list[str] = []
    for k, v in want:
        if j >= len(tokens):
            return f"{fn}(…) is cut off at the end of the file", j
        tk, tv, _ = tokens[j]
        if k == "value":
            if tk not in ("str", "int") and not (tk == "ident" and tv in ("true", "false")):
                return f"{fn}(…) has a value that is not a string, an integer, true or false: {tv[:40]!r}", skip(j)
        elif tk != k or (v is not None and tv != v):
            return f"{fn}(…) is malformed near {tv[:40]!r}", skip(j)
        got.append(tv)
        j += 1
    # optional attributes (", sticky", ", locked") in default pref files, then ");"
    while j + 1 < len(tokens) and tokens[j][1] == "," and tokens[j + 1][0] == "ident":
        j += 2
    if j + 1 >= len(tokens) or tokens[j][1] != ")" or tokens[j + 1][1] != ";":
        return f"{fn}(…) does not end with ');'", skip(j)
    name = _unescape(got[1][1:-1])
    raw = got[3]
    value: Any
    if raw in ("true", "false"):
        value = raw == "true"
    elif raw[0] in "\"'":
        value = _unescape(raw[1:-1])
    else:
        value = int(raw)
        if not -MAX_INT <= value < MAX_INT:
            return f"{fn}({name!r}, …) has an integer Firefox cannot hold ({raw[:20]})", j + 2
    return (fn, name, value), j + 2
