"""Tokenserver tokens must be interchangeable with Mozilla's own tokenlib."""

from __future__ import annotations

import time

import pytest
import tokenlib

from synctools.protocol import tokens

SECRET = "a-master-secret"
DATA = {"uid": 42, "node": "http://127.0.0.1:1/storage", "fxa_uid": "ab" * 16, "fxa_kid": "1-AAAA"}


def test_our_token_parses_with_tokenlib_and_keys_agree():
    tid = tokens.make_token(DATA, SECRET, timeout=60)
    parsed = tokenlib.parse_token(tid, secret=SECRET)
    assert parsed["uid"] == 42
    assert tokenlib.get_derived_secret(tid, secret=SECRET) == tokens.derived_secret(tid, SECRET)


def test_tokenlib_token_parses_with_ours():
    tid = tokenlib.make_token(DATA, secret=SECRET, timeout=60)
    assert tokens.parse_token(tid, SECRET)["fxa_uid"] == DATA["fxa_uid"]
    assert tokens.derived_secret(tid, SECRET) == tokenlib.get_derived_secret(tid, secret=SECRET)


def test_wrong_secret_expired_and_malformed():
    tid = tokens.make_token(DATA, SECRET, timeout=60)
    with pytest.raises(tokens.InvalidSignatureError):
        tokens.parse_token(tid, "other")
    old = tokens.make_token({**DATA, "expires": time.time() - 1}, SECRET)
    with pytest.raises(tokens.ExpiredTokenError):
        tokens.parse_token(old, SECRET)
    assert tokens.parse_token(old, SECRET, allow_expired=True)["uid"] == 42
    for bad in ("***", "QUJD", ""):
        with pytest.raises(tokens.MalformedTokenError):
            tokens.parse_token(bad, SECRET)
