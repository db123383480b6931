"""Shared fixtures. The published test vectors live in tests/vectors/ (copied from
../shared/vectors, checked against it when that folder is present)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"


def load_vector(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def onepw_vectors() -> dict[str, Any]:
    return load_vector("onepw")


@pytest.fixture(scope="session")
def onepw_v2_vectors() -> dict[str, Any]:
    return load_vector("onepw_v2")


@pytest.fixture(scope="session")
def sync_vectors() -> dict[str, Any]:
    return load_vector("sync_crypto")


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory, monkeypatch):
    """Tests never write into the real per-user data folder."""
    monkeypatch.setenv("SYNCTOOLS_DATA_DIR", str(tmp_path_factory.mktemp("synctools-data")))
