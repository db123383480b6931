"""Seams: where a lower layer calls code that lives above it, without importing it.

The embedded server imports only the protocol; yet ``LocalStack(demo=True)`` installs
the demo account, which :mod:`synctools.demodata` builds (it encrypts records, so it sits
above the server). The package registers the installer here (``synctools/__init__.py``);
the stack asks for it. This module imports nothing, so every layer may use it.
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
