"""The doctor: checks a downloaded sync for the problems that break Firefox Sync, and
proposes fixes that go through the same review and commit as any edit.

>>> report = synctools.doctor.check(sync)      # runs the sync's stages up to download if needed
>>> report                                     # HTML in a notebook; str(report) in a terminal
>>> report.frame                               # one row per finding
>>> report.stage_fixes(sync)                   # or finding.stage(sync), one at a time
>>> sync.merge(); plan = sync.plan_upload()    # review the plan, then
>>> sync.commit(plan)
>>> report.anonymized()                        # findings + record shapes, safe to share

Checks (ids in :data:`CHECKS`, one row each in docs/doctor.md): setup (meta/global,
engines vs collections, crypto/keys), records (wrong key vs altered HMAC, damaged
payloads, size limits, ttl), bookmarks (every problem kind of Firefox's bookmark
validator and of dogear, URLs as Firefox parses them, what Firefox deletes, duplicates),
clients and tabs (against the account's device list, stale devices), history, logins
(application-services' rules, Firefox's duplicate rule), forms and add-ons. With
``profile=``, the device checks read a Firefox profile: records never uploaded, engines
that disagree with meta/global, a stale storage node, failing syncs, backoff, 401 loops,
clock skew, records Firefox refused (docs/device.md).

Each check runs on its own: a check that raises becomes one ``doctor.check-failed``
finding naming the record, and the report keeps every other finding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..states import MAIN_LINE, STOPPED, Event, State
from . import addons, bookmark_items, bookmarks, content, device, devices, logins, records, setup
from .context import Context, failure
from .model import CHECKS, SEVERITIES, CheckInfo, Finding, Fix, Link, Op, Report
from .server import check_server as check_server  # a self-hosted server, link by link

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

__all__ = ["CHECKS", "SEVERITIES", "CheckInfo", "Finding", "Fix", "Link", "Op", "Report", "check", "check_setup"]

CheckFn = Callable[[Context], Iterator[Finding]]
_SETUP: list[CheckFn] = [setup.check_setup]
_DATA: list[CheckFn] = [
    records.check_crypto,
    records.check_invalid,
    records.check_sizes,
    records.check_ttl,
    *bookmarks.CHECKS,
    *bookmark_items.CHECKS,
    *devices.CHECKS,
    content.check_history,
    *logins.CHECKS,
    content.check_forms,
    addons.check_addons,
]
#: checks of a Firefox profile, run when check(sync, profile=...) is given one
_DEVICE: list[Callable[[Context, Any], Iterator[Finding]]] = [device.check_device]


def _prepare(sync: Sync, *, until: Event, refresh: bool) -> None:
    """Run the stages the checks need, never past ``until`` and never a commit."""
    if sync.state in STOPPED:
        return
    if refresh and sync.state not in (State.NEW, State.AUTHENTICATED):
        sync.fetch_info()
        sync.fetch_meta_global()
        if sync.state in STOPPED:
            return
        sync.fetch_crypto_keys()
        if until is Event.DOWNLOAD and sync.state not in STOPPED:
            sync.download()
        return
    done = State.READY if until is Event.FETCH_CRYPTO_KEYS else State.DOWNLOADED
    if sync.state not in MAIN_LINE[MAIN_LINE.index(done) :]:
        sync.run(until=until.value)


def check(sync: Sync, *, now: float | None = None, refresh: bool = False,
          only: Iterable[str] | None = None, profile: Any = None,
          devices: list[dict[str, Any]] | None = None) -> Report:  # fmt: skip
    """Check everything the sync downloaded; run its stages up to ``download`` first if
    needed. ``refresh=True`` reads the server again (after a commit, say). ``now`` (Unix
    seconds) is the clock for ages; ``only`` limits the checks to ids or prefixes such
    as ``"bookmarks."``. ``profile`` (a :class:`synctools.device.Profile` or its folder)
    adds the device checks (``device.*``): its data, prefs and sync logs. ``devices`` is
    the account's device list when you have it (else it is read from the accounts server
    with the sync's session, if it can be)."""
    _prepare(sync, until=Event.DOWNLOAD, refresh=refresh)
    return _run(sync, _SETUP + _DATA, now, only, devices, profile)


def check_setup(sync: Sync, *, now: float | None = None, refresh: bool = False) -> Report:
    """Only the setup checks (meta/global, engines, crypto/keys): no collection is downloaded."""
    _prepare(sync, until=Event.FETCH_CRYPTO_KEYS, refresh=refresh)
    return _run(sync, _SETUP, now, None, None)


def run_check(fn: CheckFn, ctx: Context) -> list[Finding]:
    """Every finding ``fn`` yields; if it raises, those it yielded so far and one
    ``doctor.check-failed`` finding that names the check, the record and the error."""
    out: list[Finding] = []
    ctx.current = None
    try:
        for finding in fn(ctx):
            out.append(finding)
    except Exception as exc:
        coll, rid = ctx.current or (None, "")
        name = getattr(fn, "__name__", str(fn))
        out.append(failure(f"{fn.__module__.rsplit('.', 1)[-1]}.{name}", coll, [(rid, exc)]))
    ctx.current = None
    return out


def _with_profile(fn: Callable[[Context, Any], Iterator[Finding]], profile: Any) -> CheckFn:
    def run(ctx: Context) -> Iterator[Finding]:
        return fn(ctx, profile)

    run.__name__, run.__module__ = fn.__name__, fn.__module__
    return run


def _run(sync: Sync, checks: list[CheckFn], now: float | None, only: Iterable[str] | None,
         devices: list[dict[str, Any]] | None, profile: Any = None) -> Report:  # fmt: skip
    started = time.perf_counter()
    ctx = Context(sync, now, devices=devices)
    wanted = list(only) if only is not None else None
    if profile is not None:
        checks = checks + [_with_profile(fn, profile) for fn in _DEVICE]
    findings = [f for fn in checks for f in run_check(fn, ctx)]
    if wanted is not None:
        findings = [f for f in findings if f.check == "doctor.check-failed"  # a failure is never filtered away
                    or any(f.check == w or (w.endswith(".") and f.check.startswith(w)) for w in wanted)]  # fmt: skip
    return Report(findings, sync=sync, checked=ctx.downloaded, skipped=ctx.skipped,
                  seconds=time.perf_counter() - started)  # fmt: skip
