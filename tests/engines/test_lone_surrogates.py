"""Half a surrogate pair in a record never stops its collection from loading.

Firefox writes record JSON from JavaScript strings, and a JavaScript string may hold a
lone surrogate (a title cut in the middle of an emoji, escaped as ``"\\ud83d"``). The
JSON is valid; the text has no UTF-8 form, so no Arrow or pandas string column can hold
it. The CI fuzzer found that one such field made the whole collection's frame (and every
doctor check on it) fail. Frames show it as U+FFFD, as Firefox's own UTF-8 conversion
does; the record (``sync.record``) keeps exactly what the server holds.
"""

from __future__ import annotations

import pytest

from synctools.frames import frames_from_bsos
from synctools.testing import in_process_node

from .conftest import make_bsos

demodata = pytest.importorskip("synctools.demodata")
HALF = "\ud83d"  # the first half of 😀, alone


def _halved(value, key=""):
    if key == "id":
        return value
    if isinstance(value, str):
        return value + HALF
    if isinstance(value, list):
        return [_halved(v) for v in value]
    if isinstance(value, dict):
        return {k: _halved(v, k) for k, v in value.items()}
    return value


def _has(value) -> bool:
    if isinstance(value, str):
        return HALF in value
    if isinstance(value, dict | list):
        return any(map(_has, value.values() if isinstance(value, dict) else value))
    return False


@pytest.fixture(scope="module")
def account():
    return demodata.build_demo_account()


@pytest.mark.parametrize("collection", ["addons", "addresses", "bookmarks", "clients", "creditcards",
                                        "forms", "history", "passwords", "prefs", "tabs"])  # fmt: skip
def test_every_string_field_may_hold_half_a_pair(account, collection):
    plain = account.cleartext[collection][:40]
    records = [_halved(r) for r in plain]
    bundle = account.collection_keys.bundle_for(collection)
    before = frames_from_bsos(collection, make_bsos(plain, bundle), bundle, reveal=True).main
    df = frames_from_bsos(collection, make_bsos(records, bundle), bundle, reveal=True).main
    assert len(df) == len(before)  # (prefs and tabs: a row per pref or tab)
    # the same records are in error (the demo plants some) as without the cut: no more
    assert df["error"].notna().tolist() == before["error"].notna().tolist(), df["error"].dropna().tolist()
    shown = [v for c in df.columns if df[c].dtype == "str" for v in df[c].dropna()]
    assert not any(HALF in v for v in shown)
    if collection != "prefs":  # prefs' values are JSON values, kept as they are in an object column
        assert any(v.endswith("\ufffd") for v in shown), "the cut text shows, with a replacement character"


@pytest.mark.parametrize("workers", [1, 2])
def test_big_history_takes_the_fast_path_and_still_loads_every_page(account, workers):
    # 600 pages take the Arrow path (and, with workers, other processes); one cut title
    records = account.cleartext["history"][:600]
    records[300] = {**records[300], "title": "Smile " + HALF}
    bsos = make_bsos(records, account.collection_keys.bundle_for("history"))
    frames = frames_from_bsos("history", bsos, account.collection_keys, workers=workers)
    df = frames.main.set_index("id")
    assert len(df) == len(records)
    assert (
        df["error"].isna().sum()
        == frames_from_bsos(
            "history",
            make_bsos(account.cleartext["history"][:600], account.collection_keys.bundle_for("history")),
            account.collection_keys,
            workers=1,
        )
        .main["error"]
        .isna()
        .sum()
    )
    assert df.loc[records[300]["id"], "title"] == "Smile \ufffd"
    assert len(frames.visits) == sum(len(r["visits"]) for r in records)


def test_the_record_keeps_what_the_server_holds_and_the_doctor_runs():
    from synctools import doctor

    with in_process_node() as node:
        node.set_up()
        node.put("bookmarks", [
            {"id": "menu", "type": "folder", "parentid": "places", "title": "menu", "children": ["bookmarkAAAA"]},
            {"id": "bookmarkAAAA", "type": "bookmark", "parentid": "menu", "parentName": "menu",
             "title": "cut " + HALF, "bmkUri": "https://example.com/" + HALF},
        ])  # fmt: skip
        node.put("history", [{"id": "histAAAAAAAA", "histUri": "https://example.com/" + HALF,
                              "title": HALF, "visits": [{"date": 1_700_000_000_000_000, "type": 1}]}])  # fmt: skip
        sync = node.sync()
        sync.run("download")
        assert sync.record("bookmarks", "bookmarkAAAA")["title"] == "cut " + HALF
        assert sync.frame("bookmarks").set_index("id").loc["bookmarkAAAA", "title"] == "cut \ufffd"
        assert sync.frame("history").loc[0, "title"] == "\ufffd"
        report = doctor.check(sync)
        assert not report.of("doctor.check-failed"), str(report)
