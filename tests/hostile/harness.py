"""One run against the hostile proxy: a whole login → download → commit, then the checks
every outcome must pass, whatever the server did."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from synctools import Sync, net
from synctools.errors import SynctoolsError
from synctools.protocol.bso import ServerTime
from synctools.states import StageOrderError

from .conftest import PAGE_SIZE, Account, ProxiedStack
from .proxy import Rule

SECRET_KEYS = frozenset({
    "sessionToken", "keyFetchToken", "keyFetchTokenVersion2", "id", "key", "access_token",
    "refresh_token", "bundle", "keyRotationSecret", "authPW",
})  # fmt: skip
WINDOW = 12  # no 12 characters in a row of a secret may show anywhere


@dataclass
class Outcome:
    sync: Sync
    error: BaseException | None
    phase: str  # how far it got: "download" (failed there), "stopped", "commit", "done"
    edited: str | None = None
    notes: list[str] = field(default_factory=list)


def drive(proxied: ProxiedStack, account: Account, rule: Rule | None, *, deadline: float = 3.0) -> Outcome:
    """Log in, download everything, edit one healthy bookmark and commit it."""
    proxied.proxy.arm(rule)
    saved = getattr(net.http, "DEFAULT_DEADLINE", 120.0)  # (absent before the deadline existed)
    net.http.DEFAULT_DEADLINE = deadline  # every client this Sync builds gets it
    try:
        sync = Sync.local(proxied, email=account.email, password=account.password, page_size=PAGE_SIZE)
        outcome = Outcome(sync, None, "download")
        try:
            sync.run(until="download")
            if "download" not in sync.results:  # stopped on purpose (say, a fresh start is needed)
                outcome.phase = "stopped"
                outcome.notes.append(f"stopped in state {sync.state.value}")
                return outcome
            outcome.phase = "commit"
            healthy = sorted(sync.records("bookmarks"))
            if not healthy:
                outcome.phase = "done"
                return outcome
            outcome.edited = healthy[0]
            sync.edit("bookmarks", healthy[0], {"title": "edited through a hostile proxy"})
            sync.merge()
            sync.commit(sync.plan_upload())
            outcome.phase = "done"
        except Exception as exc:  # noqa: BLE001 - judged by check()
            outcome.error = exc
        return outcome
    finally:
        net.http.DEFAULT_DEADLINE = saved


def secrets_seen(proxied: ProxiedStack, account: Account) -> set[str]:
    """Every credential the stack handed out in this run (as the proxy saw it) and the password."""
    found = {account.password}
    for body in proxied.proxy.credential_bodies:
        try:
            data = json.loads(body)
        except ValueError:
            continue
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for k, v in item.items():
                    if k in SECRET_KEYS and isinstance(v, str) and len(v) >= 16 and len(set(v)) >= 8:
                        found.add(v)
                    stack.append(v)
            elif isinstance(item, list):
                stack.extend(item)
    return found


def texts_of(outcome: Outcome) -> list[str]:
    """Everything a person (or a log) could see of the outcome."""
    out = [outcome.sync.trace_log.dump_text(), repr(outcome.sync)]
    seen: set[int] = set()
    exc = outcome.error
    while exc is not None and id(exc) not in seen:  # the whole chain, suppressed context too
        seen.add(id(exc))
        out += [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
        response = getattr(exc, "response", None)
        if response is not None:
            out += [repr(response), str(getattr(response, "body", ""))]
        exc = exc.__cause__ or exc.__context__
    if outcome.error is not None:
        out.append("".join(traceback.format_exception(outcome.error)))
    return out


def leaks(secrets: set[str], texts: list[str]) -> list[str]:
    blob = "\n".join(texts)
    found = []
    for secret in secrets:
        if any(secret[i : i + WINDOW] in blob for i in range(len(secret) - WINDOW + 1)):
            found.append(f"{secret[:4]}… ({len(secret)} chars)")
    return found


def _refused_after_a_cut_read(outcome: Outcome, err: BaseException) -> bool:
    """The download warned that a collection changed while it was read (a 412 mid-read),
    and the commit then refused to write there until it is downloaded again: the promise
    that no record is replaced unseen, kept (found by the long client fuzz)."""
    download = outcome.sync.results.get("download")
    cut = {r["collection"] for r in getattr(download, "collections", []) if r.get("errors") == "changed during read"}
    text = str(err)
    return (
        outcome.phase == "commit"
        and isinstance(err, StageOrderError)
        and any(f"{c} has records on the server that were not downloaded" in text for c in cut)
        and "sync.download(" in text
    )


def problems(outcome: Outcome, proxied: ProxiedStack, account: Account, needle: str | tuple[str, ...] | None,
             words: tuple[str, ...] = (), *, complete: bool = True) -> list[str]:  # fmt: skip
    """What is wrong with an outcome (empty: all promises kept). An error must name the
    endpoint (``needle``, or one of several), and say what was wrong (one of ``words``).
    ``complete=False``: the server claimed, consistently, that a read was over early (no
    X-Weave-Next-Offset): no client can tell that from a collection that ends there."""
    out: list[str] = []
    err = outcome.error
    if err is not None:
        if not isinstance(err, SynctoolsError):
            tb = "".join(traceback.format_exception(err))
            return [f"a generic exception in phase {outcome.phase}: {type(err).__name__}: {err}\n{tb}"]
        text = str(err)
        needles = (needle,) if isinstance(needle, str) else needle or ()
        if _refused_after_a_cut_read(outcome, err):
            needles = ()  # a safety refusal, not an answer's error: it names the collection and the cure
        if needles and not any(n in text for n in needles):
            out.append(f"the error does not name the endpoint {needles[0]!r}: {type(err).__name__}: {text}")
        if words and not any(w.lower() in text.lower() for w in words):
            out.append(f"the error does not say what was wrong ({' / '.join(words)}): {text}")
    elif outcome.phase == "done" and complete:
        # Honest: every record the server holds is a row, malformed ones with their error
        # (unless the download said it stopped reading a collection, and why).
        download = outcome.sync.results["download"]
        read = {r["collection"] for r in download.collections if r.get("errors") != "changed during read"}
        for collection, n in account.counts.items():
            if collection not in read:  # said why (changed during read), or the server hid it
                continue
            rows = len(outcome.sync.frame(collection))
            if rows < n:
                out.append(f"{collection}: {rows} rows for {n} records on the server (dropped)")
    leaked = leaks(secrets_seen(proxied, account), texts_of(outcome))
    if leaked:
        out.append(f"secrets shown: {leaked}")
    # A corrupt server time never becomes a write guard.
    store = outcome.sync.store
    if store is not None:
        limit = ServerTime.parse(int(time.time()) + 24 * 3600)
        for collection in account.counts:
            if store.last_sync(collection) > limit:
                out.append(f"{collection}: a server time in the future was kept as the write guard")
    return out
