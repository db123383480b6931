"""Firefox's sync logs (``weave/logs/*.txt``) as a timeline and as one row per sync.

Sync keeps a ring buffer of its log and writes it to ``error-sync-<ms>.txt`` after a sync
that failed, and to ``success-sync-<ms>.txt`` after one that worked when
``services.sync.log.appender.file.logOnSuccess`` is true (services-common/logmanager).
Each line is ``<ms since 1970>\\t<logger>\\t<LEVEL>\\t<message>`` (Log.sys.mjs's
BasicFormatter); a message that spans lines (a stack, a JSON dump) continues without
that prefix. One file may hold several syncs, and lines logged between syncs.

Every line a person searches for when debugging is recognised as an ``event`` (the
:data:`EVENTS` table: HTTP statuses, backoff, Retry-After, 401s and node reassignment,
clock offsets, records that failed to apply, invalid urls, engines that failed, …),
the values it carries are read, and :func:`syncs` sums them up per sync.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from . import _frame

LINE = re.compile(r"^(\d{10,16})\t([^\t]*)\t([A-Za-z]+)\t(.*)$")
LEVELS = ["Fatal", "Error", "Warn", "Info", "Config", "Debug", "Trace", "All"]
_LEVEL = {name.upper(): name for name in LEVELS}
MAX_MESSAGE = 100_000  # a 2 MB JSON dump in one line stays readable in a frame

#: (event, regex on the first line of a message). The order matters: the first match wins.
EVENTS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(rx))
    for name, rx in [
        ("sync_start", r"^Starting sync at (?P<date>.+?)(?: in browser session \S+)?$"),
        ("sync_refused", r"^Cannot start sync: already syncing"),
        ("sync_finish", r"^Sync completed at .* after (?P<seconds>[\d.]+) secs"),
        ("sync_error", r"^Sync encountered an error"),
        ("login_error", r"^Sync encountered a login error"),
        ("sync_aborted", r"^Aborting sync(?:: (?P<reason>.*)| for failure in (?P<engine>\S+))"),
        ("status", r"^Status\.(?P<which>sync|service|login): (?P<old>\S+) => (?P<new>\S+)"),
        ("engine_status", r"^Status for engine (?P<engine>\S+): (?P<new>\S+)"),
        (
            "records",
            r"^Records: (?P<applied>\d+) applied, (?P<succeeded>\d+) successfully, (?P<failed>\d+) failed to apply,"
            r" (?P<newFailed>\d+) newly failed to apply, (?P<reconciled>\d+) reconciled",
        ),
        ("uploading", r"^Uploading (?P<count>\d+) outgoing records"),
        ("posting", r"^Posting (?P<count>\d+) records of (?P<bytes>\d+) bytes"),
        ("http", r"^(?P<method>GET|PUT|POST|DELETE|PATCH) (?:success|fail) (?P<status>\d{3}) (?P<url>\S+)"),
        (
            "http_failed",
            r"^(?P<method>GET|PUT|POST|DELETE|PATCH) request to (?P<url>\S+) failed(?: with status (?P<status>\d{3}))?",
        ),
        ("http", r"^(?P<method>GET|PUT|POST|DELETE|PATCH) (?P<url>https?://\S+) (?P<status>\d{3})$"),
        ("retry_after", r"^Got Retry-After: (?P<seconds>\d+)"),
        ("backoff", r"^Got X-Weave-Backoff: (?P<seconds>\d+)"),
        ("backoff", r"^Got backoff notification: (?P<ms>\d+) ?ms"),
        ("backoff", r"^Starting client-initiated backoff\. Next sync in (?P<ms>\d+) ms"),
        ("next_sync", r"^Next sync in (?P<ms>\d+) ms\.?(?: \(why=(?P<why>[^)]*)\))?"),
        ("auth_401", r"^(?:Got 401 response|401: login failed|Last sync also failed for 401|New mid-sync 401 failure)"),
        ("cluster", r"^Setting cluster to (?P<url>\S+)"),
        ("no_cluster", r"^(?:No cluster URL found|Could not find a cluster|Failed to fetch the cluster URL)"),
        ("clock_skew", r"^Clock offset vs (?P<url>\S+): (?P<ms>-?\d+)"),
        ("token_error", r"^Failed to fetch a token"),
        ("record_error", r"^Failed to (?:apply|reconcile) incoming record (?P<id>[^\s:]+)"),
        ("record_error", r"^Record (?P<id>\S+) has invalid URL"),
        ("record_error", r"^Encountered record with invalid GUID: (?P<id>[^\s:]+)"),
        ("record_error", r"is not a valid URL"),
        ("record_error", r"^Failed to (?:insert history records|create a place info|import record)"),
        ("record_error", r"^(?P<engine>\S+) failed to apply some records"),
        ("upload_failed", r"^Uploading records failed: (?P<status>\d+)"),
        # engine names are lower case ("extension-storage"): "verifyLogin failed" is no engine
        ("engine_failed", r"^(?P<engine>[a-z][a-z-]*) failed(?:$|[: ])"),
        ("keys_failed", r"^(?:Failed to download keys|Failed to fetch symmetric keys|Failed to fetch and verify keys)"),
        ("quota", r"(?i)over quota"),
        ("meta_global", r"^Uploading meta/global"),
        ("network_error", r"NS_ERROR_(?:NET|CONNECTION|UNKNOWN_HOST|OFFLINE|PROXY)\w*|NetworkError"),
    ]
]

TIMELINE_SPEC = [("time", "ms"), ("logger", "str"), ("level", "category"), ("message", "str"), ("event", "category"),
                 ("file", "str"), ("line", "int"), ("error", "str")]  # fmt: skip


def log_files(folder: Path) -> list[Path]:
    """The sync log files, oldest first (their names end in the ms they were written)."""
    return sorted((p for p in folder.glob("*.txt") if p.is_file()), key=_written)


def _written(path: Path) -> tuple[int, str]:
    m = re.search(r"(\d{10,16})\.txt$", path.name)
    return (int(m.group(1)) if m else 0, path.name)


def _read(path: Path) -> Iterable[tuple[Any, ...]]:
    """(ms, logger, level, message, file, line, error) for each message of one file."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        yield (None, None, None, None, path.name, None, f"cannot be read ({exc.strerror or exc})")
        return
    current: list[Any] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        m = LINE.match(raw)
        if m:
            if current is not None:
                yield tuple(current)
            ms, logger, level, message = m.groups()
            known = _LEVEL.get(level.upper())
            current = [int(ms), logger, known or level, message, path.name, n,
                       None if known else f"unknown log level {level!r}"]  # fmt: skip
        elif current is not None:
            if len(current[3]) < MAX_MESSAGE:
                current[3] += "\n" + raw
        elif raw.strip():
            # before any line in the log format: not a Firefox log line
            yield (None, None, None, raw[:500], path.name, n,
                   "not in Firefox's log format (time<TAB>logger<TAB>LEVEL<TAB>message)")  # fmt: skip
    if current is not None:
        yield tuple(current)


