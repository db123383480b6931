"""Exports write what the frame shows, with secrets masked unless revealed."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from synctools.frames import export_view, frame_from_bsos, frames_from_bsos, to_csv, to_json, to_parquet

from .conftest import make_bsos
from .test_collections import CARD, LOGIN


def test_csv_masks_a_revealed_frame_unless_asked(keys):
    df = frame_from_bsos("passwords", make_bsos([LOGIN], keys.bundle_for("passwords")), keys, reveal=True)
    assert "pQjbjmqdP3" not in to_csv(df)
    assert "pQjbjmqdP3" in to_csv(df, reveal=True)
    assert df["password"].iloc[0] == "pQjbjmqdP3"  # the frame itself is untouched


def test_revealing_a_masked_frame_is_refused_with_the_fix(keys):
    df = frame_from_bsos("creditcards", make_bsos([CARD], keys.default), keys)
    with pytest.raises(ValueError, match="build it again with reveal=True"):
        to_csv(df, reveal=True)


def test_parquet_round_trip_keeps_types_and_masks(keys, tmp_path):
    pytest.importorskip("pyarrow")
    df = frame_from_bsos("creditcards", make_bsos([CARD], keys.default), keys, reveal=True)
    path = tmp_path / "cards.parquet"
    to_parquet(df, path)
    back = pd.read_parquet(path)
    assert back["cc_number"].iloc[0] == "**** 1111"
    assert back["time_created"].iloc[0] == df["time_created"].iloc[0]
    assert str(back["cc_exp_year"].dtype) == "Int64"


def test_object_columns_become_json_text(keys, tmp_path):
    pytest.importorskip("pyarrow")
    recs = [
        {"id": "bm", "type": "bookmark", "parentid": "menu", "tags": ["a", "b"], "gizmo": {"x": 1}},
        {"id": "pr", "type": "folder", "parentid": "menu", "children": []},
    ]
    frames = frames_from_bsos("bookmarks", make_bsos(recs, keys.default), keys)
    view = export_view(frames.main)
    assert json.loads(view["tags"].iloc[0]) == ["a", "b"]
    assert json.loads(view["extra"].iloc[0]) == {"gizmo": {"x": 1}}
    assert pd.isna(view["tags"].iloc[1])
    to_parquet(frames.main, tmp_path / "b.parquet")  # mixed object columns would fail raw
    back = pd.read_csv(io.StringIO(to_csv(frames.main)))
    assert json.loads(back["children"].iloc[1]) == []


def test_json_lines_keep_lists_and_iso_dates(keys):
    df = frame_from_bsos("passwords", make_bsos([LOGIN], keys.bundle_for("passwords")), keys, reveal=True)
    line = json.loads(to_json(df).splitlines()[0])
    assert line["password"] == "********"
    assert line["time_created"].startswith("2022-12-27T")


def test_history_visits_export(keys, tmp_path):
    pytest.importorskip("pyarrow")
    rec = {"id": "h", "histUri": "https://h/", "visits": [{"date": 1_700_000_000_000_000, "type": 2}]}
    visits = frames_from_bsos("history", make_bsos([rec], keys.default), keys).visits
    to_parquet(visits, tmp_path / "v.parquet")
    back = pd.read_parquet(tmp_path / "v.parquet")
    assert back["transition"].astype(str).tolist() == ["typed"]
