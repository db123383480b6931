"""Helpers for the engine tests: real-shaped records encrypted into BSOs."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from synctools.protocol.crypto import CollectionKeys, KeyBundle

T0 = 1_795_695_132.67  # a server timestamp (seconds, two decimals)


def make_bsos(records: list[dict[str, Any]], bundle: KeyBundle, **envelope: Any) -> list[dict[str, Any]]:
    """Encrypt cleartext records into BSO dicts as the server returns them."""
    out = []
    for n, rec in enumerate(records):
        bso = {"id": rec["id"], "modified": round(T0 + n, 2), "payload": json.dumps(bundle.encrypt(rec))}
        bso.update(envelope)
        out.append(bso)
    return out


def dtype_map(df: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in df.dtypes.items()}


def expected_dtypes(declared: dict[str, str]) -> dict[str, str]:
    return {name: str(pd.Series([], dtype=d).dtype) if d != "category" else "category" for name, d in declared.items()}


@pytest.fixture(scope="session")
def keys() -> CollectionKeys:
    return CollectionKeys.generate(["passwords"])
