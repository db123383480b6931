"""The classification of ERROR lines and the outcome reader, on logs written in Firefox's
format (no Firefox needed: these run everywhere). test_real_firefox.py feeds the same code
the logs of a real Firefox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .logrules import RULES, Kind, classify, planted
from .outcome import read_outcome
from .synclog import log_files, read_log, sync_prefs

T = 1_796_029_067_000


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(f"{T + i}\t{logger}\t{level}\t{msg}\n" for i, (logger, level, msg) in enumerate(rows))
    )
    return path


DEVICES_EMPTY = ("FirefoxAccounts", "INFO", "Got new device list: ")
DEVICES_ONE = ("FirefoxAccounts", "INFO", "Got new device list: 8e763f49b2624f63b14ef8e62ffc7d1c")
NO_DEVICES = ("FirefoxAccounts", "ERROR", "No devices available for queued tab commands")


def _kinds(tmp_path: Path, rows: list[tuple[str, str, str]], **kw) -> list[Kind]:
    return [v.kind for v in classify(read_log(_write(tmp_path / "weave/logs/error-sync-1.txt", rows)), **kw)]


def test_no_devices_is_firefox_internal_only_after_an_empty_device_list(tmp_path: Path) -> None:
    assert _kinds(tmp_path, [DEVICES_EMPTY, NO_DEVICES]) == [Kind.FIREFOX]
    # with a device listed the queue could have had somewhere to go: not explained
    assert _kinds(tmp_path, [DEVICES_EMPTY, DEVICES_ONE, NO_DEVICES]) == [Kind.UNEXPLAINED]
    assert _kinds(tmp_path, [NO_DEVICES]) == [Kind.UNEXPLAINED]  # no list fetched at all
    # the same words from another logger are someone else's problem
    assert _kinds(tmp_path, [DEVICES_EMPTY, ("Sync.Engine.Tabs", "ERROR", NO_DEVICES[2])]) == [
        Kind.UNEXPLAINED
    ]


AMO_FAIL = (
    "Sync.Engine.Addons.Store",
    "WARN",
    "Failed to apply incoming record r1: Error: GET https://services.addons.mozilla.org/api/v4/addons/search/"
    "?guid=x%40y failed(resource://gre/modules/addons/AddonRepository.sys.mjs:472:18) JS Stack trace: …",
)
LOCAL_FAIL = (
    "Sync.Engine.Addons.Store",
    "WARN",
    "Failed to apply incoming record r2: Error: GET http://127.0.0.1:4000/addons failed(resource://…)",
)
ADDONS_ERROR = ("Sync.SyncScheduler", "ERROR", "Engine addons found 1 new records that failed to apply")
ADDONS_STATUS = ("Sync.Status", "DEBUG", "Status for engine addons: error.engine.reason.apply_fail")
PARTIAL = ("Sync.ErrorHandler", "ERROR", "Some engines did not sync correctly.")


def test_an_add_on_install_refused_offline_is_noise_only_if_nothing_else_failed(tmp_path: Path) -> None:
    assert _kinds(tmp_path, [AMO_FAIL, ADDONS_STATUS, ADDONS_ERROR, PARTIAL]) == [Kind.OFFLINE, Kind.OFFLINE]
    # one record failed on the stack itself: that is not the network's fault
    rows = [AMO_FAIL, LOCAL_FAIL, ADDONS_STATUS, ADDONS_ERROR, PARTIAL]
    assert _kinds(tmp_path, rows) == [Kind.UNEXPLAINED, Kind.UNEXPLAINED]
    # another engine failed too: the partial sync is not explained by the add-on
    history = ("Sync.Status", "DEBUG", "Status for engine history: error.engine.reason.unknown_fail")
    assert _kinds(tmp_path, [AMO_FAIL, ADDONS_STATUS, history, ADDONS_ERROR, PARTIAL]) == [
        Kind.OFFLINE,
        Kind.UNEXPLAINED,
    ]
    assert _kinds(tmp_path, [ADDONS_STATUS, ADDONS_ERROR, PARTIAL]) == [Kind.UNEXPLAINED, Kind.UNEXPLAINED]


@pytest.mark.parametrize(
    "message, kind",
    [
        ("Download of https://addons.mozilla.org/firefox/downloads/x.xpi failed", Kind.OFFLINE),
        ("GET https://firefox.settings.services.mozilla.com/v1/ failed", Kind.OFFLINE),
        ("GET request to http://127.0.0.1:38881/storage/1.5/1/info/collections failed", Kind.UNEXPLAINED),
        ("https://example.com failed, then http://localhost:8000/x failed", Kind.UNEXPLAINED),
        ("http://localhost.example.com/x failed", Kind.OFFLINE),
        ("Sync encountered an error", Kind.UNEXPLAINED),
    ],
)
def test_offline_noise_is_only_what_names_internet_hosts(tmp_path: Path, message: str, kind: Kind) -> None:
    assert _kinds(tmp_path, [("Sync.Engine.Addons", "ERROR", message)]) == [kind]


def test_planted_rules_come_first_and_fatal_counts(tmp_path: Path) -> None:
    rows = [
        ("Sync.ErrorHandler", "ERROR", "Sync encountered a login error"),
        ("Sync.Service", "FATAL", "boom"),
    ]
    fault = planted("Sync.ErrorHandler", r"Sync encountered a login error", "the test's 500")
    assert _kinds(tmp_path, rows, planted=[fault]) == [Kind.PLANTED, Kind.UNEXPLAINED]
    assert _kinds(tmp_path, [("Sync.Service", "WARN", "not serious")]) == []


def test_no_rule_names_a_firefox_version() -> None:
    version = re.compile(r"(?<![\d.])1\d\d\.\d+(?:\.\d+)?(?![\d.])|esr|Firefox/\d")
    for rule in RULES:
        fields = [rule.logger, rule.message, rule.reason]
        for earlier in rule.only_if:
            fields += [earlier.about, earlier.says]
        assert not [f for f in fields if version.search(f)], rule
    assert version.search("FirefoxAccounts 153.8.0esr") and not version.search("http://127.0.0.1:9/")


def test_outcome_of_a_completed_and_a_failed_sync(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    ok = [
        ("Sync.Service", "INFO", "Starting sync at 2026-11-30 08:57:47 in browser session x"),
        (
            "Sync.Engine.Bookmarks",
            "INFO",
            "Records: 3 applied, 3 successfully, 0 failed to apply, 0 newly failed to apply, 0 reconciled.",
        ),
        ("Sync.Engine.Bookmarks", "INFO", "Uploading 2 outgoing records"),
        ("Sync.Status", "DEBUG", "Status.sync: success.sync => success.sync"),
        ("Sync.Status", "DEBUG", "Status.service: success.status_ok => success.status_ok"),
        ("Sync.Synchronizer", "INFO", "Sync completed at 2026-11-30 08:57:48 after 0.34 secs."),
    ]
    failed = [
        ("Sync.Service", "INFO", "Starting sync at 2026-11-30 08:58:47 in browser session x"),
        ("Sync.Status", "DEBUG", "Status for engine history: error.engine.reason.unknown_fail"),
        ("Sync.Status", "DEBUG", "Status.service: success.status_ok => error.sync.failed_partial"),
        ("Sync.Synchronizer", "INFO", "Sync completed at 2026-11-30 08:58:48 after 0.5 secs."),
        ("Sync.ErrorHandler", "ERROR", "Some engines did not sync correctly."),
    ]
    _write(profile / "weave/logs/success-sync-1796029068000.txt", ok)
    _write(profile / "weave/logs/error-sync-1796029128000.txt", failed)
    (profile / "prefs.js").write_text(
        'user_pref("services.sync.lastSync", "Mon Nov 30 2026 08:58:48 GMT+0000 (Coordinated Universal Time)");\n'
        'user_pref("services.sync.username", "a@example.com");\nuser_pref("browser.x", 1);\n'
    )
    assert [p.name for p in log_files(profile)] == [
        "success-sync-1796029068000.txt",
        "error-sync-1796029128000.txt",
    ]
    assert set(sync_prefs(profile)) == {"services.sync.lastSync", "services.sync.username"}

    first = read_outcome(profile, log_files(profile)[:1])
    first.check()
    bookmarks = first.engine("bookmarks")
    assert bookmarks is not None and (bookmarks.applied, bookmarks.outgoing, bookmarks.failure) == (
        3,
        2,
        None,
    )

    both = read_outcome(profile, log_files(profile))
    assert [r.ok for r in both.runs] == [True, False]
    with pytest.raises(AssertionError) as err:
        both.check()
    assert "history" in str(err.value) and "error-sync-1796029128000.txt:5" in str(err.value)
    (profile / "prefs.js").write_text("")
    with pytest.raises(AssertionError, match="did not record a successful sync"):
        read_outcome(profile, log_files(profile)[:1]).check()


def test_docs_list_every_rule_in_order() -> None:
    """docs/firefox.md's table of rules is the code's RULES: kind, logger and message."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "firefox.md").read_text("utf-8")
    table = text.split("The rules (`RULES`, in this order):", 1)[1].split("\n\n", 2)[1]
    rows = [re.split(r"(?<!\\)\|", row)[1:-1] for row in table.splitlines()[2:]]
    cells = [[c.strip().strip("`").replace("\\|", "|") for c in row[:3]] for row in rows]
    assert cells == [[r.kind.value, r.logger, r.message] for r in RULES]