def recognise(message: str | None) -> tuple[str | None, dict[str, str]]:
    """The event a message is, and the values it carries (first line only)."""
    if not message:
        return None, {}
    first = message.split("\n", 1)[0]
    for name, rx in EVENTS:
        m = rx.search(first)
        if m:
            return name, {k: v for k, v in m.groupdict().items() if v is not None}
    return None, {}


def timeline(folder: Path, *, files: Iterable[Path] | None = None) -> pd.DataFrame:
    """Every message of every log file in ``folder`` (or of ``files`` only: the logs one
    Firefox run added, say), in time order, with its recognised event."""
    if files is None:
        paths = log_files(folder) if folder.is_dir() else []
    else:
        paths = sorted(files, key=_written)
    rows = []
    for path in paths:
        for ms, logger, level, message, name, line, error in _read(path):
            event = recognise(message)[0] if error is None else None
            rows.append((ms, logger, level, message, name, line, event, error))
    rows = [(r[0], r[1], r[2], r[3], r[6], r[4], r[5], r[7]) for r in rows]
    df = _frame.frame(rows, TIMELINE_SPEC, source=str(folder), kind="log")
    df["level"] = pd.Categorical(df["level"], categories=[*LEVELS, *sorted(set(df["level"].dropna()) - set(LEVELS))])
    df["event"] = pd.Categorical(df["event"], categories=sorted({name for name, _ in EVENTS}))
    # files are written in order and each holds the lines since the last one: a stable sort
    # by time keeps each file's own order for lines logged in the same millisecond
    return df.sort_values("time", kind="stable", na_position="first").reset_index(drop=True)


def engine_of(logger: str | None) -> str | None:
    """``Sync.Engine.Bookmarks.Mirror`` -> ``bookmarks``."""
    if not logger or not logger.startswith("Sync.Engine."):
        return None
    return logger.split(".")[2].lower()


