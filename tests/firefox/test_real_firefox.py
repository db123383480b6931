"""A real Firefox ESR syncs against the embedded stack, and synctools and Firefox read each
other's data.

The profile is signed in before Firefox starts (profile.py): there is no accounts content
server here, so no web sign-in. Firefox runs headless; every connection not to 127.0.0.1
goes to a local sinkhole proxy that refuses and records it (none is expected: the profile's
prefs silence them). Each sync is judged by its outcome (outcome.py): the sync's own status,
what it applied and uploaded, services.sync.lastSync, and every ERROR line explained
(logrules.py). docs/firefox.md explains the set-up and the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests

from synctools import Sync
from synctools.device import Profile

from .conftest import firefox_or_skip, nothing_left_the_machine
from .harness import SignedIn, session_auth, signed_in_firefox, storage, synced
from .logrules import Kind, planted
from .outcome import SyncOutcome, read_outcome

pytestmark = [pytest.mark.firefox, pytest.mark.slow]


@pytest.fixture(scope="module")
def first_sync(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SignedIn, SyncOutcome]]:
    """One Firefox's first sync, shared by the tests that only read it."""
    with signed_in_firefox(firefox_or_skip(), tmp_path_factory.mktemp("first-sync")) as ff:
        yield ff, ff.sync_once()
        nothing_left_the_machine(ff)


def test_real_firefox_first_sync(first_sync: tuple[SignedIn, SyncOutcome]) -> None:
    ff, outcome = first_sync
    outcome.check()  # completed, Status success, lastSync recorded, every ERROR line explained
    first = outcome.syncs.iloc[0]
    assert first["uploaded"]["clients"] == 1  # Firefox uploaded its own clients record
    assert first["uploaded"]["bookmarks"] >= 5  # the bookmark roots of a new profile
    entries = outcome.requests

    # -- what Firefox sent resembles the reference trace (shared/reference/firefox-first-sync.md)
    seen = [(e["method"], e["path"].replace(f"/{ff.account.storage_uid}/", "/{uid}/")) for e in entries]
    token = next(e for e in entries if e["path"] == "/token/1.0/sync/1.5")
    assert token["status"] == 200 and token["headers"]["authorization"].startswith("Bearer")
    assert token["headers"]["x-keyid"] == ff.keys.kid
    oauth = [e for e in entries if e["path"] == "/v1/oauth/token"]
    assert oauth and all(e["headers"]["authorization"].startswith("Hawk") for e in oauth)
    assert ("POST", "/v1/account/device") in seen  # Firefox registered itself as a device
    ours = storage(entries)
    assert all("FxSync/" in e["headers"].get("user-agent", "") for e in ours)
    assert all(e["status"] < 400 or e["path"].endswith("/meta/global") for e in ours)  # 404: empty account
    order = [
        ("GET", "/storage/1.5/{uid}/info/collections"),
        ("GET", "/storage/1.5/{uid}/storage/meta/global"),
        ("DELETE", "/storage/1.5/{uid}/storage"),
        ("PUT", "/storage/1.5/{uid}/storage/meta/global"),
        ("PUT", "/storage/1.5/{uid}/storage/crypto/keys"),
        ("GET", "/storage/1.5/{uid}/storage/crypto/keys"),
        ("POST", "/storage/1.5/{uid}/storage/clients"),
        ("PUT", "/storage/1.5/{uid}/storage/meta/global"),
    ]
    it = iter(seen)
    assert all(step in it for step in order), f"not in the reference order: {seen}"
    first_puts = [e for e in ours if e["method"] == "PUT"][:2]
    assert [e["headers"].get("x-if-unmodified-since") for e in first_puts] == ["0", "0"]
    wipes = [e for e in ours if e["method"] == "DELETE" and e["path"].endswith("/storage")]
    assert wipes and all(e["headers"].get("x-confirm-delete") == "1" for e in wipes)

    # -- synctools reads what Firefox wrote, with keys derived from kB (not taken from Firefox)
    sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
    sync.authenticate()
    sync.exchange_token()
    assert sync.keys is not None and sync.keys.kid == ff.keys.kid
    sync.fetch_info()
    mg = sync.fetch_meta_global()
    assert mg.meta_global.storage_version == 5
    assert {"clients", "bookmarks", "history", "tabs", "passwords"} <= set(mg.meta_global.engines)
    assert sync.fetch_crypto_keys().status == "ok"
    dl = sync.download()
    assert all(c["failed"] == 0 for c in dl.collections), dl.collections
    assert sync.errors().empty, sync.errors()
    desktops = [c for c in sync.records("clients").values() if c.get("type") == "desktop"]
    assert len(desktops) == 1, f"expected Firefox's own clients record, got {len(desktops)}"
    device = desktops[0]
    user_agent = ours[0]["headers"]["user-agent"]  # "Firefox/<version> (Linux x86_64) FxSync/..."
    assert device["application"] == "Firefox" and f"Firefox/{device['version']} " in user_agent
    assert device["protocols"] == ["1.5"]
    # ...and it is the device Firefox registered with the accounts service
    devices = requests.get(
        ff.stack.auth_url + "/account/devices", headers=session_auth(ff.session["sessionToken"]), timeout=30
    ).json()
    assert device["fxaDeviceId"] in {d["id"] for d in devices}


