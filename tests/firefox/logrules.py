"""Why a Firefox Sync log may hold an ERROR line in a sync that did its job: every ERROR and
FATAL line is explained by one rule below, or it is unexplained and the test fails on it.

A rule is data: the kind of explanation, the logger, a regular expression the message must
match in full, the reason (with where in Firefox it comes from), and optionally a condition
on an earlier line that must hold for the explanation to be true. docs/firefox.md lists the
rules and the evidence. No rule names a Firefox version: a rule that stops matching is
reported as an unexplained line, never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from .synclog import LogLine

SERIOUS = ("ERROR", "FATAL")


class Kind(StrEnum):
    PLANTED = "planted fault"  # the test injected it on purpose
    OFFLINE = "offline noise"  # something tried the internet, which the closed network refuses
    FIREFOX = "Firefox-internal"  # a known Firefox-side message that does not mean the sync failed
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Earlier:
    """Holds when the latest earlier line from ``logger`` whose message matches ``about``
    exists and its message matches ``says`` in full."""

    logger: str
    about: str
    says: str

    def holds(self, before: Sequence[LogLine]) -> bool:
        for line in reversed(before):
            if line.logger == self.logger and re.search(self.about, line.message):
                return re.fullmatch(self.says, line.message) is not None
        return False


@dataclass(frozen=True)
class Rule:
    kind: Kind
    logger: str  # a regular expression matching the logger name in full
    message: str  # a regular expression matching the first message line in full
    reason: str
    only_if: Earlier | None = None

    def explains(self, line: LogLine, before: Sequence[LogLine]) -> bool:
        return (
            re.fullmatch(self.logger, line.logger) is not None
            and re.fullmatch(self.message, line.message) is not None
            and (self.only_if is None or self.only_if.holds(before))
        )


def planted(logger: str, message: str, reason: str) -> Rule:
    """A rule for a fault the test itself injected (say, a 503 from a storage node)."""
    return Rule(Kind.PLANTED, logger, message, reason)


# Hosts of the closed network: Firefox reaches the stack and nothing else (sinkhole.py).
LOCAL_URL = r"https?://(?:127\.0\.0\.1|localhost|\[::1\])(?![\w.-])"

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
        only_if=Earlier("FirefoxAccounts", r"^Got new device list:", r"Got new device list: *"),
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
    line: LogLine
    kind: Kind
    rule: Rule | None

    def __str__(self) -> str:
        why = f": {self.rule.reason}" if self.rule else ""
        return f"{self.line.where} [{self.kind.value}] {self.line}{why}"


def classify(
    lines: Sequence[LogLine], *, planted: Iterable[Rule] = (), rules: Sequence[Rule] = RULES
) -> list[Verdict]:
    """A verdict for every ERROR and FATAL line of ``lines`` (in log order); the test's
    planted faults are tried first."""
    ordered = [*planted, *rules]
    verdicts = []
    for i, line in enumerate(lines):
        if line.level not in SERIOUS:
            continue
        rule = next((r for r in ordered if r.explains(line, lines[:i])), None)
        verdicts.append(Verdict(line, rule.kind if rule else Kind.UNEXPLAINED, rule))
    return verdicts
