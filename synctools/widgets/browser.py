"""``CollectionBrowser``: pick a collection, search and sort it in a grid, click a record.

The grid (:class:`~synctools.widgets.grid.DataGrid`) holds ``sync.frame(name)``
(secrets masked there already); only the rows in view travel to the browser. A clicked
row opens the record: its cleartext as formatted JSON (masked again with
:func:`synctools.plan.mask`) next to its BSO envelope from the local mirror (id,
modified, sortindex, ttl and the payload's shape rather than its bytes) and, for a
record that failed, its error in full.
"""

from __future__ import annotations

import json
from typing import Any

import ipywidgets as w
import pandas as pd

from ..engines import mask
from . import _html as h
from ._source import View, html
from .grid import DataGrid

#: Columns left out of the grid at first (the column chooser adds them; the record shows them).
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
        "modified": bso.modified,  # shown as a local date, the server's value on hover
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


def record_html(sync: Any, collection: str, record_id: str) -> tuple[str, str]:
    """(cleartext, envelope) HTML of one record: masked JSON, or why it did not decrypt;
    its BSO envelope with the decrypt error in full."""
    try:
        record = mask(collection, sync.record(collection, record_id))
        left = h.heading("cleartext", "secrets masked") + h.pretty_json(record)
    except Exception as exc:  # a record that did not decrypt: say why instead
        left = h.heading("cleartext") + h.banner(str(exc), "bad")
    env = envelope(sync, collection, record_id)
    right = h.heading("BSO envelope") + (h.pairs(env.items()) if env else h.banner("not in the local mirror", "info"))
    return left, right


class CollectionBrowser(View):
    """Browse the downloaded collections of a sync (after ``sync.download()``).

    Click a header to sort, type in the search box (any column, as you type), choose
    columns, and click a row to open the record below the grid."""

    def __init__(self, sync: Any, collection: str | None = None, *, height: int = 320, **kwargs: Any) -> None:
        self.sync = sync
        self._frames: dict[str, pd.DataFrame] = {}
        names = collection_names(sync)
        if not names:
            raise ValueError("nothing downloaded yet: run sync.download() first")
        if collection is not None and collection not in names:
            raise ValueError(f"{collection!r} was not downloaded; choose one of {names}")
        self.collection = w.Dropdown(options=names, value=collection or names[0], description="collection")
        self.only_errors = w.Checkbox(value=False, description="only records that fail to decrypt", indent=False)
        self.grid = DataGrid(self._frame_of(self.collection.value), tone=_tones, height=height)
        self._show_columns()
        self.opened = html("", "synctools-record-title")
        self.record_json = html("", "synctools-record-json")
        self.record_envelope = html("", "synctools-record-envelope")
        self.record_json.layout = w.Layout(flex="3 1 420px", min_width="0")
        self.record_envelope.layout = w.Layout(flex="2 1 320px", min_width="0")
        self.collection.observe(lambda _: self._load(), names="value")
        self.only_errors.observe(lambda _: self._mask(), names="value")
        self.grid.on_select(self.show_record)
        super().__init__(
            [
                w.HBox([self.collection, self.only_errors]),
                self.grid,
                self.opened,
                w.HBox([self.record_json, self.record_envelope], layout=w.Layout(flex_flow="row wrap", width="100%")),
            ],
            **kwargs,
        )
        self.add_class("synctools-view")
        self.add_class("synctools-browser")
        self.opened.value = f"<p style='{h.FONT}'><i>click a row to open its record</i></p>"

    # ----------------------------------------------------------------- data
    def _frame_of(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = self.sync.frame(name)
        return self._frames[name]

    def frame(self) -> pd.DataFrame:
        """The rows the grid shows now (collection, error filter, search and sort applied)."""
        return self.grid.view()

    # ----------------------------------------------------------------- actions
    def select(self, collection: str) -> None:
        self.collection.value = collection

    def search(self, text: str) -> None:
        """What typing in the search box does."""
        self.grid.query = text

    def show_record(self, record_id: str | None) -> None:
        """Show one record (masked cleartext) next to its BSO envelope and its error."""
        if not record_id:
            self.record_json.value = self.record_envelope.value = self.opened.value = ""
            return
        name = self.collection.value
        self.opened.value = h.heading(f"{name}/{record_id}", "the record as decrypted, and as the server holds it")
        self.record_json.value, self.record_envelope.value = record_html(self.sync, name, record_id)
        if self.grid.selected != record_id:
            self.grid.select(record_id)

    def _load(self) -> None:
        self.grid.set_frame(self._frame_of(self.collection.value))
        self._show_columns()
        self._mask()
        self.show_record(None)

    def _show_columns(self) -> None:
        names = [c["name"] for c in self.grid.columns]
        self.grid.visible = [c for c in names if c not in WIDE]

    def _mask(self) -> None:
        f = self.grid.frame
        self.grid.set_mask(f["error"].notna() if self.only_errors.value and "error" in f else None)


def _tones(frame: pd.DataFrame) -> pd.Series:
    """A record that failed to decrypt or validate is a "bad" row."""
    if "error" not in frame:
        return pd.Series([None] * len(frame), index=frame.index)
    return frame["error"].map(lambda e: "bad" if isinstance(e, str) and e else None)
