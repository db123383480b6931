"""Each fast path against the checked path it stands in for, on generated hostile input:
the columnar page reader against ``BSO.from_json``, Arrow's history reader against the
per-record parser. A fast path may give up (and hand over); it may never answer
differently."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from synctools import engines
from synctools.engines.base import Part
from synctools.frames import frames_from_records
from synctools.protocol._columns import BSOColumns, columns_from_json
from synctools.protocol.bso import BSO, BSOValidationError
from synctools.protocol.crypto import load_cleartexts

ANY = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                st.floats(allow_nan=False), st.text(max_size=8), st.lists(st.integers(), max_size=2))  # fmt: skip
BSO_OBJ = st.fixed_dictionaries(
    {},
    optional={"id": st.one_of(st.text(min_size=1, max_size=12), ANY), "payload": st.one_of(st.text(max_size=20), ANY),
              "modified": st.one_of(st.floats(min_value=0, max_value=2e11, allow_nan=False),
                                    st.integers(min_value=-5, max_value=10**12), ANY),
              "sortindex": ANY, "ttl": ANY, "other": ANY},
)  # fmt: skip


@given(st.lists(st.one_of(BSO_OBJ, ANY), max_size=6))
def test_columnar_page_reader_answers_as_the_checked_reader_or_hands_over(objs):
    cols = columns_from_json(objs)
    if cols is None:
        return
    try:
        want = BSOColumns.from_bsos([BSO.from_json(o) for o in objs])
    except (BSOValidationError, ValueError, TypeError, KeyError):
        raise AssertionError(f"the fast reader took a page the checked reader refuses: {objs!r}") from None
    assert cols.ids == want.ids and cols.payloads == want.payloads
    assert cols.modified.tolist() == want.modified.tolist()
    assert cols.sortindex == want.sortindex and cols.ttl == want.ttl


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6))  # fmt: skip
VISIT = st.one_of(st.fixed_dictionaries({}, optional={"date": SCALAR, "type": SCALAR, "x": SCALAR}), SCALAR)
RECORD = st.fixed_dictionaries(
    {},
    optional={"id": st.one_of(st.just("ID"), SCALAR), "histUri": SCALAR, "title": SCALAR, "deleted": SCALAR,
              "visits": st.one_of(st.lists(VISIT, max_size=3), SCALAR), "extra": SCALAR},
)  # fmt: skip
TEXT = st.one_of(
    RECORD.map(lambda r: json.dumps(r).encode()),
    RECORD.map(lambda r: json.dumps(r, ensure_ascii=False, indent=None, separators=(", ", ": ")).encode()),
    st.tuples(RECORD, st.binary(max_size=3), st.integers(min_value=0, max_value=60)).map(
        lambda t: (lambda b: b[: t[2]] + t[1] + b[t[2] :])(json.dumps(t[0]).encode())
    ),
)

GOOD = b'{"id":"ID","histUri":"https://a.example/","title":"T","visits":[{"date":1,"type":1}]}'


@given(st.lists(TEXT, min_size=1, max_size=5), st.integers(min_value=0, max_value=40))
def test_arrow_history_reader_reads_as_the_plain_reader(texts, good):
    cleartexts = [GOOD] * good + texts
    ids = []
    raws = []
    for i, text in enumerate(cleartexts):
        rid = f"r{i}"
        ids.append(rid)
        raws.append(text.replace(b'"ID"', json.dumps(rid).encode()))
    engine = engines.get("history")
    parsed, errors = engine.parse_cleartexts(raws, ids)
    env = BSOColumns(ids, [""] * len(ids), np.arange(len(ids), dtype=np.int64) + 100, [None] * len(ids), [None] * len(ids))
    got = engine.assemble([Part(env, parsed, np.ones(len(ids), dtype=bool), np.arange(len(ids)))])
    records = load_cleartexts(raws, ids)
    assert [e is not None for e in errors] == [not isinstance(r, dict) for r in records]
    want = frames_from_records("history", records, envelopes=env.bsos())
    for name, df in want:
        for col in df.columns:
            a, b = got[name][col], df[col]
            assert a.isna().tolist() == b.isna().tolist(), (name, col, cleartexts)
            assert [str(x) for x in a[a.notna()]] == [str(x) for x in b[b.notna()]], (name, col, cleartexts)
