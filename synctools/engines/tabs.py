"""tabs: one record per device listing its open tabs; the frame has one row per tab.

A device record with no tabs, a tombstone or a record that failed keeps one row (tab
columns empty) so it stays visible. ``lastUsed`` is seconds, and some clients write it
as a string: both are accepted (a value too large for seconds is read as milliseconds).
"""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, boolean, loose_int, obj_list, str_list, text

_TAB_FIELDS = frozenset({"title", "urlHistory", "icon", "lastUsed", "inactive"})


class TabsEngine(Engine):
    name = "tabs"
    version = 1
    explode = True
    columns = (
        Column("device", "str", "name of the device the tab is open on (clientName)"),
        Column("tab_index", "int", "position of the tab in the device's record"),
        Column("title", "str", "title of the page shown"),
        Column("url", "str", "current url (first of urlHistory)"),
        Column("url_history", "list", "the tab's back history, current url first"),
        Column("icon", "str", "favicon url"),
        Column("last_used", "s", "when the tab was last active"),
        Column("inactive", "bool", "Firefox marked the tab inactive"),
        Column("tab_extra", "object", "unknown fields of this tab"),
    )
    fields = frozenset({"clientName", "tabs"})

    def parse(self, rec: dict[str, Any]) -> list[Row]:
        device = text(rec, "clientName")
        tabs = obj_list(rec, "tabs") or []
        rows: list[Row] = []
        for n, tab in enumerate(tabs):
            history = str_list(tab, "urlHistory")
            last_used = loose_int(tab, "lastUsed")
            if last_used is not None and last_used > 10**11:
                last_used //= 1000  # milliseconds from a client that got the unit wrong
            rows.append(
                (
                    device,
                    n,
                    text(tab, "title"),
                    history[0] if history else None,
                    history,
                    text(tab, "icon"),
                    last_used,
                    boolean(tab, "inactive"),
                    {k: v for k, v in tab.items() if k not in _TAB_FIELDS} or None,
                )
            )
        if not rows:
            rows.append((device, *(None,) * (len(self.columns) - 1)))
        return rows
