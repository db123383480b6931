"""Bookmarks: folder paths, positions, parent titles and the tree, as Firefox shapes them."""

from __future__ import annotations

import pandas as pd

from synctools import engines
from synctools.frames import frames_from_bsos

from .conftest import dtype_map, expected_dtypes, make_bsos

TREE = [
    {
        "id": "menu",
        "type": "folder",
        "parentid": "places",
        "parentName": "",
        "title": "menu",
        "children": ["workFolder01", "mozBookmark1", "separator001"],
        "dateAdded": 1605981600000,
    },
    {
        "id": "toolbar",
        "type": "folder",
        "parentid": "places",
        "title": "toolbar",
        "children": ["querySmart01"],
    },
    {
        "id": "workFolder01",
        "type": "folder",
        "parentid": "menu",
        "parentName": "menu",
        "title": "Work",
        "children": ["projFolder01"],
        "dateAdded": 1700000000000,
    },
    {
        "id": "projFolder01",
        "type": "folder",
        "parentid": "workFolder01",
        "parentName": "Work",
        "title": "Projects",
        "children": ["repoBookmark", "missingChild"],
    },
    {
        "id": "mozBookmark1",
        "type": "bookmark",
        "parentid": "menu",
        "parentName": "menu",
        "title": "Mozilla",
        "bmkUri": "https://www.mozilla.org/",
        "tags": ["moz", "web"],
        "keyword": "moz",
        "dateAdded": "1700000000000",
    },
    {
        "id": "repoBookmark",
        "type": "bookmark",
        "parentid": "projFolder01",
        "parentName": "Projects",
        "title": "Repo",
        "bmkUri": "https://github.com/mozilla/application-services",
        "hasDupe": False,
    },
    {"id": "separator001", "type": "separator", "parentid": "menu", "parentName": "menu", "pos": 2},
    {
        "id": "querySmart01",
        "type": "query",
        "parentid": "toolbar",
        "parentName": "toolbar",
        "title": "Most Visited",
        "bmkUri": "place:sort=8&maxResults=10",
        "folderName": "Most Visited",
    },
    {
        "id": "livemark0001",
        "type": "livemark",
        "parentid": "toolbar",
        "title": "News",
        "feedUri": "https://news.example/rss",
        "siteUri": "https://news.example/",
    },
    {
        "id": "orphanBkmk01",
        "type": "bookmark",
        "parentid": "deletedFoldr",
        "title": "Lost",
        "bmkUri": "https://lost.example/",
    },
    {"id": "tombstone001", "deleted": True},
]


def build(keys):
    return frames_from_bsos("bookmarks", make_bsos(TREE, keys.default), keys)


def test_columns_and_dtypes(keys):
    df = build(keys).main
    assert dtype_map(df) == expected_dtypes(engines.get("bookmarks").dtypes())
    row = df.set_index("id").loc["mozBookmark1"]
    assert row["type"] == "bookmark" and row["url"] == "https://www.mozilla.org/"
    assert row["tags"] == ["moz", "web"] and row["keyword"] == "moz"
    assert row["date_added"] == pd.Timestamp(1_700_000_000_000, unit="ms", tz="UTC")  # from a string
    menu = df.set_index("id").loc["menu"]
    assert menu["children_count"] == 3


def test_paths_positions_and_parent_titles(keys):
    df = build(keys).main.set_index("id")
    assert df.loc["repoBookmark", "path"] == "menu/Work/Projects"
    assert df.loc["repoBookmark", "parent_title"] == "Projects"
    assert df.loc["projFolder01", "path"] == "menu/Work"
    assert df.loc["workFolder01", "path"] == "menu"
    assert df.loc["menu", "path"] == ""
    assert df.loc["querySmart01", "path"] == "toolbar"
    assert df.loc["mozBookmark1", "position"] == 1
    assert df.loc["separator001", "position"] == 2 and df.loc["separator001", "separator_pos"] == 2
    assert df.loc["querySmart01", "folder_name"] == "Most Visited"
    assert df.loc["livemark0001", "feed_url"] == "https://news.example/rss"
    # Not listed by its parent: no position, but still placed under it.
    assert pd.isna(df.loc["livemark0001", "position"]) and df.loc["livemark0001", "path"] == "toolbar"
    # An orphan has no path: its folder is not on the server.
    assert pd.isna(df.loc["orphanBkmk01", "path"]) and pd.isna(df.loc["orphanBkmk01", "parent_title"])
    assert bool(df.loc["tombstone001", "deleted"]) and pd.isna(df.loc["tombstone001", "path"])


def test_tree_walks_in_children_order_and_reports_problems(keys):
    tree = build(keys).tree
    order = [node.id for _, node in tree.walk()]
    assert order[:8] == [
        "places",
        "menu",
        "workFolder01",
        "projFolder01",
        "repoBookmark",
        "mozBookmark1",
        "separator001",
        "toolbar",
    ]
    assert order[-1] == "orphanBkmk01"
    assert [n.id for n in tree.orphans] == ["orphanBkmk01"]
    assert tree.missing == {"projFolder01": ["missingChild"]}
    assert [n.id for n in tree.unlisted] == ["livemark0001"]
    assert "tombstone001" not in tree
    assert tree["projFolder01"].children[0].url.startswith("https://github.com/")
    depths = dict((node.id, depth) for depth, node in tree.walk())
    assert depths["repoBookmark"] == 4
    assert "  Work" in tree.to_text()


def test_a_parent_cycle_does_not_hang(keys):
    recs = [
        {"id": "loopA", "type": "folder", "parentid": "loopB", "title": "A", "children": ["loopB"]},
        {"id": "loopB", "type": "folder", "parentid": "loopA", "title": "B", "children": ["loopA"]},
    ]
    frames = frames_from_bsos("bookmarks", make_bsos(recs, keys.default), keys)
    assert frames.main["path"].isna().all()
    assert {n.id for _, n in frames.tree.walk()} >= {"places"}
    assert len(list(frames.tree.walk("loopA"))) == 2


def test_unknown_bookmark_type_and_fields_are_kept(keys):
    recs = [{"id": "futureItem01", "type": "smartfolder", "parentid": "menu", "title": "?", "gizmo": 1}]
    df = frames_from_bsos("bookmarks", make_bsos(recs, keys.default), keys).main
    assert df["type"].iloc[0] == "smartfolder"
    assert df["extra"].iloc[0] == {"gizmo": 1}
    assert df["error"].isna().all()
