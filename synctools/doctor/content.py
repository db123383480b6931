"""History and passwords: invalid urls, impossible visits, logins without an origin, duplicates.

The rules are those Firefox applies when it reads these records: history urls must parse
(and fit Places' 65,536-character limit), visit dates are µs since 1970 and no visit
predates the web, transition types are 1–9; a login needs an origin, and one login per
(origin, form action, realm, username) is all Firefox keeps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .context import DAY, Context
from .model import Finding, Fix, Op, register

MAX_URL = 65_536
EARLIEST_US = int(datetime(1993, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)  # Mosaic; no visit is older
TRANSITIONS = range(1, 10)

BAD_URL = register("history.invalid-url", "warning", "a history record whose url is missing, does not parse, or is too long")
BAD_VISITS = register("history.bad-visits", "warning", "visits with impossible dates (before 1993, in the future) or unknown transition types")
NO_ORIGIN = register("passwords.missing-origin", "warning", "a login without an origin (hostname): no site can use it")
DUP_LOGIN = register("passwords.duplicate", "info", "several logins for the same origin, form action, realm and username")


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return "missing"
    if len(url) > MAX_URL:
        return f"{len(url):,} characters (Places keeps at most {MAX_URL:,})"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "does not parse"
    if not parts.scheme:
        return "has no scheme"
    if parts.scheme in ("http", "https") and not parts.netloc:
        return "has no host"
    return None


def check_history(ctx: Context) -> Iterator[Finding]:
    if "history" not in ctx.downloaded or not ctx.engine_enabled("history"):
        return
    future_us = int((ctx.now + DAY) * 1_000_000)
    for rid, rec in sorted(ctx.records("history").items()):
        problem = _url_problem(rec.get("histUri"))
        if problem:
            yield Finding(BAD_URL, "warning", "history", [rid],
                          f"History record {rid}'s url {problem}: Firefox rejects it on every device. Deleting it "
                          "(a tombstone) removes the unusable record from the server.",
                          Fix(f"delete history record {rid}", (Op("delete", "history", rid),)), facts={"problem": problem})  # fmt: skip
            continue
        visits = rec.get("visits")
        if not isinstance(visits, list):
            continue
        good: list[Any] = []
        reasons: dict[str, int] = defaultdict(int)
        for v in visits:
            date = v.get("date") if isinstance(v, dict) else None
            kind = v.get("type") if isinstance(v, dict) else None
            if isinstance(date, bool) or not isinstance(date, int | float):
                reasons["no date"] += 1
            elif date < EARLIEST_US:
                reasons["before 1993 (or not in µs)"] += 1
            elif date > future_us:
                reasons["in the future"] += 1
            elif isinstance(kind, bool) or kind not in TRANSITIONS:
                reasons["unknown transition type"] += 1
            else:
                good.append(v)
        if not reasons:
            continue
        bad = len(visits) - len(good)
        if good:
            fix = Fix(f"keep the {len(good)} valid visit(s) of {rid}", (Op("edit", "history", rid, {"visits": good}),))
        else:
            fix = Fix(f"delete history record {rid} (none of its visits is valid)", (Op("delete", "history", rid),))
        detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        yield Finding(BAD_VISITS, "warning", "history", [rid],
                      f"History record {rid} has {bad} impossible visit(s) of {len(visits)} ({detail}). Firefox drops "
                      "them on download, so devices disagree with the server; a client with a wrong clock or a "
                      "buggy importer wrote them.", fix, facts=dict(reasons) | {"visits": len(visits)})  # fmt: skip


def check_passwords(ctx: Context) -> Iterator[Finding]:
    if "passwords" not in ctx.downloaded or not ctx.engine_enabled("passwords"):
        return
    logins = ctx.records("passwords")
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for rid, rec in sorted(logins.items()):
        origin = rec.get("hostname")
        if not isinstance(origin, str) or not origin or not urlsplit(origin).scheme:
            yield Finding(NO_ORIGIN, "warning", "passwords", [rid],
                          f"Login {rid} has no usable origin (hostname), so Firefox cannot offer it on any site and "
                          "rejects it on download. Its password may be the only copy: export it "
                          "(synctools export passwords --reveal) before deleting it by hand.")  # fmt: skip
            continue
        groups[(origin, rec.get("formSubmitURL"), rec.get("httpRealm"), rec.get("username"))].append(rid)
    for _key, ids in sorted(groups.items(), key=lambda kv: kv[1]):
        if len(ids) < 2:
            continue
        ids.sort(key=lambda r: (logins[r].get("timeLastUsed") or 0, r), reverse=True)
        same_pw = len({logins[r].get("password") for r in ids}) == 1
        fix = None
        if same_pw:
            fix = Fix(f"keep the most recently used ({ids[0]}); delete {len(ids) - 1} identical login(s)",
                      tuple(Op("delete", "passwords", r) for r in ids[1:]))  # fmt: skip
        yield Finding(DUP_LOGIN, "info", "passwords", ids,
                      f"{len(ids)} logins share origin, form action, realm and username; Firefox keeps one such login "
                      "and a device that downloads both keeps whichever it meets first. "
                      + ("Their passwords are identical, so the extra copies can go." if same_pw else
                         "Their passwords differ: check which one is current (synctools export passwords --reveal) "
                         "and delete the other by hand."), fix, facts={"copies": len(ids), "same_password": same_pw})  # fmt: skip
