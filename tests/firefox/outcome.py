"""What became of a Firefox sync, judged by its outcome rather than by log file names.

Everything is read with ``synctools.device``, the reader the product offers for any
profile, so the real-Firefox tests rely on it: ``read_outcome(profile, logs)`` takes, for
the syncs whose log files are ``logs``,

- the timeline of those files (``logs.timeline``) and one row per sync (``logs.syncs``):
  whether it completed, the final ``Status.sync`` / ``Status.service`` (``success.sync``
  and ``success.status_ok`` when every engine synced), and one row per engine per sync
  (``logs.sync_engines``): what it applied and uploaded, the code Firefox gave it;
- ``services.sync.lastSync`` from prefs.js (``Profile.settings.last_sync``), which Firefox
  sets only when a sync succeeded wholly or partly (stages/enginesync.sys.mjs);
- a verdict for every ERROR and FATAL line (logrules.py);
- what the stack received, when the caller passes its request log.

``SyncOutcome.check()`` fails, naming each reason: a sync that did not complete, a status
that is not success, an engine that failed, lastSync not set during the launch, or an
ERROR line no rule explains (with its file and line).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from synctools.device import Profile, SyncSettings
from synctools.device import logs as device_logs

from .logrules import Kind, Rule, Verdict, classify

SYNC_OK, SERVICE_OK = "success.sync", "success.status_ok"
SYNC_FAILED_PARTIAL = "error.sync.failed_partial"


def failed_engines(sync: Any) -> dict[str, str]:
    """The engines that failed in one sync (a row of ``syncs``), each with the code Firefox
    gave it (``Status for engine …``), or ``failed`` when only another line said so."""
    codes: dict[str, str] = sync["engine_status"]
    failed = {e: c for e, c in codes.items() if not c.startswith("success")}
    return failed | {e: "failed" for e in sync["engines_failed"] if e not in failed}


def sync_problem(sync: Any, excuse: Collection[str] = ()) -> str | None:
    """Why one sync (a row of ``syncs``) did not succeed, or None. A failure of one of the
    ``excuse`` engines (say, addons, whose add-ons are on the internet) is excused: then
    Status.service may be error.sync.failed_partial, which is what Firefox sets for it."""
    why = [] if pd.notna(sync["took"]) else ["the sync did not complete"]
    failed = failed_engines(sync)
    excused = bool(failed) and set(failed) <= set(excuse)
    status, service = (v if isinstance(v, str) else None for v in (sync["status"], sync["service_status"]))
    if not (status == SYNC_OK and service == SERVICE_OK) and not (excused and service == SYNC_FAILED_PARTIAL):
        why.append(f"Status.sync={status}, Status.service={service}")
    if failed and not excused:
        why.append(f"engines failed: {failed}")
    return f"{sync['id']}: {'; '.join(why)}" if why else None


@dataclass
class SyncOutcome:
    profile: Path
    log: pd.DataFrame  # the timeline of the launch's log files
    syncs: pd.DataFrame  # one row per sync
    engines: pd.DataFrame  # one row per engine per sync
    verdicts: list[Verdict]
    settings: SyncSettings | None  # prefs.js, read after Firefox quit (None while it runs)
    requests: list[dict[str, Any]]
    since: datetime | None = None  # when the Firefox that wrote these logs started

    @property
    def unexplained(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind is Kind.UNEXPLAINED]

    def explained(self, kind: Kind) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind is kind]

    def ran(self, engine: str) -> pd.DataFrame:
        """The rows of ``engine`` in syncs that ran it: it counted its records or got a status."""
        e = self.engines
        return e[(e["engine"] == engine) & (e["applied"].notna() | e["status"].notna())]

    def engine(self, name: str) -> pd.Series | None:
        """The engine's row in the last sync that ran it."""
        rows = self.ran(name)
        return rows.iloc[-1] if len(rows) else None

    def log_file(self, sync: int = 0) -> Path:
        """The log file of the ``sync``-th sync of the launch."""
        return self.profile / "weave" / "logs" / self.syncs.iloc[sync]["file"]

    def problems(self, *, excuse: Mapping[str, str] | None = None) -> list[str]:
        out = [f"no sync finished (logs in {self.profile / 'weave' / 'logs'})"] if self.syncs.empty else []
        out += [p for _, s in self.syncs.iterrows() if (p := sync_problem(s, excuse or {}))]
        if not self.syncs.empty:
            when = self.settings.last_sync if self.settings else None
            if when is None or (self.since is not None and when < pd.Timestamp(self.since).floor("s")):
                out.append(f"Firefox did not record a successful sync (services.sync.lastSync = {when})")
        out += [f"unexplained {v.line.level.upper()} line at {v}" for v in self.unexplained]
        return out

    def check(self, *, excuse: Mapping[str, str] | None = None) -> None:
        """Raise AssertionError unless every sync completed with success, lastSync was set
        during the launch and every ERROR line is explained. ``excuse``: engines whose
        failure the test expects, each with why."""
        problems = self.problems(excuse=excuse)
        if problems:
            seen = [f"{e['method']} {e['path']} {e['status']}" for e in self.requests][-30:]
            raise AssertionError(
                "Firefox's sync did not succeed:\n- " + "\n- ".join(problems) + f"\nthe stack saw: {seen}"
            )


def read_outcome(
    profile: Path,
    logs: Iterable[Path],
    *,
    requests: list[dict[str, Any]] | None = None,
    planted: Iterable[Rule] = (),
    since: datetime | None = None,
    prefs: bool = True,
) -> SyncOutcome:
    """The outcome of the syncs whose log files are ``logs`` (of ``profile``); ``prefs``:
    read prefs.js too (after Firefox quit, when it is current)."""
    log = device_logs.timeline(profile / "weave" / "logs", files=list(logs))
    syncs = device_logs.syncs(log)
    return SyncOutcome(
        profile,
        log,
        syncs,
        device_logs.sync_engines(syncs),
        classify(log, planted=planted),
        Profile(profile).settings if prefs else None,
        list(requests or []),
        since,
    )
