"""forms: one record per saved form-field entry (``name`` of the input, ``value`` typed)."""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, text


class FormsEngine(Engine):
    name = "forms"
    version = 1
    columns = (
        Column("name", "str", "name of the HTML input field"),
        Column("value", "str", "value offered as an autocomplete suggestion"),
    )
    fields = frozenset({"name", "value"})

    def parse(self, rec: dict[str, Any]) -> Row:
        return (text(rec, "name"), text(rec, "value"))
