"""Each check on a small clean account broken one way at a time; each fix, committed
through review, leaves an account where the doctor finds nothing."""

from __future__ import annotations

import json
import os

import pytest

from synctools import doctor
from synctools.protocol.crypto import KeyBundle

from .conftest import NOW_MS, Account, gid, healthy_records, make_account


def commit_fixes(acct: Account, check_id: str) -> doctor.Report:
    sync = acct.sync()
    report = doctor.check(sync)
    found = report.of(check_id)
    assert found, f"{check_id} not found:\n{report}"
    for f in found:
        assert f.fix is not None, f"{check_id} proposes no fix"
        f.stage(sync)
    assert not sync.merge().conflicts
    result = sync.commit(sync.plan_upload())
    assert result.status == "committed", result
    return doctor.check(acct.sync())


def test_a_clean_account_has_no_findings(healthy):
    report = doctor.check(healthy.sync())
    assert len(report) == 0, str(report)
    assert report.frame.empty and list(report.frame.columns)[0] == "check"
    assert str(report).startswith("synctools doctor: no problems found")
    assert set(report.checked) == {"bookmarks", "history", "passwords", "clients", "tabs", "forms", "prefs",
                                   "addons", "addresses", "creditcards"}  # fmt: skip


# ----------------------------------------------------------------------- setup


def test_storage_version_and_bad_sync_ids(healthy):
    payload = healthy.meta.to_payload()
    payload["engines"]["bookmarks"]["syncID"] = "not-a-sync-id!"
    healthy.put_meta(payload)
    report = doctor.check(healthy.sync())
    (bad,) = report.of("setup.sync-id")
    assert bad.collection == "bookmarks" and bad.severity == "error"
    payload["storageVersion"] = 4
    healthy.put_meta(payload)
    report = doctor.check(healthy.sync())
    assert report.of("setup.storage-version") and "fresh start" in report.of("setup.storage-version")[0].explanation


def test_engine_with_data_but_no_meta_global_entry_and_declined_data(healthy):
    payload = healthy.meta.to_payload()
    del payload["engines"]["forms"]
    del payload["engines"]["prefs"]
    payload["declined"] = ["prefs"]
    healthy.put_meta(payload)
    report = doctor.check(healthy.sync())
    assert [f.collection for f in report.of("setup.engine-not-in-meta")] == ["forms"]
    assert [f.collection for f in report.of("setup.declined-engine-data")] == ["prefs"]


def test_crypto_keys_from_before_a_password_reset(healthy):
    other = KeyBundle.random()  # what kSync was before the reset
    healthy.stack.admin.put_records(
        healthy.email, "crypto", [{"id": "keys", "payload": json.dumps(other.encrypt(healthy.keys.to_cleartext()))}]
    )
    report = doctor.check(healthy.sync())
    (f,) = report.of("setup.crypto-keys-undecryptable")
    assert "password" in f.explanation and "fresh start" in f.explanation
    assert f.fix is None
    setup_only = doctor.check_setup(healthy.sync())
    assert [x.check for x in setup_only] == ["setup.crypto-keys-undecryptable"]


def test_missing_meta_global(stack):
    acct = make_account(stack, records={})
    stack.admin.delete_storage(acct.email)
    report = doctor.check(acct.sync())
    assert [f.check for f in report] == ["setup.meta-global-missing"]


# ----------------------------------------------------------------------- records


def test_wrong_key_records_with_every_known_key(stack):
    acct = make_account(stack, own_keys=("passwords", "forms"))
    recs = healthy_records()
    acct.put("passwords", recs["passwords"][:1], bundle=acct.keys.default)  # default where passwords has its own
    acct.put("history", recs["history"][:1], bundle=acct.keys.collections["forms"])  # another collection's key
    acct.put("prefs", recs["prefs"], bundle=acct.ksync)  # kSync, meant for crypto/keys only
    report = doctor.check(acct.sync())
    found = {f.collection: f.facts["encrypted_with"] for f in report.of("records.wrong-key")}
    assert found == {"passwords": "the default key", "history": "the forms key",
                     "prefs": "the account's sync key"}  # fmt: skip
    after = commit_fixes(acct, "records.wrong-key")
    assert len(after) == 0, str(after)


