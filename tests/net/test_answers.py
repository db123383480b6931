"""The checks every server answer goes through, without a network: records with wrong
types become MalformedBSO with an error naming the field (never a crash, never a value),
tokens are strict, credential-shaped text is scrubbed, and no JSON nesting crashes."""

from __future__ import annotations

import pytest

from synctools.net import EnvelopeError, MalformedBSO, Token
from synctools.net._json import NotJSON, loads
from synctools.net.answers import bso_from_server
from synctools.net.errors import scrub_credentials
from synctools.net.tokenserver import check_endpoint
from synctools.protocol.bso import BSO, ServerTime

GOOD = {"id": "abcdefghijkl", "payload": '{"ciphertext":"x"}', "modified": 1700000000.12, "sortindex": 5, "ttl": 60}
NOW = ServerTime.parse("1800000000.00")


def test_a_well_formed_record_is_a_plain_bso():
    bso = bso_from_server(GOOD, "page 1 #0", NOW)
    assert type(bso) is BSO
    assert bso == BSO("abcdefghijkl", GOOD["payload"], ServerTime.parse("1700000000.12"), 5, 60)


@pytest.mark.parametrize(
    "change, says",
    [
        ({"id": 12345}, "id is a number, not a string"),
        ({"id": "abc\n"}, "id is not 1-64 printable ASCII"),
        ({"id": "x" * 65}, "id is not 1-64 printable ASCII"),
        ({"id": None}, "id is null"),
        ({"payload": {"ciphertext": 1}}, "payload is an object, not a string"),
        ({"payload": None}, "payload is null"),
        ({"modified": "1700000000.12"}, "modified is a string, not a number"),
        ({"modified": True}, "modified is a boolean"),
        ({"modified": 99999999999.99}, "modified is after the answer's X-Weave-Timestamp"),
        ({"modified": -1}, "modified is not a timestamp"),
        ({"modified": 1e300}, "modified is not a timestamp"),
        ({"sortindex": "high"}, "sortindex is a string"),
        ({"sortindex": 2**70}, "sortindex is out of range"),
        ({"sortindex": 1.5}, "sortindex is a number"),
        ({"sortindex": True}, "sortindex is a boolean"),
        ({"ttl": -1}, "ttl is out of range"),
        ({"ttl": [1]}, "ttl is an array"),
    ],
)
def test_a_wrong_type_makes_a_malformed_bso_naming_the_field(change, says):
    obj = {**GOOD, **change}
    bso = bso_from_server(obj, "page 2 #7", NOW)
    assert isinstance(bso, MalformedBSO) and isinstance(bso.error, EnvelopeError)
    assert says in str(bso.error) and bso.error.reason == "bad-envelope"
    assert isinstance(bso.id, str) and isinstance(bso.payload, str)
    assert bso.sortindex is None or type(bso.sortindex) is int
    assert bso.ttl is None or type(bso.ttl) is int
    # the message names types, never the value (an id, not a secret, is shown as the row's name)
    for key, value in change.items():
        if key != "id" and isinstance(value, str) and len(value) > 3:
            assert value.strip() not in str(bso.error)


@pytest.mark.parametrize("entry", [5, "abc", None, [1, 2], True])
def test_an_entry_that_is_not_an_object_is_still_a_row(entry):
    bso = bso_from_server(entry, "page 1 #3", NOW)
    assert isinstance(bso, MalformedBSO) and "page 1 #3" in bso.id
    assert "not an object" in str(bso.error)


def test_records_without_usable_ids_never_collide():
    a = bso_from_server({**GOOD, "id": 1}, "page 1 #0", NOW)
    b = bso_from_server({**GOOD, "id": 1}, "page 1 #1", NOW)
    c = bso_from_server({k: v for k, v in GOOD.items() if k != "id"}, "page 1 #2", NOW)
    assert len({a.id, b.id, c.id}) == 3


def test_an_envelope_error_comes_back_from_its_stored_text():
    bso = bso_from_server({**GOOD, "ttl": "soon"}, "page 1 #0", NOW)
    assert isinstance(bso, MalformedBSO) and bso.error is not None
    again = EnvelopeError.from_stored(str(bso.error), bso.id)
    assert str(again) == str(bso.error) and again.detail == bso.error.detail


@pytest.mark.parametrize(
    "body",
    [b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 50_000, b"[NaN]", b"[1e400]", b'"\\ud800"', b"\xff", b"", b"{"],
)
def test_no_body_crashes_the_parser(body):
    with pytest.raises(NotJSON) as err:
        loads(body)
    assert len(str(err.value)) < 120  # says what, never quotes the body


def test_token_fields_are_strict_and_errors_quote_no_value():
    good = {"id": "token-id-0123456789", "key": "hawk-key-0123456789", "uid": 3,
            "api_endpoint": "https://node.example/1.5/3", "duration": 3600}  # fmt: skip
    assert Token.from_json(good).uid == 3
    for change in ({"uid": "3"}, {"duration": -1}, {"duration": 10**12}, {"key": 5}, {"id": ""},
                   {"api_endpoint": "node.example/1.5/3"}, {"api_endpoint": "ftp://x/1.5/3"},
                   {"api_endpoint": "https:///1.5/3"}, {"api_endpoint": "http://h:port/1.5"}):  # fmt: skip
        with pytest.raises(ValueError) as err:
            Token.from_json({**good, **change})
        assert "hawk-key-0123456789" not in str(err.value) and "token-id-0123456789" not in str(err.value)
    with pytest.raises(ValueError, match="not an array"):
        Token.from_json([good])  # type: ignore[arg-type]
    assert check_endpoint("http://127.0.0.1:5000/storage/1.5/1") is None


def test_credential_shaped_text_is_scrubbed_but_error_names_stay_readable():
    secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0" * 2
    for text in (
        f'{{"sessionToken":"{secret}"}}',
        f'{{"key":"{secret[:10]}',
        f'["{secret}"]',
        f"token {secret} refused",
    ):
        out = scrub_credentials(text)
        assert secret[:10] not in out and "<fp " in out
    readable = '{"status": "invalid-client-state", "errors": [{"name": "X-KeyID", "description": "stale"}]}'
    assert scrub_credentials(readable) == readable
