"""Every collection of the demo account becomes frames; the planted problems show."""

from __future__ import annotations

import pandas as pd
import pytest

from synctools import engines
from synctools.frames import frames_from_bsos

from .conftest import dtype_map, expected_dtypes

demodata = pytest.importorskip("synctools.demodata")


@pytest.fixture(scope="module")
def account():
    return demodata.build_demo_account()


@pytest.fixture(scope="module")
def all_frames(account):
    return {
        name: frames_from_bsos(name, bsos, account.collection_keys)
        for name, bsos in account.bsos.items()
        if name not in ("meta", "crypto")
    }


def test_every_collection_has_typed_frames(account, all_frames):
    assert set(all_frames) >= {
        "bookmarks",
        "history",
        "passwords",
        "tabs",
        "clients",
        "forms",
        "prefs",
        "addons",
        "addresses",
        "creditcards",
    }
    for name, frames in all_frames.items():
        engine = engines.get(name)
        assert dtype_map(frames.main) == expected_dtypes(engine.dtypes()), name
        assert len(frames.main) >= len(account.bsos[name]), name
        assert set(frames.main["id"]) == {b["id"] for b in account.bsos[name]}, name
    history = all_frames["history"]
    ok = history.main["error"].isna()
    assert history.visits["id"].isin(history.main["id"]).all()
    assert history.main.loc[ok, "visit_count"].sum() == len(history.visits)


def test_planted_crypto_problems_appear_with_their_error(account, all_frames):
    for planted in account.planted:
        if planted.kind not in ("bad-hmac", "wrong-key"):
            continue
        df = all_frames[planted.collection].main.set_index("id")
        assert df.loc[planted.record_id, "error"].startswith("hmac-mismatch"), planted
    errors = sum(int(f.main["error"].notna().sum()) for f in all_frames.values())
    assert errors == sum(p.kind in ("bad-hmac", "wrong-key") for p in account.planted)


def test_planted_tree_problems_show_in_the_bookmarks_frame(account, all_frames):
    frames = all_frames["bookmarks"]
    df = frames.main.set_index("id")
    orphan = account.planted_of("orphan-bookmark")
    assert pd.isna(df.loc[orphan.record_id, "path"])
    assert orphan.record_id in {n.id for n in frames.tree.orphans}
    mismatch = account.planted_of("children-mismatch")
    listed = df.loc[mismatch.record_id, "children"]
    assert any(df.loc[c, "parent_id"] != mismatch.record_id for c in listed if c in df.index)


def test_secrets_are_masked_in_demo_frames(account, all_frames):
    pw = all_frames["passwords"].main
    real = {r["password"] for r in account.cleartext["passwords"] if r.get("password")}
    assert not real & set(pw["password"].dropna())
    cards = all_frames["creditcards"].main
    assert cards["cc_number"].dropna().str.startswith("**** ").all()
