from __future__ import annotations

from collections.abc import Iterator

import pytest

from synctools.server import LocalStack

from .client import User, new_user


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_stack(stack: LocalStack) -> Iterator[None]:
    yield
    stack.admin.clear_faults()
    stack.admin.reset_config()


@pytest.fixture
def user(stack: LocalStack) -> User:
    return new_user(stack)