def test_tampered_ciphertext_is_not_mistaken_for_a_wrong_key(healthy):
    rec = healthy.cleartext["history"][0]
    payload = healthy.keys.default.encrypt(rec)
    ct = bytearray(payload["ciphertext"].encode())
    ct[5] = ord("A") if ct[5] != ord("A") else ord("B")
    payload["ciphertext"] = ct.decode()
    healthy.put_raw("history", [{"id": rec["id"], "payload": json.dumps(payload)}])
    report = doctor.check(healthy.sync())
    (f,) = report.of("records.bad-hmac")
    assert f.facts["ciphertext"] == "unreadable" and f.fix is None
    assert not report.of("records.wrong-key")


def test_damaged_hmac_with_intact_ciphertext_is_recovered(healthy):
    rec = healthy.cleartext["history"][1]
    payload = healthy.keys.default.encrypt(rec)
    payload["hmac"] = "0" * 64
    healthy.put_raw("history", [{"id": rec["id"], "payload": json.dumps(payload)}])
    after = commit_fixes(healthy, "records.bad-hmac")
    assert len(after) == 0, str(after)
    assert after.sync.records("history")[rec["id"]] == rec


def test_damaged_payload(healthy):
    healthy.put_raw("forms", [{"id": gid("form", 0), "payload": json.dumps({"ciphertext": 5, "IV": "x", "hmac": "y"})}])
    (f,) = doctor.check(healthy.sync()).of("records.undecryptable")
    assert f.collection == "forms" and f.facts["reason"] == "bad-shape"


def test_payload_near_the_server_limit(healthy):
    big = {"id": gid("form", 9), "name": "notes", "value": "x" * 6000}
    healthy.put("forms", [big])
    healthy.stack.admin.set_config(max_record_payload_bytes=8500)
    try:
        (f,) = doctor.check(healthy.sync()).of("records.near-size-limit")
    finally:
        healthy.stack.admin.reset_config()
    assert f.record_ids == [big["id"]] and f.facts["limit"] == 8500


def test_records_about_to_expire_when_the_ttl_is_known(healthy):
    sync = healthy.sync()
    sync.run(until="download")
    # servers never return a ttl, but a record this sync wrote keeps the ttl it was given
    rid = "formsttl0001"
    sync.add("forms", {"id": rid, "name": "q", "value": "soon gone"}, ttl=3 * 86_400)
    sync.merge()
    assert sync.commit(sync.plan_upload().accept()).status == "committed"
    (f,) = doctor.check(sync).of("records.expiring")
    assert f.record_ids == [rid] and 2 < f.facts["days_left"] <= 3


# ----------------------------------------------------------------------- bookmarks
# (one case per problem kind, each fix committed and judged by the validator's rules:
# test_bookmark_corpus.py)


# ----------------------------------------------------------------------- clients, tabs


def test_stale_client_and_duplicate_names(stack):
    recs = healthy_records()
    old = {"id": gid("oldpc"), "fxaDeviceId": os.urandom(16).hex(), "name": "Ada's laptop", "type": "desktop",
           "version": "102.0", "protocols": ["1.5"], "commands": [{"command": "wipeEngine", "args": ["bookmarks"]}],
           "os": "WINNT", "application": "Firefox"}  # fmt: skip
    acct = make_account(stack, records=recs)
    stack.admin.register_device(acct.email, {"id": old["fxaDeviceId"], "name": old["name"], "type": "desktop"})
    acct.put("clients", [old], age_days=60)
    acct.put("tabs", [{"id": old["id"], "clientName": old["name"], "tabs": []}], age_days=60)
    report = doctor.check(acct.sync())
    (stale,) = report.of("clients.stale")
    assert stale.record_ids == [old["id"]] and stale.facts["pending_commands"] == 1
    assert "120 day" in stale.explanation  # what is left of Firefox's 180-day ttl
    (dup,) = report.of("clients.duplicate-name")
    assert set(dup.record_ids) == {old["id"], gid("laptop")}
    after = commit_fixes(acct, "clients.stale")
    # the device is still connected to the account: only disconnecting it there removes that note
    assert [f.check for f in after] == ["clients.device-without-record"], str(after)


