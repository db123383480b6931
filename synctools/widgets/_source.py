"""What the views read from a ``Sync``: only its public attributes and methods."""

from __future__ import annotations

from typing import Any

import ipywidgets as w


def result_and_sync(source: Any, stage: str, cls: type) -> tuple[Any, Any]:
    """``(result, sync)`` from either a stage result or the ``Sync`` that ran it."""
    if isinstance(source, cls):
        return source, None
    results = getattr(source, "results", None)
    if not isinstance(results, dict):
        raise TypeError(f"expected a {cls.__name__} or a Sync, got {type(source).__name__}")
    result = results.get(stage)
    if result is None:
        raise ValueError(f"this sync has not run {stage}() yet: run sync.{stage}() first")
    return result, source


def record_counts(sync: Any) -> dict[str, int]:
    """Records held locally per collection (decrypted + failed), from the last download."""
    if sync is None:
        return {}
    download = sync.results.get("download")
    if download is None:
        return {}
    return {row["collection"]: int(row.get("total", row.get("downloaded", 0))) for row in download.collections}


def failures(sync: Any) -> dict[str, dict[str, int]]:
    """``{collection: {reason: count}}`` of records that failed to decrypt."""
    if sync is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    for row in sync.errors().itertuples(index=False):
        reasons = out.setdefault(row.collection, {})
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    return out


def html(value: str = "", cls: str | None = None) -> w.HTML:
    widget = w.HTML(value=value, layout=w.Layout(width="100%"))
    if cls:
        widget.add_class(cls)
    return widget


def html_of(widget: w.Widget) -> str:
    """The HTML a view draws right now: its HTML children in order (buttons left out)."""
    if isinstance(widget, w.HTML):
        value: str = widget.value  # ipywidgets is untyped: HTML.value is a Unicode trait
        return value
    static = getattr(widget, "html", None)  # a DataGrid: its first rows as a table
    if callable(static):
        return str(static())
    return "".join(html_of(child) for child in getattr(widget, "children", ()))


class View(w.VBox):
    """A synctools view: a VBox whose display bundle also carries its current HTML, so
    nbconvert, GitHub and other frontends without a widget manager still show it."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = f"<div class='synctools-fallback'>{html_of(self)}</div>"
        return bundle
