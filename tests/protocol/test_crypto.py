"""Record crypto: round trips, tampering, malformed inputs, the bulk path, crypto/keys."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synctools.protocol.crypto import (
    Base64Error,
    CleartextJSONError,
    CleartextShapeError,
    CollectionKeys,
    CryptoError,
    HMACMismatchError,
    KeyBundle,
    PaddingError,
    PayloadShapeError,
    decrypt_many,
)

BUNDLE = KeyBundle(bytes(range(32)), bytes(range(32, 64)))
RECORD = {"id": "abcdefghijkl", "histUri": "https://example.com/", "title": "Ex", "visits": []}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
record_ids = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64)


def flip_b64(text: str, bit: int = 0) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[bit // 8 % len(raw)] ^= 1 << (bit % 8)
    return base64.b64encode(bytes(raw)).decode()


@settings(max_examples=150, deadline=None)
@given(rid=record_ids, body=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_roundtrip_any_record(rid, body):
    record = {**body, "id": rid}
    payload = BUNDLE.encrypt(record)
    assert set(payload) == {"ciphertext", "IV", "hmac"}
    assert BUNDLE.decrypt(payload, rid) == record
    assert BUNDLE.decrypt(json.dumps(payload), rid) == record
    assert decrypt_many(BUNDLE, [json.dumps(payload)], [rid]) == [record]


def test_fresh_iv_each_time():
    a, b = BUNDLE.encrypt(RECORD), BUNDLE.encrypt(RECORD)
    assert a["IV"] != b["IV"] and a["ciphertext"] != b["ciphertext"]


@pytest.mark.parametrize("bit", [0, 7, 100, 333])
def test_flipped_ciphertext_bit_is_an_hmac_mismatch(bit):
    payload = BUNDLE.encrypt(RECORD)
    payload["ciphertext"] = flip_b64(payload["ciphertext"], bit)
    with pytest.raises(HMACMismatchError) as err:
        BUNDLE.decrypt(payload, RECORD["id"])
    assert err.value.record_id == RECORD["id"] and err.value.reason == "hmac-mismatch"
    assert RECORD["id"] in str(err.value)


@pytest.mark.parametrize("bit", range(0, 128, 5))
def test_flipped_iv_bit_is_detected(bit):
    # The HMAC does not cover the IV; the damage lands in '{"id":"...' and the id check
    # (or the JSON parser) catches it.
    payload = BUNDLE.encrypt(RECORD)
    payload["IV"] = flip_b64(payload["IV"], bit)
    with pytest.raises(CryptoError):
        BUNDLE.decrypt(payload, RECORD["id"])
    [result] = decrypt_many(BUNDLE, [payload], [RECORD["id"]])
    assert isinstance(result, CryptoError)


@pytest.mark.parametrize("pos", [0, 10, 63])
def test_flipped_hmac_is_detected(pos):
    payload = BUNDLE.encrypt(RECORD)
    digit = payload["hmac"][pos]
    payload["hmac"] = payload["hmac"][:pos] + ("0" if digit != "0" else "1") + payload["hmac"][pos + 1 :]
    with pytest.raises(HMACMismatchError):
        BUNDLE.decrypt(payload, RECORD["id"])


def test_wrong_key_is_an_hmac_mismatch():
    payload = KeyBundle.random().encrypt(RECORD)
    with pytest.raises(HMACMismatchError, match="another key"):
        BUNDLE.decrypt(payload, RECORD["id"])


def test_uppercase_hmac_accepted():
    payload = BUNDLE.encrypt(RECORD)
    payload["hmac"] = payload["hmac"].upper()
    assert BUNDLE.decrypt(payload, RECORD["id"]) == RECORD
    assert decrypt_many(BUNDLE, [payload], [RECORD["id"]]) == [RECORD]


def _signed(ct_b64: str, iv: bytes = bytes(16)) -> dict[str, str]:
    return {
        "ciphertext": ct_b64,
        "IV": base64.b64encode(iv).decode(),
        "hmac": BUNDLE.hmac_hex(ct_b64.encode()),
    }


def _raw_encrypt(data: bytes, iv: bytes = bytes(16)) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(BUNDLE.enc_key), modes.CBC(iv)).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


MALFORMED = {
    "payload not json": ("{nope", PayloadShapeError),
    "payload a list": ("[1,2]", PayloadShapeError),
    "payload missing hmac": ({"ciphertext": "AAAA", "IV": "AAAA"}, PayloadShapeError),
    "payload hmac not a string": ({"ciphertext": "AAAA", "IV": "AAAA", "hmac": 5}, PayloadShapeError),
    "ciphertext not base64": (_signed("@@@@"), Base64Error),
    "ciphertext non-ascii": ({"ciphertext": "é", "IV": "AAAA", "hmac": "00"}, Base64Error),
    "IV not base64": ({**_signed(_raw_encrypt(bytes(16))), "IV": "!!"}, Base64Error),
    "IV wrong length": (
        {**_signed(_raw_encrypt(bytes(16))), "IV": base64.b64encode(bytes(8)).decode()},
        Base64Error,
    ),
    "ciphertext not block aligned": (_signed(base64.b64encode(bytes(20)).decode()), PaddingError),
    "ciphertext empty": (_signed(""), PaddingError),
    "bad padding": (_signed(_raw_encrypt(b"x" * 16)), PaddingError),
    "cleartext not utf8": (_signed(_raw_encrypt(b"\xff\xfe" + bytes([14]) * 14)), CleartextJSONError),
    "cleartext not json": (_signed(_raw_encrypt(b"hello" + bytes([11]) * 11)), CleartextJSONError),
    "cleartext not an object": (_signed(_raw_encrypt(b"[1]" + bytes([13]) * 13)), CleartextShapeError),
    "cleartext id differs": (_signed(_raw_encrypt(b'{"id":"zz"}' + bytes([5]) * 5)), CleartextShapeError),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_payloads_raise_their_own_error(name):
    payload, exc_type = MALFORMED[name]
    with pytest.raises(exc_type) as err:
        BUNDLE.decrypt(payload, "rec1")
    assert err.value.record_id == "rec1" and "rec1" in str(err.value)
    # the bulk path reports the same error class for that record
    [result] = decrypt_many(BUNDLE, [payload if isinstance(payload, str) else json.dumps(payload)], ["rec1"])
    assert type(result) is exc_type


def test_errors_never_contain_key_material():
    keys = [BUNDLE.enc_key, BUNDLE.hmac_key]
    texts = []
    for payload, _ in MALFORMED.values():
        try:
            BUNDLE.decrypt(payload, "rec1")
        except CryptoError as exc:
            texts.append(str(exc) + repr(exc))
    texts.append(repr(BUNDLE) + str(BUNDLE))
    for text in texts:
        for k in keys:
            for form in (k.hex(), base64.b64encode(k).decode(), base64.urlsafe_b64encode(k).decode()[:20]):
                assert form not in text


def test_bulk_one_bad_record_never_fails_the_others():
    other = KeyBundle.random()
    ids = [f"rec{i:04d}" for i in range(300)]
    payloads = [json.dumps(BUNDLE.encrypt({"id": i, "n": n})) for n, i in enumerate(ids)]
    payloads[5] = json.dumps(other.encrypt({"id": ids[5]}))  # wrong key
    payloads[17] = "{truncated"  # truncated response
    tampered = json.loads(payloads[42])
    tampered["ciphertext"] = flip_b64(tampered["ciphertext"], 9)
    payloads[42] = json.dumps(tampered)
    payloads[99] = json.dumps(_signed(_raw_encrypt(b"x" * 32)))  # bad padding
    results = decrypt_many(BUNDLE, payloads, ids)
    assert isinstance(results[5], HMACMismatchError) and results[5].record_id == ids[5]
    assert isinstance(results[17], PayloadShapeError)
    assert isinstance(results[42], HMACMismatchError)
    assert isinstance(results[99], PaddingError)
    good = [r for n, r in enumerate(results) if n not in (5, 17, 42, 99)]
    assert good == [{"id": i, "n": n} for n, i in enumerate(ids) if n not in (5, 17, 42, 99)]


def test_bulk_handles_one_bad_cleartext_among_good():
    ids = ["a", "b", "c"]
    payloads = [
        BUNDLE.encrypt({"id": "a"}),
        _signed(_raw_encrypt(b"nojson" + bytes([10]) * 10)),
        BUNDLE.encrypt({"id": "c"}),
    ]
    results = decrypt_many(BUNDLE, payloads, ids)
    assert results[0] == {"id": "a"} and results[2] == {"id": "c"}
    assert isinstance(results[1], CleartextJSONError)


def test_bulk_raw_returns_bytes_and_matches_single_path():
    payloads = [BUNDLE.encrypt({"id": str(i), "pad": "x" * i}) for i in range(40)]
    raw = decrypt_many(BUNDLE, payloads, raw=True)
    assert raw == [BUNDLE.decrypt_bytes(p) for p in payloads]


def test_bulk_rejects_mismatched_ids_length():
    with pytest.raises(ValueError, match="same length"):
        decrypt_many(BUNDLE, [BUNDLE.encrypt(RECORD)], ["a", "b"])


def test_bulk_with_smuggled_commas_falls_back_safely():
    # a payload string that is two JSON values must not shift the other results
    good = json.dumps(BUNDLE.encrypt({"id": "g"}))
    results = decrypt_many(BUNDLE, ['{"a":1},{"b":2}', good], ["x", "g"])
    assert isinstance(results[0], PayloadShapeError)
    assert results[1] == {"id": "g"}


def test_keybundle_validation_and_constructors():
    with pytest.raises(ValueError, match="32-byte"):
        KeyBundle(b"short", bytes(32))
    with pytest.raises(ValueError, match="64 bytes"):
        KeyBundle.from_ksync(bytes(10))
    ksync = os.urandom(64)
    kb = KeyBundle.from_ksync(ksync)
    assert kb.enc_key == ksync[:32] and kb.hmac_key == ksync[32:]
    assert KeyBundle.from_b64(*kb.to_b64()) == kb
    assert len(kb.fingerprint) == 8 and kb.fingerprint != KeyBundle.random().fingerprint


# ---------------------------------------------------------------- crypto/keys


def test_collection_keys_pick_own_else_default_and_roundtrip():
    ck = CollectionKeys.generate(["bookmarks"])
    assert ck.bundle_for("bookmarks") != ck.default
    assert ck.bundle_for("history") == ck.default
    clear = ck.to_cleartext()
    assert clear["id"] == "keys" and clear["collection"] == "crypto"
    again = CollectionKeys.from_cleartext(json.loads(json.dumps(clear)))
    assert again.bundle_for("bookmarks") == ck.bundle_for("bookmarks")
    assert again.default == ck.default
    fps = ck.fingerprints()
    assert set(fps) == {"default", "bookmarks"}
    for b in (ck.default, ck.collections["bookmarks"]):
        assert b.enc_key.hex() not in repr(ck) and base64.b64encode(b.enc_key).decode() not in repr(ck)


def test_collection_keys_roundtrip_through_ksync_encryption():
    root = KeyBundle.random()
    ck = CollectionKeys.generate(["passwords"])
    payload = root.encrypt(ck.to_cleartext())
    back = CollectionKeys.from_cleartext(root.decrypt(payload, "keys"))
    assert back.bundle_for("passwords") == ck.bundle_for("passwords")


@pytest.mark.parametrize(
    "clear, match",
    [
        ({}, "no default"),
        ({"default": ["AAAA"]}, "pair"),
        ({"default": ["@@", "@@"]}, "invalid keys"),
        ({"default": KeyBundle.random().to_b64(), "collections": []}, "must be an object"),
        ({"default": KeyBundle.random().to_b64(), "collections": {"x": [1, 2]}}, "collections.x"),
    ],
)
def test_collection_keys_malformed(clear, match):
    with pytest.raises(CleartextShapeError, match=match):
        CollectionKeys.from_cleartext(clear)


def test_bulk_never_parses_across_record_boundaries():
    # two broken records that would cancel out in one concatenated parse (one holds two
    # objects, the next is split across two records) must each fail on their own
    clear = [b'{"id":"r1"},{"id":"r2"}', b'{"id":"r3","x":1', b'"y":2}']
    payloads = [json.dumps(BUNDLE.encrypt_bytes(c, bytes(range(16)))) for c in clear]
    results = decrypt_many(BUNDLE, payloads, ["r1", "r2", "r3"])
    assert all(isinstance(r, CleartextJSONError) for r in results)
    for p, rid in zip(payloads, ["r1", "r2", "r3"]):
        with pytest.raises(CleartextJSONError):
            BUNDLE.decrypt(p, rid)


def test_a_record_with_a_lone_surrogate_round_trips():
    """JavaScript's JSON may carry "\\ud800"; such a record decrypts, so it must re-encrypt."""
    bundle = KeyBundle.from_ksync(bytes(64))
    record = {"id": "x", "title": "broken \ud800 title", "ok": "naïve"}
    assert bundle.decrypt(bundle.encrypt(record), "x") == record