def test_tabs_of_a_device_that_no_longer_exists(healthy):
    healthy.put("tabs", [{"id": gid("gone"), "clientName": "Old tablet", "tabs": []}])
    after = commit_fixes(healthy, "tabs.orphan")
    assert len(after) == 0, str(after)


def test_a_recent_device_without_tabs_is_only_a_note(stack):
    recs = healthy_records()
    recs["tabs"] = recs["tabs"][:1]
    acct = make_account(stack, records=recs)
    (f,) = doctor.check(acct.sync()).of("tabs.missing")
    assert f.severity == "info" and f.record_ids == [gid("phone")]


# ----------------------------------------------------------------------- history, passwords


def test_invalid_history_urls(stack):
    recs = healthy_records()
    recs["history"][0]["histUri"] = "not a url"
    recs["history"][1]["histUri"] = "https://" + "a" * 70_000 + ".example"
    acct = make_account(stack, records=recs)
    report = doctor.check(acct.sync())
    assert len(report.of("history.invalid-url")) == 2
    after = commit_fixes(acct, "history.invalid-url")
    assert len(after) == 0, str(after)


@pytest.mark.parametrize("bad", [{"date": 0, "type": 1}, {"date": (NOW_MS + 400 * 86_400_000) * 1000, "type": 1},
                                 {"date": NOW_MS * 1000, "type": 42}, {"date": NOW_MS, "type": 1}])  # fmt: skip
def test_impossible_visits(stack, bad):
    recs = healthy_records()
    recs["history"][0]["visits"].append(bad)
    acct = make_account(stack, records=recs)
    after = commit_fixes(acct, "history.bad-visits")
    assert len(after) == 0, str(after)
    assert len(after.sync.records("history")[recs["history"][0]["id"]]["visits"]) == 2


def test_logins_without_origin_and_duplicates(stack):
    recs = healthy_records()
    first = recs["passwords"][0]
    recs["passwords"].append({**first, "id": "{dddddddd-1111-4222-8333-444444444444}", "timeLastUsed": NOW_MS - 5})
    recs["passwords"][1]["hostname"] = ""
    acct = make_account(stack, records=recs)
    report = doctor.check(acct.sync())
    assert report.of("passwords.missing-origin")[0].fix is None
    (dup,) = report.of("passwords.duplicate")
    assert dup.record_ids[0] == first["id"]  # the most recently used is kept
    after = commit_fixes(acct, "passwords.duplicate")
    assert [f.check for f in after] == ["passwords.missing-origin"]


def test_only_and_stage_without_fix(healthy):
    healthy.put("tabs", [{"id": gid("gone"), "clientName": "Old tablet", "tabs": []}])
    sync = healthy.sync()
    assert len(doctor.check(sync, only=["bookmarks."])) == 0
    report = doctor.check(sync, only=["tabs."])
    assert [f.check for f in report] == ["tabs.orphan"]
    finding = doctor.Finding("x.y", "info", None, [], "nothing to do")
    with pytest.raises(ValueError, match="no safe automatic fix"):
        finding.stage(sync)


def test_a_whole_collection_under_the_wrong_key_is_one_finding(stack):
    acct = make_account(stack, own_keys=("forms",))
    acct.put("forms", healthy_records()["forms"], bundle=acct.keys.default)  # written before forms got its own key
    report = doctor.check(acct.sync())
    (f,) = report.of("records.wrong-key")
    assert len(f.record_ids) == 3 and len(f.fix.ops) == 3 and "all 3 records" in f.explanation
    after = commit_fixes(acct, "records.wrong-key")
    assert len(after) == 0, str(after)


def test_records_that_decrypt_but_break_their_shape_are_found(stack):
    records = healthy_records()
    records["forms"] = [*records.get("forms", []), {"id": gid("formbad"), "name": ["not", "a", "string"], "value": "v"}]
    acct = make_account(stack, records=records)
    report = doctor.check(acct.sync())
    [finding] = report.of("records.invalid")
    assert finding.collection == "forms" and finding.record_ids == [gid("formbad")]
    assert "not shaped like forms records" in finding.explanation
