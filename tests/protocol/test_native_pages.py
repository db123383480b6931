"""The compiled page reader (``page_columns``) against the reading it stands in for.

A page of BSOs (the JSON body of ``GET /storage/<collection>?full=1``) is read by the
network layer with the one JSON parser (:mod:`synctools.net._json`) and then
:func:`columns_from_json`. The compiled reader may hand a page over (None); when it
answers, it must answer exactly as those two: the same ids, payloads, times, sortindex
and ttl, of the same types. These tests build page bodies byte by byte, on every edge the
reader checks (keys, escapes, surrogates, numbers, whitespace, bytes that are not UTF-8,
trailing text), and require that; and they require that it takes every page the embedded
server writes, so that the comparison cannot pass by the reader handing everything over.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctools.net import _json
from synctools.protocol import _bulk
from synctools.protocol._columns import BSOColumns, columns_from_body, columns_from_json
from synctools.protocol.bso import MAX_SORTINDEX, MAX_TTL, ServerTime
from synctools.server.storage import bso_json

if _bulk._native is None and os.environ.get("SYNCTOOLS_REQUIRE_NATIVE") == "1":  # CI builds it
    raise RuntimeError("synctools.protocol._native was not built (see setup.py): pip install -e . builds it")
pytestmark = pytest.mark.skipif(_bulk._native is None, reason="the compiled extension is not built here")

NOW = ServerTime(170_000_000_050)  # 1,700,000,000.50 s


def python_reading(body: bytes, now: ServerTime | None) -> BSOColumns | None:
    """What the network layer's reader makes of ``body`` without the compiled reader."""
    try:
        data = _json.loads(body)
    except ValueError:
        return None
    return columns_from_json(data, now) if isinstance(data, list) else None


def same(a: BSOColumns, b: BSOColumns) -> bool:
    typed = lambda xs: [(type(x), x) for x in xs]  # noqa: E731 - True is not 1 here
    return (
        typed(a.ids) == typed(b.ids) and typed(a.payloads) == typed(b.payloads)
        and a.modified.dtype == b.modified.dtype == np.int64 and a.modified.tolist() == b.modified.tolist()
        and typed(a.sortindex) == typed(b.sortindex) and typed(a.ttl) == typed(b.ttl)
        and a.errors is None and b.errors is None
    )  # fmt: skip


# ------------------------------------------------------------------ bodies, byte by byte

GOOD_WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  "])
#: JSON's whitespace, and (one time in 40) two characters that are not JSON's
WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  "] * 12 + ["\x0b", "\u00a0"])
KEYS = ["id", "modified", "payload", "sortindex", "ttl"]
KEY = st.one_of(
    st.sampled_from(KEYS).map(json.dumps),
    st.sampled_from(['"collection"', '"other"', '"\\u0069d"', '"ID"', '""', "id", "'id'", '"modified "']),
)
STRING = st.one_of(
    st.text(max_size=10).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.text(max_size=10).map(json.dumps),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=66).map(json.dumps),
    st.sampled_from([
        '"a"', '""', '"' + "a" * 64 + '"', '"' + "a" * 65 + '"', '"\\u0041"', '"\\u00e9"', '"\\ud83d\\ude00"',
        '"\\ud800"', '"\\udc00x"', '"\\ud800\\u0041"', '"\\/\\"\\\\\\b\\f\\n\\r\\t"', '"\\x41"', '"\\u12"', '"a\tb"',
        '"a\x00"', '"\x7f"', '"tab\\t"', '"é"', '"\u2028"', '"open', '"\\"', "null", "1", "true", "[]", "{}",
        '"{\\"ciphertext\\":\\"q80=\\",\\"IV\\":\\"AAAAAAAAAAAAAAAAAAAAAA==\\",\\"hmac\\":\\"00\\"}"',
    ]),
)  # fmt: skip
NUMBER = st.one_of(
    st.sampled_from([
        "1700000000.12", "1700000000", "1700000000.1", "1700000000.10", "1700000000.123", "1700000000.50",
        "1700000000.51", "1700000000.", ".5", "0", "0.0", "0.01", "-0", "-1", "01", "1e3", "1E3", "1.5e2",
        "99999999999.99", "100000000000", "999999999999", "9223372036854775807", "9223372036854775808",
        "-9223372036854775807", "-9223372036854775808", "18446744073709551616", "999999999", "1000000000",
        "-999999999", "-1000000000", "1.0", "true", "false", "null", '"1"', "NaN", "Infinity", "+1", "0x10",
    ]),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.floats(min_value=0, max_value=2e11, allow_nan=False).map(repr),
    st.decimals(min_value=0, max_value=10**11, places=2).map(str),
)  # fmt: skip


