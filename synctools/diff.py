"""Field-level differences between two versions of a record, as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

_MISSING: Any = object()

#: a field that is new, gone, or holds another value
DiffKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class FieldChange:
    path: str  # "title", "visits[3].date", "tags"
    old: Any  # MISSING (shown as None with kind "added") when the field was absent
    new: Any
    kind: DiffKind


def diff_records(old: dict[str, Any] | None, new: dict[str, Any] | None, *, max_depth: int = 4) -> list[FieldChange]:
    """What changed from ``old`` to ``new`` (either may be ``None``: added/deleted record)."""
    out: list[FieldChange] = []
    _walk("", old if old is not None else {}, new if new is not None else {}, out, max_depth)
    return out


def _walk(path: str, old: Any, new: Any, out: list[FieldChange], depth: int) -> None:
    if old is _MISSING:
        out.append(FieldChange(path, None, new, "added"))
        return
    if new is _MISSING:
        out.append(FieldChange(path, old, None, "removed"))
        return
    if type(old) is not type(new) or depth == 0:
        if old != new:
            out.append(FieldChange(path, old, new, "changed"))
        return
    if isinstance(old, dict):
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            _walk(sub, old.get(key, _MISSING), new.get(key, _MISSING), out, depth - 1)
    elif isinstance(old, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            _walk(f"{path}[{i}]", a, b, out, depth - 1)
    elif old != new:
        out.append(FieldChange(path, old, new, "changed"))


def summarize(changes: list[FieldChange], limit: int = 4) -> str:
    """A one-line text summary: ``title: 'a' → 'b'; +tags; -keyword``."""
    parts = []
    for c in changes[:limit]:
        if c.kind == "added":
            parts.append(f"+{c.path}")
        elif c.kind == "removed":
            parts.append(f"-{c.path}")
        else:
            parts.append(f"{c.path}: {_short(c.old)} → {_short(c.new)}")
    if len(changes) > limit:
        parts.append(f"… {len(changes) - limit} more")
    return "; ".join(parts)


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"
