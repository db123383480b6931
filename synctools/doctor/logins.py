"""Logins: application-services' validity rules and Firefox's own duplicate rule.

Validity (``Login::validate_and_fixup`` in application-services components/logins,
the store desktop Firefox now uses too): a login needs an origin and a password; it is
either a form login (``formSubmitURL``) or an HTTP-auth login (``httpRealm``), never
both, never neither; no field holds a NUL, only username and password may hold a line
break, ``usernameField`` is not ``"."``; origins are bare origins (``https://host:port``).
Some of these application-services repairs itself ("fixup"): the fixes here do the same.

Duplicates (``PasswordEngine._findDupe`` → ``LoginHelper.doLoginsMatch``): same origin,
same httpRealm, same username, and form actions that are equal **or either empty** (an
empty formSubmitURL matches any). A device that holds one such login and downloads
another merges them into one and keeps one password. The doctor lists every copy with
which password it holds (as letters: "A", "B"; never the password, nor a hash of it,
which a short password would give away) so a person chooses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from . import urls
from .context import Context
from .model import Finding, Fix, Link, Op, register

P = "passwords"
FIELDS = ("formSubmitURL", "httpRealm", "hostname", "usernameField", "passwordField", "username", "password")
MULTILINE_OK = ("username", "password")

NO_ORIGIN = register(
    "passwords.missing-origin",
    "warning",
    "a login without an origin (hostname): no site can use it, and application-services rejects it",
)
EMPTY_PASSWORD = register(
    "passwords.empty-password", "warning", "a login whose password is empty: application-services rejects it"
)
BOTH_TARGETS = register(
    "passwords.both-targets",
    "warning",
    "a login with both formSubmitURL and httpRealm: desktop Firefox skips it; application-services drops the realm",
)
NO_TARGET = register(
    "passwords.no-target",
    "warning",
    "a login with neither formSubmitURL nor httpRealm: no form and no HTTP-auth prompt can use it",
)
ILLEGAL = register(
    "passwords.illegal-value",
    "warning",
    "a login field Firefox refuses (a NUL, a line break, usernameField '.', an origin that does not parse) "
    "or an origin that is not bare",
)
DUPLICATE = register(
    "passwords.duplicate",
    "warning",
    "logins Firefox's duplicate rule merges: same origin, realm and username, form actions equal or either empty",
)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def check_validity(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks(P):
        return
    yield from ctx.per_record(ILLEGAL, P, sorted(ctx.records(P).items()), _validity)


def _validity(rid: str, rec: dict[str, Any]) -> Iterator[Finding]:
    origin = rec.get("hostname")
    if not isinstance(origin, str) or not origin:
        yield Finding(NO_ORIGIN, "warning", P, [rid],
                      f"Login {rid} has no origin (hostname), so no site can use it and Firefox rejects it on "
                      "download. Its password may be the only copy: export it (synctools export passwords "
                      "--reveal) before deleting it by hand.")  # fmt: skip
        return
    if not _str(rec.get("password")):
        yield Finding(
            EMPTY_PASSWORD,
            "warning",
            P,
            [rid],
            f"Login {rid} has an empty password: application-services (the logins store of Firefox on "
            "Android, iOS and now desktop) rejects it, so devices disagree about it.",
            Fix(
                f"delete login {rid}",
                (Op("delete", P, rid),),
                links=(Link(f"delete {rid}", ((P, rid),)),),
                caution="a login without a password holds only a username: keep a note of it if needed",
            ),
        )
        return
    action, realm = rec.get("formSubmitURL"), rec.get("httpRealm")
    if action is not None and realm is not None:
        yield Finding(BOTH_TARGETS, "warning", P, [rid],
                      f"Login {rid} has both a form action (formSubmitURL) and an HTTP realm: it cannot be both a "
                      "form login and an HTTP-auth login. Desktop Firefox skips the record; application-services "
                      "keeps the form action and drops the realm, and the fix does the same.",
                      Fix(f"drop {rid}'s httpRealm", (Op("edit", P, rid, {"httpRealm": None}),),
                          links=(Link(f"repair {rid}", ((P, rid),)),)))  # fmt: skip
        return
    if action is None and realm is None:
        yield Finding(
            NO_TARGET,
            "warning",
            P,
            [rid],
            f"Login {rid} has neither a form action (formSubmitURL) nor an HTTP realm, so neither a web "
            "form nor an HTTP-auth prompt can use it; application-services rejects it. Decide by hand "
            "(sync.edit) which it is: formSubmitURL '' makes it a form login for any form on its site.",
        )
        return
    problems, changes = _illegal(rec, action)
    if problems:
        fixable = not [p for p in problems if not p[1]]
        fix = Fix(f"repair {rid} as application-services does", (Op("edit", P, rid, changes),),
                  links=(Link(f"repair {rid}", ((P, rid),)),)) if fixable and changes else None  # fmt: skip
        yield Finding(ILLEGAL, "warning", P, [rid],
                      f"Login {rid}: {'; '.join(p for p, _ in problems)}. Firefox's logins store "
                      + ("repairs this on download (its fixup), so each device holds a different record than the "
                         "server; the fix writes the repaired values." if fix else
                         "refuses such a login. Correct it by hand (sync.edit) after checking it "
                         "(synctools export passwords --reveal)."), fix,
                      facts={"problems": len(problems)})  # fmt: skip


def _illegal(rec: dict[str, Any], action: Any) -> tuple[list[tuple[str, bool]], dict[str, Any]]:
    """[(problem, fixable)] and the changes that repair the fixable ones."""
    problems: list[tuple[str, bool]] = []
    changes: dict[str, Any] = {}
    for name in FIELDS:
        value = rec.get(name)
        if isinstance(value, str) and "\0" in value:
            problems.append((f"{name} contains a NUL character", False))
        if isinstance(value, str) and name not in MULTILINE_OK and ("\n" in value or "\r" in value):
            problems.append((f"{name} contains a line break", False))
    if rec.get("usernameField") == ".":
        problems.append(("usernameField is '.'", False))
    for name in ("hostname", "formSubmitURL"):
        value = rec.get(name)
        if name == "formSubmitURL" and value in (None, "", "javascript:"):
            continue
        if name == "formSubmitURL" and value == ".":
            problems.append(("formSubmitURL is '.', an old way to write '' (any form)", True))
            changes[name] = ""
            continue
        parsed = urls.parse(value)
        if parsed is None:
            problems.append((f"{name} is not a URL Firefox can parse", False))
            continue
        bare = urls.origin(parsed)
        if bare is not None and bare != value:
            problems.append((f"{name} is a full URL, not a bare origin", True))
            changes[name] = bare
    if action is None:
        for name in ("usernameField", "passwordField"):
            if rec.get(name):
                problems.append((f"{name} is set on an HTTP-auth login", True))
                changes[name] = ""
    return problems, changes


def _matches(a: object, b: object) -> bool:
    """Form actions match when equal or when either is empty (LoginHelper.doLoginsMatch)."""
    return a == b or a == "" or b == ""


def check_duplicates(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks(P):
        return
    logins = ctx.records(P)
    buckets: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for rid, rec in logins.items():
        origin, action, realm = rec.get("hostname"), rec.get("formSubmitURL"), rec.get("httpRealm")
        if not isinstance(origin, str) or not origin or (action is not None and realm is not None):
            continue  # Firefox skips these before looking for twins
        user = rec.get("username")
        user = "" if user is None else user
        if not isinstance(user, str) or not (realm is None or isinstance(realm, str)):
            continue
        buckets[(origin, realm, user)].append(rid)
    for ids in buckets.values():
        if len(ids) < 2:
            continue
        for group in _components(
            sorted(ids), lambda a, b: _matches(logins[a].get("formSubmitURL"), logins[b].get("formSubmitURL"))
        ):
            ctx.current = (P, group[0])
            yield _duplicate(logins, group)
    ctx.current = None


def _components(ids: list[str], linked: Any) -> list[list[str]]:
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n, a in enumerate(ids):
        for b in ids[n + 1 :]:
            if linked(a, b):
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        groups[root(i)].append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _when(ms: Any) -> str:
    if not isinstance(ms, int | float) or isinstance(ms, bool) or ms <= 0:
        return "never"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "?"


def _num(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _duplicate(logins: dict[str, dict[str, Any]], ids: list[str]) -> Finding:
    ids = sorted(ids, key=lambda r: (-_num(logins[r].get("timeLastUsed")), r))
    labels: dict[Any, str] = {}
    marks = [labels.setdefault(logins[r].get("password"), chr(ord("A") + min(len(labels), 25))) for r in ids]
    same = len(set(marks)) == 1
    lines = []
    for n, (rid, mark) in enumerate(zip(ids, marks), 1):
        rec = logins[rid]
        action = rec.get("formSubmitURL")
        shown = "any form (empty)" if action == "" else ("HTTP auth" if action is None else "its own form action")
        twin = next((m for m, k in zip(range(1, n), marks) if k == mark), None)
        note = f"same as copy {twin}" if twin else ("different" if n > 1 else "")
        lines.append(f"copy {n} {rid}: password {mark}{f' ({note})' if note else ''}, {shown}, "
                     f"last used {_when(rec.get('timeLastUsed'))}")  # fmt: skip
    recs = [logins[r] for r in ids]
    merged = {"timesUsed": sum(_num(r.get("timesUsed")) for r in recs),
              "timeLastUsed": max(_num(r.get("timeLastUsed")) for r in recs),
              "timePasswordChanged": max(_num(r.get("timePasswordChanged")) for r in recs)}  # fmt: skip
    created = [c for c in (_num(r.get("timeCreated")) for r in recs) if c > 0]
    if created:
        merged["timeCreated"] = min(created)

    def keep(n: int) -> Fix:
        kept, rest = ids[n], [r for i, r in enumerate(ids) if i != n]
        ops = [Op("edit", P, kept, merged), *(Op("delete", P, r) for r in rest)]
        return Fix(f"keep copy {n + 1} ({kept}, password {marks[n]}); delete the other {len(rest)}", tuple(ops),
                   links=(Link(f"merge logins into {kept}", tuple((P, r) for r in ids)),))  # fmt: skip

    choices = [keep(n) for n in range(len(ids))]
    return Finding(DUPLICATE, "info" if same else "warning", P, ids,
                   f"{len(ids)} logins are one login to Firefox (same origin, realm and username; form actions equal "
                   "or empty, and an empty one matches any): a device that holds one and downloads another merges "
                   "them and keeps one password. " + "; ".join(lines) + ". "
                   + ("The passwords are the same, so the fix keeps the most recently used and adds up the usage."
                      if same else "The passwords differ: choose which copy to keep (finding.stage(sync, choice=N);"
                      " see them with synctools export passwords --reveal)."),
                   choices[0] if same else None, choices=choices,
                   facts={"copies": len(ids), "passwords": marks, "same_password": same})  # fmt: skip


CHECKS = [check_validity, check_duplicates]
