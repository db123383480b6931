"""synctools: inspect and debug Firefox Sync account data from Jupyter.

Layers (imports point down only)::

    widgets/  cli.py  notebooks        faces: what a person touches
    machine.py                         the stepwise sync: stages, state, plans, commit
    engines/  frames.py  diff.py       knowledge of each collection's records
    store.py                           local SQLite: mirror, staged changes, sync state, snapshots
    net/                               I/O, one module per server, with a trace
    protocol/                          pure: bytes and rules, no I/O
    server/                            the embedded local stack; imports protocol/ only

The public face: ``synctools.Sync`` (the stepwise sync) and ``synctools.LocalStack``
(the embedded stack). They load lazily so ``import synctools`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Sync
    from .server import LocalStack
    from .snapshots import snapshot

_LAZY = {"Sync": ("synctools.machine", "Sync"), "LocalStack": ("synctools.server", "LocalStack"),
         "snapshot": ("synctools.snapshots", "snapshot")}  # fmt: skip

__all__ = ["LocalStack", "Sync", "__version__", "snapshot"]


def _widget_display(obj: Any) -> dict[str, Any] | None:
    """Results and plans display as synctools widgets in a Jupyter kernel. The package (the
    top of the house) registers this with :mod:`synctools.display`, so the core objects
    never import the widgets; ipywidgets is imported only when a kernel displays one."""
    import sys

    if "ipykernel" not in sys.modules:
        return None
    from .widgets.display import mimebundle

    return mimebundle(obj)


def _install_demo(admin: Any) -> Any:
    from .demodata import install_demo

    return install_demo(admin)


def _compare(sync: Any, profile: Any, collection: str) -> Any:
    from .device.compare import compare_with_sync

    return compare_with_sync(sync, profile, collection)


def _register() -> None:
    """The seams the package fills, so lower layers never import higher ones: how core
    objects display, how the stack gets its demo account, how a sync compares a profile."""
    from . import display, seams

    display.register(_widget_display)
    seams.set_demo_installer(_install_demo)
    seams.set_comparer(_compare)


_register()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'synctools' has no attribute {name!r}")
