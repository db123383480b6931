"""Every published vector in tests/vectors/ through the public names."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from synctools.protocol import onepw
from synctools.protocol._util import b64url_decode, hkdf_sha256
from synctools.protocol.crypto import CollectionKeys, KeyBundle
from synctools.protocol.keys import OLDSYNC_INFO, SyncKeys, derive_sync_keys

SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/vectors not present beside the clone")
def test_bundled_vectors_match_shared_copy():
    here = Path(__file__).resolve().parents[1] / "vectors"
    for f in SHARED.glob("*.json"):
        assert json.loads(f.read_text()) == json.loads((here / f.name).read_text()), f.name


# ---------------------------------------------------------------- onepw (FxA login)


def test_onepw_v1_stretch_and_derivations(onepw_vectors):
    v = onepw_vectors
    assert v["email"].encode("utf-8").hex() == v["email_utf8_hex"]
    stretched = onepw.quick_stretch_v1(v["email"], v["password"])
    assert stretched.hex() == v["quickStretchedPW"]
    assert onepw.auth_pw(stretched).hex() == v["authPW"]
    assert onepw.unwrap_b_key(stretched).hex() == v["unwrapBkey"]


def test_onepw_token_credentials(onepw_vectors):
    v = onepw_vectors
    kft = onepw.token_credentials(bytes.fromhex(v["keyFetchToken"]), "keyFetchToken")
    assert kft.token_id == v["keyFetchToken_tokenID"]
    assert kft.hmac_key.hex() == v["keyFetchToken_reqHMACkey"]
    assert kft.extra.hex() == v["keyRequestKey"]
    st = onepw.token_credentials(bytes.fromhex(v["sessionToken"]), "sessionToken")
    assert st.token_id == v["sessionToken_tokenID"]
    assert st.hmac_key.hex() == v["sessionToken_reqHMACkey"]
    assert v["keyRequestKey"] not in repr(kft) and kft.extra.hex() not in repr(kft)


def test_onepw_account_keys_bundle(onepw_vectors):
    v = onepw_vectors
    krk = bytes.fromhex(v["keyRequestKey"])
    resp = hkdf_sha256(krk, onepw.kw("account/keys"), 96)
    assert resp[:32].hex() == v["respHMACkey"]
    assert resp[32:].hex() == v["respXORkey"]
    ka, wrap_kb = onepw.unwrap_keys_bundle(krk, bytes.fromhex(v["account_keys_bundle"]))
    assert ka.hex() == v["kA"]
    assert onepw.unwrap_kb(wrap_kb, bytes.fromhex(v["unwrapBkey"])).hex() == v["kB"]
    # the server side makes the same bundle from kA and wrapKB
    assert onepw.make_keys_bundle(krk, ka, wrap_kb).hex() == v["account_keys_bundle"]


def test_onepw_keys_bundle_tampering_detected(onepw_vectors):
    v = onepw_vectors
    bundle = bytearray(bytes.fromhex(v["account_keys_bundle"]))
    bundle[3] ^= 1
    with pytest.raises(onepw.KeyBundleError, match="HMAC"):
        onepw.unwrap_keys_bundle(bytes.fromhex(v["keyRequestKey"]), bytes(bundle))
    with pytest.raises(onepw.KeyBundleError, match="96 bytes"):
        onepw.unwrap_keys_bundle(bytes.fromhex(v["keyRequestKey"]), bytes(bundle[:50]))


def test_onepw_v2_stretch(onepw_v2_vectors):
    v = onepw_v2_vectors
    stretched = onepw.stretch_v2(v["password"], v["salt"], v["iterations"])
    assert stretched.hex() == v["stretched"]
    assert onepw.auth_pw(stretched).hex() == v["authPW"]
    assert onepw.unwrap_b_key(stretched).hex() == v["unwrapBkey"]
    # the bare clientSalt gives the same result as the prefixed salt
    bare = v["salt"].rsplit(":", 1)[1]
    assert onepw.stretch_v2(v["password"], bare, v["iterations"]) == stretched


# ---------------------------------------------------------------- sync keys


def test_sync_key_derivation_vector(sync_vectors):
    v = sync_vectors["key_derivation"]
    keys = derive_sync_keys(bytes.fromhex(v["kB"]), v["keyRotationTimestamp"])
    ksync = b64url_decode(v["kSync_b64url"])
    assert keys.bundle == KeyBundle.from_ksync(ksync)
    assert keys.kid == v["kid"]
    assert keys.client_state == keys.kxcs.hex()
    assert len(keys.client_state) == 32
    assert keys.key_rotation_timestamp == v["keyRotationTimestamp"]
    # the JWK form round-trips to the same keys
    jwk = keys.to_jwk()
    assert jwk["k"] == v["kSync_b64url"]
    assert SyncKeys.from_jwk(jwk).bundle == keys.bundle
    assert SyncKeys.from_ksync(ksync, v["kid"]).client_state == keys.client_state


def test_chain_kb_to_history_record(sync_vectors):
    v = sync_vectors["chain"]
    keys = derive_sync_keys(bytes.fromhex(v["kB"]), 0)
    assert (keys.bundle.enc_key + keys.bundle.hmac_key).hex() == v["kSync_hex"]
    crypto_keys = keys.bundle.decrypt(v["crypto_keys_payload"], "keys")
    assert crypto_keys == v["crypto_keys_cleartext"]
    ck = CollectionKeys.from_cleartext(crypto_keys)
    history = ck.bundle_for("history").decrypt(v["history_payload"], "_9sCUbahs0ay")
    assert history == v["history_cleartext"]


def test_application_services_key_bundle_vector(sync_vectors):
    v = sync_vectors["key_bundle"]
    bundle = KeyBundle.from_b64(v["enc_key_b64"], v["hmac_key_b64"])
    assert bundle.decrypt(v["payload"], v["cleartext"]["id"]) == v["cleartext"]
    assert bundle.to_b64() == [v["enc_key_b64"], v["hmac_key_b64"]]


def test_storageformat5_vectors(sync_vectors):
    hk = sync_vectors["storageformat5_hkdf"]
    # storageformat5.rst "Sync Key Bundle": HKDF-SHA256(master key, info oldsync, 64),
    # the same expansion derive_sync_keys applies to kB (the doc's example key is 16 bytes).
    okm = hkdf_sha256(bytes.fromhex(hk["master_key_hex"]), OLDSYNC_INFO, 64)
    assert okm.hex() == hk["okm_hex"]
    enc = sync_vectors["storageformat5_encrypt"]
    bundle = KeyBundle(bytes.fromhex(enc["enc_key_hex"]), bytes.fromhex(enc["hmac_key_hex"]))
    payload = bundle.encrypt_bytes(enc["cleartext"].encode(), bytes.fromhex(enc["iv_hex"]))
    assert payload["ciphertext"] == enc["ciphertext_b64"]
    assert payload["hmac"] == enc["hmac_hex"]
    assert base64.b64decode(payload["IV"]).hex() == enc["iv_hex"]
    assert bundle.decrypt_bytes(payload) == enc["cleartext"].encode()
