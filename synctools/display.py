"""How core objects find their rich display, without importing the faces.

A result or a plan's ``_repr_mimebundle_`` calls :func:`mimebundle`, which asks the
display registered for that kind of object (``register``). The widgets register theirs
when :mod:`synctools.widgets` is imported, which ``import synctools`` does in a Jupyter
kernel; elsewhere nothing is registered and objects fall back to ``_repr_html_`` and
their text. Imports point down: this module imports no other synctools module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Display = Callable[[Any], "dict[str, Any] | None"]

_displays: list[Display] = []


def register(display: Display) -> Display:
    """Add ``display(obj) -> mimebundle | None``; the latest registered is asked first."""
    if display not in _displays:
        _displays.insert(0, display)
    return display


def unregister(display: Display) -> None:
    if display in _displays:
        _displays.remove(display)


def mimebundle(obj: Any) -> dict[str, Any] | None:
    """The first registered display's bundle for ``obj``, or ``None`` (HTML fallback)."""
    for display in list(_displays):
        bundle = display(obj)
        if bundle is not None:
            return bundle
    return None
