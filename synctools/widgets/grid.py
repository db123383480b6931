"""``DataGrid``: a DataFrame as a scrolling, sortable, searchable grid; a click picks a row.

Why our own (on anywidget) rather than itables, ipydatagrid or perspective: the frame
stays in the kernel and only the rows in view travel to the browser. itables embeds
the whole table in the page and *downsamples* anything over 64 KB (search and
selection then see only part of it); ipydatagrid serialises the whole frame and draws
on a canvas (no search box, no text the theme or a contrast check can reach);
perspective brings a WebAssembly engine and its own themes for what is a table here.

How it stays fast on 100k rows: the browser draws a fixed row height inside a
scrolling box and asks for the rows under the viewport (``offset``); the kernel
answers with that window (about a hundred rows, formatted there). Sorting and search
run in pandas on the kernel side over an index of positions: a sort is one
``argsort``, a search one ``str.contains`` over a lower-cased text per row that is
built once, on the first keystroke (docs/widgets.md has the figures).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import orjson
import pandas as pd
import traitlets as t

from . import _html as h
from ._time import local, local_series, raw

_HERE = Path(__file__).parent
#: rows sent beyond the viewport on each side, so a short scroll needs no round trip
OVERSCAN = 40
#: rows per window the browser asks for
WINDOW = 120
#: the longest text a cell's hover shows (the opened record shows everything)
TITLE_LIMIT = 2000


def _fmt(value: Any) -> tuple[str, str | None]:
    """A cell's text and its hover: dates local to the second (raw on hover), lists as JSON."""
    if isinstance(value, str):
        return value, (value[:TITLE_LIMIT] if len(value) > 24 else None)
    if value is None or value is pd.NA or value is pd.NaT:
        return "", None
    if isinstance(value, float) and math.isnan(value):
        return "", None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        text = _json(value)
        return text, (text[:TITLE_LIMIT] if len(text) > 24 else None)
    if isinstance(value, bool):
        return ("yes" if value else "no"), None
    shown = local(value)
    if shown is not None:
        return shown, raw(value)
    text = str(value)
    return text, (text[:TITLE_LIMIT] if len(text) > 24 else None)


def _json(value: Any) -> str:
    """Compact JSON of a list or dict cell (orjson: about five times the stdlib's speed)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # something orjson cannot encode: the stdlib's text of it
        return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False, default=str)


def _width(series: pd.Series, name: str) -> int:
    """A column's width in pixels: its longest value in a sample (short columns such as
    ids show whole), at most 360 px (longer text shows on hover and in the record)."""
    lengths = [len(_fmt(v)[0]) for v in series.head(200)]
    chars = max([len(name) + 3, *lengths])
    return int(min(360, max(48, chars * 7.6 + 14)))


def _texts(series: pd.Series) -> pd.Series:
    """Every cell's text as the grid shows it, vectorised where the dtype allows
    (the search runs over these: what a person reads is what they can find)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return local_series(series)
    if pd.api.types.is_bool_dtype(series):
        return series.map({True: "yes", False: "no"}).astype(object).fillna("")
    if pd.api.types.is_numeric_dtype(series) or isinstance(series.dtype, pd.StringDtype):
        return series.astype("string").fillna("")
    return series.map(lambda v: _fmt(v)[0])