SYNC_SPEC = [
    ("id", "str"),
    ("start", "ms"),
    ("end", "ms"),
    ("took", "object"),
    ("outcome", "category"),
    ("status", "str"),
    ("service_status", "str"),
    ("engines", "object"),
    ("applied", "object"),
    ("failed_to_apply", "object"),
    ("newly_failed", "object"),
    ("reconciled", "object"),
    ("uploaded", "object"),
    ("engines_failed", "object"),
    ("engine_status", "object"),
    ("requests", "int"),
    ("statuses", "object"),
    ("http_errors", "object"),
    ("retry_after", "int"),
    ("backoff", "int"),
    ("next_sync", "ms"),
    ("auth_401", "int"),
    ("node_reassigned", "bool"),
    ("cluster_url", "str"),
    ("clock_skew_ms", "int"),
    ("record_errors", "object"),
    ("errors", "object"),
    ("file", "str"),
    ("line", "int"),
    ("lines", "int"),
]


def syncs(log: pd.DataFrame) -> pd.DataFrame:
    """One row per sync in the timeline ``log`` (from a ``Starting sync`` line to the
    next), with what it did and what went wrong; ``file`` and ``line`` cite its start."""
    rows = []
    cluster: str | None = None
    current: dict[str, Any] | None = None
    lines = [(r, *recognise(r.message)) for r in log.itertuples(index=False)
             if not isinstance(r.error, str) and isinstance(r.message, str)]  # fmt: skip
    refused = _refused_starts(lines)
    for i, (r, event, values) in enumerate(lines):
        if event == "sync_start" and i not in refused:
            if current is not None:
                rows.append(_row(current))
            current = _new(r, cluster)
            continue
        if event == "cluster":  # tracked outside syncs too: a token fetched between them
            if current is not None and cluster is not None and values["url"] != cluster:
                current["node_reassigned"] = True
            cluster = values["url"]
        if current is None:
            continue
        _absorb(current, r, event, values)
    if current is not None:
        rows.append(_row(current))
    return _frame.frame(rows, SYNC_SPEC, source=log.attrs.get("synctools", {}).get("source", ""), kind="syncs")


def _refused_starts(lines: list[tuple[Any, str | None, dict[str, str]]]) -> set[int]:
    """The ``Starting sync`` lines of syncs Firefox refused because one was running (a
    score-triggered sync during the first): "Cannot start sync: already syncing?" follows
    before any other sync starts. They are lines of the running sync, not syncs."""
    refused: set[int] = set()
    start: int | None = None
    for i, (_r, event, _v) in enumerate(lines):
        if event == "sync_start":
            start = i
        elif event == "sync_refused" and start is not None:
            refused.add(start)
            start = None
    return refused


def _new(r: Any, cluster: str | None) -> dict[str, Any]:
    return {
        "id": f"{r.file}:{r.line}",
        "start": _ms(r.time),
        "end": _ms(r.time),
        "took": None,
        "finished": False,
        "failed": False,
        "status": None,
        "service_status": None,
        "engines": [],
        "applied": {},
        "failed_to_apply": {},
        "newly_failed": {},
        "reconciled": {},
        "uploaded": {},
        "engines_failed": [],
        "engine_status": {},
        "requests": 0,
        "statuses": Counter(),
        "http_errors": [],
        "retry_after": None,
        "backoff": None,
        "next_sync": None,
        "auth_401": 0,
        "node_reassigned": False,
        "cluster_url": cluster,
        "clock_skew_ms": None,
        "record_errors": [],
        "errors": [],
        "file": r.file,
        "line": int(r.line),
        "lines": 0,
    }


