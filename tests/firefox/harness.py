"""Run a real Firefox against the embedded stack and read what became of its syncs.

``signed_in_firefox(binary, tmp)`` starts a stack with a fresh account and writes a Firefox
profile already signed in to it (profile.py); ``SignedIn.sync_once(until)`` starts Firefox,
waits until ``until(outcome so far)`` (by default: one sync ended and its log is written),
quits Firefox and returns the launch's ``SyncOutcome`` (outcome.py).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from synctools.device.logs import log_files
from synctools.protocol import onepw
from synctools.protocol.keys import SyncKeys, derive_sync_keys
from synctools.server import LocalStack
from synctools.server.admin import AccountInfo

from .logrules import Rule
from .marionette import PORT_FILE, Marionette, MarionetteError
from .outcome import SyncOutcome, read_outcome, sync_problem
from .profile import FIREFOX_ENV, write_profile
from .sinkhole import Sinkhole

KEY_ROTATION = 1_793_880_000_000
# seconds. A signed-in profile syncs as soon as FxA is ready (sync_auth.sys.mjs's "login"
# sync): about a second after start here; the deadline only bounds a Firefox that never does.
SYNC_DEADLINE = 120
QUIT_DEADLINE = 60
POLL = 0.25
SETTLE = 2  # looks, POLL apart

Entries = list[dict[str, Any]]
Until = Callable[[SyncOutcome], bool]


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


@contextlib.contextmanager
def running_firefox(binary: str, profile: Path, log: Path) -> Iterator[subprocess.Popen]:
    """Firefox in its own process group, quit through Marionette on the way out
    (Marionette.quit: a signal would end it without its shutdown, leaving prefs.js stale).
    Fails the test if Firefox does not quit cleanly within QUIT_DEADLINE."""
    (profile / PORT_FILE).unlink(missing_ok=True)  # left over if a previous Firefox died
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--marionette", "--profile", str(profile), "about:blank"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **FIREFOX_ENV},
        )
        unclean = None
        try:
            yield proc
        finally:
            unclean = _quit(proc, profile)
    if unclean:
        pytest.fail(f"Firefox did not quit cleanly ({unclean}); its output is in {log}")


def _quit(proc: subprocess.Popen, profile: Path) -> str | None:
    """Quit Firefox; the reason it had to be killed instead, if it was."""
    why = None
    if proc.poll() is None:
        try:
            Marionette(profile, timeout=QUIT_DEADLINE, chrome=False).quit()
            proc.wait(timeout=QUIT_DEADLINE)
        except (OSError, MarionetteError, subprocess.TimeoutExpired) as exc:
            why = f"{type(exc).__name__}: {exc}"
    with contextlib.suppress(ProcessLookupError):  # whatever is left of its process group
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    return why


class Logs:
    """The sync logs one Firefox run added to the profile, as they settle: Firefox writes a
    log file asynchronously after its sync ended, so a file counts once it ends with a full
    line and its size held still for SETTLE looks in a row."""

    def __init__(self, profile: Path):
        self.folder = profile / "weave" / "logs"
        self.before = set(log_files(self.folder))
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (size, looks it held still)

    def settled(self) -> list[Path]:
        out = []
        for path in self.all():
            size = path.stat().st_size
            last, still = self._seen.get(path, (-1, 0))
            still = still + 1 if size == last else 0
            self._seen[path] = (size, still)
            if still >= SETTLE and size and _ends_with_newline(path):
                out.append(path)
        return out

    def all(self) -> list[Path]:
        return [p for p in log_files(self.folder) if p not in self.before]


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def first_sync_done(entries: Entries) -> bool:
    """From the stack's side: Firefox's first sync re-uploaded meta/global (with the engines
    it enabled) after its clients record, reference rows 20 and 33. ``sync_once`` waits for
    Firefox's own end-of-sync log instead; this is for tests that drive Firefox themselves."""
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


def synced_once(outcome: SyncOutcome) -> bool:
    """A sync ended (completed or failed) and its log is written."""
    return not outcome.syncs.empty


def synced(engine: str) -> Until:
    """A sync that ran ``engine`` (whatever it found to do, or failed in it) ended."""
    return lambda outcome: not outcome.ran(engine).empty


@dataclass
class SignedIn:
    """An account on a running stack and a Firefox profile signed in to it.

    ``profile`` is a real Firefox profile (weave/logs holds one log per sync, prefs.js the
    sync prefs, places.sqlite the bookmarks and history); ``sync_once`` runs Firefox on it
    until a sync has ended and gives that launch's ``SyncOutcome``."""

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
    outcomes: list[SyncOutcome] = field(default_factory=list)
    allowed_attempts: list[str] = field(default_factory=list)  # sinkhole request lines a test expects

    def sync_once(self, until: Until = synced_once, planted: Iterable[Rule] = ()) -> SyncOutcome:
        """Start Firefox on the profile (a signed-in profile syncs about a second after start),
        wait until ``until(outcome so far)``, quit Firefox, and return the launch's outcome,
        read after Firefox quit (so prefs.js is current). Not checked: call ``.check()``."""
        planted = tuple(planted)
        self.stack.admin.clear_requests()
        logs = Logs(self.profile)
        since = datetime.now(UTC)
        deadline = time.monotonic() + SYNC_DEADLINE
        with running_firefox(self.binary, self.profile, self.log) as proc:
            while True:
                so_far = read_outcome(self.profile, logs.settled(), planted=planted, prefs=False)
                if until(so_far):
                    break
                if proc.poll() is not None:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    pytest.fail(f"Firefox exited ({proc.returncode}) before syncing; its output: {tail}")
                if time.monotonic() > deadline:
                    seen = [f"{e['method']} {e['path']} {e['status']}" for e in self.stack.admin.requests()]
                    ended = [sync_problem(s) or "ok" for _, s in so_far.syncs.iterrows()]
                    pytest.fail(
                        f"no sync ended as expected within {SYNC_DEADLINE} s ({len(ended)} ended: "
                        f"{ended}); the stack saw: {seen[-40:]}"
                    )
                time.sleep(POLL)
        outcome = read_outcome(
            self.profile, logs.all(), requests=self.stack.admin.requests(), planted=planted, since=since
        )
        self.outcomes.append(outcome)
        return outcome


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
        yield SignedIn(stack, sink, binary, profile, tmp / "firefox.log", email, password, keys, account, session)
