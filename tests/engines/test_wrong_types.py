"""Envelopes with values of the wrong type (what a hostile server sends, or a hand-made
BSO) never crash a frame: such a value is missing (NA) in its column, the row is kept."""

from __future__ import annotations

import pytest

from synctools import frames
from synctools.engines.base import int_array
from synctools.protocol.bso import BSO, ServerTime

WRONG = ["x", 2**70, -(2**70), 1.5, True, [1], {"a": 1}, None]


@pytest.mark.parametrize("value", WRONG)
@pytest.mark.parametrize("field", ["sortindex", "ttl"])
@pytest.mark.parametrize("collection", ["bookmarks", "history", "passwords", "tabs", "clients", "unknown-things"])
def test_a_wrong_envelope_value_is_missing_not_a_crash(collection, field, value):
    env = {
        "id": "abc",
        "payload": "{}",
        "modified": ServerTime(170000000000),
        "sortindex": 1,
        "ttl": None,
        field: value,
    }
    bso = BSO(env["id"], env["payload"], env["modified"], env["sortindex"], env["ttl"])
    rec = {"id": "abc", "type": "bookmark", "title": "t"}
    for envelope in (bso, env):
        df = frames.frames_from_records(collection, [rec, {"id": "def"}], envelopes=[envelope, None]).main
        assert len(df) >= 2 and str(df[field].dtype) == "Int64"
        assert df[field].isna().iloc[0]


def test_int_array_keeps_what_fits_and_drops_the_rest():
    arr = int_array([1, "2", 2**70, None, True, 3.0, 5])
    assert str(arr.dtype) == "Int64" and list(arr.fillna(-1)) == [1, -1, -1, -1, -1, -1, 5]
