"""The shareable report: findings and record shapes, nothing that identifies the account."""

from __future__ import annotations

import base64
import json

import pytest

from synctools import Sync, doctor
from synctools.demodata import COLLECTIONS, build_demo_account


def _secrets_of(account) -> set[str]:
    """Every url, title, username, password, name and key of the demo account."""
    out = {account.email, account.password, account.kb.hex(), base64.b64encode(account.kb).decode()}
    sync_keys = account.sync_keys
    out.update({sync_keys.ksync.hex(), base64.b64encode(sync_keys.ksync).decode(), *sync_keys.bundle.to_b64()})
    for pair in [account.collection_keys.default, *account.collection_keys.collections.values()]:
        out.update(pair.to_b64())
        out.update(k.hex() for k in (pair.enc_key, pair.hmac_key))
    fields = {
        "bmkUri",
        "title",
        "histUri",
        "hostname",
        "formSubmitURL",
        "username",
        "password",
        "name",
        "clientName",
        "value",
        "feedUri",
        "siteUri",
        "urlHistory",
        "fxaDeviceId",
        "cc-number",
        "street-address",
        "email",
    }

    def walk(value, key=None, fields=fields):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k, fields)
        elif isinstance(value, list):
            for v in value:
                walk(v, key, fields)
        elif isinstance(value, str) and key in fields and len(value) >= 6:
            out.add(value)

    for coll, recs in account.cleartext.items():
        if coll == "forms":  # a form's "name" is the input's name ("email", "q"), not the person's
            walk(recs, fields=fields - {"name"})
        elif coll not in ("meta", "crypto"):
            walk(recs)
    # a search typed in a form may be a word such as "history": the name of a collection
    return out - set(COLLECTIONS)


@pytest.fixture(scope="module")
def shared(demo_stack):
    sync = Sync.local(demo_stack)
    report = doctor.check(sync)
    return report, report.anonymized()


def test_nothing_identifying_in_the_shared_report(demo_stack, shared):
    report, anon = shared
    text = json.dumps(anon)
    account = build_demo_account()  # the same seed the stack loaded: its cleartext and keys
    assert account.kb == demo_stack.demo_account.kb
    vocabulary = " ".join(info.summary for info in doctor.CHECKS.values())  # fixed text, no account data
    leaked = [s for s in _secrets_of(account) if s in text and s not in vocabulary]
    assert not leaked, leaked[:5]
    for f in report:  # record ids are hashed too
        for rid in f.record_ids:
            assert rid not in text


def test_it_keeps_the_findings_and_the_shapes(shared):
    report, anon = shared
    assert anon["format"] == "synctools-doctor-share/1"
    assert [f["check"] for f in anon["findings"]] == [f.check for f in report]
    assert anon["counts"] == report.counts
    wrong = next(f for f in anon["findings"] if f["check"] == "records.wrong-key")
    (rid,) = wrong["records"]
    shape = anon["records"][rid]
    assert shape["error"] == "hmac-mismatch"
    assert set(shape["payload"]["fields"]) == {"ciphertext", "IV", "hmac"}
    assert wrong["facts"]["encrypted_with"] == "the default key"
    orphan = next(f for f in anon["findings"] if f["check"] == "bookmarks.orphans")
    rec = anon["records"][orphan["records"][0]]["record"]
    assert rec["fields"]["bmkUri"]["type"] == "string" and rec["fields"]["bmkUri"]["length"] > 8
    assert [op["action"] for op in orphan["fix"]] == ["edit", "edit"]
    assert anon["account"]["storage_version"] == 5 and "passwords" in anon["account"]["collections_with_own_key"]
    json.dumps(anon)  # JSON-able as it is


def test_ids_are_salted_per_report(demo_stack, shared):
    _report, anon = shared
    again = doctor.check(Sync.local(demo_stack)).anonymized()
    assert set(anon["records"]).isdisjoint(again["records"])
