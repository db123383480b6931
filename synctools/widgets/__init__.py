"""Jupyter widgets (ipywidgets 8) for looking at a sync and approving what it writes.

- :class:`MetaGlobalView` — meta/global and its engines, problems highlighted;
- :class:`CryptoKeysView` — the collection keys as fingerprints, their users, failures;
- :class:`CollectionBrowser` — filter and page a collection, open a record;
- :class:`DiffView`, :class:`UploadReview` — review a plan change by change and commit;
- :class:`StagesView`, :class:`TraceView` — where the sync stands and its HTTP.

Stage results and plans display these widgets by themselves when they are the last
thing in a cell (see :mod:`synctools.widgets.display`); :func:`view` returns the widget
for any of them. Plain ipywidgets, no custom JavaScript: they render wherever the
standard widget manager does (JupyterLab, Notebook 7, VS Code), and each falls back to
the object's HTML where none runs.
"""

from __future__ import annotations

from .browser import CollectionBrowser
from .compare import CompareView  # a Firefox profile next to the server (docs/device.md)
from .display import view
from .keys import CryptoKeysView
from .metaglobal import MetaGlobalView
from .review import DiffView, UploadReview
from .stages import ResultView, StagesView, TraceView

__all__ = [
    "CollectionBrowser",
    "CompareView",
    "CryptoKeysView",
    "DiffView",
    "MetaGlobalView",
    "ResultView",
    "StagesView",
    "TraceView",
    "UploadReview",
    "view",
]
