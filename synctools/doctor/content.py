"""History and forms: URLs Firefox rejects, impossible visits, form entries stored twice.

History urls must parse as Firefox parses them (WHATWG, see :mod:`.urls`) and fit Places'
65,536-character limit; visit dates are µs since 1970 and no visit predates the web;
transition types are 1–9. Firefox's forms engine finds an incoming entry's twin by
name and value (``FormEngine._findDupe``): two records with one name and value are one
entry stored twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from . import urls
from .context import DAY, Context, failure
from .model import Finding, Fix, Link, Op, register

EARLIEST_US = int(datetime(1993, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)  # Mosaic; no visit is older
TRANSITIONS = range(1, 10)

BAD_URL = register(
    "history.invalid-url",
    "warning",
    "a history record whose url is missing, does not parse as Firefox parses URLs, or is too long",
)
BAD_VISITS = register(
    "history.bad-visits",
    "warning",
    "visits with impossible dates (before 1993, in the future) or unknown transition types",
)
DUP_FORM = register(
    "forms.duplicate",
    "warning",
    "several form-history records with one name and value: one entry stored more than once",
)


def check_history(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks("history"):
        return
    future_us = int((ctx.now + DAY) * 1_000_000)
    failures: list[tuple[str, BaseException]] = []
    for rid, rec in ctx.records("history").items():  # 20,000 pages: a plain loop, no generator each
        try:
            found = _history(rid, rec, future_us)
        except Exception as exc:
            failures.append((rid, exc))
            continue
        if found is not None:
            yield found
    if failures:
        yield failure(BAD_VISITS, "history", failures)


def _history(rid: str, rec: dict[str, Any], future_us: int) -> Finding | None:
    problem = urls.problem(rec.get("histUri"))
    if problem:
        return Finding(BAD_URL, "warning", "history", [rid],
                      f"History record {rid}'s url {problem}: Firefox rejects it on every device. Deleting it "
                      "(a tombstone) removes the unusable record from the server.",
                      Fix(f"delete history record {rid}", (Op("delete", "history", rid),)),
                      facts={"problem": problem.split(",")[0][:40]})  # fmt: skip
    visits = rec.get("visits")
    if not isinstance(visits, list):
        return None
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
        return None
    bad = len(visits) - len(good)
    if good:
        fix = Fix(f"keep the {len(good)} valid visit(s) of {rid}", (Op("edit", "history", rid, {"visits": good}),))
    else:
        fix = Fix(f"delete history record {rid} (none of its visits is valid)", (Op("delete", "history", rid),))
    detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
    return Finding(BAD_VISITS, "warning", "history", [rid],
                  f"History record {rid} has {bad} impossible visit(s) of {len(visits)} ({detail}). Firefox drops "
                  "them on download, so devices disagree with the server; a client with a wrong clock or a "
                  "buggy importer wrote them.", fix, facts=dict(reasons) | {"visits": len(visits)})  # fmt: skip


def check_forms(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks("forms"):
        return
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid, rec in ctx.records("forms").items():
        name, value = rec.get("name"), rec.get("value")
        if isinstance(name, str) and isinstance(value, str):
            groups[(name, value)].append(rid)
    for ids in sorted((v for v in groups.values() if len(v) > 1), key=lambda v: sorted(v)):
        ids.sort(key=lambda r: (ctx.modified("forms", r) or 0.0, r))
        keep, extra = ids[0], ids[1:]
        yield Finding(DUP_FORM, "warning", "forms", ids,
                      f"{len(ids)} form-history records hold the same field name and value. Firefox keeps one entry "
                      "per name and value: it files each copy under its own entry's id, and a client that stores "
                      "incoming entries under new ids uploads them again, so the collection grows with every "
                      f"sync. The fix keeps the first one written ({keep}) and deletes the others.",
                      Fix(f"keep {keep}; delete {len(extra)} copy(ies)", tuple(Op("delete", "forms", r) for r in extra),
                          links=tuple(Link(f"delete copy {r}", (("forms", r),)) for r in extra)),
                      facts={"copies": len(ids)})  # fmt: skip
