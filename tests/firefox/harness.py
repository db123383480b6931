"""Run a real Firefox against the embedded stack and watch what it asks of it.

``signed_in_firefox(binary, tmp)`` starts a stack with a fresh account and writes a Firefox
profile already signed in to it (profile.py); ``SignedIn.sync_once(done)`` starts Firefox,
waits until ``done(requests the stack answered)`` and stops Firefox again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from synctools.protocol import onepw
from synctools.protocol.keys import SyncKeys, derive_sync_keys
from synctools.server import LocalStack
from synctools.server.admin import AccountInfo

from .profile import FIREFOX_ENV, write_profile
from .sinkhole import Sinkhole

KEY_ROTATION = 1_793_880_000_000
# seconds. A signed-in profile syncs as soon as FxA is ready (sync_auth.sys.mjs's "login"
# sync): about a second after start here; the deadline only bounds a Firefox that never does.
SYNC_DEADLINE = 120

Entries = list[dict[str, Any]]


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


def storage(entries: Entries) -> Entries:
    return [e for e in entries if e["path"].startswith("/storage/")]


def first_sync_done(entries: Entries) -> bool:
    """Firefox's first sync ends by re-uploading meta/global (with the engines it enabled)
    after its clients record: reference rows 20 and 33."""
    clients_posted = False
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
            return True
    return False


@contextlib.contextmanager
def running_firefox(binary: str, profile: Path, log: Path) -> Iterator[subprocess.Popen]:
    """Firefox in its own process group, so stopping it also stops its content processes.
    SIGTERM makes Firefox quit normally (its databases are complete afterwards)."""
    with log.open("ab") as out:
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


def wait_for(
    done: Callable[[Entries], bool], stack: LocalStack, proc: subprocess.Popen, profile: Path, log: Path
) -> Entries:
    """The stack's request log once ``done(log)``; fails at once when Firefox exits or logs
    a Sync error, else after SYNC_DEADLINE."""
    deadline = time.monotonic() + SYNC_DEADLINE
    while True:
        entries = stack.admin.requests()
        if done(entries):
            return entries
        seen = [f"{e['method']} {e['path']} {e['status']}" for e in entries][-40:]
        errors = sync_errors(profile)
        if errors:
            pytest.fail(
                f"Firefox's Sync failed ({errors} in {profile / 'weave' / 'logs'}); the stack saw: {seen}"
            )
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"Firefox exited ({proc.returncode}) before syncing; its output: {tail}")
        if time.monotonic() > deadline:
            pytest.fail(f"Firefox did not sync within {SYNC_DEADLINE} s; the stack saw: {seen}")
        time.sleep(0.5)


def sync_errors(profile: Path) -> list[str]:
    """Sync writes weave/logs/error-*.txt for every sync that failed."""
    return sorted(p.name for p in (profile / "weave" / "logs").glob("error-*"))


@dataclass
class SignedIn:
    """An account on a running stack and a Firefox profile signed in to it."""

    stack: LocalStack
    sink: Sinkhole
    binary: str
    profile: Path
    log: Path
    email: str
    password: str
    keys: SyncKeys
    account: AccountInfo
    session: dict[str, Any]

    def sync_once(self, done: Callable[[Entries], bool] = first_sync_done) -> Entries:
        """Start Firefox on the profile, wait until ``done(requests since start)``, stop it."""
        self.stack.admin.clear_requests()
        with running_firefox(self.binary, self.profile, self.log) as proc:
            return wait_for(done, self.stack, proc, self.profile, self.log)


@contextlib.contextmanager
def signed_in_firefox(binary: str, tmp: Path) -> Iterator[SignedIn]:
    """A stack, a fresh account with a random kB, and a profile signed in to it."""
    with LocalStack(demo=False) as stack, Sinkhole() as sink:
        email, password = f"firefox-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
        kb = secrets.token_bytes(32)
        account = stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=KEY_ROTATION)
        session = login(stack, email, password)
        keys = derive_sync_keys(kb, KEY_ROTATION)
        profile = tmp / "profile"
        write_profile(
            profile,
            stack,
            firefox=binary,
            email=email,
            uid=session["uid"],
            session_token=session["sessionToken"],
            oldsync_jwk=keys.to_jwk(),
            proxy_port=sink.port,
        )
        yield SignedIn(
            stack, sink, binary, profile, tmp / "firefox.log", email, password, keys, account, session
        )
