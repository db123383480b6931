"""What became of a Firefox sync, judged by its outcome rather than by log file names.

``read_outcome(profile, logs)`` reads, for the syncs whose logs are ``logs``:

- each sync's own account of itself (synclog.py): whether it started and completed, the
  final ``Status.sync`` / ``Status.service`` Firefox's Sync set (``success.sync`` and
  ``success.status_ok`` when every engine synced), and per engine what it applied and
  uploaded, or the failure code Firefox gave it;
- ``services.sync.lastSync`` from prefs.js, which Firefox sets only when a sync succeeded
  (wholly or partly), and the other ``services.sync.*`` prefs;
- a verdict for every ERROR and FATAL line (logrules.py);
- what the stack received, when the caller passes its request log.

``SyncOutcome.check()`` fails, naming each reason: a sync that did not complete, a status
that is not success, an engine that failed, or an ERROR line no rule explains (with its
file and line). ``read_bookmark`` reads what Firefox applied to places.sqlite.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .logrules import Kind, Rule, Verdict, classify
from .synclog import LogLine, read_logs, sync_prefs

SYNC_OK, SERVICE_OK = "success.sync", "success.status_ok"
SYNC_FAILED_PARTIAL = "error.sync.failed_partial"
STATUS = re.compile(r"Status\.(?P<what>sync|service): \S+ => (?P<new>\S+)")
ENGINE_STATUS = re.compile(r"Status for engine (?P<engine>\S+): (?P<code>\S+)")
RECORDS = re.compile(
    r"Records: (\d+) applied, (\d+) successfully, (\d+) failed to apply, (\d+) newly failed to apply,"
    r" (\d+) reconciled\."
)
OUTGOING = re.compile(r"Uploading (\d+) outgoing records")
COMPLETED = re.compile(r"Sync completed at .* after (?P<secs>[\d.]+) secs\.")
STARTED = re.compile(r"Starting sync at ")
ENGINE_LOGGER = re.compile(r"Sync\.Engine\.(?P<name>[A-Za-z-]+)")


@dataclass
class EngineResult:
    """One engine in one sync: its ``Records: …`` and ``Uploading N outgoing records`` lines."""

    name: str
    applied: int = 0
    succeeded: int = 0
    failed: int = 0
    new_failed: int = 0
    reconciled: int = 0
    outgoing: int = 0
    failure: str | None = None  # the code of "Status for engine <name>: <code>"


@dataclass
class SyncRun:
    """One sync, from the log file Firefox wrote when it ended."""

    log: Path
    started: bool = False
    completed: bool = False
    seconds: float | None = None
    sync_status: str | None = None
    service_status: str | None = None
    engines: dict[str, EngineResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def problem(self) -> str | None:
        return self.problem_excusing(())

    def problem_excusing(self, engines: Collection[str]) -> str | None:
        """Why this sync did not succeed, or None. A failure of one of ``engines`` (say,
        addons, whose add-ons are on the internet) is excused: then Status.service may be
        error.sync.failed_partial, which is what Firefox sets for it."""
        why = [] if self.completed else ["the sync did not complete"]
        failed = {e.name: e.failure for e in self.engines.values() if e.failure}
        excused = bool(failed) and set(failed) <= set(engines)
        status_ok = self.sync_status == SYNC_OK and self.service_status == SERVICE_OK
        if not status_ok and not (excused and self.service_status == SYNC_FAILED_PARTIAL):
            why.append(f"Status.sync={self.sync_status}, Status.service={self.service_status}")
        if failed and not excused:
            why.append(f"engines failed: {failed}")
        return f"{self.log.name}: {'; '.join(why)}" if why else None

    def engine(self, name: str) -> EngineResult:
        return self.engines.setdefault(name, EngineResult(name))


def _runs(lines: Iterable[LogLine]) -> list[SyncRun]:
    runs: dict[Path, SyncRun] = {}
    for line in lines:
        run = runs.setdefault(line.path, SyncRun(line.path))
        msg = line.message
        if STARTED.match(msg) and line.logger == "Sync.Service":
            run.started = True
        elif (m := COMPLETED.fullmatch(msg)) and line.logger == "Sync.Synchronizer":
            run.completed, run.seconds = True, float(m["secs"])
        elif line.logger == "Sync.Status" and (m := STATUS.fullmatch(msg)):
            setattr(run, f"{m['what']}_status", m["new"])
        elif line.logger == "Sync.Status" and (m := ENGINE_STATUS.fullmatch(msg)):
            run.engine(m["engine"]).failure = m["code"]
        elif e := ENGINE_LOGGER.fullmatch(line.logger):
            name = e["name"].lower()
            if m := RECORDS.fullmatch(msg):
                counts = [int(g) for g in m.groups()]
                result = run.engine(name)
                result.applied, result.succeeded, result.failed, result.new_failed, result.reconciled = counts
            elif m := OUTGOING.fullmatch(msg):
                run.engine(name).outgoing += int(m[1])
    return [r for r in runs.values() if r.started or r.completed]


def last_sync_time(prefs: dict[str, Any]) -> datetime | None:
    """``services.sync.lastSync`` is JavaScript's ``Date.toString()``:
    ``Mon Nov 30 2026 08:57:48 GMT+0000 (Coordinated Universal Time)``."""
    value = prefs.get("services.sync.lastSync")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.split(" (")[0], "%a %b %d %Y %H:%M:%S GMT%z")
    except ValueError:
        return None


@dataclass
class SyncOutcome:
    profile: Path
    runs: list[SyncRun]
    lines: list[LogLine]
    verdicts: list[Verdict]
    prefs: dict[str, Any]
    requests: list[dict[str, Any]]
    since: datetime | None = None  # when the Firefox that wrote these logs started

    @property
    def last(self) -> SyncRun | None:
        return self.runs[-1] if self.runs else None

    @property
    def unexplained(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind is Kind.UNEXPLAINED]

    def explained(self, kind: Kind) -> list[Verdict]:
        return [v for v in self.verdicts if v.kind is kind]

    def engine(self, name: str) -> EngineResult | None:
        """The engine's result in the last sync that ran it."""
        return next((r.engines[name] for r in reversed(self.runs) if name in r.engines), None)

    def problems(
        self, *, require_last_sync: bool = True, excuse: Mapping[str, str] | None = None
    ) -> list[str]:
        out = [f"no sync finished (logs in {self.profile / 'weave' / 'logs'})"] if not self.runs else []
        out += [p for r in self.runs if (p := r.problem_excusing(excuse or {}))]
        if require_last_sync and self.runs:
            when = last_sync_time(self.prefs)
            if when is None or (self.since is not None and when < self.since.replace(microsecond=0)):
                out.append(f"Firefox did not record a successful sync (services.sync.lastSync = {when})")
        out += [f"unexplained {v.line.level} line at {v}" for v in self.unexplained]
        return out

    def check(self, *, require_last_sync: bool = True, excuse: Mapping[str, str] | None = None) -> None:
        """Raise AssertionError unless every sync completed with success and every ERROR
        line is explained. ``require_last_sync``: prefs.js was read after Firefox quit.
        ``excuse``: engines whose failure the test expects, each with why."""
        problems = self.problems(require_last_sync=require_last_sync, excuse=excuse)
        if problems:
            seen = [f"{e['method']} {e['path']} {e['status']}" for e in self.requests][-30:]
            raise AssertionError(
                "Firefox's sync did not succeed:\n- " + "\n- ".join(problems) + f"\nthe stack saw: {seen}"
            )


def read_outcome(
    profile: Path,
    logs: list[Path],
    *,
    requests: list[dict[str, Any]] | None = None,
    planted: Iterable[Rule] = (),
    since: datetime | None = None,
) -> SyncOutcome:
    """The outcome of the syncs whose log files are ``logs`` (of ``profile``)."""
    lines = read_logs(logs)
    return SyncOutcome(
        profile,
        _runs(lines),
        lines,
        classify(lines, planted=planted),
        sync_prefs(profile),
        list(requests or []),
        since,
    )


def read_bookmark(profile: Path, guid: str) -> tuple[str, str, str] | None:
    """``(title, url, parent guid)`` of a bookmark in the profile's places.sqlite."""
    uri = f"file:{profile / 'places.sqlite'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        row = db.execute(
            "SELECT b.title, p.url, parent.guid FROM moz_bookmarks b JOIN moz_places p ON p.id = b.fk"
            " JOIN moz_bookmarks parent ON parent.id = b.parent WHERE b.guid = ?",
            (guid,),
        ).fetchone()
    return tuple(row) if row else None
