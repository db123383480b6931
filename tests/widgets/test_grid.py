"""DataGrid: the frame stays in the kernel, the browser gets a window; sort, search,
mask and selection behave on awkward data and on 100k rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synctools.widgets.grid import OVERSCAN, WINDOW, DataGrid


def awkward() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "n": [3, np.nan, 1, 2, 10],
            "when": pd.to_datetime([1.7e9, None, 1.6e9, 1.8e9, 1.65e9], unit="s", utc=True),
            "children": [["x"], [], None, {"k": "v"}, ["y", "z"]],
            "title": ["(paren", "[bracket", "a.*b", None, "Ünïcode ✓"],
            "ok": [True, False, True, True, False],
        },
        index=[10, 11, 12, 13, 14],  # not 0..n-1: positions and labels must not be confused
    )


def keys(grid: DataGrid) -> list[str]:
    return [r["key"] for r in grid.rows]


def test_search_is_literal_case_insensitive_and_never_regex():
    grid = DataGrid(awkward())
    for needle, expected in [("(PAREN", ["a"]), ("[bracket", ["b"]), ("a.*b", ["c"]), ("ünïcode ✓", ["e"])]:
        grid.query = needle
        assert keys(grid) == expected, needle
    grid.query = "\x1f"  # the column separator inside the search text matches nothing
    assert grid.total == 0
    grid.query = "nan"  # a missing number is empty, not the text "nan"
    assert grid.total == 0
    grid.query = "   "
    assert grid.total == 5


def test_sorting_numbers_dates_and_lists_keeps_missing_values_last():
    grid = DataGrid(awkward())
    grid.sort_by = "n"
    assert keys(grid) == ["c", "d", "a", "e", "b"]
    grid.ascending = False
    assert keys(grid) == ["e", "a", "d", "c", "b"]
    grid.sort_by, grid.ascending = "when", True
    assert keys(grid) == ["c", "e", "a", "d", "b"]
    grid.sort_by = "children"  # lists and dicts: ordered by their text, no TypeError
    assert sorted(keys(grid)) == ["a", "b", "c", "d", "e"]
    grid.query = '"z"'
    assert keys(grid) == ["e"]  # search and sort together


def test_cells_show_local_dates_to_the_second_with_the_raw_value_on_hover():
    grid = DataGrid(awkward(), columns=["id", "when", "children", "ok"])
    row = grid.rows[0]
    assert row["cells"][1].startswith("2023-11-14 ") and "." not in row["cells"][1]
    assert "server value 1700000000.00" in row["titles"][1]
    assert row["cells"][2] == '["x"]' and row["cells"][3] == "yes"
    assert grid.rows[1]["cells"][1] == ""  # NaT is empty, not "NaT"


def test_mask_selection_and_a_new_frame():
    grid = DataGrid(awkward())
    seen: list[str] = []
    grid.on_select(seen.append)
    grid.set_mask(awkward()["ok"])
    assert keys(grid) == ["a", "c", "d"] and grid.size == 5
    grid.selected = "d"
    assert seen == ["d"]
    grid.set_frame(pd.DataFrame({"id": ["z"]}))
    assert keys(grid) == ["z"] and grid.selected == "" and grid.query == ""
    grid.set_frame(pd.DataFrame({"id": pd.Series([], dtype=object)}))
    assert grid.total == 0 and grid.rows == []


def test_column_choice_changes_the_cells_sent():
    grid = DataGrid(awkward())
    grid.visible = ["title", "id"]
    assert grid.rows[0]["cells"] == ["(paren", "a"]


@pytest.fixture(scope="module")
def big():
    n = 100_000
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "id": [f"r{i:06d}" for i in range(n)],
            "title": [f"Site {i} example" for i in range(n)],
            "visits": rng.integers(0, 1000, n),
            "modified": pd.to_datetime(rng.integers(1.5e9, 1.8e9, n), unit="s", utc=True),
            "children": [[i] for i in range(n)],
        }
    )


def test_100k_rows_only_a_window_travels_and_scrolling_asks_for_the_rows_in_view(big):
    grid = DataGrid(big)
    assert grid.total == 100_000 and len(grid.rows) == WINDOW + OVERSCAN
    grid.offset = 73_210  # the browser scrolled there
    assert grid.window_start == 73_210 and keys(grid)[0] == "r073210"
    grid.offset = 10**9  # past the end: clamped, never an empty window
    assert grid.window_start == 99_999 and keys(grid) == ["r099999"]
    grid.query = "site 4242 "
    assert keys(grid) == ["r004242"] and grid.offset == 0
    grid.query = ""
    grid.sort_by, grid.ascending = "visits", False
    top = grid.view()["visits"].to_numpy()
    assert (np.diff(top) <= 0).all() and len(top) == 100_000
