"""No secret on any display path (issue 11): every secret field every engine declares, at
the top of a record and nested as Firefox nests it (a card's ``entry.cc-number``) or as an
unknown client might (a dict in a list), is masked wherever a record is shown — staged
changes, plans (text, HTML, frame, diffs), conflicts, merge and commit results, the review
and browser widgets, frames and their exports, the doctor's report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from synctools import doctor, engines, frames
from synctools.testing import InProcessNode, in_process_node
from synctools.widgets import CollectionBrowser, view
from synctools.widgets._source import html_of

SECRET_COLLECTIONS = {name: cls.secret_fields for name, cls in engines.ENGINES.items() if cls.secret_fields}


def secret_value(collection: str, field: str, n: int) -> str:
    """A value that looks like the real thing (card numbers are digits) and is unique."""
    if collection == "creditcards":
        return f"4{n:03d}{abs(hash(field)) % 10**11:011d}1"[:16]
    return f"S3cret-{collection}-{field}-{n}"


def record(collection: str, rid: str, n: int) -> tuple[dict[str, Any], list[str]]:
    """A record holding every secret field of ``collection`` three ways, and the secrets."""
    fields = sorted(SECRET_COLLECTIONS[collection])
    secrets: list[str] = []
    rec: dict[str, Any] = {"id": rid}
    nested: dict[str, Any] = {}
    listed: dict[str, Any] = {}
    for i, field in enumerate(fields):
        top, inner, deep = (secret_value(collection, field, n * 10 + i + k) for k in (0, 3, 6))
        rec[field] = top
        nested[field] = inner
        listed[field] = deep
        secrets += [top, inner, deep]
    if collection == "passwords":
        rec.update(hostname="https://example.com", formSubmitURL="https://example.com", username=f"user{n}",
                   usernameField="u", passwordField="p", timeCreated=1, timePasswordChanged=1)  # fmt: skip
    rec["entry" if collection in ("creditcards", "addresses") else "extra"] = {**nested, "cc-name": "A N Other"}
    rec["history"] = [listed]
    return rec, secrets


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[InProcessNode, list[str]]]:
    with in_process_node() as node:
        node.set_up()
        secrets: list[str] = []
        for collection in SECRET_COLLECTIONS:
            recs = []
            for n in range(3):
                rec, s = record(collection, f"{collection[:4]}{n:08d}", n)
                recs.append(rec)
                secrets += s
            node.put(collection, recs)
        yield node, secrets


def test_every_engine_that_holds_secrets_is_covered():
    assert set(SECRET_COLLECTIONS) >= {"passwords", "creditcards"}
    assert "cc-number" in SECRET_COLLECTIONS["creditcards"] and "password" in SECRET_COLLECTIONS["passwords"]


def test_no_display_path_shows_a_secret(seeded):
    node, secrets = seeded
    s = node.sync()
    s.run(until="download")
    shown: dict[str, str] = {}
    new_secrets: list[str] = []
    for collection in SECRET_COLLECTIONS:
        first = sorted(s.records(collection))[0]
        s.edit(collection, first, {"note": "edited"})  # an edit: before and after both hold secrets
        rec, more = record(collection, f"{collection[:4]}new00001", 7)
        new_secrets += more
        s.add(collection, rec)  # an addition
        # a conflict: another device changes the record we also changed
        other = node.sync()
        other.run(until="download")
        second = sorted(other.records(collection))[1]
        other.edit(collection, second, {"note": "theirs"})
        s.edit(collection, second, {"note": "ours"})
        other.merge()
        other.commit(other.plan_upload().accept())
    s.download()
    merge = s.merge()
    assert merge.conflicts, "each collection has a conflict"
    plan = s.plan_upload()
    assert plan.changes()
    shown["staged"] = s.staged().to_string()
    shown["merge"] = repr(merge) + merge._repr_html_()
    shown["conflicts"] = json.dumps([c.row() for c in s.conflicts])
    shown["plan"] = repr(plan) + plan._repr_html_() + plan.frame.to_string()
    for c in plan.changes():
        shown[f"diff {c.collection}/{c.id}"] = plan.diff(c.collection, c.id).to_string() + json.dumps(c.row())
    shown["review widget"] = html_of(view(plan, sync=s))
    for c in plan.changes()[:4]:
        shown[f"diff widget {c.id}"] = html_of(view(c))
    for collection in SECRET_COLLECTIONS:
        df = s.frame(collection)
        shown[f"frame {collection}"] = df.to_string() + str(df["extra"].tolist())
        shown[f"csv {collection}"] = frames.to_csv(df) or ""
        shown[f"json {collection}"] = frames.to_json(df) or ""
        browser = CollectionBrowser(s, collection)
        shown[f"browser {collection}"] = html_of(browser)
        for rid in sorted(s.records(collection)):
            browser.grid.selected = rid  # what a click on its row sends
            shown[f"browser {collection}/{rid}"] = html_of(browser)
    result = s.commit(plan.accept())
    shown["commit"] = repr(result) + result._repr_html_()
    report = doctor.check(s, refresh=True)
    shown["doctor"] = str(report) + report._repr_html_() + report.frame.to_string() + json.dumps(report.anonymized())
    leaks = {where: [x for x in secrets + new_secrets if x in text] for where, text in shown.items()}
    leaks = {where: found for where, found in leaks.items() if found}
    assert leaks == {}, f"secrets shown: {leaks}"
    # ...and revealing is possible when asked, so the masking is not hiding an empty value
    revealed = s.frame("passwords", reveal=True).to_string()
    assert any(x in revealed for x in secrets)
