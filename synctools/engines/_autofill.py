"""What addresses and creditcards share: Firefox's form-autofill record layout.

Unlike other collections, the fields sit in an ``entry`` object, kebab-case
(``street-address``, ``cc-number``), with camelCase metadata (``timeCreated`` ms).
Unknown entry fields go to ``extra`` as ``"entry.<name>"``.
"""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, integer, mapping, text

META = (
    Column("time_created", "ms", "when the entry was created (client clock)"),
    Column("time_last_used", "ms", "when it was last used to fill a form"),
    Column("time_last_modified", "ms", "when it was last edited"),
    Column("times_used", "int", "how many times it filled a form"),
    Column("entry_version", "int", "record format version (addresses 1, credit cards 3)"),
)
META_FIELDS = ("timeCreated", "timeLastUsed", "timeLastModified", "timesUsed", "version")


class AutofillEngine(Engine):
    version = 1
    fields = frozenset({"entry"})
    entry_fields: tuple[str, ...] = ()

    def _entry(self, rec: dict[str, Any]) -> dict[str, Any]:
        return mapping(rec, "entry") or {}

    def unknown_fields(self, rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
        out = {k: v for k, v in rec.items() if k not in known}
        entry = rec.get("entry")
        if isinstance(entry, dict):
            own = set(self.entry_fields) | set(META_FIELDS)
            out.update({f"entry.{k}": v for k, v in entry.items() if k not in own})
        return out or None

    def parse(self, rec: dict[str, Any]) -> Row:
        entry = self._entry(rec)
        values = [text(entry, f) for f in self.entry_fields]
        meta = [integer(entry, f) for f in META_FIELDS[:4]]
        return (*values, *meta, integer(entry, "version"))
