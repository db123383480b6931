"""The compiled hot loop (``synctools.protocol._native``) against the pure-Python path.

The compiled loop may only ever *accept* a payload the Python steps accept, with the same
cleartext bytes; anything else it hands back (None) and the Python steps name the error.
These tests feed both the published vectors, good records, and hostile payloads built to
sit on every edge the loop checks (envelope syntax, base64, HMAC, IV, padding), and
require the same answer, error type and message included, from ``decrypt_many`` either
way. They also require that the loop really takes the good records, so that the
comparison cannot pass by the loop handing everything back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from synctools.protocol import _bulk
from synctools.protocol.crypto import KeyBundle, decrypt_many

native = _bulk._native
if native is None and os.environ.get("SYNCTOOLS_REQUIRE_NATIVE") == "1":  # CI builds it: it must be there
    raise RuntimeError("synctools.protocol._native was not built (see setup.py): pip install -e . builds it")
pytestmark = pytest.mark.skipif(native is None, reason="the compiled extension is not built here")

BUNDLE = KeyBundle(bytes(range(32)), bytes(range(32, 64)))


def seal(bundle: KeyBundle, plain: bytes, iv: bytes | None = None) -> dict[str, str]:
    """An envelope of ``plain`` (already padded, or not: it is encrypted as given), with a
    correct HMAC: what a writer with the right keys and a broken padding step sends."""
    iv = os.urandom(16) if iv is None else iv
    enc = Cipher(algorithms.AES(bundle.enc_key), modes.CBC(iv)).encryptor()
    ct = base64.b64encode(enc.update(plain) + enc.finalize()).decode()
    mac = hmac.new(bundle.hmac_key, ct.encode(), hashlib.sha256).hexdigest()
    return {"ciphertext": ct, "IV": base64.b64encode(iv).decode(), "hmac": mac}


def pkcs7(data: bytes) -> bytes:
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def python_only(payloads, ids, raw, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(_bulk, "_native", None)
        return decrypt_many(BUNDLE, payloads, ids, raw=raw)


def same(a, b) -> bool:
    """Equal results: equal cleartexts, or errors of the same type and message."""
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return a == b


def test_the_published_vector_decrypts_in_the_compiled_loop(sync_vectors):
    v = sync_vectors["key_bundle"]
    bundle = KeyBundle.from_b64(v["enc_key_b64"], v["hmac_key_b64"])
    [got] = native.decrypt_payloads(bundle.hmac_key, bundle.enc_key, [json.dumps(v["payload"])])
    assert json.loads(got) == v["cleartext"]
    # and with the other key, it hands the record back (the Python steps say "HMAC mismatch")
    assert native.decrypt_payloads(BUNDLE.hmac_key, BUNDLE.enc_key, [json.dumps(v["payload"])]) == [None]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=4), min_size=1, max_size=8))
def test_good_records_take_the_compiled_loop_with_the_same_bytes(bodies):
    records = [{"id": f"r{i}", **b} for i, b in enumerate(bodies)]
    payloads = [json.dumps(BUNDLE.encrypt(r)) for r in records]
    got = native.decrypt_payloads(BUNDLE.hmac_key, BUNDLE.enc_key, payloads)
    assert None not in got, "a plain good record was handed back: the compiled loop is not doing its job"
    assert [json.loads(g) for g in got] == records


def _mutations(env: dict[str, str]) -> dict[str, object]:
    """Payloads at and across each edge the compiled loop checks, from one good envelope."""
    ct, iv, mac = env["ciphertext"], env["IV"], env["hmac"]
    good = json.dumps(env)
    return {
        "canonical": good,
        "compact": json.dumps(env, separators=(",", ":")),
        "reordered": json.dumps({"hmac": mac, "IV": iv, "ciphertext": ct}),
        "whitespace": f' \n\t{{ "ciphertext" :\r"{ct}" ,"IV":"{iv}",  "hmac":"{mac}" }}\n ',
        "escaped-value": good.replace(f'"{mac}"', f'"\\u{ord(mac[0]):04x}{mac[1:]}"'),
        "escaped-key": good.replace('"IV"', '"\\u0049V"'),
        "escaped-slash": good.replace("/", "\\/"),  # (no "/" in the text: the canonical payload)
        "extra-key": json.dumps({**env, "extra": "x"}),
        "duplicate-key": good[:-1] + f', "IV": "{iv}"}}',
        "duplicate-bad-first": '{"hmac": "00", ' + good[1:],
        "missing-key": json.dumps({"ciphertext": ct, "IV": iv}),
        "number-value": json.dumps({**env, "hmac": 7}),
        "trailing-garbage": good + "x",
        "trailing-comma": good[:-1] + ",}",
        "two-objects": good + good,
        "not-an-object": json.dumps([ct, iv, mac]),
        "empty": "",
        "upper-hmac": json.dumps({**env, "hmac": mac.upper()}),
        "short-hmac": json.dumps({**env, "hmac": mac[:-2]}),
        "long-hmac": json.dumps({**env, "hmac": mac + "00"}),
        "non-hex-hmac": json.dumps({**env, "hmac": "g" + mac[1:]}),
        "flipped-hmac": json.dumps({**env, "hmac": ("1" if mac[0] == "0" else "0") + mac[1:]}),
        "unpadded-ct": json.dumps({**env, "ciphertext": ct.rstrip("=")}),
        "newline-in-ct": json.dumps({**env, "ciphertext": ct[:4] + "\n" + ct[4:]}),
        "urlsafe-ct": json.dumps({**env, "ciphertext": ct.replace("+", "-").replace("/", "_")}),
        "padding-inside-ct": json.dumps({**env, "ciphertext": "====" + ct}),
        "non-ascii-ct": json.dumps({**env, "ciphertext": "é" + ct[1:]}, ensure_ascii=False),
        "non-ascii-elsewhere": json.dumps({**env, "extra": "é"}, ensure_ascii=False),
        "short-iv": json.dumps({**env, "IV": base64.b64encode(b"x" * 12).decode()}),
        "long-iv": json.dumps({**env, "IV": base64.b64encode(b"x" * 24).decode()}),
        "unpadded-iv": json.dumps({**env, "IV": iv.rstrip("=")}),
        "bad-iv": json.dumps({**env, "IV": "!" + iv[1:]}),
        "dict": dict(env),
        "bytes": good.encode(),
        "none": None,
    }


def _payload_cases():
    rec = {"id": "rec", "title": "x" * 40}
    plain = json.dumps(rec).encode()
    cases = {}
    for name, p in _mutations(BUNDLE.encrypt(rec)).items():
        cases[name] = p
    for name, body in {
        "pad-zero": plain + bytes(16 - len(plain) % 16 - 1) + b"\x00",
        "pad-17": plain + bytes(16 - len(plain) % 16 - 1) + b"\x11",
        "pad-inconsistent": plain + b"\x01" * (16 - len(plain) % 16 - 1) + bytes([16 - len(plain) % 16]),
        "pad-whole-block": pkcs7(plain) if len(plain) % 16 == 0 else b"x" * 16 + b"\x10" * 16,
        "not-json": pkcs7(b"\xff\xfe not json"),
        "wrong-id": pkcs7(json.dumps({"id": "other"}).encode()),
        "not-an-object-inside": pkcs7(b"[1, 2]"),
        "empty-inside": b"\x10" * 16,
    }.items():
        cases[name] = json.dumps(seal(BUNDLE, body))
    empty = hmac.new(BUNDLE.hmac_key, b"", hashlib.sha256).hexdigest()
    cases["empty-ct"] = json.dumps({**seal(BUNDLE, b""), "ciphertext": "", "hmac": empty})
    odd = seal(BUNDLE, pkcs7(plain))
    ct = base64.b64encode(base64.b64decode(odd["ciphertext"])[:-3]).decode()  # not a multiple of 16
    mac = hmac.new(BUNDLE.hmac_key, ct.encode(), hashlib.sha256).hexdigest()
    cases["ct-not-blocks"] = json.dumps({**odd, "ciphertext": ct, "hmac": mac})
    return cases


CASES = _payload_cases()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("raw", [False, True])
def test_each_edge_answers_as_the_python_path(name, raw, monkeypatch):
    payloads = [CASES["canonical"], CASES[name], CASES["canonical"]]
    ids = ["rec", "rec", "rec"]
    want = python_only(payloads, ids, raw, monkeypatch)
    got = decrypt_many(BUNDLE, payloads, ids, raw=raw)
    assert all(map(same, got, want)), (name, got[1], want[1])
    handed = native.decrypt_payloads(BUNDLE.hmac_key, BUNDLE.enc_key, payloads)
    assert handed[0] is not None and handed[2] is not None  # the good neighbours stay on the fast path
    if handed[1] is not None:  # accepted: only ever what the Python steps accept, as the same bytes
        assert handed[1] == python_only(payloads, ids, True, monkeypatch)[1]


def test_the_plain_good_shapes_are_accepted_and_the_rest_handed_back():
    handed = {n: native.decrypt_payloads(BUNDLE.hmac_key, BUNDLE.enc_key, [p])[0] for n, p in CASES.items()}
    accepted = {n for n, v in handed.items() if v is not None}
    # syntax variations of a good envelope, and cleartexts that are bad only as JSON or
    # by their id (checked after decryption, in Python), are taken here
    assert {"canonical", "compact", "reordered", "whitespace", "upper-hmac"} <= accepted
    assert {"not-json", "wrong-id", "not-an-object-inside", "empty-inside"} <= accepted
    # every crypto failure and every envelope the loop does not read plainly is handed back
    handed_back = {"flipped-hmac", "short-hmac", "non-hex-hmac", "pad-zero", "pad-17", "pad-inconsistent",
                   "short-iv", "long-iv", "unpadded-ct", "empty-ct", "ct-not-blocks", "duplicate-key", "extra-key",
                   "escaped-value", "escaped-key", "non-ascii-elsewhere", "dict", "bytes", "none", "empty"}  # fmt: skip
    assert not accepted & handed_back


HOSTILE = st.one_of(
    st.sampled_from(sorted(CASES.values(), key=repr)),
    st.text(max_size=60),
    st.text(st.sampled_from('{}[]:," \\\n\tAIVhmacciphertext=+/0123456789abcdef'), max_size=120),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=6), st.booleans())
def test_any_payloads_answer_as_the_python_path(payloads, raw):
    ids = ["rec"] * len(payloads)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_bulk, "_native", None)
        want = decrypt_many(BUNDLE, payloads, ids, raw=raw)
    got = decrypt_many(BUNDLE, payloads, ids, raw=raw)
    assert all(map(same, got, want)), list(zip(payloads, got, want))


def test_wrong_key_sizes_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="32 bytes"):
        native.decrypt_payloads(BUNDLE.hmac_key, b"short", [CASES["canonical"]])
    with pytest.raises(TypeError):
        native.decrypt_payloads(BUNDLE.hmac_key, BUNDLE.enc_key, 7)


def test_threads_decrypt_at_once_and_each_gets_its_own_records():
    """The loop runs without the GIL: two threads at once, each with its own key and
    records, must each get exactly their own cleartexts."""
    other = KeyBundle.random()
    jobs = {
        BUNDLE: [{"id": f"a{i}", "n": i} for i in range(3000)],
        other: [{"id": f"b{i}", "n": -i} for i in range(3000)],
    }
    payloads = {b: [json.dumps(b.encrypt(r)) for r in recs] for b, recs in jobs.items()}
    out: dict[KeyBundle, list[object]] = {}

    def work(b: KeyBundle) -> None:
        for _ in range(5):
            out[b] = decrypt_many(b, payloads[b], [r["id"] for r in jobs[b]])

    threads = [threading.Thread(target=work, args=(b,)) for b in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == jobs