@st.composite
def member(draw: st.DrawFn) -> str:
    key = draw(KEY)
    value = (
        draw(STRING) if key in ('"id"', '"payload"') and draw(st.integers(0, 9)) else draw(st.one_of(NUMBER, STRING))
    )
    return draw(WS) + key + draw(WS) + ":" + draw(WS) + value + draw(WS)


ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
GOOD = {
    "id": st.one_of(st.text(ASCII, min_size=1, max_size=64).map(json.dumps),
                    st.sampled_from(['"\\u0041b"', '"a\\/b"', '"\\"q"', json.dumps("a" * 64), json.dumps("a" * 65),
                                     json.dumps("~" * 63 + " ")])),
    "payload": st.text(max_size=12).map(lambda t: json.dumps(t, ensure_ascii=False))
               | st.text(max_size=12).map(json.dumps),
    "modified": st.one_of(st.integers(min_value=0, max_value=int(NOW)).map(lambda c: f"{c // 100}.{c % 100:02d}"),
                          st.integers(min_value=int(NOW) - 10**9, max_value=int(NOW) + 5).map(
                              lambda c: f"{c // 100}.{c % 100:02d}"),
                          st.integers(min_value=0, max_value=int(NOW) // 100).map(str),
                          st.sampled_from(["1700000000.5", "0", "0.0", "1700000000.50"]),
                          # numbers Python reads (and rounds) that are not the server's form
                          st.floats(min_value=0, max_value=1.7e9).map(repr),
                          st.decimals(min_value=0, max_value=1700000000, places=3).map(str)),
    "sortindex": st.one_of(st.just("null"), st.integers(min_value=-MAX_SORTINDEX, max_value=MAX_SORTINDEX).map(str)),
    "ttl": st.one_of(st.just("null"), st.integers(min_value=0, max_value=MAX_TTL).map(str)),
}  # fmt: skip
HOSTILE = {"id": STRING, "payload": STRING, "modified": NUMBER, "sortindex": NUMBER, "ttl": NUMBER}


@st.composite
def members(draw: st.DrawFn, flawed: bool) -> list[str]:
    """The three keys a record needs and the two it may have, in any order, each value well
    formed. ``flawed``: one time in ten a key it needs is missing, one value in five is
    anything at all, and the whitespace may not be JSON's."""
    ws = WS if flawed else GOOD_WS
    chosen = ["id", "modified", "payload"] + draw(st.lists(st.sampled_from(["sortindex", "ttl"]), unique=True))
    if flawed and draw(st.integers(0, 9)) == 0:
        chosen.remove(draw(st.sampled_from(["id", "modified", "payload"])))
    out = []
    for k in draw(st.permutations(chosen)):
        value = draw(HOSTILE[k]) if flawed and draw(st.integers(0, 4)) == 0 else draw(GOOD[k])
        out.append(draw(ws) + json.dumps(k) + draw(ws) + ":" + draw(ws) + value + draw(ws))
    return out


@st.composite
def record(draw: st.DrawFn, flawed: bool) -> str:
    if not flawed or draw(st.booleans()):
        return "{" + ",".join(draw(members(flawed))) + "}"
    parts = draw(st.one_of(members(True), st.lists(member(), max_size=6)))
    sep = draw(st.sampled_from([",", ",,", ";"]))
    return "{" + sep.join(parts) + draw(st.sampled_from(["}", ",}", ""]))


@st.composite
def page(draw: st.DrawFn) -> bytes:
    """Well-formed records, one of them (half the time) flawed; now and then a flaw
    around them: a byte order mark, trailing text, a byte that is not UTF-8."""
    n = draw(st.integers(0, 5))
    flawed = draw(st.integers(-n - 1, n - 1))  # < 0: none
    records = [draw(record(i == flawed)) for i in range(n)]
    text = draw(WS) + "[" + draw(WS) + ("," + draw(WS)).join(records) + draw(WS) + "]" + draw(WS)
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.sampled_from(["", "\ufeff", "x"])) + text + draw(st.sampled_from(["", " x", "]"]))
    body = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"])) + body[at:]
    return body


