"""prefs: one record (id = the app id) whose ``value`` maps preference names to values.

The frame has one row per preference. Engine version 2; version 1 records held a list
of ``{name, type, value}`` objects and are read too.
"""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, wrong


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


class PrefsEngine(Engine):
    name = "prefs"
    version = 2
    explode = True
    columns = (
        Column("name", "str", "full preference name, e.g. browser.startup.homepage"),
        Column("value", "object", "its value (bool, int or string; None = reset to default)"),
        Column("value_type", "str", "bool, int, string or null"),
    )
    fields = frozenset({"value"})

    def parse(self, rec: dict[str, Any]) -> list[Row]:
        value = rec.get("value")
        if value is None:
            return []
        if isinstance(value, dict):
            return [(name, v, _kind(v)) for name, v in value.items()]
        if isinstance(value, list) and all(isinstance(p, dict) for p in value):  # version 1
            rows = []
            for p in value:
                name = p.get("name")
                if not isinstance(name, str):
                    raise wrong("value[].name", "a string", name)
                rows.append((name, p.get("value"), _kind(p.get("value"))))
            return rows
        raise wrong("value", "an object of preference values", value)
