"""Device checks: what a Firefox profile (its data, prefs and sync logs) says is wrong.

Run by ``doctor.check(sync, profile=...)`` after the server checks. Each finding cites
where it comes from: the record ids (and their ``syncStatus``/counters), or the log
line as ``file:line: message`` in ``facts["cite"]`` and in the explanation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from synctools.device import DeviceError, Profile
from synctools.device.logs import engine_of, recognise

from .context import Context
from .model import Finding, register

UNREADABLE = register(
    "device.unreadable", "error", "a file of the Firefox profile cannot be read (damaged, truncated, another format)"
)
OTHER_ACCOUNT = register(
    "device.other-account", "error", "the profile is signed in to another account than the one checked"
)
NEVER_UPLOADED = register(
    "device.never-uploaded",
    "warning",
    "local bookmarks or logins that Firefox never uploaded (syncStatus NEW, or changes still counted) "
    "and the server lacks",
)
ENGINES_DISAGREE = register(
    "device.engines-disagree", "warning", "an engine enabled on the device but declined in meta/global, or the reverse"
)
CLUSTER = register(
    "device.cluster-mismatch", "warning", "the storage node Firefox last used is not the one the tokenserver gives now"
)
FAILING = register("device.sync-failing", "error", "the device's last syncs failed")
BACKOFF = register(
    "device.backoff",
    "warning",
    "the server asked the device to back off (Retry-After, X-Weave-Backoff) and the wait is not over",
)
AUTH_LOOP = register(
    "device.auth-401-loop", "error", "syncs keep failing with 401 (Firefox's 'Last sync also failed for 401')"
)
CLOCK = register("device.clock-skew", "warning", "the device's clock is far from the server's (Hawk's clock offset)")
REFUSED = register(
    "device.records-refused",
    "warning",
    "records Firefox refused to apply or upload, with its reason (invalid url, unknown type, …)",
)

SKEW_MS = 60_000  # Hawk accepts a minute either way; beyond it requests start to fail
RECENT = 5  # syncs looked at for failures and refused records


def check_device(ctx: Context, profile: Profile | str) -> Iterator[Finding]:
    try:
        p = profile if isinstance(profile, Profile) else Profile(profile)
    except DeviceError as exc:
        yield Finding(UNREADABLE, "error", None, [], str(exc), facts={"cite": str(profile)})
        return
    for check in (_account, _never_uploaded, _engines, _cluster, _syncs):
        try:
            yield from check(ctx, p)
        except DeviceError as exc:  # one unreadable file stops only the checks that need it
            yield Finding(UNREADABLE, "error", None, [], f"{exc} ({check.__name__.strip('_')} not checked)",
                          facts={"cite": getattr(exc, "path", str(p.path))})  # fmt: skip


def _account(ctx: Context, p: Profile) -> Iterator[Finding]:
    acct = p.account()
    session = getattr(ctx.sync, "session", None)
    mine = getattr(session, "email", None) or getattr(getattr(ctx.sync, "_credentials", None), "email", None)
    if acct.empty or not mine:
        return
    theirs = acct["email"].iloc[0]
    if isinstance(theirs, str) and theirs.lower() != mine.lower():
        yield Finding(OTHER_ACCOUNT, "error", None, [],
                      f"The profile is signed in as {theirs}, but the sync checked is {mine}'s: comparing them would "
                      "report everything as missing. Check the profile of the same account.",
                      facts={"cite": f"{p.path / 'signedInUser.json'}"})  # fmt: skip


def _last_success(p: Profile) -> Any:
    s = p.syncs()
    ok = s[s["outcome"] == "success"]
    return ok["end"].max() if len(ok) else None


def _never_uploaded(ctx: Context, p: Profile) -> Iterator[Finding]:
    last_ok = _last_success(p)
    server = ctx.sync.records("bookmarks") if "bookmarks" in ctx.downloaded else None
    bm = p.bookmarks()
    live = bm[
        (bm["deleted"] == False)  # noqa: E712
        & (bm["syncable"] == True)  # noqa: E712
        & ~bm["id"].isin(["places", "menu", "toolbar", "unfiled", "mobile"])
    ]
    new = live[live["sync_status"] == "new"]
    if server is not None:
        new = new[~new["id"].isin(list(server))]
    stuck = live[(live["sync_status"] != "new") & (live["sync_change_counter"].fillna(0) > 0)]
    if last_ok is not None:
        stuck = stuck[stuck["last_modified"] < last_ok]  # changed before a sync that worked, still counted
    else:
        stuck = stuck.iloc[0:0]
    for frame, what in (
        (new, "never uploaded (syncStatus NEW) and not on the server"),
        (stuck, "changed before the last successful sync and still waiting (syncChangeCounter > 0)"),
    ):
        if len(frame):
            ids = frame["id"].tolist()
            rows = "; ".join(
                f"{r.id} {r.title!r} (syncStatus {r.sync_status}, counter {r.sync_change_counter})"
                for r in frame.head(5).itertuples()
            )
            yield Finding(
                NEVER_UPLOADED,
                "warning",
                "bookmarks",
                ids,
                f"{len(ids)} bookmark item(s) in places.sqlite {what}: {rows}. Firefox uploads them on its "
                "next successful sync; if they stay, the device's syncs are failing (see device.sync-failing).",
                facts={"cite": f"places.sqlite moz_bookmarks guid {', '.join(ids[:5])}", "count": len(ids)},
            )
    logins = p.logins()
    waiting = logins[
        (logins["syncable"] == True)  # noqa: E712
        & (logins["deleted"] == False)  # noqa: E712
        & (logins["sync_counter"].fillna(0) > 0)
    ]
    if "passwords" in ctx.downloaded:
        waiting = waiting[~waiting["id"].isin(list(ctx.sync.records("passwords")))]
    if len(waiting):
        ids = waiting["id"].tolist()
        rows = "; ".join(
            f"{r.id} for {r.origin} (syncCounter {r.sync_counter}, everSynced {r.ever_synced})"
            for r in waiting.head(5).itertuples()
        )
        yield Finding(NEVER_UPLOADED, "warning", "passwords", ids,
                      f"{len(ids)} login(s) in logins.json wait to be uploaded and the server lacks them: {rows}.",
                      facts={"cite": f"logins.json guid {', '.join(ids[:5])}", "count": len(ids)})  # fmt: skip


def _engines(ctx: Context, p: Profile) -> Iterator[Finding]:
    meta = ctx.meta
    if meta is None:
        return
    settings = p.settings
    if not settings.configured:
        return
    for name, on in sorted(settings.engines.items()):
        if name not in meta.engines and name not in meta.declined:
            continue
        if on and name in meta.declined and name not in settings.declined:
            yield Finding(
                ENGINES_DISAGREE,
                "warning",
                name,
                [],
                f"{name} is enabled on this device (services.sync.engine.{name}) but declined in meta/global: "
                "the device will either stop syncing it or accept it again for every device on its next sync. "
                "Decide which: decline it here too, or accept it in meta/global.",
                facts={"engine": name, "cite": f"prefs.js services.sync.engine.{name}"},
            )
        elif not on and name in meta.engines and name not in meta.declined:
            yield Finding(ENGINES_DISAGREE, "warning", name, [],
                          f"{name} is switched off on this device (services.sync.engine.{name} false) but enabled in "
                          "meta/global, so this device does not sync it while the others do.",
                          facts={"engine": name, "cite": f"prefs.js services.sync.engine.{name}"})  # fmt: skip


def _cluster(ctx: Context, p: Profile) -> Iterator[Finding]:
    token = getattr(ctx.sync, "token", None)
    now = getattr(token, "api_endpoint", None)
    if not now:
        return
    log = p.log()
    lines = log[log["event"] == "cluster"]
    used, cite = p.settings.cluster_url, "prefs.js services.sync.clusterURL"
    if len(lines):
        last = lines.iloc[-1]
        used, cite = (
            last["message"].split("Setting cluster to ", 1)[1].strip(),
            f"{last['file']}:{last['line']}: {last['message']}",
        )
    if used and used.rstrip("/") != now.rstrip("/"):
        yield Finding(
            CLUSTER,
            "warning",
            None,
            [],
            f"Firefox last synced with the storage node {used}, but the tokenserver now gives {now}: the "
            f"account moved (node reassignment). Firefox follows on its next sync after a 401; if it keeps "
            f"failing, sign out and in again. Cited: {cite}",
            facts={"cite": cite, "used": used, "now": now},
        )


def _syncs(ctx: Context, p: Profile) -> Iterator[Finding]:
    s = p.syncs()
    if s.empty:
        return
    recent = s.tail(RECENT)
    failed = 0
    for r in reversed(list(s.itertuples())):
        if r.outcome != "error":
            break
        failed += 1
    last = s.iloc[-1]
    if failed:
        why = last["status"] if isinstance(last["status"], str) else "an error"
        errs = last["http_errors"] or last["errors"] or []
        cite = f"{last['id']}" + (f" ({errs[0]})" if errs else "")
        yield Finding(
            FAILING,
            "error" if failed > 1 else "warning",
            None,
            [],
            f"The last {failed} sync(s) of this device failed, the latest at {last['start']:%Y-%m-%d %H:%M:%S} UTC "
            f"with {why}. Cited: {cite}",
            facts={"cite": cite, "failed": failed, "status": why},
        )
    wait = [
        (r.start, r.retry_after, r.backoff, r.id)
        for r in recent.itertuples()
        if pd.notna(r.retry_after) or pd.notna(r.backoff)
    ]
    if wait:
        start, retry, backoff, sid = wait[-1]
        seconds = max(int(retry) if pd.notna(retry) else 0, int(backoff) if pd.notna(backoff) else 0)
        until = start + pd.Timedelta(seconds=seconds)
        if until.timestamp() > ctx.now:
            yield Finding(BACKOFF, "warning", None, [],
                          f"The server asked this device to wait {seconds} s (Retry-After/backoff) at "
                          f"{start:%H:%M:%S} UTC: it will not sync before {until:%Y-%m-%d %H:%M:%S} UTC. Cited: {sid}",
                          facts={"cite": sid, "seconds": seconds, "until": until.isoformat()})  # fmt: skip
    loops = s[s["auth_401"].fillna(0) > 0]
    if len(loops) >= 2 or any("also failed for 401" in m for m in p.log()["message"].dropna()):
        cite = ", ".join(loops["id"].tail(3))
        yield Finding(
            AUTH_LOOP,
            "error",
            None,
            [],
            f"{len(loops)} sync(s) got 401 from the storage node ({cite}): the token is refused again and again. "
            "Usually the node was reassigned or the account's keys changed: sign out of Sync and in again.",
            facts={"cite": cite, "syncs": len(loops)},
        )
    skew = s["clock_skew_ms"].dropna()
    if len(skew) and abs(int(skew.iloc[-1])) > SKEW_MS:
        log = p.log()
        line = log[log["event"] == "clock_skew"].iloc[-1]
        cite = f"{line['file']}:{line['line']}: {line['message']}"
        yield Finding(CLOCK, "warning", None, [],
                      f"The device's clock is {abs(int(skew.iloc[-1])) / 1000:.0f} s away from the server's; Hawk "
                      f"requests and tokens fail beyond a minute. Set the clock right. Cited: {cite}",
                      facts={"cite": cite, "offset_ms": int(skew.iloc[-1])})  # fmt: skip
    refused: dict[str, list[str]] = {}
    for r in recent.itertuples():
        for line in r.record_errors or []:
            refused.setdefault(line.split(": ", 1)[1] if ": " in line else line, []).append(line)
    log = p.log()
    where = {f"{r.file}:{r.line}": r.logger for r in log.itertuples() if r.event == "record_error"}
    for message, cites in refused.items():
        _, values = recognise(message)
        engine = engine_of(where.get(cites[-1].split(": ", 1)[0]))
        collection = {"bookmarks-buffered": "bookmarks"}.get(engine or "", engine)
        yield Finding(
            REFUSED,
            "warning",
            collection,
            [values["id"]] if "id" in values else [],
            f"Firefox refused a record: {message} ({len(cites)} time(s) in the last {len(recent)} syncs). Cited: "
            f"{cites[-1]}",
            facts={"cite": cites[-1], "times": len(cites)},
        )
