"""sync.compare, the doctor's device checks, the widget and the command line, on the demo
stack with a synthetic profile of the demo account (planted differences)."""

from __future__ import annotations

import json
import re

import pytest

from synctools import doctor
from synctools.cli import main
from synctools.device import DeviceError


def test_sync_compare_finds_the_planted_differences(demo):
    stack, sync, path, planted = demo
    df = sync.compare(str(path), "bookmarks").set_index("id")
    assert df.loc[planted["new_bookmark"], "problem"] == "missing_on_server"
    assert df.loc[planted["missing_on_device"], "problem"] == "missing_on_device"
    assert df.loc[planted["deleted_on_device"], "problem"] == "deleted_on_one_side"
    assert "title" in df.loc[planted["renamed"], "fields"]
    pw = sync.compare(str(path), "passwords").set_index("id")
    assert pw.loc[planted["new_login"], "problem"] == "missing_on_server"
    # the server's logins come masked by the engines' policy: no password in any row
    assert not any(isinstance(s, dict) and s.get("password") not in (None, "********") for s in pw["server"])


def test_compare_needs_the_collection_downloaded(demo):
    from synctools import Sync

    stack, _, path, _ = demo
    fresh = Sync.local(stack)
    fresh.run(until="fetch_crypto_keys")
    with pytest.raises(DeviceError, match="not downloaded"):
        fresh.compare(path, "forms")


def test_doctor_device_findings_cite_their_source(demo):
    stack, sync, path, planted = demo
    report = doctor.check(sync, profile=path)
    by = {f.check: f for f in report.of("device.")}
    assert {"device.never-uploaded", "device.engines-disagree", "device.sync-failing", "device.backoff",
            "device.records-refused", "device.clock-skew"} <= set(by)  # fmt: skip
    never = {i for f in report.of("device.never-uploaded") for i in f.record_ids}
    assert {planted["new_bookmark"], planted["new_login"]} <= never
    assert by["device.engines-disagree"].collection == "addons"
    refused = by["device.records-refused"]
    assert refused.record_ids == [planted["refused_history"]] and refused.collection == "history"
    for f in report.of("device."):
        assert f.facts.get("cite"), f.check
        cite = f.facts["cite"]
        assert re.match(r"(error|success)-sync-\d+\.txt:\d+|places\.sqlite|logins\.json|prefs\.js", cite), cite
    assert "device.other-account" not in by and "device.cluster-mismatch" not in by
    assert not doctor.check(sync).of("device.")  # without a profile, no device check runs


def test_doctor_on_a_profile_of_another_account(demo, profile_dir):
    _, sync, _, _ = demo
    report = doctor.check(sync, profile=profile_dir)
    checks = {f.check for f in report.of("device.")}
    assert {"device.other-account", "device.cluster-mismatch", "device.sync-failing"} <= checks
    bad = doctor.check(sync, profile=profile_dir / "nowhere")
    assert [f.check for f in bad.of("device.")] == ["device.unreadable"]


def test_compare_view_uses_theme_colours_only(demo):
    from synctools.widgets import CompareView
    from synctools.widgets._source import html_of

    _, sync, path, planted = demo
    view = CompareView(sync, path, "bookmarks", page_size=5)
    view.problem.value = "differs"
    view.show(view.pick.options[1][1])
    page = html_of(view) + view.detail.value
    bare = page
    while re.search(r"var\([^()]*\)", bare):  # a fixed colour may only be a theme variable's fallback
        bare = re.sub(r"var\([^()]*\)", "", bare)
    styles = " ".join(re.findall(r"style='([^']*)'", bare))
    assert "var(--jp-" in page and not re.search(r"#[0-9a-fA-F]{3,8}\b|rgb\(|hsl\(", styles)
    assert (view.rows()["problem"] == "differs").all() and len(view.rows()) > 0
    view.problem.value = "missing_on_server"
    assert planted["new_bookmark"] in view.table.value


def test_cli_device_summary_json_and_export(profile_dir, tmp_path, capsys):
    assert main(["device", str(profile_dir)]) == 0
    text = capsys.readouterr().out
    assert "bookmarks: 14 items, 1 never uploaded" in text and "error.sync.reason.serverMaintenance" in text
    assert main(["device", str(profile_dir), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["logins"]["waiting_upload"] == 1 and facts["pings"] == 5 and facts["firefox"] == "153.8.0"
    assert main(["device", str(profile_dir), "--export", str(tmp_path / "out"), "--format", "json"]) == 0
    written = {p.stem for p in (tmp_path / "out").iterdir()}
    assert {"bookmarks", "history", "visits", "logins", "forms", "prefs", "account", "log", "syncs", "pings"} <= written
    assert main(["device", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_doctor_with_a_profile(profile_dir, capsys):
    assert main(["doctor", "--local", "--profile", str(profile_dir)]) == 0
    out = capsys.readouterr().out
    assert "device.other-account" in out and "device.sync-failing" in out
    assert main(["doctor", "--local", "--profile", str(profile_dir / "nope")]) == 1
