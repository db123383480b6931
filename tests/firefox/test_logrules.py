"""The classification of ERROR lines and the outcome reader, on logs written in Firefox's
format (no Firefox needed: these run everywhere). test_real_firefox.py feeds the same code
the logs of a real Firefox."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from synctools.device.logs import log_files, timeline

from .logrules import RULES, Kind, classify, planted
from .outcome import read_outcome

T = 1_796_029_067_000


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{T + i}\t{logger}\t{level}\t{msg}\n" for i, (logger, level, msg) in enumerate(rows)))
    return path


DEVICES_EMPTY = ("FirefoxAccounts", "INFO", "Got new device list: ")
DEVICES_ONE = ("FirefoxAccounts", "INFO", "Got new device list: 8e763f49b2624f63b14ef8e62ffc7d1c")
NO_DEVICES = ("FirefoxAccounts", "ERROR", "No devices available for queued tab commands")


def _kinds(tmp_path: Path, rows: list[tuple[str, str, str]], **kw) -> list[Kind]:
    log = _write(tmp_path / "weave/logs/error-sync-1.txt", rows)
    return [v.kind for v in classify(timeline(log.parent, files=[log]), **kw)]


def test_no_devices_is_firefox_internal_only_after_an_empty_device_list(tmp_path: Path) -> None:
    assert _kinds(tmp_path, [DEVICES_EMPTY, NO_DEVICES]) == [Kind.FIREFOX]
    # with a device listed the queue could have had somewhere to go: not explained
    assert _kinds(tmp_path, [DEVICES_EMPTY, DEVICES_ONE, NO_DEVICES]) == [Kind.UNEXPLAINED]
    assert _kinds(tmp_path, [NO_DEVICES]) == [Kind.UNEXPLAINED]  # no list fetched at all
    # the same words from another logger are someone else's problem
    assert _kinds(tmp_path, [DEVICES_EMPTY, ("Sync.Engine.Tabs", "ERROR", NO_DEVICES[2])]) == [Kind.UNEXPLAINED]


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


STARTED = ("Sync.Service", "INFO", "Starting sync at 2026-11-30 08:57:47 in browser session x")
BOOKMARKS = [
    ("Sync.Engine.Bookmarks", "INFO",
     "Records: 3 applied, 3 successfully, 0 failed to apply, 0 newly failed to apply, 0 reconciled."),
    ("Sync.Engine.Bookmarks", "INFO", "Uploading 2 outgoing records"),
]  # fmt: skip
SUCCESS = [
    ("Sync.Status", "DEBUG", "Status.sync: success.sync => success.sync"),
    ("Sync.Status", "DEBUG", "Status.service: success.status_ok => success.status_ok"),
]
COMPLETED = ("Sync.Synchronizer", "INFO", "Sync completed at 2026-11-30 08:57:48 after 0.34 secs.")
OK = [STARTED, *BOOKMARKS, *SUCCESS, COMPLETED]
LAST_SYNC = "Mon Nov 30 2026 08:58:48 GMT+0000 (Coordinated Universal Time)"


def _profile(tmp_path: Path, *logs: list[tuple[str, str, str]], last_sync: str | None = LAST_SYNC) -> Path:
    profile = tmp_path / "profile"
    for i, rows in enumerate(logs):
        _write(profile / f"weave/logs/success-sync-{1796029068000 + 60_000 * i}.txt", rows)
    prefs = f'user_pref("services.sync.lastSync", "{last_sync}");\n' if last_sync else ""
    (profile / "prefs.js").write_text(prefs + 'user_pref("services.sync.username", "a@example.com");\n')
    return profile


def test_outcome_of_a_completed_and_a_failed_sync(tmp_path: Path) -> None:
    failed = [
        ("Sync.Service", "INFO", "Starting sync at 2026-11-30 08:58:47 in browser session x"),
        ("Sync.Status", "DEBUG", "Status for engine history: error.engine.reason.unknown_fail"),
        ("Sync.Status", "DEBUG", "Status.service: success.status_ok => error.sync.failed_partial"),
        ("Sync.Synchronizer", "INFO", "Sync completed at 2026-11-30 08:58:48 after 0.5 secs."),
        ("Sync.ErrorHandler", "ERROR", "Some engines did not sync correctly."),
    ]
    profile = _profile(tmp_path, OK, failed)
    logs = log_files(profile / "weave/logs")

    first = read_outcome(profile, logs[:1])
    first.check()
    bookmarks = first.engine("bookmarks")
    assert bookmarks is not None
    assert (bookmarks["applied"], bookmarks["uploaded"]) == (3, 2) and pd.isna(bookmarks["status"])
    assert first.settings is not None and first.settings.last_sync == pd.Timestamp("2026-11-30 08:58:48Z")

    both = read_outcome(profile, logs)
    with pytest.raises(AssertionError) as err:
        both.check()
    assert "history" in str(err.value) and f"{logs[1].name}:5" in str(err.value)
    assert both.engine("history")["status"] == "error.engine.reason.unknown_fail"
    assert "bookmarks" not in set(both.ran("history")["engine"])


# Each condition of the rule, broken on its own: the check names it.
BROKEN = {
    "not completed": ([STARTED, *BOOKMARKS, *SUCCESS], "did not complete"),
    "status": ([STARTED, *BOOKMARKS, ("Sync.Status", "DEBUG", "Status.sync: success.sync => error.sync.reason.x"),
                SUCCESS[1], COMPLETED], "Status.sync=error.sync.reason.x"),
    "engine status": ([STARTED, ("Sync.Status", "DEBUG", "Status for engine tabs: error.engine.reason.apply_fail"),
                       *SUCCESS, COMPLETED], "engines failed: {'tabs': 'error.engine.reason.apply_fail'}"),
    "engine failed line": ([STARTED, ("Sync.ErrorHandler", "DEBUG", "forms failed: Error: boom"), *SUCCESS, COMPLETED],
                           "engines failed: {'forms': 'failed'}"),
    "unexplained error": ([STARTED, ("Sync.Engine.Tabs", "ERROR", "Something nobody explained"), *SUCCESS, COMPLETED],
                          "unexplained ERROR line at success-sync-1796029068000.txt:2"),
    "fatal": ([STARTED, ("Sync.Service", "FATAL", "boom"), *SUCCESS, COMPLETED], "unexplained FATAL line"),
    "truncated log": ([STARTED, *BOOKMARKS[:1]], "did not complete"),
}  # fmt: skip


@pytest.mark.parametrize("case", BROKEN)
def test_each_broken_condition_fails_the_check(tmp_path: Path, case: str) -> None:
    rows, why = BROKEN[case]
    profile = _profile(tmp_path, rows)
    outcome = read_outcome(profile, log_files(profile / "weave/logs"))
    with pytest.raises(AssertionError, match=re.escape(why)):
        outcome.check()


def test_last_sync_must_be_set_during_the_launch(tmp_path: Path) -> None:
    logs = lambda p: log_files(p / "weave/logs")  # noqa: E731
    missing = _profile(tmp_path / "a", OK, last_sync=None)
    with pytest.raises(AssertionError, match="did not record a successful sync"):
        read_outcome(missing, logs(missing)).check()
    stale = _profile(tmp_path / "b", OK)  # set at 08:58:48 by an earlier launch
    launched = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    with pytest.raises(AssertionError, match="did not record a successful sync"):
        read_outcome(stale, logs(stale), since=launched).check()
    read_outcome(stale, logs(stale), since=launched.replace(minute=0, hour=8)).check()
    garbage = _profile(tmp_path / "c", OK, last_sync="yesterday")
    with pytest.raises(AssertionError, match="did not record a successful sync"):
        read_outcome(garbage, logs(garbage)).check()
    # no sync in the logs at all is its own failure, lastSync or not
    empty = _profile(tmp_path / "d", [("FirefoxAccounts", "INFO", "Got new device list: ")])
    with pytest.raises(AssertionError, match="no sync finished"):
        read_outcome(empty, logs(empty)).check()


def test_an_excuse_covers_the_named_engine_only(tmp_path: Path) -> None:
    addons = ("Sync.Status", "DEBUG", "Status for engine addons: error.engine.reason.apply_fail")
    history = ("Sync.Status", "DEBUG", "Status for engine history: error.engine.reason.unknown_fail")
    partial = ("Sync.Status", "DEBUG", "Status.service: success.status_ok => error.sync.failed_partial")
    excuse = {"addons": "its add-on is on the internet"}
    one = _profile(tmp_path / "a", [STARTED, addons, partial, COMPLETED])
    read_outcome(one, log_files(one / "weave/logs")).check(excuse=excuse)
    two = _profile(tmp_path / "b", [STARTED, addons, history, partial, COMPLETED])
    with pytest.raises(AssertionError, match="history"):
        read_outcome(two, log_files(two / "weave/logs")).check(excuse=excuse)
    # an excused engine does not excuse a sync that failed as a whole
    failed = ("Sync.Status", "DEBUG", "Status.service: success.status_ok => error.sync.failed")
    whole = _profile(tmp_path / "c", [STARTED, addons, failed, COMPLETED])
    with pytest.raises(AssertionError, match="error.sync.failed"):
        read_outcome(whole, log_files(whole / "weave/logs")).check(excuse=excuse)


def test_a_refused_start_and_lines_not_in_the_log_format_are_no_sync(tmp_path: Path) -> None:
    refused = [STARTED, *BOOKMARKS, STARTED, ("Sync.Service", "DEBUG", "Cannot start sync: already syncing?"),
               *SUCCESS, COMPLETED]  # fmt: skip
    profile = _profile(tmp_path, refused)
    log = profile / "weave/logs" / "success-sync-1796029068000.txt"
    log.write_text("not a log line\n" + log.read_text() + "\x00\xff garbage\tERROR\n")
    outcome = read_outcome(profile, [log])
    assert len(outcome.syncs) == 1 and outcome.unexplained == []
    outcome.check()


def test_docs_list_every_rule_in_order() -> None:
    """docs/firefox.md's table of rules is the code's RULES: kind, logger and message."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "firefox.md").read_text("utf-8")
    table = text.split("The rules (`RULES`, in this order):", 1)[1].split("\n\n", 2)[1]
    rows = [re.split(r"(?<!\\)\|", row)[1:-1] for row in table.splitlines()[2:]]
    cells = [[c.strip().strip("`").replace("\\|", "|") for c in row[:3]] for row in rows]
    assert cells == [[r.kind.value, r.logger, r.message] for r in RULES]
