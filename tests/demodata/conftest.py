"""One demo account per test session: building it takes about a second."""

from __future__ import annotations

import pytest

from synctools.demodata import DemoAccount, build_demo_account


@pytest.fixture(scope="session")
def account() -> DemoAccount:
    return build_demo_account()
