"""What each engine did in each sync, and the status code Firefox gave it; the timeline of
some log files only. The real-Firefox tests (tests/firefox/outcome.py) judge Firefox's
syncs with these frames."""

from __future__ import annotations

import pandas as pd
import pytest

from synctools.device import Profile
from synctools.device.logs import recognise, sync_engines, syncs, timeline

T = 1_796_039_228_000
# A bookmarks engine that fails, as Firefox ESR 153 logged it when a folder on the server
# listed one child twice (its mirror's structure table refused the second row).
FAILED_BOOKMARKS = [
    ("Sync.Service", "Info", "Starting sync at 2026-11-30 11:47:08 in browser session x"),
    ("Sync.Service", "Debug", "verifyLogin failed: Error: 401"),
    (
        "Sync.Engine.Tabs",
        "Info",
        "Records: 1 applied, 1 successfully, 0 failed to apply, 0 newly failed to apply, 0 reconciled.",
    ),
    ("Sync.Engine.Tabs", "Info", "Uploading 1 outgoing records"),
    (
        "Sync.Engine.Bookmarks",
        "Warn",
        "Got exception, aborting processIncoming: Error: Error(s) encountered during statement "
        "execution: UNIQUE constraint failed: structure.parentGuid, structure.guid(resource://gre/modules/Sqlite.sys.mjs)",
    ),
    (
        "Sync.Engine.Bookmarks",
        "Error",
        "Bookmark sync failed, 10.8s elapsed since last run; running Places maintenance",
    ),
    ("Sync.Status", "Debug", "Status for engine bookmarks: error.engine.reason.unknown_fail"),
    ("Sync.Status", "Debug", "Status.service: success.status_ok => error.sync.failed_partial"),
    ("Sync.ErrorHandler", "Debug", "bookmarks failed: Error: Error(s) encountered during statement execution"),
    ("Sync.Status", "Debug", "Status for engine forms: success.engine"),
    ("Sync.Synchronizer", "Info", "Sync completed at 2026-11-30 11:47:09 after 0.69 secs."),
    ("Sync.ErrorHandler", "Error", "Some engines did not sync correctly."),
]


def _write(folder, name, rows, t0=T):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(
        "".join(f"{t0 + i}\t{logger}\t{level.upper()}\t{msg}\n" for i, (logger, level, msg) in enumerate(rows))
    )
    return folder / name


def test_engine_rows_of_the_real_logs(profile_dir):
    p = Profile(profile_dir)
    s, e = p.syncs(), p.sync_engines()
    # every sync in order, but the last: it stopped at info/collections (503), before any engine
    assert list(dict.fromkeys(e["id"])) == s["id"].tolist()[:-1] and s["status"].iloc[-1].startswith("error")
    assert str(e["applied"].dtype) == "Int64" and str(e["failed"].dtype) == "boolean"
    for sync in s.itertuples():
        rows = e[e["id"] == sync.id].set_index("engine")
        assert {k: v for k, v in rows["uploaded"].dropna().items()} == sync.uploaded
        assert {k: v for k, v in rows["applied"].dropna().items()} == sync.applied
    first = e[e["id"] == s["id"].iloc[0]].set_index("engine")
    assert first.loc["bookmarks", "uploaded"] == 9 and first.loc["clients", "uploaded"] == 1  # roots, its own record
    # engines that only logged (off by default) are rows with no counts
    assert first.loc["addresses", ["applied", "uploaded"]].isna().all()
    assert not e["failed"].any() and e["status"].isna().all() and (s["engine_status"] == {}).all()


def test_a_failed_engine_has_its_code_and_fails_no_other(tmp_path):
    folder = tmp_path / "weave" / "logs"
    _write(folder, "error-sync-1796039229000.txt", FAILED_BOOKMARKS)
    log = timeline(folder)
    sync = syncs(log).iloc[0]
    assert sync["engine_status"] == {"bookmarks": "error.engine.reason.unknown_fail", "forms": "success.engine"}
    assert sync["engines_failed"] == ["bookmarks"]  # not "verifylogin", not forms (success)
    assert sync["outcome"] == "error" and sync["service_status"] == "error.sync.failed_partial"
    assert pd.isna(sync["status"]) and sync["took"] == 0.69  # completed, with no Status.sync: partial
    e = sync_engines(syncs(log)).set_index("engine")
    assert e.loc["bookmarks", "failed"] and e.loc["bookmarks", "status"] == "error.engine.reason.unknown_fail"
    assert pd.isna(e.loc["bookmarks", "applied"])  # it never got to count its records
    assert not e.loc["forms", "failed"] and e.loc["forms", "status"] == "success.engine"
    assert (e.loc["tabs", "applied"], e.loc["tabs", "uploaded"], e.loc["tabs", "failed"]) == (1, 1, False)


@pytest.mark.parametrize(
    ("line", "event"),
    [
        ("verifyLogin failed: Error: 401", None),  # a method of the service, not an engine
        ("extension-storage failed: Error", "engine_failed"),
        ("Status for engine extension-storage: error.engine.reason.unknown_fail", "engine_status"),
        ("Status for engine : x", None),
    ],
)
def test_engine_names_are_firefoxs(line, event):
    assert recognise(line)[0] == event


def test_timeline_of_some_files_only(tmp_path):
    folder = tmp_path / "weave" / "logs"
    ok = [FAILED_BOOKMARKS[0], FAILED_BOOKMARKS[-2]]
    old = _write(folder, "success-sync-1796039100000.txt", ok, t0=T - 100_000)
    new = _write(folder, "error-sync-1796039229000.txt", FAILED_BOOKMARKS)
    _write(folder, "success-sync-1796039300000.txt", ok, t0=T + 70_000)
    some = timeline(folder, files=[new, old])  # in the order they were written, whatever the order given
    assert list(dict.fromkeys(some["file"])) == [old.name, new.name]
    assert len(some) == len(ok) + len(FAILED_BOOKMARKS) and len(timeline(folder)) == len(some) + len(ok)
    assert timeline(folder, files=[]).empty
    gone = timeline(folder, files=[folder / "error-sync-1796039999999.txt"])  # removed since it was listed
    assert len(gone) == 1 and "cannot be read" in gone["error"].iloc[0]
    assert syncs(gone).empty and sync_engines(syncs(gone)).empty
