"""Every record decrypts with keys derived from the account's kB, except the planted ones."""

from __future__ import annotations

import json

import pytest

from synctools.demodata import PER_COLLECTION_KEY, DemoAccount, PlantedKind
from synctools.protocol.crypto import CollectionKeys, CryptoError, HMACMismatchError, decrypt_many
from synctools.protocol.keys import derive_sync_keys


@pytest.fixture(scope="module")
def keys(account: DemoAccount) -> CollectionKeys:
    """crypto/keys decrypted the way a client does it: kB → kSync → crypto/keys."""
    ksync = derive_sync_keys(account.kb, account.key_rotation_timestamp).bundle
    (bso,) = account.bsos["crypto"]
    return CollectionKeys.from_cleartext(ksync.decrypt(bso["payload"], record_id="keys"))


def test_crypto_keys_decrypt_with_ksync(account: DemoAccount, keys: CollectionKeys) -> None:
    assert keys.fingerprints() == account.collection_keys.fingerprints()
    assert set(keys.collections) == {PER_COLLECTION_KEY}
    assert keys.bundle_for(PER_COLLECTION_KEY) != keys.default


def test_crypto_keys_do_not_decrypt_with_another_kb(account: DemoAccount) -> None:
    other = derive_sync_keys(bytes(32), account.key_rotation_timestamp).bundle
    with pytest.raises(HMACMismatchError):
        other.decrypt(account.bsos["crypto"][0]["payload"], record_id="keys")


def test_kid_matches_kb(account: DemoAccount) -> None:
    keys = derive_sync_keys(account.kb, account.key_rotation_timestamp)
    assert account.kid == keys.kid
    assert keys.kid.startswith(f"{account.key_rotation_timestamp}-")


def test_every_record_decrypts_except_the_planted_ones(account: DemoAccount, keys: CollectionKeys) -> None:
    bad = {
        (p.collection, p.record_id) for p in account.planted if p.kind in (PlantedKind.BAD_HMAC, PlantedKind.WRONG_KEY)
    }
    failures = set()
    for coll, bsos in account.bsos.items():
        if coll in ("meta", "crypto"):
            continue
        results = decrypt_many(keys.bundle_for(coll), [b["payload"] for b in bsos], [b["id"] for b in bsos])
        for bso, clear, result in zip(bsos, account.cleartext[coll], results):
            if isinstance(result, CryptoError):
                assert isinstance(result, HMACMismatchError) and result.reason == "hmac-mismatch"
                assert result.record_id == bso["id"]
                failures.add((coll, bso["id"]))
            else:
                assert result == clear
    assert failures == bad


def _planted(account: DemoAccount, kind: str) -> tuple[dict, dict]:
    p = account.planted_of(kind)
    bsos = account.bsos[p.collection]
    i = next(i for i, b in enumerate(bsos) if b["id"] == p.record_id)
    return bsos[i], account.cleartext[p.collection][i]


def test_wrong_key_record_was_encrypted_with_the_default_key(account: DemoAccount, keys: CollectionKeys) -> None:
    bso, clear = _planted(account, PlantedKind.WRONG_KEY)
    assert account.planted_of(PlantedKind.WRONG_KEY).collection == PER_COLLECTION_KEY
    with pytest.raises(HMACMismatchError):
        keys.bundle_for(PER_COLLECTION_KEY).decrypt(bso["payload"], record_id=bso["id"])
    assert keys.default.decrypt(bso["payload"], record_id=bso["id"]) == clear


def test_bad_hmac_record_has_intact_ciphertext(account: DemoAccount, keys: CollectionKeys) -> None:
    bso, clear = _planted(account, PlantedKind.BAD_HMAC)
    bundle = keys.bundle_for("history")
    with pytest.raises(HMACMismatchError):
        bundle.decrypt(bso["payload"], record_id=bso["id"])
    payload = json.loads(bso["payload"])
    # Only the hmac field was touched: with the true HMAC the record decrypts.
    payload["hmac"] = bundle.hmac_hex(payload["ciphertext"].encode())
    assert bundle.decrypt(payload, record_id=bso["id"]) == clear
    with pytest.raises(HMACMismatchError):
        keys.default.decrypt(bso["payload"], record_id=bso["id"])  # no key makes it pass


def test_ivs_are_distinct_and_never_zero(account: DemoAccount) -> None:
    ivs = [json.loads(b["payload"])["IV"] for c, bsos in account.bsos.items() if c != "meta" for b in bsos]
    assert len(set(ivs)) == len(ivs)
    assert "AAAAAAAAAAAAAAAAAAAAAA==" not in ivs  # the server refuses zero IVs in crypto
