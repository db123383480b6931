"""A real Firefox ESR syncs against the embedded stack, and synctools and Firefox read each
other's data.

The profile is signed in before Firefox starts (profile.py): there is no accounts content
server here, so no web sign-in. Firefox runs headless; every connection not to 127.0.0.1
goes to a local sinkhole proxy that refuses and records it (none is expected: the profile's
prefs silence them). docs/firefox.md explains the set-up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from synctools import Sync

from .harness import Entries, SignedIn, session_auth, signed_in_firefox, storage, sync_errors

pytestmark = [pytest.mark.firefox, pytest.mark.slow]

FIREFOX = shutil.which("firefox-esr")


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[SignedIn]:
    if FIREFOX is None:
        reason = "firefox-esr is not installed (run .ci/install-firefox.sh)"
        if os.environ.get("SYNCTOOLS_REQUIRE_FIREFOX"):  # CI installs it: never skip there
            pytest.fail(f"SYNCTOOLS_REQUIRE_FIREFOX is set but {reason}")
        pytest.skip(reason)
    with signed_in_firefox(FIREFOX, tmp_path) as ff:
        yield ff
        # every test: nothing but the stack was reached, and Sync logged no error
        assert ff.sink.attempts == [], (
            f"Firefox tried to reach the internet; silence it in profile.py: {ff.sink.attempts}"
        )
        assert sync_errors(ff.profile) == [], (
            f"Firefox's Sync logged errors in {ff.profile / 'weave' / 'logs'}"
        )


def test_real_firefox_first_sync(firefox: SignedIn) -> None:
    ff = firefox
    entries = ff.sync_once()

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
    user_agent = ours[0]["headers"]["user-agent"]  # "Firefox/153.7.0 (Linux x86_64) FxSync/..."
    assert device["application"] == "Firefox" and f"Firefox/{device['version']} " in user_agent
    assert device["protocols"] == ["1.5"]
    # ...and it is the device Firefox registered with the accounts service
    devices = requests.get(
        ff.stack.auth_url + "/account/devices", headers=session_auth(ff.session["sessionToken"]), timeout=30
    ).json()
    assert device["fxaDeviceId"] in {d["id"] for d in devices}


QUIET_SECONDS = 5.0


def bookmarks_applied(entries: Entries) -> bool:
    """Firefox fetched bookmarks and then either went on to another storage request (the
    bookmarks engine applies what it downloaded before it uploads or the next engine
    starts) or fell quiet: on a later sync an engine whose collection did not change
    (history, say) makes no request at all, so silence is the other sign it is done."""
    got = [
        i for i, e in enumerate(entries) if e["method"] == "GET" and e["path"].endswith("/storage/bookmarks")
    ]
    if not got:
        return False
    if any(e["path"].startswith("/storage/") for e in entries[got[0] + 1 :]):
        return True
    return time.time() - float(entries[-1]["time"]) >= QUIET_SECONDS


def test_firefox_applies_a_bookmark_synctools_wrote(firefox: SignedIn) -> None:
    ff = firefox
    ff.sync_once()  # Firefox creates the account's storage and uploads its bookmark roots
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

    ff.sync_once(bookmarks_applied)  # Firefox restarted on the same profile syncs again at once

    with contextlib.closing(sqlite3.connect(f"file:{ff.profile / 'places.sqlite'}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT b.title, p.url, parent.guid FROM moz_bookmarks b JOIN moz_places p ON p.id = b.fk"
            " JOIN moz_bookmarks parent ON parent.id = b.parent WHERE b.guid = ?",
            (bookmark["id"],),
        ).fetchall()
    assert rows == [("Written by synctools", "https://example.com/synctools", "unfiled_____")]
