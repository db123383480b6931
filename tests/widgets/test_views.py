"""The read-only views, on the demo account: what they show and what they never show."""

from __future__ import annotations

import base64
import html

import pytest

from synctools.engines.base import MASK
from synctools.widgets import CollectionBrowser, CryptoKeysView, MetaGlobalView, StagesView, TraceView
from synctools.widgets._source import html_of


def test_metaglobal_view_lists_engines_and_explains_the_declined_engine_with_data(demo_sync):
    view = MetaGlobalView(demo_sync)
    rows = {r["engine"]: r for r in view.rows}
    assert rows["bookmarks"]["records"] == 2360
    assert rows["bookmarks"]["version"] == 2 and rows["bookmarks"]["in info/collections"] is True
    assert rows["bookmarks"]["last modified"] is not None
    assert [p["engine"] for p in view.problems] == ["addresses"]
    assert "declined" in view.problems[0]["problem"] and "still on the server" in view.problems[0]["problem"]
    shown = html_of(view)
    assert demo_sync.meta_global.sync_id in shown
    view.only_problems.value = True
    assert "bookmarks" not in view.table.value and "addresses" in view.table.value


def test_metaglobal_view_from_the_result_alone_says_what_it_lacks(demo_sync):
    view = MetaGlobalView(demo_sync.results["fetch_meta_global"])
    assert all(r["records"] is None for r in view.rows)
    assert "pass the sync" in view.table.value


def test_a_view_of_a_stage_not_run_says_which_stage_to_run():
    from synctools import Sync

    with pytest.raises(ValueError, match="fetch_crypto_keys"):
        CryptoKeysView(Sync())


def test_cryptokeys_view_shows_fingerprints_never_key_bytes(demo_sync):
    view = CryptoKeysView(demo_sync)
    shown = html_of(view)
    keys = demo_sync.collection_keys
    for name, fp in keys.fingerprints().items():
        assert fp in shown, name
    for bundle in [keys.default, *keys.collections.values()]:
        for raw in (bundle.enc_key, bundle.hmac_key):
            for form in (base64.b64encode(raw).decode(), raw.hex(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
                assert form not in shown
    assert demo_sync.keys.ksync.hex() not in shown


def test_cryptokeys_view_counts_failures_and_tells_wrong_key_from_corruption(demo_sync):
    view = CryptoKeysView(demo_sync)
    by_coll = {r["collection"]: r for r in view.collection_rows}
    assert by_coll["passwords"]["key"] == "own key" and by_coll["passwords"]["fail to decrypt"] == 1
    assert by_coll["history"]["fail to decrypt"] == 1 and by_coll["bookmarks"]["fail to decrypt"] == 0
    verdicts = {d["collection"]: d["diagnosis"] for d in view.diagnosis}
    assert "'default' key" in verdicts["passwords"] and "wrong key" in verdicts["passwords"]
    assert "altered or corrupt" in verdicts["history"]


def test_collection_browser_searches_sorts_and_a_row_click_opens_the_record(demo_sync):
    browser = CollectionBrowser(demo_sync, "bookmarks")
    assert browser.grid.total == 2360 and len(browser.grid.rows) < 200  # only a window is sent
    assert "children" not in browser.grid.visible and "title" in browser.grid.visible
    browser.search("BDfHCPfxKgRa")
    assert list(browser.frame()["id"]) == ["BDfHCPfxKgRa"]
    browser.grid.selected = "BDfHCPfxKgRa"  # what a click on the row sends
    assert "webassembly kubernetes" in browser.record_json.value
    assert "FEHuztmkPeNf" in browser.record_json.value
    env = browser.record_envelope.value
    assert "modified" in env and "base64 characters" in env and "sortindex" in env
    assert "server value" in env  # the envelope's time: local date, raw value on hover
    browser.search("")
    browser.grid.sort_by = "title"
    titles = list(browser.frame()["title"].dropna())
    assert titles == sorted(titles)
    browser.select("history")  # another collection: search, selection and the record start again
    assert (
        browser.grid.query == ""
        and browser.record_json.value == ""
        and browser.grid.total == len(demo_sync.frame("history"))
    )


def test_collection_browser_masks_passwords_and_explains_a_record_that_fails(demo_sync):
    browser = CollectionBrowser(demo_sync, "passwords")
    rid, record = next(iter(demo_sync.records("passwords").items()))
    browser.show_record(rid)
    assert record["password"] not in browser.record_json.value and MASK in browser.record_json.value
    browser.only_errors.value = True
    failing = list(browser.frame()["id"])
    assert failing == ["{e2e55222-1aa7-4628-b34a-9ea052308407}"]
    assert browser.grid.rows[0]["tone"] == "bad"
    browser.show_record(failing[0])
    assert "HMAC" in browser.record_json.value and "decrypt error" in browser.record_envelope.value


def test_stages_view_marks_done_and_next(demo_sync):
    rows, tones = StagesView(demo_sync).rows()
    status = {r["stage"]: r["status"] for r in rows}
    assert status["download()"].startswith("done") and status["merge()"] == "next" and status["commit()"] == ""


def test_trace_view_filters_by_service_and_shows_headers_without_secrets(demo_sync):
    view = TraceView(demo_sync)
    assert "storage" in view.service.options
    view.service.value = "storage"
    assert set(view.frame()["service"]) == {"storage"}
    first = view.grid.rows[0]["key"]
    view.grid.selected = first  # a click on the row
    assert "request" in view.detail.value and f"#{first} " in view.detail.value
    assert demo_sync.token.key not in html_of(view)
    long_url = max(demo_sync.trace["url"], key=len)
    view.service.value = "all"
    view.grid.selected = str(demo_sync.trace.index[list(demo_sync.trace["url"]).index(long_url)])
    assert html.escape(long_url) in view.detail.value  # the whole URL, never cut
