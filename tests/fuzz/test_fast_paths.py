"""Each fast path against the checked path it stands in for, on generated hostile input:
the columnar page reader against the network layer's ``bso_from_server`` (every check a
hostile server's listing goes through), Arrow's history reader against the per-record
parser. A fast path may give up (and hand over); it may never answer
differently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctools import engines
from synctools.engines.base import Part
from synctools.frames import frames_from_records
from synctools.net.answers import MalformedBSO, bso_from_server
from synctools.protocol._columns import BSOColumns, columns_from_json
from synctools.protocol.bso import MAX_SORTINDEX, MAX_TTL, ServerTime
from synctools.protocol.crypto import load_cleartexts

ANY = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=False), st.text(max_size=8), st.lists(st.integers(), max_size=2))  # fmt: skip
NOW = 1_700_000_000
#: ids at and across every edge of "1-64 printable ASCII characters"
ID = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12),
    st.sampled_from(["", "a" * 64, "a" * 65, "a\n", "\x7f", "\x1f", "é", "\u2028", " ", "~", "a\x00b"]),
    st.text(min_size=0, max_size=12),
    ANY,
)
BOUND = st.one_of(st.integers(min_value=-MAX_SORTINDEX - 2, max_value=-MAX_SORTINDEX + 2),
                  st.integers(min_value=MAX_SORTINDEX - 2, max_value=MAX_SORTINDEX + 2),
                  st.integers(min_value=MAX_TTL - 2, max_value=MAX_TTL + 2), st.integers(-3, 3), ANY)  # fmt: skip
MODIFIED = st.one_of(st.floats(min_value=0, max_value=2e11, allow_nan=False),
                     st.integers(min_value=-5, max_value=10**12),
                     st.sampled_from([NOW, NOW + 0.01, NOW - 0.01, NOW + 0.005, NOW + 1]), ANY)  # fmt: skip
BSO_OBJ = st.fixed_dictionaries(
    {},
    optional={"id": ID, "payload": st.one_of(st.text(max_size=20), ANY), "modified": MODIFIED,
              "sortindex": BOUND, "ttl": BOUND, "other": ANY},
)  # fmt: skip


EDGE = st.sampled_from([0, -1, 1, MAX_SORTINDEX, MAX_SORTINDEX + 1, -MAX_SORTINDEX, -MAX_SORTINDEX - 1,
                        MAX_TTL, MAX_TTL + 1, 2**63])  # fmt: skip
#: well typed (as the fast path needs), with values at and across the checked path's edges
TYPED = st.fixed_dictionaries(
    {"id": st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12),
                     st.sampled_from(["", "a" * 64, "a" * 65, "a\n", "\x7f", "é", " ", "~"])),
     "payload": st.text(max_size=8),
     "modified": st.one_of(st.sampled_from([NOW, NOW + 0.01, NOW - 0.01, NOW + 1, 0, 0.0]),
                           st.floats(min_value=0, max_value=2e9), st.integers(min_value=0, max_value=2 * NOW))},
    optional={"sortindex": st.one_of(st.none(), EDGE), "ttl": st.one_of(st.none(), EDGE)},
)  # fmt: skip


PAGE = st.one_of(st.lists(TYPED, max_size=6), st.lists(st.one_of(TYPED, BSO_OBJ, ANY), max_size=6))


@given(PAGE, st.sampled_from([None, ServerTime.parse(NOW)]))
def test_columnar_page_reader_answers_as_the_checked_reader_or_hands_over(objs, now):
    """Taken only when ``bso_from_server`` finds nothing wrong with any record, and then
    the very same records; otherwise the page goes record by record, and each malformed
    record keeps its error in the columns."""
    cols = columns_from_json(objs, now)
    checked = [bso_from_server(o, f"page 1 #{i}", now) for i, o in enumerate(objs)]
    want = BSOColumns.from_bsos(checked)
    bad = [b for b in checked if isinstance(b, MalformedBSO)]
    if cols is None:
        assert want.errors is None or [e is not None for e in want.errors] == [
            isinstance(b, MalformedBSO) for b in checked
        ]
        return
    assert not bad, f"the fast reader took a page the checked reader finds malformed: {objs!r}"
    assert cols.errors is None and want.errors is None
    assert cols.ids == want.ids and cols.payloads == want.payloads
    assert cols.modified.tolist() == want.modified.tolist()
    assert cols.sortindex == want.sortindex and cols.ttl == want.ttl


@given(st.lists(BSO_OBJ.filter(lambda o: {"id", "payload", "modified"} <= set(o)), min_size=1, max_size=6))
def test_a_page_of_good_records_takes_the_fast_path(objs):
    """The fast path is not a path never taken: a page the checked reader finds nothing
    wrong with is read as columns."""
    now = ServerTime.parse(NOW)
    if any(isinstance(bso_from_server(o, "p", now), MalformedBSO) for o in objs):
        return
    assert columns_from_json(objs, now) is not None, objs


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))  # fmt: skip
VISIT = st.one_of(st.fixed_dictionaries({}, optional={"date": SCALAR, "type": SCALAR, "x": SCALAR}), SCALAR)
RECORD = st.fixed_dictionaries(
    {},
    optional={"id": st.one_of(st.just("ID"), SCALAR), "histUri": SCALAR, "title": SCALAR, "deleted": SCALAR,
              "visits": st.one_of(st.lists(VISIT, max_size=3), SCALAR), "extra": SCALAR},
)  # fmt: skip
INT64 = st.one_of(
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.sampled_from([-(2**63), -(2**63) + 1, 2**63 - 1, 2**63, 0, -1, 1_700_000_000_000_000]),
)
TRICKY = st.one_of(st.text(max_size=12), st.sampled_from(['a"b', "a\\b", "line\nbreak", "tab\t", "\x00", "/x/",
                                                          "😀", "\u2028", "\ud83d", "\udc00x", "é" * 3]))  # fmt: skip
VISIT_OK = st.fixed_dictionaries(
    {}, optional={"date": st.one_of(INT64, st.none()), "type": st.one_of(INT64, st.none())}
)
#: the plain shape Firefox writes, with every kind of string and integer, a few with an edge
WELL = st.fixed_dictionaries(
    {"id": st.just("ID")},
    optional={"histUri": st.one_of(TRICKY, st.none()), "title": st.one_of(TRICKY, st.none()),
              "visits": st.one_of(st.none(), st.lists(VISIT_OK, max_size=3)),
              "deleted": st.sampled_from([False, True])},
)  # fmt: skip
TEXT = st.one_of(
    WELL.map(lambda r: json.dumps(r).encode()),
    WELL.map(lambda r: json.dumps(r, ensure_ascii=False, indent=1).encode("utf-8", "surrogatepass")),
    RECORD.map(lambda r: json.dumps(r).encode()),
    RECORD.map(lambda r: json.dumps(r, ensure_ascii=False, indent=None, separators=(", ", ": ")).encode()),
    st.tuples(RECORD, st.binary(max_size=3), st.integers(min_value=0, max_value=60)).map(
        lambda t: (lambda b: b[: t[2]] + t[1] + b[t[2] :])(json.dumps(t[0]).encode())
    ),
)

GOOD = b'{"id":"ID","histUri":"https://a.example/","title":"T","visits":[{"date":1,"type":1}]}'


@pytest.fixture(params=["compiled", "arrow"])
def reader(request):
    """History's fast reader under test: the compiled one (where built), or Arrow's."""
    from synctools.protocol import _bulk

    if request.param == "compiled" and _bulk._native is None:
        pytest.skip("the compiled extension is not built here")
    native = _bulk._native
    if request.param == "arrow":
        _bulk._native = None
    yield request.param
    _bulk._native = native


@given(st.lists(TEXT, min_size=1, max_size=5), st.integers(min_value=0, max_value=40))
def test_fast_history_readers_read_as_the_plain_reader(reader, texts, good):
    cleartexts = [GOOD] * good + texts
    ids = []
    raws = []
    for i, text in enumerate(cleartexts):
        rid = f"r{i}"
        ids.append(rid)
        raws.append(text.replace(b'"ID"', json.dumps(rid).encode()))
    engine = engines.get("history")
    parsed, errors = engine.parse_cleartexts(raws, ids)
    env = BSOColumns(
        ids, [""] * len(ids), np.arange(len(ids), dtype=np.int64) + 100, [None] * len(ids), [None] * len(ids)
    )
    got = engine.assemble([Part(env, parsed, np.ones(len(ids), dtype=bool), np.arange(len(ids)))])
    records = load_cleartexts(raws, ids)
    assert [e is not None for e in errors] == [not isinstance(r, dict) for r in records]
    want = frames_from_records("history", records, envelopes=env.bsos())
    for name, df in want:
        for col in df.columns:
            a, b = got[name][col], df[col]
            assert a.isna().tolist() == b.isna().tolist(), (name, col, cleartexts)
            assert [str(x) for x in a[a.notna()]] == [str(x) for x in b[b.notna()]], (name, col, cleartexts)


@given(st.lists(WELL, min_size=1, max_size=8))
def test_the_compiled_history_reader_takes_what_firefox_writes(records):
    """Not a path never taken: a chunk of plain records (any strings but a lone
    surrogate, integers above the lowest int64, no tombstone with content) is read by the
    compiled reader, whitespace or not."""
    from synctools.engines import history
    from synctools.protocol import _bulk

    if _bulk._native is None:
        pytest.skip("the compiled extension is not built here")

    def plain(r: dict) -> bool:
        texts = [r.get("histUri"), r.get("title")]
        ints = [v.get(k) for v in r.get("visits") or [] for k in ("date", "type")]
        return (not any(t is not None and any(0xD800 <= ord(c) <= 0xDFFF for c in t) for t in texts)
                and -(2**63) not in ints and 2**63 not in ints
                and not (r.get("deleted") and (texts != [None, None] or r.get("visits") is not None)))  # fmt: skip

    ids = [f"r{i}" for i in range(len(records))]
    for dump in (json.dumps, lambda r: json.dumps(r, ensure_ascii=False, indent=2)):
        raws = [dump({**r, "id": rid}).encode("utf-8", "surrogatepass") for r, rid in zip(records, ids)]
        got = history._native_chunk(raws, ids)
        assert (got is not None) == all(map(plain, records)), records


GOOD_BSO = {"id": "a", "payload": "p", "modified": NOW, "sortindex": 1, "ttl": 1}


@pytest.mark.parametrize("field,value", [
    ("id", ""), ("id", "a" * 65), ("id", "a\n"), ("id", "\x7f"), ("id", "é"),
    ("sortindex", MAX_SORTINDEX + 1), ("sortindex", -MAX_SORTINDEX - 1), ("ttl", -1), ("ttl", MAX_TTL + 1),
    ("modified", NOW + 0.01), ("modified", NOW + 1),
])  # fmt: skip
def test_one_record_across_an_edge_sends_the_page_record_by_record(field, value):
    """Each check of the checked reader, one at a time, on the last of 50 good records:
    the page leaves the fast path, and that record is malformed (with its error)."""
    page = [dict(GOOD_BSO, id=f"r{i}") for i in range(50)] + [dict(GOOD_BSO, **{field: value})]
    now = ServerTime.parse(NOW)
    assert columns_from_json(page[:50], now) is not None
    assert columns_from_json(page, now) is None
    assert isinstance(bso_from_server(page[-1], "page 1 #50", now), MalformedBSO)
    edge = dict(GOOD_BSO, **{field: {"id": "a" * 64, "sortindex": MAX_SORTINDEX, "ttl": MAX_TTL}.get(field, NOW)})
    assert columns_from_json([*page[:50], edge], now) is not None  # at the edge itself: still fast
