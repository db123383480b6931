"""How a result object becomes its widget when it is the last thing in a cell.

``StageResult`` and ``UploadPlan`` define ``_repr_mimebundle_`` as a one-line call to
:func:`mimebundle` (a doctor ``Report`` can do the same; :func:`view` knows it). In a
Jupyter kernel it returns the widget's view bundle plus the object's own ``text/plain``;
IPython then adds ``text/html`` from ``_repr_html_``, so frontends without a widget
manager (nbconvert, GitHub, a plain HTML viewer) still show the HTML. Outside a kernel
(a terminal, plain Python) it returns ``None`` and nothing changes: no widget is created,
ipywidgets is not even imported.
"""

from __future__ import annotations

import warnings
from typing import Any


def in_kernel() -> bool:
    """True in a Jupyter kernel (JupyterLab, nbclient): widgets can reach a frontend."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def find_sync(obj: Any) -> Any:
    """The ``Sync`` in the notebook's namespace that produced ``obj`` (a stage result
    or its current plan), so an auto-displayed view can show counts and commit.

    Result objects carry no reference to their sync; the user namespace is where a
    notebook keeps it (``sync = Sync.local(stack)``). ``None`` when not found.
    """
    own = getattr(obj, "sync", None)  # results, plans and reports that know their sync
    from ..machine import Sync

    if isinstance(own, Sync):
        return own
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    shell = get_ipython()
    if shell is None:
        return None
    for value in list(shell.user_ns.values()):
        if not isinstance(value, Sync):
            continue
        if any(r is obj for r in value.results.values()) or value.plan is obj:
            return value
    return None


def view(obj: Any, sync: Any = None) -> Any:
    """The widget for a stage result, a plan, a doctor report, or a ``Sync`` (its stages)."""
    from ..doctor import Report
    from ..machine import Sync
    from ..plan import Plan, PlannedChange
    from ..results import CryptoKeysResult, MetaGlobalResult, StageResult
    from .keys import CryptoKeysView
    from .metaglobal import MetaGlobalView
    from .review import DiffView, UploadReview
    from .stages import ResultView, StagesView

    if isinstance(obj, Sync):
        return StagesView(obj)
    if isinstance(obj, MetaGlobalResult):
        return MetaGlobalView(obj, sync=sync)
    if isinstance(obj, CryptoKeysResult):
        return CryptoKeysView(obj, sync=sync)
    if isinstance(obj, Plan):  # records, meta/global, fresh start, engine reset: one review
        return UploadReview(sync, obj)
    if isinstance(obj, PlannedChange):
        return DiffView(obj)
    if isinstance(obj, Report):
        from .doctor import DoctorView

        return DoctorView(obj, sync=sync)
    if isinstance(obj, StageResult):
        return ResultView(obj, sync=sync)
    raise TypeError(f"no synctools widget for {type(obj).__name__}")


def mimebundle(obj: Any) -> dict[str, Any] | None:
    """The display hook's body: the widget bundle in a kernel, else ``None``."""
    if not in_kernel():
        return None
    try:
        widget = view(obj, sync=find_sync(obj))
        bundle: dict[str, Any] = widget._repr_mimebundle_()
    except Exception as exc:  # a display must never fail a cell: fall back to HTML, but say why
        warnings.warn(f"synctools: showing HTML instead of the widget ({type(exc).__name__}: {exc})", stacklevel=2)
        return None
    bundle["text/plain"] = repr(obj)
    return bundle
