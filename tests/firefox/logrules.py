"""Why a Firefox Sync log may hold an ERROR line in a sync that did its job: every ERROR and
FATAL line is explained by one rule below, or it is unexplained and the test fails on it.

A rule is data: the kind of explanation, the logger, a regular expression the message must
match in full, the reason (with where in Firefox it comes from), and optionally a condition
on an earlier line that must hold for the explanation to be true. Rules judge the rows of
``synctools.device``'s log timeline (``logs.timeline``: time, logger, level, message, event,
file, line), the reader the product uses on any profile. docs/firefox.md lists the rules
and the evidence. No rule names a Firefox version: a rule that stops matching is reported
as an unexplained line, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

SERIOUS = ("Error", "Fatal")  # synctools.device.logs.LEVELS: Firefox's ERROR and FATAL

# a row of the timeline (a namedtuple from itertuples): .logger, .level, .message, .file, .line
Row = Any


def first_line(row: Row) -> str:
    """What a rule matches: a message's first line (a stack trace may continue it)."""
    return str(row.message).split("\n", 1)[0]


class Kind(StrEnum):
    PLANTED = "planted fault"  # the test injected it on purpose
    OFFLINE = "offline noise"  # something tried the internet, which the closed network refuses
    FIREFOX = "Firefox-internal"  # a known Firefox-side message that does not mean the sync failed
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Earlier:
    """A condition on the lines before the one to explain. By default: the latest earlier
    line from ``logger`` whose message matches ``about`` exists and says ``says`` (matches in
    full). With ``every``: the sync's log file has such lines and every one of them says it."""

    logger: str
    about: str
    says: str
    every: bool = False

    def holds(self, line: Row, before: Sequence[Row]) -> bool:
        if self.every:
            found = [b for b in before if b.file == line.file and self._about(b)]
            return bool(found) and all(re.fullmatch(self.says, first_line(b)) for b in found)
        latest = next((b for b in reversed(before) if self._about(b)), None)
        return latest is not None and re.fullmatch(self.says, first_line(latest)) is not None

    def _about(self, line: Row) -> bool:
        return line.logger == self.logger and re.search(self.about, first_line(line)) is not None


@dataclass(frozen=True)
class Rule:
    kind: Kind
    logger: str  # a regular expression matching the logger name in full
    message: str  # a regular expression matching the first message line in full
    reason: str
    only_if: tuple[Earlier, ...] = ()

    def explains(self, line: Row, before: Sequence[Row]) -> bool:
        return (
            re.fullmatch(self.logger, line.logger) is not None
            and re.fullmatch(self.message, first_line(line)) is not None
            and all(c.holds(line, before) for c in self.only_if)
        )


def planted(logger: str, message: str, reason: str, *only_if: Earlier) -> Rule:
    """A rule for a fault the test itself injected (say, a 503 from a storage node)."""
    return Rule(Kind.PLANTED, logger, message, reason, only_if)


# Hosts of the closed network: Firefox reaches the stack and nothing else (sinkhole.py).
LOCAL_URL = r"https?://(?:127\.0\.0\.1|localhost|\[::1\])(?![\w.-])"

# Every record the addons engine failed to apply failed on a request to an internet host.
ADDONS_OFFLINE = Earlier(
    "Sync.Engine.Addons.Store",
    r"^Failed to apply incoming record ",
    rf"Failed to apply incoming record \S+: Error: [A-Z]+ (?!{LOCAL_URL})https?://\S+ failed.*",
    every=True,
)

RULES: tuple[Rule, ...] = (
    Rule(
        Kind.FIREFOX,
        logger=r"FirefoxAccounts",
        message=r"No devices available for queued tab commands",
        reason=(
            "FxAccountsCommands.sys.mjs, CommandQueue.#flushQueue: a few seconds of idle after "
            "the first tabs sync, Firefox checks its queue of outgoing close-tab commands and logs "
            "this whenever FxAccountsDevice.recentDeviceList is empty, before it looks at whether "
            "anything is queued (nothing is dropped: the queue is kept). The list was fetched at "
            "start-up, before this profile registered its device, and is cached for a minute "
            "(FxAccountsDevice.refreshDeviceList). FxA answers such a fetch the same way: "
            "GET /account/devices lists registered devices only. A profile signed in through the "
            "web registers at sign-in (FxAccounts.setSignedInUser); one written by profile.py "
            "registers during its first sync. Explained only when the last device list Firefox "
            "logged was empty."
        ),
        only_if=(Earlier("FirefoxAccounts", r"^Got new device list:", r"Got new device list: *"),),
    ),
    Rule(
        Kind.OFFLINE,
        logger=r"Sync\.SyncScheduler",
        message=r"Engine addons found \d+ new records that failed to apply",
        reason=(
            "an add-on another device has is installed from addons.mozilla.org "
            "(AddonRepository.getAddonsByIDs, then an XPI download), which the closed network "
            "refuses, so the addons engine cannot apply its record (SyncScheduler logs this for "
            "any engine with newly failed records). Explained only when every record the addons "
            "engine failed to apply in this sync failed on a request to an internet host."
        ),
        only_if=(ADDONS_OFFLINE,),
    ),
    Rule(
        Kind.OFFLINE,
        logger=r"Sync\.ErrorHandler",
        message=r"Some engines did not sync correctly\.",
        reason=(
            "policies.sys.mjs logs this when Status.service is error.sync.failed_partial. "
            "Explained only when the addons engine is the one engine that failed, with "
            "apply_fail, and only on records whose add-on is on an internet host."
        ),
        only_if=(
            Earlier(
                "Sync.Status",
                r"^Status for engine ",
                r"Status for engine addons: error\.engine\.reason\.apply_fail",
                every=True,
            ),
            ADDONS_OFFLINE,
        ),
    ),
    Rule(
        Kind.OFFLINE,
        logger=r".+",
        message=rf"(?!.*{LOCAL_URL})(?=.*https?://).*",
        reason=(
            "names only internet hosts: every connection that is not to 127.0.0.1 goes to the "
            "sinkhole proxy and is refused (profile.proxy_prefs, sinkhole.py); Sync's own requests "
            "go to the stack only. The sinkhole check names any such attempt the test did not expect."
        ),
    ),
)


@dataclass(frozen=True)
class Verdict:
    line: Row  # the timeline row
    kind: Kind
    rule: Rule | None

    @property
    def where(self) -> str:
        return f"{self.line.file}:{self.line.line}"

    @property
    def message(self) -> str:
        return first_line(self.line)

    def __str__(self) -> str:
        why = f": {self.rule.reason}" if self.rule else ""
        return f"{self.where} [{self.kind.value}] {self.line.logger} {self.line.level.upper()} {self.message}{why}"


def classify(log: pd.DataFrame, *, planted: Iterable[Rule] = (), rules: Sequence[Rule] = RULES) -> list[Verdict]:
    """A verdict for every ERROR and FATAL line of the timeline ``log`` (in log order); the
    test's planted faults are tried first. Rows that are not log lines (``error``) are no
    line of Firefox's and are left out."""
    ordered = [*planted, *rules]
    lines = list(log[log["error"].isna()].itertuples(index=False))
    verdicts = []
    for i, line in enumerate(lines):
        if line.level not in SERIOUS:
            continue
        rule = next((r for r in ordered if r.explains(line, lines[:i])), None)
        verdicts.append(Verdict(line, rule.kind if rule else Kind.UNEXPLAINED, rule))
    return verdicts
