"""History: page frame + visits frame, and the fast (Arrow, processes) paths agree with
the plain one record for record."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from synctools import engines
from synctools.engines import history as history_module
from synctools.frames import frames_from_bsos, frames_from_records, history_visits
from synctools.protocol.crypto import KeyBundle, decrypt_many

from .conftest import dtype_map, expected_dtypes, make_bsos

US = 1_000_000


def page(rid: str, n: int, *, base: int = 1_790_000_000 * US) -> dict:
    return {
        "id": rid,
        "histUri": f"https://www.example.com/{rid}",
        "title": f"Page {rid}",
        "visits": [{"date": base - k * 3600 * US, "type": 1 + k % 9} for k in range(n)],
    }


def test_pages_and_visits(keys):
    recs = [page("aaaaaaaaaaaa", 3), page("bbbbbbbbbbbb", 1), {"id": "cccccccccccc", "deleted": True}]
    frames = frames_from_bsos("history", make_bsos(recs, keys.default), keys)
    main, visits = frames.main, frames.visits
    assert dtype_map(main) == expected_dtypes(engines.get("history").dtypes())
    assert dtype_map(visits) == expected_dtypes(engines.get("history").visit_dtypes())
    a = main.set_index("id").loc["aaaaaaaaaaaa"]
    assert a["url"] == "https://www.example.com/aaaaaaaaaaaa"
    assert a["visit_count"] == 3
    assert a["last_visit"] == pd.Timestamp(1_790_000_000, unit="s", tz="UTC")
    assert a["first_visit"] == pd.Timestamp(1_790_000_000 - 7200, unit="s", tz="UTC")
    tomb = main.set_index("id").loc["cccccccccccc"]
    assert bool(tomb["deleted"]) and pd.isna(tomb["visit_count"]) and pd.isna(tomb["url"])
    assert visits["id"].tolist() == ["aaaaaaaaaaaa"] * 3 + ["bbbbbbbbbbbb"]
    assert visits["type"].tolist() == [1, 2, 3, 1]
    assert visits["transition"].astype(str).tolist() == ["link", "typed", "bookmark", "link"]
    assert visits["date"].iloc[0] == pd.Timestamp(1_790_000_000, unit="s", tz="UTC")


def test_every_transition_type_has_its_name_and_unknown_ones_stay_visible(keys):
    rec = {"id": "t", "histUri": "https://t/", "visits": [{"date": 1, "type": t} for t in range(0, 11)]}
    visits = frames_from_bsos("history", make_bsos([rec], keys.default), keys).visits
    names = visits["transition"].tolist()
    assert names[1:10] == list(engines.TRANSITIONS)
    assert pd.isna(names[0]) and pd.isna(names[10])
    assert visits["type"].tolist() == list(range(0, 11))


def test_history_visits_shortcut(keys):
    visits = history_visits(make_bsos([page("aaaaaaaaaaaa", 2)], keys.default), keys)
    assert len(visits) == 2


def test_records_without_visits_and_with_missing_parts(keys):
    recs = [
        {"id": "novisits", "histUri": "https://a/", "title": None},
        {"id": "nulldate", "histUri": "https://b/", "visits": [{"type": 2}, {"date": 5 * US}]},
    ]
    frames = frames_from_bsos("history", make_bsos(recs, keys.default), keys)
    main = frames.main.set_index("id")
    assert main.loc["novisits", "visit_count"] == 0 and pd.isna(main.loc["novisits", "first_visit"])
    assert main.loc["nulldate", "visit_count"] == 2
    assert (
        main.loc["nulldate", "first_visit"] == main.loc["nulldate", "last_visit"] == pd.Timestamp(5, unit="s", tz="UTC")
    )
    v = frames.visits
    assert pd.isna(v["date"].iloc[0]) and pd.isna(v["type"].iloc[1])


MALFORMED = [
    {"id": "badvisits", "histUri": "https://x/", "visits": "often"},
    {"id": "badvisit", "histUri": "https://x/", "visits": [{"date": 1.5, "type": 1}]},
    {"id": "nullvisit", "histUri": "https://x/", "visits": [None]},
    {"id": "badurl", "histUri": ["https://x/"]},
    {"id": "unknown", "histUri": "https://u/", "visits": [], "frecency": 12},
]


def mixed_bsos(bundle: KeyBundle, n: int = 700) -> list[dict]:
    rng = random.Random(3)
    recs = [page(f"p{i:011d}", rng.randrange(0, 21)) for i in range(n)]
    recs[10] = {"id": recs[10]["id"], "deleted": True}
    bsos = make_bsos(recs, bundle)
    bsos += make_bsos([page("strangerXXXX", 2)], KeyBundle.random())  # another key
    return bsos


def assert_frames_equal(a, b):
    pd.testing.assert_frame_equal(a.main, b.main)
    pd.testing.assert_frame_equal(a.visits, b.visits)


def test_arrow_path_equals_plain_path(keys, monkeypatch):
    pytest.importorskip("pyarrow")
    bsos = mixed_bsos(keys.default)
    plain_calls = []
    real_plain = history_module._plain_chunk
    monkeypatch.setattr(history_module, "_plain_chunk", lambda recs: plain_calls.append(1) or real_plain(recs))
    fast = frames_from_bsos("history", bsos, keys, workers=1)
    assert plain_calls == []  # the clean chunk really took the Arrow path
    records = decrypt_many(keys.default, [b["payload"] for b in bsos], [b["id"] for b in bsos])
    plain = frames_from_records("history", records, bsos)
    assert len(plain_calls) == 1
    assert_frames_equal(fast, plain)
    assert fast.main.set_index("id").loc["strangerXXXX", "error"].startswith("hmac-mismatch")
    assert fast.main["deleted"].sum() == 1


@pytest.mark.parametrize("bad", MALFORMED, ids=[r["id"] for r in MALFORMED])
def test_a_malformed_record_in_a_big_chunk_is_named_and_the_rest_survive(keys, bad):
    pytest.importorskip("pyarrow")
    bsos = mixed_bsos(keys.default, 400) + make_bsos([bad], keys.default)
    frames = frames_from_bsos("history", bsos, keys, workers=1)
    main = frames.main.set_index("id")
    if bad["id"] == "unknown":
        assert main.loc["unknown", "extra"] == {"frecency": 12}
        assert pd.isna(main.loc["unknown", "error"])
    else:
        assert main.loc[bad["id"], "error"].startswith("bad-record: field ")
    assert main["error"].notna().sum() == (1 if bad["id"] == "unknown" else 2)
    assert main.loc["p00000000000", "visit_count"] >= 0


def test_small_chunks_and_worker_processes_give_the_same_frames(keys, monkeypatch):
    pytest.importorskip("pyarrow")
    bsos = mixed_bsos(keys.default, 1500)
    one = frames_from_bsos("history", bsos, keys, workers=1)
    monkeypatch.setattr(history_module, "CHUNK", 256)
    assert_frames_equal(one, frames_from_bsos("history", bsos, keys, workers=1))
    assert_frames_equal(one, frames_from_bsos("history", bsos, keys, workers=2))


def test_processes_are_automatic_only_where_no_script_would_run_again(monkeypatch):
    import sys
    import types

    from synctools.engines import _workers
    from synctools.protocol import _bulk

    monkeypatch.setattr(_bulk, "_native", None)  # the pure-Python path (see the next test for the compiled one)
    script = types.ModuleType("__main__")
    script.__file__ = "/some/script.py"  # a script's __main__ (IPython, if loaded, replaces pytest's)
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert _workers.default_workers(10) == 1  # small: never worth a process
    assert _workers.default_workers(1_000_000) == 1  # a script would be run again by each worker
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # like a notebook
    monkeypatch.setattr(_workers.os, "cpu_count", lambda: 2)
    assert _workers.default_workers(1_000_000) == 2
    assert _workers.default_workers(_workers.PARALLEL_FROM - 1) == 1


def test_no_processes_are_chosen_where_the_compiled_loop_uses_every_core(monkeypatch):
    import sys
    import types

    from synctools.engines import _workers
    from synctools.protocol import _bulk

    if _bulk._native is None:
        pytest.skip("the compiled extension is not built here")
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # like a notebook
    monkeypatch.setattr(_workers.os, "cpu_count", lambda: 4)
    assert _workers.default_workers(1_000_000) == 1


def test_without_pyarrow_the_plain_path_gives_the_same_frames(keys, monkeypatch):
    from synctools.engines import base

    bsos = mixed_bsos(keys.default, 600)
    fast = frames_from_bsos("history", bsos, keys, workers=1)
    monkeypatch.setattr(history_module, "pa", None)
    monkeypatch.setattr(base, "_ARROW_STR", False)
    assert_frames_equal(fast, frames_from_bsos("history", bsos, keys, workers=1))
