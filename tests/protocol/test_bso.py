"""BSO validation rules and exact two-decimal server timestamps."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctools.protocol.bso import (
    BSO,
    MAX_SORTINDEX,
    BSOValidationError,
    ServerTime,
    valid_collection_name,
    validate_bso_fields,
)

centis = st.integers(min_value=0, max_value=10**13 - 1)


@given(centis)
def test_servertime_string_roundtrip_is_exact(c):
    t = ServerTime(c)
    assert ServerTime.parse(str(t)) == t
    assert str(t).count(".") == 1 and len(str(t).split(".")[1]) == 2


@given(centis)
def test_servertime_survives_json_float_roundtrip(c):
    # what we read as a JSON number is what we send back as X-If-Unmodified-Since
    t = ServerTime(c)
    wire = json.dumps({"modified": t.to_json()})
    back = ServerTime.parse(json.loads(wire)["modified"])
    assert back == t and str(back) == str(t)


def test_servertime_parse_forms():
    assert str(ServerTime.parse("1795695132.67")) == "1795695132.67"
    assert str(ServerTime.parse(1795695132.67)) == "1795695132.67"
    assert str(ServerTime.parse(1795695132)) == "1795695132.00"
    assert str(ServerTime.parse("0")) == "0.00"
    assert str(ServerTime.parse(Decimal("12.3"))) == "12.30"
    assert ServerTime.from_millis(1795695132678) == ServerTime.parse("1795695132.67")
    assert str(ServerTime(5) + 1) == "0.06"
    assert ServerTime.parse("1.5").to_datetime().year == 1970


@pytest.mark.parametrize("bad", ["abc", "", "-1", -0.5, float("nan"), float("inf"), True, "1e400000"])
def test_servertime_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        ServerTime.parse(bad)


@pytest.mark.parametrize(
    "obj, field",
    [
        ({"payload": "x"}, "id"),
        ({"id": "", "payload": "x"}, "id"),
        ({"id": "a" * 65}, "id"),
        ({"id": "tab\there"}, "id"),
        ({"id": "é"}, "id"),
        ({"id": 5}, "id"),
        ({"id": "a", "sortindex": "5"}, "sortindex"),
        ({"id": "a", "sortindex": MAX_SORTINDEX + 1}, "sortindex"),
        ({"id": "a", "sortindex": 1.5}, "sortindex"),
        ({"id": "a", "sortindex": True}, "sortindex"),
        ({"id": "a", "ttl": -1}, "ttl"),
        ({"id": "a", "ttl": 1_000_000_000}, "ttl"),
        ({"id": "a", "ttl": "10"}, "ttl"),
        ({"id": "a", "payload": 5}, "payload"),
        ({"id": "a", "payload": "x" * 11}, "payload"),
        ({"id": "a", "bogus": 1}, "bogus"),
    ],
)
def test_invalid_bsos(obj, field):
    with pytest.raises(BSOValidationError) as err:
        validate_bso_fields(obj, max_payload_bytes=10)
    assert err.value.field == field


def test_not_an_object():
    with pytest.raises(BSOValidationError, match="JSON object"):
        validate_bso_fields(["id"])


def test_valid_bsos_and_ignored_fields():
    validate_bso_fields({"id": " ~", "payload": "", "sortindex": -MAX_SORTINDEX, "ttl": 0})
    validate_bso_fields({"id": "x", "modified": 1.5, "collection": "bookmarks", "ttl": None})
    validate_bso_fields({"payload": "x"}, require_id=False)


@given(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64),
    st.one_of(st.none(), st.integers(-MAX_SORTINDEX, MAX_SORTINDEX)),
    st.one_of(st.none(), st.integers(0, 999_999_999)),
    st.text(max_size=50),
)
def test_generated_valid_bsos_pass_and_roundtrip(bso_id, sortindex, ttl, payload):
    bso = BSO(bso_id, payload, None, sortindex, ttl)
    bso.validate()
    back = BSO.from_json(json.loads(json.dumps(bso.to_json())))
    assert back == bso


@given(st.text(min_size=1, max_size=70))
def test_generated_ids_validate_exactly_by_rule(bso_id):
    ok = 1 <= len(bso_id) <= 64 and all(0x20 <= ord(c) <= 0x7E for c in bso_id)
    if ok:
        validate_bso_fields({"id": bso_id})
    else:
        with pytest.raises(BSOValidationError):
            validate_bso_fields({"id": bso_id})


def test_bso_from_server_json_keeps_exact_modified():
    bso = BSO.from_json({"id": "x", "modified": 1795695155.86, "payload": "{}", "sortindex": 3})
    assert str(bso.modified) == "1795695155.86" and bso.sortindex == 3
    assert "modified" not in bso.to_json()
    with pytest.raises(BSOValidationError):
        BSO.from_json({"payload": "x"})


@pytest.mark.parametrize(
    "name, ok",
    [
        ("bookmarks", True),
        ("extension-storage", True),
        ("a.b_c", True),
        ("", False),
        ("x" * 33, False),
        ("no/slash", False),
        ("sp ace", False),
    ],
)
def test_collection_names(name, ok):
    assert valid_collection_name(name) is ok
