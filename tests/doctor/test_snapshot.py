"""Snapshots: an anonymised account that reproduces its problems on a fresh stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synctools import LocalStack, Sync, doctor
from synctools.demodata import build_demo_account
from synctools.doctor import urls
from synctools.scrub import Scrubber
from synctools.server import snapshot as loader
from synctools.snapshots import FORMAT, snapshot

from .conftest import gid, healthy_records, make_account
from .test_anonymized import _secrets_of


def _key(f: doctor.Finding) -> tuple:
    return (f.check, f.severity, f.collection, tuple(sorted(f.record_ids)))


def _loaded(source) -> tuple[LocalStack, doctor.Report]:
    stack = LocalStack(snapshot=source).start()
    acct = stack.snapshot_account
    return stack, doctor.check(Sync.local(stack, email=acct.email, password=acct.password))


@pytest.fixture(scope="module")
def demo_snapshot(demo_stack, tmp_path_factory):
    sync = Sync.local(demo_stack)
    report = doctor.check(sync)
    path = tmp_path_factory.mktemp("snap") / "demo.json.gz"
    data = snapshot(sync, path)
    return report, data, path


def test_the_demos_findings_come_back_on_a_fresh_stack(demo_snapshot):
    report, data, path = demo_snapshot
    assert data["format"] == FORMAT == loader.FORMAT
    stack, again = _loaded(path)
    try:
        assert stack.snapshot_account.records == sum(len(v) for v in data["collections"].values())
        assert sorted(map(_key, again)) == sorted(map(_key, report)), f"before:\n{report}\n\nafter:\n{again}"
        wrong = again.of("records.wrong-key")[0]
        assert wrong.facts["encrypted_with"] == "the default key"
        assert again.of("records.bad-hmac")[0].facts["ciphertext"] == "intact"
    finally:
        stack.stop()


def test_the_snapshot_holds_no_secret_of_the_account(demo_snapshot, demo_stack):
    _report, data, path = demo_snapshot
    text = json.dumps(data, ensure_ascii=False)
    account = build_demo_account()
    values: set[str] = set()

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            values.add(v)

    walk(data["collections"])
    walk(data["devices"])
    kept = {c.get("fxaDeviceId") for c in account.cleartext["clients"]} | {
        "Firefox",
        "menu",
        "toolbar",
        "unfiled",
        "mobile",
    }  # ids, vocabulary
    secrets = {s for s in _secrets_of(account) if s not in kept and not (s.startswith("place:") and "tag=" not in s)}
    assert not secrets & values, sorted(secrets & values)[:5]
    assert not [s for s in secrets if len(s) >= 12 and s in text][:5]
    assert account.password not in text and account.email not in text
    # ids, shapes and sizes are kept
    demo_ids = {b["id"] for b in account.bsos["bookmarks"]}
    assert {e["id"] for e in data["collections"]["bookmarks"]} == demo_ids
    sizes = {e["id"]: e["payload_bytes"] for e in data["collections"]["history"]}
    original = {b["id"]: len(b["payload"]) for b in account.bsos["history"]}
    assert sizes == original


def test_strings_map_consistently_and_urls_keep_their_class():
    s = Scrubber(b"fixed salt 01234")
    urls_in = ["https://bread.example.com/starter", "http://[::1/", "https://exa mple.com/recipes", "place:tag=linux",
               "https://bread.example.com/starter", "https://192.168.0.12:8443/admin?user=ada#top"]  # fmt: skip
    out = [s.url(u) for u in urls_in]
    assert out[0] == out[4] and len(set(out)) == 5
    for before, after in zip(urls_in, out):
        assert (urls.parse(before) is None) == (urls.parse(after) is None), (before, after)
        assert after != before
    assert s.text("linux") in out[3]  # a tag and its tag query still agree
    assert s.text("Ada\x00 line\nbreak").count("\x00") == 1 and "\n" in s.text("Ada\x00 line\nbreak")
    assert [len(s.text(w)) for w in ("é中𝐀", "a")] == [3, 1]
    assert len({s.text(c) for c in "abcdefghijklmnopqrstuvwxyz0123456789"}) == 36  # never two for one


def test_every_kind_of_failure_is_reproduced(stack, tmp_path):
    acct = make_account(stack, own_keys=("passwords", "forms"))
    recs = healthy_records()
    acct.put("passwords", recs["passwords"][:1], bundle=acct.keys.default)
    acct.put("history", recs["history"][:1], bundle=acct.keys.collections["forms"])
    acct.put("prefs", recs["prefs"], bundle=acct.ksync)
    b = acct.keys.bundle_for("history")
    altered = b.encrypt(recs["history"][1])
    altered["hmac"] = "0" * 64
    garbage = b.encrypt(recs["history"][2])
    garbage["ciphertext"] = "A" + garbage["ciphertext"][1:]
    acct.put_raw("history", [{"id": recs["history"][1]["id"], "payload": json.dumps(altered)},
                             {"id": recs["history"][2]["id"], "payload": json.dumps(garbage)}])  # fmt: skip
    acct.put_raw(
        "forms",
        [
            {"id": gid("form", 1), "payload": json.dumps({"ciphertext": 5})},
            {"id": gid("form", 2), "payload": json.dumps(acct.keys.bundle_for("forms").encrypt({"id": "other"}))},
        ],
    )
    sync = acct.sync()
    before = doctor.check(sync)
    data = snapshot(sync, tmp_path / "failures.json")
    other, after = _loaded(tmp_path / "failures.json")
    try:
        facts = lambda r: sorted((f.check, f.collection, tuple(f.record_ids), json.dumps(f.facts, sort_keys=True))  # noqa: E731
                                 for f in r.of("records."))  # fmt: skip
        assert facts(after) == facts(before) and len(facts(before)) >= 5
    finally:
        other.stop()
    assert "Sup3r-secret" not in json.dumps(data)


def _aboutsync_export() -> dict:
    """An export as about:sync's promiseExport writes it: infos, and per collection the
    raw records (with their server times) and the decrypted ones."""
    tree = healthy_records()["bookmarks"]
    for r in tree:
        if r["id"] == gid("folder"):
            r["children"] = [*r["children"], r["children"][0]]  # listed twice
    raw = [{"data": {"id": r["id"], "modified": 1_790_000_000.5 + i, "sortindex": 100}, "collection": "bookmarks"}
           for i, r in enumerate(tree)]  # fmt: skip
    return {
        "infos": {"status": 200, "collections": [{"name": "bookmarks", "lastModified": "2026-09-21T12:00:00.000Z"}]},
        "collections": {"bookmarks": {"response": {"status": 200, "success": True, "records": raw}, "records": tree}},
        "bookmarksTree": {"guid": "root________", "children": []},
    }


def test_an_aboutsync_export_loads_and_keeps_its_problem(tmp_path):
    path = tmp_path / "aboutsync.json"
    path.write_text(json.dumps(_aboutsync_export()))
    stack, report = _loaded(path)
    try:
        assert [f.record_ids[0] for f in report.of("bookmarks.duplicate-children")] == [gid("folder")]
        assert not report.of("doctor.check-failed")
    finally:
        stack.stop()


def test_a_file_that_is_no_snapshot_is_refused_clearly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(loader.SnapshotError, match="not a synctools-snapshot/1"):
        LocalStack(snapshot=bad).start()
    (tmp_path / "truncated.json.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(loader.SnapshotError, match="not JSON"):
        loader.read(tmp_path / "truncated.json.gz")
    cli = subprocess.run([sys.executable, "-m", "synctools.cli", "serve", "--snapshot", str(bad), "--port", "0"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert cli.returncode == 1 and "not a synctools-snapshot/1" in cli.stderr and "Traceback" not in cli.stderr


def test_the_snapshot_command_converts_an_aboutsync_export(tmp_path):
    src, out = tmp_path / "export.json", tmp_path / "shared.json.gz"
    src.write_text(json.dumps(_aboutsync_export()))
    cli = subprocess.run(
        [sys.executable, "-m", "synctools.cli", "snapshot", "--from-aboutsync", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    data = loader.read(out)
    titles = {e["record"].get("title") for e in data["collections"]["bookmarks"]}
    assert "Sourdough starter" not in titles and "Kernel archives" not in titles
    stack, report = _loaded(out)
    try:
        assert report.of("bookmarks.duplicate-children")
    finally:
        stack.stop()