def _ms(ts: Any) -> int:
    return int(ts.value // 1_000_000)


def _cite(r: Any) -> str:
    return f"{r.file}:{r.line}: {r.message.split(chr(10), 1)[0][:300]}"


def _absorb(s: dict[str, Any], r: Any, event: str | None, v: dict[str, str]) -> None:
    s["end"] = max(s["end"], _ms(r.time))
    s["lines"] += 1
    engine = engine_of(r.logger)
    if engine and engine not in s["engines"] and engine != "bookmarks-buffered":
        s["engines"].append(engine)
    if r.level in ("Error", "Fatal"):
        s["errors"].append(_cite(r))
    if event == "sync_finish":
        s["finished"], s["took"] = True, float(v["seconds"])
    elif event in ("sync_error", "login_error", "sync_aborted"):
        s["failed"] = True
        if v.get("engine"):
            s["engines_failed"].append(v["engine"])
    elif event == "status":
        key = {"sync": "status", "service": "service_status", "login": "service_status"}[v["which"]]
        if v["which"] != "login" or v["new"] != "success.login":
            s[key] = v["new"]
    elif event == "engine_status":
        s["engine_status"][v["engine"]] = v["new"]  # Status.engines: Firefox's own word on the engine
        if not v["new"].startswith("success"):
            s["engines_failed"].append(v["engine"])
    elif event == "records" and engine:
        for key, group in (("applied", "applied"), ("failed_to_apply", "failed"), ("newly_failed", "newFailed"),
                           ("reconciled", "reconciled")):  # fmt: skip
            s[key][engine] = s[key].get(engine, 0) + int(v[group])
    elif event == "uploading" and engine:
        s["uploaded"][engine] = s["uploaded"].get(engine, 0) + int(v["count"])
    elif event == "http":
        s["requests"] += 1
        s["statuses"][int(v["status"])] += 1
        if int(v["status"]) >= 400:
            s["http_errors"].append(f"{v['method']} {v['status']} {v['url']}")
        s["last_http"] = (v["method"], v["url"], v["status"])
    elif event == "http_failed":
        # at Debug level "GET fail 503 url" came just before and counted it; at Info level
        # (or with no answer at all) this warning is the only trace of the request
        if "status" in v and s.get("last_http") == (v["method"], v["url"], v["status"]):
            return
        s["requests"] += 1
        s["statuses"][int(v.get("status", 0))] += 1
        s["http_errors"].append(f"{v['method']} {v.get('status', '(no answer)')} {v['url']}")
    elif event == "retry_after":
        s["retry_after"] = max(s["retry_after"] or 0, int(v["seconds"]))
    elif event == "backoff":
        seconds = int(v["seconds"]) if "seconds" in v else int(v["ms"]) // 1000
        s["backoff"] = max(s["backoff"] or 0, seconds)
    elif event == "next_sync":
        s["next_sync"] = _ms(r.time) + int(v["ms"])
    elif event == "auth_401":
        s["auth_401"] += 1
        if r.message.startswith("Got 401 response"):
            s["node_reassigned"] = True
    elif event == "cluster":
        s["cluster_url"] = v["url"]
    elif event == "clock_skew":
        ms = int(v["ms"])
        if s["clock_skew_ms"] is None or abs(ms) > abs(s["clock_skew_ms"]):
            s["clock_skew_ms"] = ms
    elif event in ("record_error", "upload_failed"):
        s["record_errors"].append(_cite(r))
    elif event == "engine_failed" and v.get("engine"):
        s["engines_failed"].append(v["engine"].lower())


def _row(s: dict[str, Any]) -> tuple[Any, ...]:
    status = s["status"] or ""
    if s["failed"] or status.startswith("error") or (s["service_status"] or "").startswith("error"):
        outcome = "error"
    elif s["finished"]:
        outcome = "success"
    else:
        outcome = "unfinished"
    s["outcome"] = outcome
    s["statuses"] = dict(sorted(s["statuses"].items()))
    s["engines_failed"] = sorted(set(s["engines_failed"]))
    return tuple(s[name] for name, _ in SYNC_SPEC)


SYNC_ENGINE_SPEC = [
    ("id", "str"), ("start", "ms"), ("engine", "str"), ("applied", "int"), ("failed_to_apply", "int"),
    ("newly_failed", "int"), ("reconciled", "int"), ("uploaded", "int"), ("status", "str"), ("failed", "bool"),
]  # fmt: skip


def sync_engines(syncs_: pd.DataFrame) -> pd.DataFrame:
    """One row per engine per sync of ``syncs_`` (a :func:`syncs` frame), in sync order:
    ``id`` is the sync's; the engine's ``Records: …`` counts (empty when it never got that
    far), what it uploaded, the ``status`` code Firefox gave it ("Status for engine …"),
    and whether it ``failed``. An engine that only logged is a row with empty counts."""
    rows = []
    for s in syncs_.itertuples(index=False):
        counted = [*s.applied, *s.uploaded, *s.engine_status, *s.engines_failed]
        for engine in dict.fromkeys([*s.engines, *counted]):
            rows.append((s.id, _ms(s.start) if pd.notna(s.start) else None, engine, s.applied.get(engine),
                         s.failed_to_apply.get(engine), s.newly_failed.get(engine), s.reconciled.get(engine),
                         s.uploaded.get(engine), s.engine_status.get(engine), engine in s.engines_failed))  # fmt: skip
    return _frame.frame(
        rows, SYNC_ENGINE_SPEC, source=syncs_.attrs.get("synctools", {}).get("source", ""), kind="syncs"
    )
