"""Seams: where a lower layer calls code that lives above it, without importing it.

- The embedded server imports only the protocol; yet ``LocalStack(demo=True)`` installs
  the demo account, which :mod:`synctools.demodata` builds (it encrypts records, so it
  sits above the server).
- ``Sync.compare(profile, collection)`` answers with :mod:`synctools.device`, which sits
  above the stepwise sync (it judges a sync against a Firefox profile).

The package registers each implementation here (``synctools/__init__.py``); the lower
layer asks for it. This module imports nothing, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``install(admin) -> account``: puts the demo account on a running stack
DemoInstaller = Callable[[Any], Any]

_demo_installer: DemoInstaller | None = None


def set_demo_installer(install: DemoInstaller) -> None:
    global _demo_installer
    _demo_installer = install


def demo_installer() -> DemoInstaller:
    if _demo_installer is None:
        raise LookupError("no demo installer is registered: import synctools (the package registers it)")
    return _demo_installer


#: ``compare(sync, profile, collection) -> DataFrame``: a profile's records next to a sync's
Comparer = Callable[[Any, Any, str], Any]

_comparer: Comparer | None = None


def set_comparer(compare: Comparer) -> None:
    global _comparer
    _comparer = compare


def comparer() -> Comparer:
    if _comparer is None:
        raise LookupError("no comparer is registered: import synctools (the package registers it)")
    return _comparer
