"""A real Firefox ESR makes its first sync against the embedded stack.

The profile is signed in before Firefox starts (tests/firefox/profile.py): there is no
accounts content server here, so no web sign-in. Firefox runs headless; every connection
not to 127.0.0.1 goes to a local sinkhole proxy that refuses it and records it (none is
expected: the profile's prefs silence them). What Firefox wrote is then read back
with synctools itself, with keys derived from kB — the promise that synctools and a real
Firefox understand each other's data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from synctools import Sync
from synctools.protocol import onepw
from synctools.protocol.keys import derive_sync_keys
from synctools.server import LocalStack

from .profile import FIREFOX_ENV, write_profile
from .sinkhole import Sinkhole

pytestmark = [pytest.mark.firefox, pytest.mark.slow]

FIREFOX = shutil.which("firefox-esr")
KEY_ROTATION = 1_793_880_000_000
# seconds. A signed-in profile syncs as soon as FxA is ready (sync_auth.sys.mjs's "login"
# sync): about a second after start here; the deadline only bounds a Firefox that never does.
FIRST_SYNC_DEADLINE = 120


@pytest.fixture
def firefox_binary() -> str:
    if FIREFOX is None:
        reason = "firefox-esr is not installed (run .ci/install-firefox.sh)"
        if os.environ.get("SYNCTOOLS_REQUIRE_FIREFOX"):  # CI installs it: never skip there
            pytest.fail(f"SYNCTOOLS_REQUIRE_FIREFOX is set but {reason}")
        pytest.skip(reason)
    return FIREFOX


def session_auth(session_token: str) -> dict[str, str]:
    creds = onepw.token_credentials(bytes.fromhex(session_token), "sessionToken")
    return {"Authorization": f"Bearer fxs_{creds.token_id}"}


def login(stack: LocalStack, email: str, password: str) -> dict[str, Any]:
    """A session as Firefox would have after signing in (onepw /account/login)."""
    stretched = onepw.quick_stretch_v1(email, password)
    r = requests.post(
        stack.auth_url + "/account/login?keys=true",
        json={"email": email, "authPW": onepw.auth_pw(stretched).hex(), "reason": "login"},
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


@contextlib.contextmanager
def running_firefox(binary: str, profile: Path, log: Path) -> Iterator[subprocess.Popen]:
    """Firefox in its own process group, so stopping it also stops its content processes."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--profile", str(profile), "about:blank"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **FIREFOX_ENV},
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def storage(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["path"].startswith("/storage/")]


def first_sync_done(entries: list[dict[str, Any]]) -> bool:
    """Firefox's first sync ends by re-uploading meta/global (with the engines it enabled)
    after its clients record: reference rows 20 and 33."""
    clients_posted = meta_updated = False
    for e in storage(entries):
        if e["method"] == "POST" and e["path"].endswith("/storage/clients") and e["status"] == 200:
            clients_posted = True
        if (
            clients_posted
            and e["method"] == "PUT"
            and e["path"].endswith("/storage/meta/global")
            and e["headers"].get("x-if-unmodified-since") not in (None, "0")
            and e["status"] == 200
        ):
            meta_updated = True
    return meta_updated


def wait_for_first_sync(
    stack: LocalStack, proc: subprocess.Popen, profile: Path, log: Path
) -> list[dict[str, Any]]:
    """The stack's request log once Firefox's first sync is done; fails at once when Firefox
    exits or logs a Sync error, else after FIRST_SYNC_DEADLINE."""
    deadline = time.monotonic() + FIRST_SYNC_DEADLINE
    while True:
        entries = stack.admin.requests()
        if first_sync_done(entries):
            return entries
        seen = [f"{e['method']} {e['path']} {e['status']}" for e in entries][-40:]
        errors = sorted(p.name for p in (profile / "weave" / "logs").glob("error-*"))
        if errors:
            pytest.fail(
                f"Firefox's Sync failed ({errors} in {profile / 'weave' / 'logs'}); the stack saw: {seen}"
            )
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"Firefox exited ({proc.returncode}) before syncing; its output: {tail}")
        if time.monotonic() > deadline:
            pytest.fail(f"no first sync within {FIRST_SYNC_DEADLINE} s; the stack saw: {seen}")
        time.sleep(0.5)


def test_real_firefox_first_sync(firefox_binary: str, tmp_path: Path) -> None:
    with LocalStack(demo=False) as stack, Sinkhole() as sink:
        email, password = f"firefox-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
        kb = secrets.token_bytes(32)
        account = stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=KEY_ROTATION)
        session = login(stack, email, password)
        keys = derive_sync_keys(kb, KEY_ROTATION)
        profile = tmp_path / "profile"
        write_profile(
            profile,
            stack,
            firefox=firefox_binary,
            email=email,
            uid=session["uid"],
            session_token=session["sessionToken"],
            oldsync_jwk=keys.to_jwk(),
            proxy_port=sink.port,
        )
        stack.admin.clear_requests()

        with running_firefox(firefox_binary, profile, tmp_path / "firefox.log") as proc:
            entries = wait_for_first_sync(stack, proc, profile, tmp_path / "firefox.log")

        # -- what Firefox sent resembles the reference trace (shared/reference/firefox-first-sync.md)
        seen = [(e["method"], e["path"].replace(f"/{account.storage_uid}/", "/{uid}/")) for e in entries]
        token = next(e for e in entries if e["path"] == "/token/1.0/sync/1.5")
        assert token["status"] == 200 and token["headers"]["authorization"].startswith("Bearer")
        assert token["headers"]["x-keyid"] == keys.kid
        oauth = [e for e in entries if e["path"] == "/v1/oauth/token"]
        assert oauth and all(e["headers"]["authorization"].startswith("Hawk") for e in oauth)
        assert ("POST", "/v1/account/device") in seen  # Firefox registered itself as a device
        ours = storage(entries)
        assert all("FxSync/" in e["headers"].get("user-agent", "") for e in ours)
        assert all(e["status"] < 400 or e["path"].endswith("/meta/global") for e in ours)
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
        assert all(
            e["headers"].get("x-confirm-delete") == "1" for e in ours if e["path"].endswith("/storage")
        )

        # -- nothing but the stack was reached (every other connection went to the sinkhole)
        assert sink.attempts == [], (
            f"Firefox tried to reach the internet; silence these in profile.py: {sink.attempts}"
        )
        errors = sorted(p.name for p in (profile / "weave" / "logs").glob("error-*"))
        assert errors == [], f"Firefox's Sync logged errors: {errors} in {profile / 'weave' / 'logs'}"

        # -- synctools reads what Firefox wrote, with keys derived from kB (not taken from Firefox)
        sync = Sync.local(stack, email=email, password=password)
        sync.authenticate()
        sync.exchange_token()
        assert sync.keys is not None and sync.keys.kid == keys.kid
        sync.fetch_info()
        mg = sync.fetch_meta_global()
        assert mg.meta_global.storage_version == 5
        assert {"clients", "bookmarks", "history", "tabs", "passwords"} <= set(mg.meta_global.engines)
        ck = sync.fetch_crypto_keys()
        assert ck.status == "ok"
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
            stack.auth_url + "/account/devices",
            headers=session_auth(session["sessionToken"]),
            timeout=30,
        ).json()
        assert device["fxaDeviceId"] in {d["id"] for d in devices}
