"""addons: one record per add-on a desktop Firefox syncs (id, app, enabled, source)."""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, boolean, text


class AddonsEngine(Engine):
    name = "addons"
    version = 1
    columns = (
        Column("addon_id", "str", "the add-on's public id (addonID), e.g. uBlock0@raymondhill.net"),
        Column("application_id", "str", "the application it belongs to (applicationID)"),
        Column("enabled", "bool", "whether the add-on is enabled"),
        Column("source", "str", "where it came from; 'amo' = addons.mozilla.org"),
    )
    fields = frozenset({"addonID", "applicationID", "enabled", "source"})

    def parse(self, rec: dict[str, Any]) -> Row:
        return (
            text(rec, "addonID"),
            text(rec, "applicationID"),
            boolean(rec, "enabled"),
            text(rec, "source"),
        )