@given(page(), st.sampled_from([None, NOW]))
def test_the_compiled_page_reader_answers_as_the_json_parser_and_columns_or_hands_over(body, now):
    fast = columns_from_body(body, now)
    if fast is None:
        return
    slow = python_reading(body, now)
    assert slow is not None, f"the compiled reader took a page the checked path refuses: {body!r}"
    assert same(fast, slow), body


# ------------------------------------------------------------------ it takes what servers write

PRINTABLE_ID = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=64)
SERVER_BSO = st.tuples(
    PRINTABLE_ID,
    st.integers(min_value=0, max_value=int(NOW)),
    st.text(max_size=40),  # any payload text: the server stores it JSON-encoded (json.dumps)
    st.one_of(st.none(), st.integers(min_value=-MAX_SORTINDEX, max_value=MAX_SORTINDEX)),
)


@given(st.lists(SERVER_BSO, max_size=8), st.sampled_from([None, NOW]))
def test_every_page_the_embedded_server_writes_is_taken_as_it_reads(rows, now):
    body = ("[" + ",".join(bso_json(i, m, json.dumps(p), s) for i, m, p, s in rows) + "]").encode()
    fast = columns_from_body(body, now)
    assert fast is not None, body
    assert same(fast, python_reading(body, now))  # type: ignore[arg-type]
    assert fast.ids == [r[0] for r in rows] and fast.payloads == [r[2] for r in rows]
    assert fast.modified.tolist() == [r[1] for r in rows] and fast.sortindex == [r[3] for r in rows]


def test_a_page_as_firefox_and_syncstorage_rs_write_it_is_taken():
    """Whitespace, keys in another order, ttl, integer times, escapes: still the fast path."""
    body = (
        b'[ {"payload": "{\\"ciphertext\\":\\"q80=\\"}", "id": "ab\\u0063", "sortindex": -5,\n'
        b'   "ttl": 3600, "modified": 1700000000}, {"id":"x","modified":1700000000.5,"payload":"\\u00e9\\ud83d\\ude00"'
        b',"sortindex":null,"ttl":null}\r\n]\n'
    )
    fast = columns_from_body(body, NOW)
    assert fast is not None and same(fast, python_reading(body, NOW))  # type: ignore[arg-type]
    assert (
        fast.ids == ["abc", "x"]
        and fast.payloads[1] == "é😀"
        and fast.modified.tolist() == [170000000000, 170000000050]
    )
    assert fast.sortindex == [-5, None] and fast.ttl == [3600, None]


@pytest.mark.parametrize("body", [
    b'[{"id":"a","modified":1700000000.51,"payload":"p"}]',  # after the answer's own time
    b'[{"id":"a","modified":1700000000.123,"payload":"p"}]',  # three decimals: a float, not the server's form
    b'[{"id":"a","modified":1.7e9,"payload":"p"}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","sortindex":1000000000}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","ttl":-1}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","sortindex":true}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","collection":"history"}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","id":"b"}]',
    b'[{"id":"a\\u0000","modified":1700000000,"payload":"p"}]',
    b'[{"id":"a","modified":1700000000,"payload":"\\ud800"}]',
    b'[{"id":"a","modified":1700000000,"payload":"\xff"}]',
    b'[{"id":"a","modified":1700000000}]',
    b'[{"id":"a","payload":"p"}]',
    b'[{"modified":1700000000,"payload":"p"}]',
    b'[{"id":"a\x7f","modified":1700000000,"payload":"p"}]',
    b'[{"id":"a\\u007f","modified":1700000000,"payload":"p"}]',
    b'[{"id":"","modified":1700000000,"payload":"p"}]',
    b'[{"id":"' + b"a" * 65 + b'","modified":1700000000,"payload":"p"}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","other":5}]',
    b'[{"id":"a","modified":1700000000,"payload":"p","ttl":1,"ttl":2}]',
    b'[{"id":"a","modified":1700000000,"payload":"p"}] x',
    b'[{"id":"a","modified":1700000000,"payload":"p"},]',
    b'{"id":"a","modified":1700000000,"payload":"p"}',
    bytearray(b'[]'),
])  # fmt: skip
def test_each_edge_hands_the_page_over(body):
    """Each of these the compiled reader leaves to the JSON parser and the per-record
    checks, which decide (most of them find the record malformed, and say why)."""
    assert columns_from_body(body, NOW) is None
    if b"1700000000.51" not in body:  # later than NOW, not than no bound
        assert columns_from_body(body, None) is None


def test_an_empty_page_is_taken():
    fast = columns_from_body(b" [ ] ", NOW)
    assert fast is not None and len(fast) == 0 and fast.modified.dtype == np.int64
