"""synctools.device on a live Firefox ESR's profile: its data, logs and sync ping, compared
with the server, and the doctor's device findings, for exactly what the test did.

Firefox is driven over Marionette (tests/firefox/marionette.py): it adds bookmarks and
syncs; synctools commits a bookmark Firefox has not seen; then the stack refuses with 503
+ Retry-After while Firefox adds another bookmark and tries to sync. Sync pings go only to
Mozilla's servers (telemetry.sys.mjs ``isProductionSyncUser``): the test bypasses that
check inside this Firefox and points Glean's uploads at a closed local port, so the ping
stays pending in the profile.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from synctools import Sync, doctor
from synctools.device import Profile

from .harness import first_sync_done, running_firefox, signed_in_firefox
from .marionette import ENV, Marionette

pytestmark = [pytest.mark.firefox, pytest.mark.slow]

EXTRA_PREFS = {
    "marionette.port": 0,
    "services.sync.log.appender.file.logOnSuccess": True,
    "datareporting.healthreport.uploadEnabled": True,  # Glean records and submits pings…
    "telemetry.fog.test.localhost_port": 9,  # …to the discard port: the upload fails, the ping stays
}
PLACES = "const { PlacesUtils } = ChromeUtils.importESModule('resource://gre/modules/PlacesUtils.sys.mjs');"
SYNC = ("const { Weave } = ChromeUtils.importESModule('resource://services-sync/main.sys.mjs');"
        "await Weave.Service.sync({why: 'user'}); return Weave.Status.sync;")  # fmt: skip
PING = ("const { SyncTelemetry } = ChromeUtils.importESModule('resource://services-sync/telemetry.sys.mjs');"
        "SyncTelemetry.isProductionSyncUser = () => true; SyncTelemetry.finish('schedule');")  # fmt: skip


def add_bookmark(m: Marionette, title: str, url: str) -> str:
    return m.run(PLACES + "return (await PlacesUtils.bookmarks.insert({parentGuid: PlacesUtils.bookmarks.toolbarGuid,"
                 " url: args[0], title: args[1]})).guid;", url, title)  # fmt: skip


def hashes(folder: Path) -> dict[str, int]:
    import hashlib

    return {
        str(p.relative_to(folder)): hash(hashlib.sha256(p.read_bytes()).digest())
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_device_half_of_a_live_firefox(firefox_binary, tmp_path, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    with signed_in_firefox(firefox_binary, tmp_path) as ff:
        with (ff.profile / "user.js").open("a") as f:
            f.writelines(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in EXTRA_PREFS.items())
        with running_firefox(firefox_binary, ff.profile, ff.log):
            m = Marionette(ff.profile)
            deadline = time.monotonic() + 120
            while not first_sync_done(ff.stack.admin.requests()):
                assert time.monotonic() < deadline, "Firefox made no first sync"
                time.sleep(0.5)
            synced = add_bookmark(m, "Synced", "https://example.com/synced")
            assert m.run(SYNC) == "success.sync"
            # synctools commits a bookmark that this Firefox will not have synced
            sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
            sync.run(until="download")
            unfiled = sync.records("bookmarks")["unfiled"]
            sync.add("bookmarks", {"id": "synctoolsDev1", "type": "bookmark", "title": "From synctools",
                                   "bmkUri": "https://example.com/from-synctools", "parentid": "unfiled",
                                   "parentName": unfiled.get("title", "")})  # fmt: skip
            sync.edit("bookmarks", "unfiled", {"children": [*unfiled.get("children", []), "synctoolsDev1"]})
            sync.merge()
            assert sync.commit(sync.plan_upload().accept()).status == "committed"
            # the stack becomes unreachable for storage: 503 with Retry-After
            ff.stack.admin.inject_fault("503", count=100, path="/storage/", retry_after=900)
            offline = add_bookmark(m, "Added while the server refused", "https://example.com/offline")
            assert m.run(SYNC) == "error.sync.reason.serverMaintenance"
            m.run(PING)
            pending = ff.profile / "datareporting" / "glean" / "pending_pings"
            while not any("/sync/" in p.read_text().split("\n")[0] for p in pending.glob("*")):
                assert time.monotonic() < deadline + 60, "Glean kept no sync ping"
                time.sleep(0.5)
            m.close()
        ff.stack.admin.clear_faults()

        before = hashes(ff.profile)
        profile = Profile(ff.profile)
        bm = profile.bookmarks().set_index("id")
        assert bm.loc[offline, "sync_status"] == "new" and bm.loc[synced, "sync_status"] == "normal"
        assert "synctoolsDev1" not in bm.index
        assert profile.account()["email"].iloc[0] == ff.email
        syncs = profile.syncs()
        last = syncs.iloc[-1]
        assert last["outcome"] == "error" and last["retry_after"] == 900 and last["statuses"].get(503)
        assert (syncs["outcome"] == "success").any()
        pings = profile.pings().main
        assert len(pings) and pings["failure"].iloc[-1] == 'httperror {"code": 503}'

        sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
        sync.run(until="download")
        cmp = sync.compare(profile, "bookmarks")
        assert {(r.id, r.problem) for r in cmp.itertuples()} == {
            (offline, "missing_on_server"), ("synctoolsDev1", "missing_on_device"),
            ("toolbar", "differs"), ("unfiled", "differs"),
        }  # fmt: skip
        assert set(cmp.set_index("id").loc["toolbar", "fields"]) == {"children"}

        report = doctor.check(sync, profile=profile)
        checks = {f.check for f in report.of("device.")}
        assert {"device.never-uploaded", "device.sync-failing", "device.backoff"} <= checks
        assert not checks & {"device.other-account", "device.cluster-mismatch", "device.unreadable"}
        never = next(f for f in report.of("device.never-uploaded") if f.collection == "bookmarks")
        assert never.record_ids == [offline]
        assert hashes(ff.profile) == before  # reading the profile changed nothing in it
        profile.close()
