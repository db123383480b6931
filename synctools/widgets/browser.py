"""``CollectionBrowser``: pick a collection, filter, page, open one record.

The table is ``sync.frame(name)`` (secrets masked there already). An opened record is
shown as formatted JSON (masked again with :func:`synctools.plan.mask`) next to its BSO
envelope from the local mirror: id, modified, sortindex, ttl and the payload's shape
(ciphertext length, IV, HMAC prefix) rather than its bytes.
"""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as w
import pandas as pd

from ..plan import mask
from . import _html as h
from ._source import View, html

#: Columns too wide for a table row; the opened record shows them in full.
WIDE = {"children", "extra", "visits", "tabs", "commands", "payload"}


def collection_names(sync: Any) -> list[str]:
    download = sync.results.get("download")
    if download is not None:
        return [row["collection"] for row in download.collections]
    return sorted(c for c in getattr(sync, "info_collections", {}) if c not in ("meta", "crypto"))


def envelope(sync: Any, collection: str, record_id: str) -> dict[str, Any] | None:
    """The BSO envelope of a mirrored record, with the payload described, not dumped."""
    if sync.store is None:
        return None
    mirror = sync.store.mirror_record(collection, record_id)
    if mirror is None:
        return None
    bso = mirror.bso
    out: dict[str, Any] = {
        "id": bso.id,
        "modified": f"{bso.modified} ({bso.modified.to_datetime():%Y-%m-%d %H:%M:%S} UTC)" if bso.modified is not None else None,
        "sortindex": bso.sortindex,
        "ttl": bso.ttl,
        "payload bytes": len(bso.payload),
    }
    try:
        payload = json.loads(bso.payload)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        out["payload.ciphertext"] = f"{len(str(payload.get('ciphertext', '')))} base64 characters"
        out["payload.IV"] = payload.get("IV")
        out["payload.hmac"] = str(payload.get("hmac", ""))[:16] + "…"
    if mirror.error:
        out["decrypt error"] = f"{mirror.reason}: {mirror.error}"
    return out


class CollectionBrowser(View):
    """Browse the downloaded collections of a sync (after ``sync.download()``)."""

    def __init__(self, sync: Any, collection: str | None = None, *, page_size: int = 20, **kwargs: Any) -> None:
        self.sync = sync
        self.page_size = page_size
        self.page = 0
        self._frames: dict[str, pd.DataFrame] = {}
        self._haystacks: dict[str, pd.Series] = {}
        names = collection_names(sync)
        if not names:
            raise ValueError("nothing downloaded yet: run sync.download() first")
        if collection is not None and collection not in names:
            raise ValueError(f"{collection!r} was not downloaded; choose one of {names}")
        self.collection = w.Dropdown(options=names, value=collection or names[0], description="collection")
        self.filter = w.Text(placeholder="text to find in any column", description="filter", continuous_update=False)
        self.only_errors = w.Checkbox(value=False, description="only records that fail to decrypt", indent=False)
        self.prev_button = w.Button(description="◀ prev", layout=w.Layout(width="80px"))
        self.next_button = w.Button(description="next ▶", layout=w.Layout(width="80px"))
        self.page_label = w.HTML()
        self.table = html("", "synctools-browser-table")
        self.table.layout.overflow_x = "auto"
        self.record_pick = w.Dropdown(description="open", options=[], layout=w.Layout(width="360px"))
        self.record_json = html("", "synctools-record-json")
        self.record_envelope = html("", "synctools-record-envelope")
        self.record_json.layout.width = "60%"
        self.record_envelope.layout.width = "40%"
        for widget in (self.collection, self.filter, self.only_errors):
            widget.observe(lambda _: self._first_page(), names="value")
        self.prev_button.on_click(lambda _: self.turn(-1))
        self.next_button.on_click(lambda _: self.turn(1))
        self.record_pick.observe(lambda _: self.show_record(self.record_pick.value), names="value")
        super().__init__(
            [
                w.HBox([self.collection, self.filter, self.only_errors]),
                w.HBox([self.prev_button, self.next_button, self.page_label]),
                self.table,
                self.record_pick,
                w.HBox([self.record_json, self.record_envelope]),
            ],
            **kwargs,
        )
        self.add_class("synctools-view")
        self.add_class("synctools-browser")
        self._draw()

    # ----------------------------------------------------------------- data
    def frame(self) -> pd.DataFrame:
        """The whole (filtered) frame of the chosen collection."""
        name = self.collection.value
        if name not in self._frames:
            self._frames[name] = self.sync.frame(name)
        f = self._frames[name]
        if self.only_errors.value and "error" in f:
            f = f[f["error"].notna()]
        needle = self.filter.value.strip().lower()
        if needle:
            if name not in self._haystacks:  # one lower-cased text per row, built once
                cols = [self._frames[name][c].astype(str).fillna("") for c in self._frames[name].columns]
                self._haystacks[name] = cols[0].str.cat(cols[1:], sep=" ").str.lower()
            f = f[self._haystacks[name].loc[f.index].str.contains(needle, regex=False)]
        return f

    @property
    def page_frame(self) -> pd.DataFrame:
        f = self.frame()
        return f.iloc[self.page * self.page_size : (self.page + 1) * self.page_size]

    # ----------------------------------------------------------------- actions
    def select(self, collection: str) -> None:
        self.collection.value = collection

    def turn(self, step: int) -> None:
        self.page += step
        self._draw()

    def show_record(self, record_id: str | None) -> None:
        """Show one record (masked cleartext) next to its BSO envelope."""
        if not record_id:
            self.record_json.value = self.record_envelope.value = ""
            return
        name = self.collection.value
        try:
            record = mask(name, self.sync.record(name, record_id))
            left = h.heading("cleartext", "secrets masked") + h.pretty_json(record)
        except Exception as exc:  # a record that did not decrypt: say why instead
            left = h.heading("cleartext") + h.banner(str(exc), "bad")
        env = envelope(self.sync, name, record_id)
        right = h.heading("BSO envelope") + (h.pairs(env.items()) if env else h.banner("not in the local mirror", "info"))
        self.record_json.value = left
        self.record_envelope.value = right
        if self.record_pick.value != record_id and record_id in self.record_pick.options:
            self.record_pick.value = record_id

    def _first_page(self) -> None:
        self.page = 0
        self._draw()

    def _draw(self) -> None:
        f = self.frame()
        pages = max(1, -(-len(f) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        part = self.page_frame
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1
        self.page_label.value = (
            f"<span style='{h.FONT}'>{len(f):,} record(s) · page {self.page + 1} of {pages}</span>"
        )
        cols = [c for c in part.columns if c not in WIDE]
        rows = part[cols].to_dict("records")
        tones = ["bad" if isinstance(r.get("error"), str) and r.get("error") else None for r in rows]
        self.table.value = h.table(rows, cols, tones=tones, width=48, mono=("id",), empty="no records match")
        ids = [str(i) for i in part["id"]] if "id" in part else []
        self.record_pick.options = [""] + ids
        self.record_pick.value = ""
