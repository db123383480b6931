"""Plans and diffs on their own: plain data, no server."""

from __future__ import annotations

import pytest

from synctools import engines
from synctools.diff import FieldChange, diff_records, summarize
from synctools.net import InfoConfiguration
from synctools.plan import (
    CollectionPlan,
    Conflict,
    EngineResetPlan,
    FreshStartPlan,
    MetaGlobalPlan,
    PlannedChange,
    UploadPlan,
    mask,
)
from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.crypto import CollectionKeys
from synctools.protocol.metaglobal import MetaGlobal


def change(rid: str, kind="edit", before=None, after=None, size: int = 10, collection="bookmarks") -> PlannedChange:
    return PlannedChange(collection, rid, kind, before, after or {"id": rid}, BSO(rid, "x" * size), ServerTime(1))


def records_plan(*changes: PlannedChange, config=None) -> UploadPlan:
    plan = UploadPlan(config=config)
    for c in changes:
        cp = plan.collections.setdefault(c.collection, CollectionPlan(c.collection, ServerTime(7)))
        cp.changes.append(c)
    return plan.rebatch()


def test_decisions_and_what_a_commit_would_send():
    plan = records_plan(change("a"), change("b"), change("c", "delete"))
    assert len(plan.undecided) == 3 and not plan.empty
    heard = []
    plan.observe(lambda p, event: heard.append(event))
    plan.reject("bookmarks", "b")
    assert [c.id for c in plan.collections["bookmarks"].accepted] == ["a", "c"]
    plan.reject()
    assert plan.empty and heard == ["decision", "decision"]
    plan.accept("bookmarks")
    assert dict(plan.effects())["bookmarks"].startswith("1 delete, 2 edit")
    with pytest.raises(KeyError, match="no planned change for bookmarks/zz"):
        plan.change("bookmarks", "zz")
    with pytest.raises(KeyError):
        plan.change("history", "a")


def test_rebatch_follows_the_servers_limits_and_the_decisions():
    config = InfoConfiguration(max_post_records=2, max_total_records=100)
    plan = records_plan(*(change(f"r{i}") for i in range(5)), config=config)
    assert [b["posts"] for b in plan.collections["bookmarks"].batches] == [3]
    plan.reject("bookmarks", "r0").reject("bookmarks", "r1").rebatch()
    assert plan.collections["bookmarks"].batches == [{"posts": 2, "records": 3}]
    tiny = InfoConfiguration(max_record_payload_bytes=5)
    too_big = records_plan(change("big", size=50), config=tiny)
    assert "big" in too_big.collections["bookmarks"].too_large
    assert "TOO LARGE big" in repr(too_big)


def test_unreadable_changes_are_shown_as_left_out():
    plan = records_plan(change("a"))
    plan.collections["bookmarks"].unreadable["r9"] = "nobody could read it"
    assert "LEFT OUT r9: nobody could read it" in repr(plan) and "r9" in plan._repr_html_()


def test_diffs_mask_secrets_at_any_depth():
    before = {"id": "c1", "entry": {"cc-number": "4111111111111111", "cc-name": "A"}}
    after = {"id": "c1", "entry": {"cc-number": "4111111111112222", "cc-name": "B"}}
    c = change("c1", before=before, after=after, collection="creditcards")
    text = summarize(c.changes, limit=10) + str(c.row())
    assert "4111111111111111" not in text and "4111111111112222" not in text and "**** 2222" in text
    assert mask("creditcards", before, reveal=True) is before
    conflict = Conflict("passwords", "p", ServerTime(1), ServerTime(2), {"id": "p", "password": "one"},
                        {"id": "p", "password": "two"})  # fmt: skip
    assert "one" not in str(conflict.row()) and "two" not in str(conflict.row())


def test_special_plans_say_what_they_do_counted():
    fresh = FreshStartPlan(meta_global=MetaGlobal.fresh(()), collection_keys=CollectionKeys.generate(),
                           deletes={"bookmarks": 3, "history": 4})  # fmt: skip
    assert fresh.kind == "fresh-start" and fresh.records_deleted == 7
    assert dict(fresh.effects())["deletes"].startswith("7 record(s)")
    unknown = FreshStartPlan(deletes={"bookmarks": None})
    assert unknown.records_deleted is None and dict(unknown.effects())["deletes"].startswith("every record")
    old = MetaGlobal.fresh(())
    new = MetaGlobal.fresh(("addresses",))
    meta = MetaGlobalPlan(meta_global=new, before=old.to_payload(), after=new.to_payload())
    assert "declined" in dict(meta.effects())["changes"]
    reset = EngineResetPlan(engine="bookmarks", wipe=True, meta_global=old, records=12, old_sync_id="x" * 12)
    assert dict(reset.effects())["deletes"] == "the bookmarks collection: 12 record(s)"
    for plan in (fresh, meta, reset):
        assert plan.kind in repr(plan) and "Nothing has been written" in plan._repr_html_()


def test_diff_records_and_its_summary():
    old = {"id": "a", "title": "x", "tags": ["a", "b"], "deep": {"k": {"j": 1}}, "gone": 1}
    new = {"id": "a", "title": "y", "tags": ["a", "c"], "deep": {"k": {"j": 2}}, "new": 2}
    got = {c.path: c for c in diff_records(old, new)}
    assert got["title"] == FieldChange("title", "x", "y", "changed")
    assert got["tags[1]"].kind == "changed" and got["deep.k.j"].new == 2
    assert got["gone"].kind == "removed" and got["new"].kind == "added"
    assert [c.kind for c in diff_records(None, {"id": "n"})] == ["added"]  # a new record
    assert diff_records(old, old) == []
    assert diff_records({"d": {"e": {"f": {"g": 1}}}}, {"d": {"e": {"f": {"g": 2}}}}, max_depth=2)[0].path == "d.e"
    line = summarize(diff_records(old, new), limit=2)
    assert line.startswith("title: 'x' → 'y'") and line.endswith("more")


def test_which_bookmark_changes_are_linked():
    linked = engines.get("bookmarks").linked
    folder = lambda rid, kids: {"id": rid, "type": "folder", "parentid": "unfiled", "children": kids}  # noqa: E731
    item = lambda rid, parent, title="t": {"id": rid, "type": "bookmark", "parentid": parent, "title": title}  # noqa: E731
    tomb = {"deleted": True}
    move = [("x", item("x", "A"), item("x", "B")), ("A", folder("A", ["x"]), folder("A", [])),
            ("B", folder("B", []), folder("B", ["x"]))]  # fmt: skip
    assert linked(move) == [{"x", "A", "B"}]
    assert linked([("n", None, item("n", "A")), ("A", folder("A", []), folder("A", ["n"]))]) == [{"n", "A"}]
    assert linked([("x", item("x", "A"), {"id": "x", **tomb}), ("A", folder("A", ["x"]), folder("A", []))]) == [
        {"x", "A"}
    ]
    # edits in place and reorders stand alone, even beside their folder's change
    assert (
        linked([("x", item("x", "A"), item("x", "A", "new")), ("A", folder("A", ["x", "y"]), folder("A", ["y", "x"]))])
        == []
    )
    # a move whose folders are not in the plan has nothing to be linked to (the doctor flags the tree)
    assert linked([("x", item("x", "A"), item("x", "B"))]) == []
    assert engines.get("history").linked([("h", {}, {})]) == []  # records that stand alone