class DataGrid(anywidget.AnyWidget):
    """A DataFrame in a scrolling grid: click a header to sort, type to search, choose
    columns, click a row to select it (``selected`` is its key; ``on_select`` callbacks
    get it). The frame stays in the kernel; only the visible rows are sent."""

    _esm = _HERE / "grid.js"
    _css = _HERE / "grid.css"

    columns = t.List(t.Dict()).tag(sync=True)  # [{"name", "width"}] for every column
    visible = t.List(t.Unicode()).tag(sync=True)  # the chosen columns, in order
    sort_by = t.Unicode("").tag(sync=True)
    ascending = t.Bool(True).tag(sync=True)
    query = t.Unicode("").tag(sync=True)  # search text: any column, case-insensitive
    total = t.Int(0).tag(sync=True)  # rows matching
    size = t.Int(0).tag(sync=True)  # rows in the frame
    offset = t.Int(0).tag(sync=True)  # first row the browser wants
    window_start = t.Int(0).tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)  # [{"key", "cells", "titles", "tone"}]
    selected = t.Unicode("").tag(sync=True)
    epoch = t.Int(0).tag(sync=True)  # bumped by each new search/sort: the browser scrolls to the top
    height = t.Int(360).tag(sync=True)  # pixels of the scrolling body
    row_height = t.Int(24).tag(sync=True)
    placeholder = t.Unicode("search every column (as you type)").tag(sync=True)

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        key: str | None = "id",
        columns: list[str] | None = None,
        tone: Callable[[pd.DataFrame], pd.Series] | None = None,
        height: int = 360,
        **kwargs: Any,
    ) -> None:
        super().__init__(height=height, **kwargs)
        self._callbacks: list[Callable[[str], None]] = []
        self._tone = tone
        self._key = key
        self._mask: np.ndarray | None = None
        self._order = np.zeros(0, dtype=np.int64)
        self._quiet = False  # set while several traits change at once: one redraw after
        self.add_class("synctools-grid-widget")
        self.observe(self._on_search, names=["query", "sort_by", "ascending"])
        self.observe(self._on_scroll, names=["offset", "visible"])
        self.observe(self._on_selected, names=["selected"])
        self.set_frame(frame, columns=columns)

    def _on_search(self, _: Any) -> None:
        if not self._quiet:
            self._refilter()

    def _on_scroll(self, _: Any) -> None:
        if not self._quiet:
            self._send_window()

    # ------------------------------------------------------------ data
    def set_frame(self, frame: pd.DataFrame, *, columns: list[str] | None = None) -> None:
        """Show another frame (search, sort and selection start again)."""
        self._source_index = frame.index  # masks come aligned with the frame as given
        plain = frame.index.equals(pd.RangeIndex(len(frame)))
        self._frame = frame if plain else frame.reset_index(drop=True)  # labels = positions from here on
        self._haystack: pd.Series | None = None
        self._mask = None
        names = [str(c) for c in self._frame.columns]
        self._quiet = True
        try:
            self.columns = [{"name": n, "width": _width(self._frame[n], n)} for n in names]
            self.visible = [c for c in (columns or names) if c in names]
            self.size = len(self._frame)
            self.selected = ""
            self.sort_by = ""
            self.query = ""
        finally:
            self._quiet = False
        self._refilter()

    @property
    def frame(self) -> pd.DataFrame:
        """The whole frame as given."""
        return self._frame

    def set_mask(self, mask: pd.Series | None) -> None:
        """Keep only rows where ``mask`` is true (aligned with the frame), before search."""
        if mask is None:
            self._mask = None
        else:
            aligned = mask if mask.index.equals(self._source_index) else mask.reindex(self._source_index)
            self._mask = aligned.fillna(False).to_numpy(bool)
        self._refilter()

    def view(self) -> pd.DataFrame:
        """The rows the grid shows, in its order (mask, search and sort applied)."""
        return self._frame.iloc[self._order]

    def _search(self, needle: str) -> np.ndarray:
        if self._haystack is None:  # one lower-cased text per row, built on the first search
            parts = [_texts(self._frame[c]) for c in self._frame.columns]
            hay = parts[0].str.cat(parts[1:], sep="\x1f") if parts else pd.Series([""] * len(self._frame))
            self._haystack = hay.str.lower()
        # pandas is untyped here: one bool per row
        found: np.ndarray = self._haystack.str.contains(needle, regex=False).to_numpy(bool)
        return found

    def _refilter(self) -> None:
        keep = np.ones(len(self._frame), dtype=bool) if self._mask is None else self._mask.copy()
        if "\x1f" in self.query:  # our column separator: no cell holds it, so nothing matches
            keep &= False
        elif self.query.strip():  # spaces inside and around the text count: "site 42 " is not "site 420"
            keep &= self._search(self.query.lower())
        order = np.flatnonzero(keep)
        if self.sort_by and self.sort_by in self._frame.columns and len(order):
            col = self._frame[self.sort_by].iloc[order]
            try:
                ranked = col.sort_values(ascending=self.ascending, kind="stable", na_position="last")
            except TypeError:  # mixed types (lists, dicts): order by their text
                ranked = col.map(lambda v: _fmt(v)[0]).sort_values(ascending=self.ascending, kind="stable")
            order = ranked.index.to_numpy()  # labels are positions: the frame has a 0..n-1 index
        self._order = np.asarray(order, dtype=np.int64)
        self._quiet = True
        try:
            self.total = len(self._order)
            self.offset = 0
            self.epoch += 1
        finally:
            self._quiet = False
        self._send_window()

    def _send_window(self) -> None:
        start = max(0, min(self.offset, max(0, self.total - 1)))
        part = self._order[start : start + WINDOW + OVERSCAN]
        frame = self._frame.iloc[part]
        tones = self._tone(frame) if self._tone is not None and len(frame) else None
        cols = [c for c in self.visible if c in frame.columns]
        keys = frame[self._key].astype(str).tolist() if self._key in frame.columns else [str(p) for p in part]
        out = []
        for n, (_, rec) in enumerate(frame[cols].iterrows()):
            cells, titles = zip(*(_fmt(rec[c]) for c in cols)) if cols else ((), ())
            tone = tones.iloc[n] if tones is not None else None
            out.append({"key": keys[n], "cells": list(cells), "titles": list(titles), "tone": tone or ""})
        with self.hold_trait_notifications():
            self.window_start = start
            self.rows = out

    # ------------------------------------------------------------ selection
    def on_select(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(key)`` whenever a row is clicked (or ``select`` is called)."""
        self._callbacks.append(callback)

    def select(self, key: str) -> None:
        """Select the row whose key column equals ``key`` (what a click does)."""
        self.selected = str(key)

    def _on_selected(self, change: dict[str, Any]) -> None:
        if change["new"]:
            for callback in self._callbacks:
                callback(change["new"])

    # ------------------------------------------------------------ fallback
    def html(self, limit: int = 20) -> str:
        """The first rows as a static HTML table (where no widget manager runs)."""
        part = self.view().head(limit)
        cols = [c for c in self.visible if c in part.columns]
        note = f"{self.total:,} of {self.size:,} row(s)" + (f", first {limit} shown" if self.total > limit else "")
        return h.table(part[cols].to_dict("records"), cols, empty="no rows") + f"<p style='{h.FONT}'>{note}</p>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle[0]["text/html"] = self.html()
        elif isinstance(bundle, dict):
            bundle["text/html"] = self.html()
        return bundle
