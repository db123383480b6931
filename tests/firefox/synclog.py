"""Read what Firefox's Sync wrote about itself: the log files in ``<profile>/weave/logs`` and
the ``services.sync.*`` prefs in ``prefs.js``.

Firefox's log manager (toolkit/modules/LogManager.sys.mjs, set up in
services/fxaccounts/FxAccountsCommon.sys.mjs) buffers the lines of the loggers ``Sync``,
``Services.Common``, ``FirefoxAccounts``, ``Hawk``, ``BookmarkSyncUtils``, ``addons.xpi`` ...
and, when a sync finishes or fails, writes the buffer to ``error-sync-<ms>.txt`` if any line
was ERROR or worse, else to ``success-sync-<ms>.txt`` if
``services.sync.log.appender.file.logOnSuccess`` is true (profile.py sets it). So with that
pref each sync leaves one file holding the lines since the previous one. A line is
``<ms>\\t<logger>\\t<LEVEL>\\t<message>``; a stack trace continues it on the next lines.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_DIR = Path("weave") / "logs"
LOG_NAME = re.compile(r"(?P<reason>success|error)-sync-(?P<ms>\d+)\.txt")
LINE = re.compile(r"(?P<ms>\d{10,})\t(?P<logger>[^\t]+)\t(?P<level>[A-Z]+)\t(?P<message>.*)")
USER_PREF = re.compile(r'user_pref\("(?P<name>(?:[^"\\]|\\.)*)",\s*(?P<value>.*)\);\s*$')


@dataclass(frozen=True)
class LogLine:
    path: Path
    lineno: int  # 1-based, in ``path``
    ms: int
    logger: str
    level: str  # TRACE, DEBUG, CONFIG, INFO, WARN, ERROR or FATAL
    message: str  # the first line
    detail: str = ""  # the lines that continue it (a stack trace)

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.lineno}"

    def __str__(self) -> str:
        return f"{self.logger} {self.level} {self.message}"


def log_dir(profile: Path) -> Path:
    return profile / LOG_DIR


def log_files(profile: Path) -> list[Path]:
    """The profile's sync logs, oldest first (by the time in their names)."""
    return sorted((p for p in log_dir(profile).glob("*-sync-*.txt") if LOG_NAME.fullmatch(p.name)), key=_key)


def _key(path: Path) -> tuple[int, str]:
    m = LOG_NAME.fullmatch(path.name)
    return (int(m["ms"]) if m else 0, path.name)


def read_log(path: Path) -> list[LogLine]:
    lines: list[LogLine] = []
    for n, text in enumerate(path.read_text("utf-8", errors="replace").splitlines(), 1):
        m = LINE.fullmatch(text)
        if m:
            lines.append(LogLine(path, n, int(m["ms"]), m["logger"], m["level"], m["message"]))
        elif lines:  # a continuation (stack trace) of the line before
            last = lines[-1]
            lines[-1] = LogLine(
                last.path,
                last.lineno,
                last.ms,
                last.logger,
                last.level,
                last.message,
                last.detail + text + "\n",
            )
    return lines


def read_logs(paths: list[Path]) -> list[LogLine]:
    return [line for p in sorted(paths, key=_key) for line in read_log(p)]


def sync_prefs(profile: Path) -> dict[str, Any]:
    """``services.sync.*`` as Firefox last saved them in prefs.js (written on a clean quit)."""
    prefs: dict[str, Any] = {}
    path = profile / "prefs.js"
    if not path.exists():
        return prefs
    for text in path.read_text("utf-8", errors="replace").splitlines():
        m = USER_PREF.match(text)
        if m and m["name"].startswith("services.sync."):
            try:
                prefs[json.loads(f'"{m["name"]}"')] = json.loads(m["value"])
            except ValueError:
                prefs[m["name"]] = m["value"]
    return prefs