# ------------------------------------------------------ cleartexts JSON allows, or breaks


def _payloads(bundle, texts):
    import json as _json
    import os as _os

    return [_json.dumps(bundle.encrypt_bytes(t, _os.urandom(16))) for t in texts]


def test_bulk_reads_an_escaped_lone_surrogate_as_firefox_does():
    """Firefox writes a title cut mid-emoji as "\\ud83d" and JSON.parse reads it back;
    orjson refuses it, so the bulk path must fall back, not call the record broken."""
    from synctools.protocol.crypto import KeyBundle, decrypt_many

    bundle = KeyBundle.random()
    texts = [b'{"id":"a","title":"cut \\ud83d"}', b'{"id":"b","title":"whole \\ud83d\\ude00"}']
    got = decrypt_many(bundle, _payloads(bundle, texts), ["a", "b"])
    assert got == [{"id": "a", "title": "cut \ud83d"}, {"id": "b", "title": "whole \U0001f600"}]


def test_bulk_fails_one_record_nested_50000_deep_and_keeps_the_rest():
    from synctools.protocol.crypto import CleartextJSONError, KeyBundle, decrypt_many

    bundle = KeyBundle.random()
    deep = b'{"id":"d","x":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    texts = [b'{"id":"a"}', deep, b'{"id":"c"}']
    got = decrypt_many(bundle, _payloads(bundle, texts), ["a", "d", "c"])
    assert got[0] == {"id": "a"} and got[2] == {"id": "c"}
    assert isinstance(got[1], CleartextJSONError)
