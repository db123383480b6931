"""UploadReview against a real embedded stack: decisions gate the Commit button, the
button commits exactly the accepted changes, and a conflict shows with its new plan."""

from __future__ import annotations

from synctools.widgets import DiffView, UploadReview, view
from synctools.widgets._source import html_of

from .conftest import downloaded, server_bookmarks


def _all_widgets(root):
    out = [root]
    for child in getattr(root, "children", ()):
        out += _all_widgets(child)
    return out


def stage_three(sync) -> None:
    sync.edit("bookmarks", "bookmark0001", {"title": "Renamed one"})
    sync.edit("bookmarks", "bookmark0002", {"title": "Renamed two"})
    sync.delete("bookmarks", "bookmark0003")


def test_commit_is_disabled_until_every_change_is_decided(stack, account):
    sync = downloaded(stack, account)
    stage_three(sync)
    sync.merge()
    review = UploadReview(sync, sync.plan_upload())
    assert len(review.diffs) == 3
    assert review.commit_button.disabled and "decide 3 more" in review.status.value
    review.diffs[0].accept_button.click()
    review.diffs[1].reject_button.click()
    assert review.commit_button.disabled and "decide 1 more" in review.status.value
    review.diffs[2].accept_button.click()
    assert not review.commit_button.disabled
    review.diffs[2].decide(None)  # undo a decision: disabled again
    assert review.commit_button.disabled


def test_clicking_commit_uploads_exactly_the_accepted_changes(stack, account):
    before = server_bookmarks(stack, account)
    sync = downloaded(stack, account)
    stage_three(sync)
    sync.merge()
    review = UploadReview(sync, sync.plan_upload())
    decisions = {"bookmark0001": True, "bookmark0002": False, "bookmark0003": True}
    for diff in review.diffs:
        (diff.accept_button if decisions[diff.change.id] else diff.reject_button).click()
    assert [c.accepted for c in review.plan.changes()] == [decisions[c.id] for c in review.plan.changes()]
    review.commit_button.click()
    assert review.result is not None and review.result.status == "committed"
    assert review.commit_button.disabled and review.commit_button.description == "Committed"
    assert all(d.accept_button.disabled for d in review.diffs)
    report = html_of(review.result_box)
    assert "Committed: 2 record(s) written." in report
    written_at = str(review.result.uploads[0].modified)
    assert f"data-raw='{written_at}'" in report and f">{written_at}<" not in report  # a date, the raw value on hover
    after = server_bookmarks(stack, account)
    changed = {rid for rid in before.keys() | after.keys() if before.get(rid) != after.get(rid)}
    assert changed == {"bookmark0001", "bookmark0003"}
    assert after["bookmark0001"]["title"] == "Renamed one"
    assert after["bookmark0003"].get("deleted") is True
    assert after["bookmark0002"] == before["bookmark0002"]


def test_a_conflict_is_shown_with_the_new_plan(stack, account):
    sync = downloaded(stack, account)
    sync.edit("bookmarks", "bookmark0004", {"title": "Mine"})
    sync.merge()
    review = UploadReview(sync, sync.plan_upload())
    other = downloaded(stack, account)  # another device writes the same record first
    other.edit("bookmarks", "bookmark0004", {"title": "Theirs"})
    other.merge()
    other.commit(other.plan_upload().accept())
    review.diffs[0].accept_button.click()
    review.commit_button.click()
    assert review.result.status == "conflict"
    shown = html_of(review.result_box)
    assert "Conflict" in shown and "new plan" in shown.lower()
    assert review.new_review is not None and review.new_review in review.result_box.children
    blocked = review.new_review.header.value  # both versions' times as dates, raw values on hover
    assert "Conflicts (not in this plan)" in blocked and blocked.count("<time") >= 2 and "server value" in blocked
    assert server_bookmarks(stack, account)["bookmark0004"]["title"] == "Theirs"


def test_diff_view_puts_server_and_local_side_by_side_highlighting_changes(stack, account):
    sync = downloaded(stack, account)
    sync.edit("bookmarks", "bookmark0005", {"title": "New title", "tags": ["x"]})
    sync.merge()
    diff = DiffView(sync.plan_upload().change("bookmarks", "bookmark0005"))
    body = diff.body.value
    assert "Site 5" in body and "New title" in body
    assert body.count("data-tone='changed'") == 2  # title and tags, nothing else
    assert "staged against" in body and "<time" in body and "server value" in body  # a date, the raw value on hover
    assert "server now" in body and "after commit" in body


def test_a_plan_shown_alone_is_reviewable_but_cannot_commit(stack, account):
    sync = downloaded(stack, account)
    sync.edit("bookmarks", "bookmark0006", {"title": "x"})
    sync.merge()
    review = view(sync.plan_upload())
    assert isinstance(review, UploadReview)
    review.accept_all.click()
    assert review.commit_button.disabled and "sync.commit(plan)" in review.status.value


def test_a_fresh_start_plan_commits_only_after_it_is_accepted(stack, account):
    sync = downloaded(stack, account)
    review = UploadReview(sync, sync.plan_fresh_start())
    assert "FRESH START" in review.header.value and review.diffs == []
    # counted, not "0 change(s)": the ten bookmarks go, meta/global and crypto/keys are written
    assert (
        "deletes 10 record(s) in 1 collection(s), then writes a new meta/global and new crypto/keys"
        in review.header.value
    )
    assert review.commit_button.disabled
    review.special_reject.click()
    assert review.commit_button.disabled
    review.special_accept.click()
    assert not review.commit_button.disabled
    review.commit_button.click()
    assert review.result.status == "committed"
    report = html_of(review.result_box)
    assert "all server storage deleted" in report and "new meta/global and crypto/keys written" in report
    assert "records written" not in report and "snapshot" not in report  # no "0 written", no "snapshot None"
    assert server_bookmarks(stack, account) == {}


