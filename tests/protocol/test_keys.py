"""X-KeyID parsing: every malformed key id is a KeyIdError, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctools.errors import ProtocolError
from synctools.protocol.keys import KeyIdError, make_kid, parse_kid


def test_a_key_id_round_trips():
    kid = make_kid(1510726317123, bytes(range(16)))
    assert parse_kid(kid) == (1510726317123, bytes(range(16)))


@pytest.mark.parametrize("bad", ["", "-", "123", "123-", "-AAAAAAAAAAAAAAAAAAAAAA", "²-AAAAAAAAAAAAAAAAAAAAAA",
                                 "١٢-AAAAAAAAAAAAAAAAAAAAAA", "12-AAAA", "12-!!!!"])  # fmt: skip
def test_a_malformed_key_id_is_a_key_id_error(bad):
    with pytest.raises(KeyIdError):
        parse_kid(bad)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_protocol_error(text):
    try:
        parse_kid(text)
    except ProtocolError:
        pass
