"""Jupyter widgets (ipywidgets 8) for looking at a sync and approving what it writes.

- :class:`MetaGlobalView` — meta/global and its engines, problems highlighted;
- :class:`CryptoKeysView` — the collection keys as fingerprints, their users, failures;
- :class:`CollectionBrowser` — a collection in a grid (sort, search, columns), a click opens a record;
- :class:`DataGrid` — any DataFrame in that grid: the frame stays in the kernel;
- :class:`BookmarkTree` — the bookmark folders, problems marked, a click opens the record;
- :class:`DoctorView` — the doctor's findings by severity, staging a fix into the review;
- :class:`DiffView`, :class:`UploadReview` — review a plan change by change and commit;
- :class:`StagesView`, :class:`TraceView`, :class:`TimelineView` — where the sync stands,
  its HTTP, and both on one time axis;
- :class:`StatusLine` — progress of a long silent step (starting the embedded stack).

Stage results and plans display these widgets by themselves when they are the last
thing in a cell (see :mod:`synctools.widgets.display`); :func:`view` returns the widget
for any of them. They are ipywidgets, two of them (grid, tree) small anywidget modules
shipped in this package (no network, no build step); every colour is a JupyterLab theme
variable. Each falls back to the object's HTML where no widget manager runs.
"""

from __future__ import annotations

from ._time import set_timezone
from .browser import CollectionBrowser
from .compare import CompareView  # a Firefox profile next to the server (docs/device.md)
from .display import view
from .doctor import DoctorView
from .grid import DataGrid
from .keys import CryptoKeysView
from .metaglobal import MetaGlobalView
from .progress import StatusLine
from .review import DiffView, UploadReview
from .stages import ResultView, StagesView, TraceView
from .timeline import TimelineView
from .tree import BookmarkTree

__all__ = [
    "BookmarkTree",
    "CollectionBrowser",
    "CompareView",
    "CryptoKeysView",
    "DataGrid",
    "DiffView",
    "DoctorView",
    "MetaGlobalView",
    "ResultView",
    "StagesView",
    "StatusLine",
    "TimelineView",
    "TraceView",
    "UploadReview",
    "set_timezone",
    "view",
]
