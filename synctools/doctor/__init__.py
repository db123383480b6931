"""The doctor: checks a downloaded sync for the problems that break Firefox Sync, and
proposes fixes that go through the same review and commit as any edit.

>>> report = synctools.doctor.check(sync)      # runs the sync's stages up to download if needed
>>> report                                     # HTML in a notebook; str(report) in a terminal
>>> report.frame                               # one row per finding
>>> report.stage_fixes(sync)                   # or finding.stage(sync), one at a time
>>> sync.merge(); plan = sync.plan_upload()    # review the plan, then
>>> sync.commit(plan)
>>> report.anonymized()                        # findings + record shapes, safe to share

Checks (ids in :data:`CHECKS`): setup (meta/global, engines vs collections, crypto/keys),
records (wrong key vs altered HMAC, damaged payloads, size limits, ttl), bookmarks
(roots, orphans, parent/children disagreement, cycles, duplicates, malformed items),
clients and tabs (stale devices, duplicate names, tabs without a device, devices whose
tabs expired), history (invalid urls, impossible visits) and passwords (no origin,
duplicates). With ``profile=``, the device checks read a Firefox profile: records never
uploaded, engines that disagree with meta/global, a stale storage node, failing syncs,
backoff, 401 loops, clock skew, records Firefox refused (docs/device.md). See docs/doctor.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import bookmarks, content, device, devices, records, setup
from .context import Context
from .model import CHECKS, SEVERITIES, CheckInfo, Finding, Fix, Op, Report

if TYPE_CHECKING:  # pragma: no cover
    from synctools.machine import Sync

__all__ = ["CHECKS", "SEVERITIES", "CheckInfo", "Finding", "Fix", "Op", "Report", "check", "check_setup"]

_SETUP: list[Callable[[Context], Iterator[Finding]]] = [setup.check_setup]
_DATA: list[Callable[[Context], Iterator[Finding]]] = [
    records.check_crypto,
    records.check_invalid,
    records.check_sizes,
    records.check_ttl,
    bookmarks.check_bookmarks,
    devices.check_devices,
    content.check_history,
    content.check_passwords,
]
#: checks of a Firefox profile, run when check(sync, profile=...) is given one
_DEVICE: list[Callable[[Context, Any], Iterator[Finding]]] = [device.check_device]
_DOWNLOADED = {"downloaded", "merged", "planned", "committed"}
_STOPPED = {"fresh_start_required", "upgrade_required"}


def _prepare(sync: Sync, *, until: str, refresh: bool) -> None:
    """Run the stages the checks need, never past ``until`` and never a commit."""
    state = sync.state.value
    if state in _STOPPED:
        return
    if refresh and state not in ("new", "authenticated"):
        sync.fetch_info()
        sync.fetch_meta_global()
        if sync.state.value in _STOPPED:
            return
        sync.fetch_crypto_keys()
        if until == "download" and sync.state.value not in _STOPPED:
            sync.download()
        return
    done = _DOWNLOADED | ({"ready"} if until == "fetch_crypto_keys" else set())
    if state not in done:
        sync.run(until=until)


def check(sync: Sync, *, now: float | None = None, refresh: bool = False,
          only: Iterable[str] | None = None, profile: Any = None) -> Report:  # fmt: skip
    """Check everything the sync downloaded; run its stages up to ``download`` first if
    needed. ``refresh=True`` reads the server again (after a commit, say). ``now`` (Unix
    seconds) is the clock for ages; ``only`` limits the checks to ids or prefixes such
    as ``"bookmarks."``. ``profile`` (a :class:`synctools.device.Profile` or its folder)
    adds the device checks (``device.*``): its data, prefs and sync logs."""
    _prepare(sync, until="download", refresh=refresh)
    return _run(sync, _SETUP + _DATA, now, only, profile)


def check_setup(sync: Sync, *, now: float | None = None, refresh: bool = False) -> Report:
    """Only the setup checks (meta/global, engines, crypto/keys): no collection is downloaded."""
    _prepare(sync, until="fetch_crypto_keys", refresh=refresh)
    return _run(sync, _SETUP, now, None)


def _run(sync: Sync, checks: list[Callable[[Context], Iterator[Finding]]], now: float | None,
         only: Iterable[str] | None, profile: Any = None) -> Report:  # fmt: skip
    ctx = Context(sync, now)
    wanted = list(only) if only is not None else None
    findings = [f for fn in checks for f in fn(ctx)]
    if profile is not None:
        findings += [f for fn in _DEVICE for f in fn(ctx, profile)]
    if wanted is not None:
        findings = [f for f in findings if any(f.check == w or (w.endswith(".") and f.check.startswith(w)) for w in wanted)]
    return Report(findings, sync=sync, checked=ctx.downloaded)
