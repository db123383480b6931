"""After synctools commits a doctor fix, a real Firefox syncs and the problem does not come
back (issue 15).

The planted problem is one Firefox cannot get past on its own: a folder that lists one
child twice. Firefox stores an incoming folder's children in its bookmarks mirror, one
row per (folder, child) (``structure``, PRIMARY KEY(parentGuid, guid) in
SyncedBookmarksMirror.sys.mjs), so the second copy breaks the store of the whole batch and
its bookmarks engine fails, sync after sync, with the folder left as it is on the server.
(A child missing from its folder's ``children`` is not such a problem: Firefox's merger,
dogear, puts it back at the end of the folder and uploads the folder itself.)

The test judges outcomes: the statuses Firefox gave each sync and engine, the server's
records (read and judged by the doctor), and Firefox's own tree (places.sqlite, read with
``synctools.device.Profile``), never the wording of a log line.
"""

from __future__ import annotations

import pandas as pd
import pytest

from synctools import Sync, doctor
from synctools.device import Profile

from .harness import SignedIn, synced
from .logrules import Earlier, planted
from .outcome import failed_engines

pytestmark = [pytest.mark.firefox, pytest.mark.slow]

PLANTED_ID = "synctoolsDc1"  # 12 characters: a valid Sync id, so the one problem is the duplicate
BOOKMARK = {"id": PLANTED_ID, "type": "bookmark", "title": "Listed twice", "bmkUri": "https://example.com/twice",
            "parentid": "unfiled"}  # fmt: skip
WHY = ("the planted folder lists one child twice: Firefox's bookmarks mirror keeps one row per (folder, child), "
       "so storing the folder fails and with it the bookmarks engine")  # fmt: skip
# The ERROR lines that failure makes, explained only as long as the bookmarks engine is the one that failed.
MEETS_IT = [
    planted(r"Sync\.Engine\.Bookmarks(?:\..+)?", r".*", WHY),
    planted(r"Sync\.ErrorHandler", r"Some engines did not sync correctly\.", WHY,
            Earlier("Sync.Status", r"^Status for engine ", r"Status for engine bookmarks: .*", every=True)),
]  # fmt: skip


def bookmark_findings(ff: SignedIn) -> tuple[Sync, doctor.Report]:
    """The doctor's bookmark findings on the server as it is now (a fresh sync each time)."""
    sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
    return sync, doctor.check(sync, only=["bookmarks."])


def firefox_tree(ff: SignedIn) -> pd.DataFrame:
    """Firefox's own bookmarks (places.sqlite), live items only."""
    with Profile(ff.profile) as profile:
        bookmarks = profile.bookmarks()
    return bookmarks[~bookmarks["deleted"]]


def test_a_doctor_fix_firefox_syncs_does_not_come_back(firefox: SignedIn) -> None:
    ff = firefox
    ff.sync_once().check()  # Firefox creates the account's storage and uploads its roots

    # -- plant the problem: unfiled lists the new bookmark twice
    sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
    sync.run(until="download")
    unfiled = sync.records("bookmarks")["unfiled"]
    before = list(unfiled.get("children", []))
    sync.add("bookmarks", {**BOOKMARK, "parentName": unfiled.get("title", "")})
    sync.edit("bookmarks", "unfiled", {"children": [*before, PLANTED_ID, PLANTED_ID]})
    sync.merge()
    assert sync.commit(sync.plan_upload().accept()).status == "committed"

    # -- Firefox meets it: its bookmarks engine fails, every other engine syncs, nothing is applied
    met = ff.sync_once(until=synced("bookmarks"), planted=MEETS_IT)
    assert {e: c for s in met.syncs.to_dict("records") for e, c in failed_engines(s).items()} == {
        "bookmarks": "error.engine.reason.unknown_fail"
    }
    met.check(excuse={"bookmarks": WHY})
    assert PLANTED_ID not in set(firefox_tree(ff)["id"])

    # -- the doctor finds the problem, and only it, on the server Firefox left as it was
    sync, report = bookmark_findings(ff)
    assert [(f.check, f.record_ids[0]) for f in report] == [("bookmarks.duplicate-children", "unfiled")], str(report)
    assert sync.records("bookmarks")["unfiled"]["children"] == [*before, PLANTED_ID, PLANTED_ID]
    staged = report.findings[0].stage(sync)
    assert staged and all("bookmarks/unfiled" in s for s in staged)
    sync.merge()
    plan = sync.plan_upload()
    assert [(c.collection, c.id) for c in plan.changes()] == [("bookmarks", "unfiled")]
    assert plan.changes()[0].after["children"] == [*before, PLANTED_ID]
    assert sync.commit(plan.accept()).status == "committed"

    # -- Firefox syncs: it applies the bookmark where the folder lists it, and the doctor finds nothing
    # -- ... and again: the problem does not come back
    for launch in ("after the fix", "once more"):
        outcome = ff.sync_once(until=synced("bookmarks"))
        outcome.check()  # every engine synced, bookmarks included; lastSync set; no unexplained ERROR line
        bookmarks = outcome.engine("bookmarks")
        assert bookmarks is not None and bookmarks["failed_to_apply"] == 0, launch
        tree = firefox_tree(ff).set_index("id")
        assert (tree.loc[PLANTED_ID, "parent_id"], tree.loc[PLANTED_ID, "title"]) == ("unfiled", "Listed twice")
        assert tree.loc[PLANTED_ID, "sync_status"] == "normal", launch  # Firefox counts it as synced
        assert (tree["parent_id"] == "unfiled").sum() == len(before) + 1, launch
        sync, report = bookmark_findings(ff)
        assert report.findings == [], f"{launch}: {report}"
        server = sync.records("bookmarks")
        assert server["unfiled"]["children"] == [*before, PLANTED_ID], launch
        assert server[PLANTED_ID]["parentid"] == "unfiled", launch
