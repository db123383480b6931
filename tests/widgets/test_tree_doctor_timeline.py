"""BookmarkTree, DoctorView, TimelineView and StatusLine on real stacks: what they mark,
what a click opens, what a button stages, and that awkward trees cannot hang them."""

from __future__ import annotations

import io
from contextlib import redirect_stderr

import pytest

from synctools import Sync, doctor
from synctools.doctor import Finding, Fix, Op, Report
from synctools.server import LocalStack
from synctools.widgets import BookmarkTree, DoctorView, StatusLine, TimelineView
from synctools.widgets._source import html_of
from synctools.widgets.timeline import OTHER, stage_of
from synctools.widgets.tree import FAILED, UNREACHABLE, build

from .conftest import downloaded
from .test_theme import offending_html


def test_tree_marks_the_planted_problems_and_a_click_opens_the_record(demo_sync, demo_stack):
    planted = {p.kind: p.record_id for p in demo_stack.demo_account.planted}
    tree = BookmarkTree(demo_sync)
    orphan, folder = planted["orphan-bookmark"], planted["children-mismatch"]
    assert tree.tree.roots[:4] == ["menu", "toolbar", "unfiled", "mobile"] and UNREACHABLE in tree.tree.roots
    assert tree.nodes[UNREACHABLE]["c"] == [orphan]
    assert any("bookmarks.orphan" in p for p in tree.marked[orphan])
    assert any("bookmarks.parent-child-mismatches" in p for p in tree.marked[folder])
    assert tree.nodes["unfiled"]["d"] >= 1 or tree.nodes["menu"]["d"] >= 1  # a collapsed root says where to look
    tree.tree.selected = orphan  # what a click sends
    assert "bookmarks.orphan" in tree.record_title.value and "FEHuztmkPeNf" in tree.record_json.value
    assert "BSO envelope" in tree.record_envelope.value
    assert offending_html(html_of(tree)) == []


def test_tree_survives_cycles_missing_children_tombstones_and_deep_chains():
    records = {
        "menu": {"id": "menu", "type": "folder", "parentid": "places", "children": ["a", "ghost"]},
        "a": {"id": "a", "type": "folder", "parentid": "menu", "children": ["b"]},
        "b": {"id": "b", "type": "folder", "parentid": "a", "children": ["a"]},  # a cycle under a root
        "x": {"id": "x", "type": "folder", "parentid": "y", "children": ["y"]},  # a cycle no root reaches
        "y": {"id": "y", "type": "folder", "parentid": "x", "children": ["x"]},
        "gone": {"id": "gone", "deleted": True},
    }
    chain = [f"c{i}" for i in range(5000)]
    records["toolbar"] = {"id": "toolbar", "type": "folder", "parentid": "places", "children": [chain[0]]}
    for i, cid in enumerate(chain):
        records[cid] = {"id": cid, "type": "folder", "parentid": "toolbar", "children": chain[i + 1 : i + 2]}
    nodes, roots = build(records, failed=["broken"], problems={})
    assert roots == ["menu", "toolbar", UNREACHABLE, FAILED]
    assert nodes["ghost"]["k"] == "missing" and nodes["ghost"]["p"]
    assert sorted(nodes[UNREACHABLE]["c"]) == ["x", "y"] and "gone" not in nodes
    assert nodes["broken"]["k"] == "failed" and nodes[FAILED]["c"] == ["broken"]
    assert nodes["menu"]["d"] >= 1 and nodes["toolbar"]["d"] == 0


@pytest.fixture
def fresh_demo(demo_stack):
    sync = Sync.local(demo_stack)
    sync.run(until="download")
    return sync


def test_doctor_view_groups_by_severity_in_full_and_stages_a_fix_into_the_review(fresh_demo, demo_stack):
    report = doctor.check(fresh_demo)
    view = DoctorView(report)
    shown = html_of(view)
    for f in report:
        assert f.explanation.replace("'", "&#x27;").replace('"', "&quot;") in shown  # every explanation whole
        for rid in f.record_ids:
            assert rid in shown
    assert [c.finding.severity for c in view.cards] == sorted(
        (f.severity for f in report), key=["error", "warning", "info"].index
    )
    assert view.review_button.disabled
    orphan = next(c for c in view.cards if c.finding.check == "bookmarks.orphans")
    staged = view.stage(orphan)
    assert staged and orphan.stage_button.disabled and not view.review_button.disabled
    review = view.open_review()
    assert {d.change.id for d in review.diffs} == {orphan.finding.record_ids[0], "unfiled"}
    assert review.commit_button.disabled  # the normal review: a person decides first
    orphan.record_pick.value = orphan.finding.record_ids[0]
    assert "cleartext" in view.record_json.value
    assert offending_html(html_of(view)) == []


def test_a_fix_that_fails_says_why_on_its_card_and_nothing_is_staged(fresh_demo):
    bad = Finding(
        "bookmarks.orphan",
        "warning",
        "bookmarks",
        ["nope"],
        "test",
        fix=Fix("edit a record that is not there", (Op("edit", "bookmarks", "nope", append=("x",)),)),
    )
    no_fix = Finding("clients.stale", "info", "clients", ["c1"], "no fix here")
    view = DoctorView(Report([bad, no_fix], sync=fresh_demo))
    assert view.cards[1].stage_button.disabled
    assert view.stage(view.cards[0]) == []
    assert "Error" in view.cards[0].status.value or "error" in view.cards[0].status.value.lower()
    assert fresh_demo.staged().empty and view.review_button.disabled


def test_doctor_view_without_a_sync_says_what_it_lacks():
    view = DoctorView(Report([Finding("setup.x", "error", None, [], "broken", fix=None)]))
    assert "Shown without its sync" in html_of(view) and view.cards[0].stage_button.disabled


def test_timeline_puts_every_request_of_every_stage_in_its_lane(stack, account):
    sync = downloaded(stack, account)  # a sync that made no request outside a stage
    lanes = stage_of(sync, sync.trace)
    assert set(lanes) == set(sync.trace.index)  # no request left outside a stage
    assert {"authenticate", "download"} <= set(lanes.values())
    svg = TimelineView(sync, sections={"after the token": 6}).body.value
    assert svg.count("<rect data-seq=") == len(sync.trace)
    assert "after the token" in svg and offending_html(svg) == []


def test_timeline_shows_a_refused_request_as_a_fault(stack, account):
    sync = downloaded(stack, account)
    mark = len(sync.trace)
    stack.admin.inject_fault("503", path="/info/collections", retry_after=0)
    with pytest.raises(Exception, match="503|busy|Retry"):
        sync.fetch_info()
    stack.admin.clear_faults()
    svg = TimelineView(sync, since=mark, sections={"503 injected": mark}).body.value
    assert "data-tone='bad'" in svg and "status 503" in svg
    assert OTHER in svg  # a stage that raised has no result: its request is still drawn


def test_status_line_reports_each_step_of_a_stack_start():
    line = StatusLine("Starting", show=False)
    err = io.StringIO()
    with redirect_stderr(err), LocalStack(demo=True) as stack:
        stack.stop()
        stack.start(progress=line)
    steps = [s for _, s in line.steps]
    assert steps[0] == "opening the databases" and any("demo account" in s for s in steps)
    assert steps[-1].startswith("ready on http://127.0.0.1:") and line.finished is not None
    assert "Starting: opening the databases" in err.getvalue()
    assert "done" in line.line.value and offending_html(line.line.value) == []