def test_an_empty_plan_offers_nothing_to_decide(stack, account):
    sync = downloaded(stack, account)
    sync.merge()
    review = UploadReview(sync, sync.plan_upload())
    shown = html_of(review)
    assert "Nothing to upload" in shown and "0 change(s)" not in shown
    assert review.accept_all not in _all_widgets(review) and review.reject_all not in _all_widgets(review)
    assert review.commit_button.layout.display == "none"


def test_a_412_reads_as_a_conflict_with_the_new_plan_linked(stack, account):
    from synctools.widgets import ResultView

    sync = downloaded(stack, account)
    sync.edit("bookmarks", "bookmark0007", {"title": "Mine"})
    sync.merge()
    plan = sync.plan_upload().accept()
    other = downloaded(stack, account)
    other.edit("bookmarks", "bookmark0008", {"title": "Another device"})
    other.merge()
    other.commit(other.plan_upload().accept())
    result = sync.commit(plan)
    assert result.status == "conflict"
    shown = ResultView(result)
    text = html_of(shown)
    assert "Conflict (412 Precondition Failed)" in text and "nothing of it was written" in text
    assert "snapshot" not in text  # nothing written, so no snapshot row
    assert shown.new_review is not None and shown.new_review.plan is result.new_plan
    assert f"New plan #{result.new_plan.id}" in text
    assert [c.id for c in shown.new_review.plan.changes()] == ["bookmark0007"]


def test_review_follows_decisions_and_commit_made_in_code(stack, account):
    sync = downloaded(stack, account)
    stage_three(sync)
    sync.merge()
    plan = sync.plan_upload()
    review = UploadReview(sync, plan)
    assert review.commit_button.disabled
    plan.accept()
    assert not review.commit_button.disabled  # decided in code, seen by the widget
    result = sync.commit(plan)
    assert review.result is result and review.commit_button.disabled
    assert "Committed" in review.commit_button.description
    assert server_bookmarks(stack, account)["bookmark0001"]["title"] == "Renamed one"


def test_batches_shown_follow_the_rejections(stack, account):
    sync = downloaded(stack, account)
    stage_three(sync)
    sync.merge()
    plan = sync.plan_upload()
    review = UploadReview(sync, plan)
    assert "3 record(s) in 1 POST(s)" in review.batches.value
    review.diffs[0].reject_button.click()
    assert "2 record(s) in 1 POST(s)" in review.batches.value


def test_a_bookmark_move_is_shown_together_and_decided_whole():
    """A move touches the item and both folders: the review shows the three together,
    says they are linked, and one click decides all three, so the Commit button never
    meets a half-decided move (which a commit refuses)."""
    from synctools.testing import in_process_node

    with in_process_node() as node:
        node.set_up()
        node.put("bookmarks", [
            {"id": "unfiled", "type": "folder", "parentid": "places", "title": "", "children": ["folderA", "folderB"]},
            {"id": "folderA", "type": "folder", "parentid": "unfiled", "title": "A", "children": ["bmX", "bmY"]},
            {"id": "folderB", "type": "folder", "parentid": "unfiled", "title": "B", "children": []},
            {"id": "bmX", "type": "bookmark", "parentid": "folderA", "title": "X", "bmkUri": "https://x.example/"},
            {"id": "bmY", "type": "bookmark", "parentid": "folderA", "title": "Y", "bmkUri": "https://y.example/"},
        ])  # fmt: skip
        sync = node.sync()
        sync.run(until="download")
        sync.edit("bookmarks", "folderA", {"children": ["bmY"]})
        sync.edit("bookmarks", "bmY", {"title": "Y, renamed"})  # staged between the parts of the move
        sync.edit("bookmarks", "bmX", {"parentid": "folderB"})
        sync.edit("bookmarks", "folderB", {"children": ["bmX"]})
        sync.merge()
        review = UploadReview(sync, sync.plan_upload())
        order = [d.change.id for d in review.diffs]
        move = {"bmX", "folderA", "folderB"}
        at = [i for i, rid in enumerate(order) if rid in move]
        assert at == list(range(at[0], at[0] + 3)), f"the move's parts are not together: {order}"
        (x,) = [d for d in review.diffs if d.change.id == "bmX"]
        assert "linked with folderA, folderB" in html_of(x.body) or "linked with folderB, folderA" in html_of(x.body)
        (y,) = [d for d in review.diffs if d.change.id == "bmY"]
        assert "linked with" not in html_of(y.body)
        x.reject_button.click()
        assert {d.change.id: d.change.accepted for d in review.diffs} == {
            "bmX": False, "folderA": False, "folderB": False, "bmY": None}  # fmt: skip
        [d for d in review.diffs if d.change.id == "folderB"][0].accept_button.click()
        y.accept_button.click()
        assert not review.plan.half_decided() and review.can_commit
        assert review.commit().status == "committed"
        fresh = node.sync()
        fresh.run(until="download")
        assert fresh.record("bookmarks", "folderB")["children"] == ["bmX"]