def test_an_unexplained_error_line_fails_the_check(first_sync: tuple[SignedIn, SyncOutcome], tmp_path: Path) -> None:
    """Feed the classifier the real first-sync log with one line injected: the check fails
    and names that line and its file; the real log alone passes."""
    ff, outcome = first_sync
    real = outcome.log_file(0)
    lines = real.read_text("utf-8").splitlines(keepends=True)
    at = len(lines) // 2
    ms = next(int(t.split("\t")[0]) for t in lines[at:] if t[:1].isdigit())
    injected = f"{ms}\tSync.Engine.Bookmarks\tERROR\tSomething nobody explained\n"
    copy = tmp_path / real.name
    copy.write_text("".join([*lines[:at], injected, *lines[at:]]), "utf-8")

    assert read_outcome(ff.profile, [real], since=outcome.since).unexplained == []
    tampered = read_outcome(ff.profile, [copy], since=outcome.since)
    assert [(v.where, v.message) for v in tampered.unexplained] == [
        (f"{real.name}:{at + 1}", "Something nobody explained")
    ]
    with pytest.raises(AssertionError, match=rf"{real.name}:{at + 1}.*Something nobody explained"):
        tampered.check()


def test_firefox_applies_a_bookmark_synctools_wrote(firefox: SignedIn) -> None:
    ff = firefox
    ff.sync_once().check()  # Firefox creates the account's storage and uploads its bookmark roots
    sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
    sync.run(until="download")
    unfiled = sync.records("bookmarks")["unfiled"]
    bookmark = {
        "id": "synctoolsBm1",
        "type": "bookmark",
        "title": "Written by synctools",
        "bmkUri": "https://example.com/synctools",
        "parentid": "unfiled",
        "parentName": unfiled.get("title", ""),
    }
    sync.add("bookmarks", bookmark)
    sync.edit("bookmarks", "unfiled", {"children": [*unfiled.get("children", []), bookmark["id"]]})
    sync.merge()
    assert sync.commit(sync.plan_upload().accept()).status == "committed"

    # Firefox restarted on the same profile syncs again at once, bookmarks included
    outcome = ff.sync_once(until=synced("bookmarks"))
    outcome.check()
    bookmarks = outcome.engine("bookmarks")
    assert bookmarks is not None and bookmarks["applied"] >= 2  # the bookmark, its folder
    assert bookmarks["failed_to_apply"] == 0
    applied = Profile(ff.profile).bookmarks().set_index("id").loc[bookmark["id"]]
    assert (applied["title"], applied["url"], applied["parent_id"], applied["sync_status"]) == (
        "Written by synctools",
        "https://example.com/synctools",
        "unfiled",
        "normal",
    )


def test_a_planted_fault_fails_the_sync_and_is_explained(firefox: SignedIn) -> None:
    """The outcome rule can fail: the stack answers Firefox's first info/collections with a
    500, the sync fails, and the ERROR line it causes is the planted fault's, not noise."""
    ff = firefox
    ff.stack.admin.inject_fault("status", status=500, method="GET", path=r"/info/collections$")
    fault = planted(
        "Sync.ErrorHandler",
        r"Sync encountered a login error",
        "GET info/collections answers 500, so Firefox's login check fails (error.login.reason.server)",
    )
    outcome = ff.sync_once(planted=[fault])
    assert outcome.unexplained == []
    assert [v.rule for v in outcome.verdicts] == [fault]  # the fault happened, and nothing else
    run = outcome.syncs.iloc[0]
    assert pd.isna(run["took"]) and run["service_status"] == "error.login.failed" and run["outcome"] == "error"
    with pytest.raises(AssertionError, match="did not complete"):
        outcome.check()
    assert outcome.settings is not None and outcome.settings.last_sync is None  # Firefox agrees: no sync succeeded


def test_an_add_on_from_another_device_is_offline_noise(firefox: SignedIn) -> None:
    """Another device has an add-on: Firefox asks addons.mozilla.org for it, the closed
    network refuses, the addons engine fails to apply the record, and the ERROR lines that
    follow are offline noise, not a failure of the stack."""
    ff = firefox
    ff.sync_once().check()
    sync = Sync.local(ff.stack, email=ff.email, password=ff.password)
    sync.run(until="download")
    addon = {
        "id": "synctoolsAdd1",
        "addonID": "offline-test@synctools.invalid",
        "applicationID": "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}",  # Firefox desktop
        "enabled": True,
        "source": "amo",
    }
    sync.add("addons", addon)
    sync.merge()
    assert sync.commit(sync.plan_upload().accept()).status == "committed"

    outcome = ff.sync_once(until=synced("addons"))
    failed_on = outcome.log[outcome.log["message"].str.startswith("Failed to apply incoming record")]
    hosts = {urlsplit(u).hostname for m in failed_on["message"] for u in re.findall(r"https?://[^\s(]+", m)}
    ff.allowed_attempts = [f"CONNECT {host}:443 HTTP/1.1" for host in hosts]
    assert ff.sink.attempts and set(ff.sink.attempts) <= set(ff.allowed_attempts)  # refused, not reached

    assert {v.message for v in outcome.explained(Kind.OFFLINE)} == {
        "Engine addons found 1 new records that failed to apply",
        "Some engines did not sync correctly.",
    }
    addons = outcome.engine("addons")
    assert addons is not None and addons["status"] == "error.engine.reason.apply_fail"
    assert addons["failed_to_apply"] == 1
    with pytest.raises(AssertionError, match="addons"):
        outcome.check()  # Firefox calls this sync partial: so does the outcome, unless excused
    outcome.check(excuse={"addons": "its add-on is on the internet, which the closed network refuses"})
