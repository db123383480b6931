"""Fuzz suites: hypothesis, bounded so CI stays fast, and longer behind ``make fuzz``.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (the default: a few hundred examples per test,
seeded, so CI is deterministic and quick) and ``long`` (``make fuzz``: thousands of
examples per test, no deadline, a fresh seed each run, failures shrunk). Each fuzz test is marked
``fuzz``; run only them with ``pytest -m fuzz``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("SYNCTOOLS_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=True,
    # no shrinking in CI: a failure is reported as found (with its reproduce blob) in
    # seconds, not after minutes of shrinking; `make fuzz` shrinks
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("SYNCTOOLS_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath):
            item.add_marker(pytest.mark.fuzz)
