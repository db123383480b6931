"""Frames assembled from parts (what a Sync holds: each page parsed once, Arrow for
history) equal the checked per-record path on the same records, column by column, for
hostile records too: every failed record is a row with its error, never dropped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synctools import engines
from synctools.engines.base import Part
from synctools.frames import frames_from_records
from synctools.protocol._columns import BSOColumns
from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.crypto import KeyBundle, decrypt_many

from .conftest import T0

US = 1_000_000


def page(rid: str, n: int = 3) -> dict:
    return {"id": rid, "histUri": f"https://www.example.com/{rid}", "title": f"Page {rid}",
            "visits": [{"date": 1_790_000_000 * US - k * 3600 * US, "type": 1 + k % 9} for k in range(n)]}  # fmt: skip


def raw_payload(bundle: KeyBundle, cleartext: bytes) -> str:
    """A payload whose cleartext is exactly these bytes (valid JSON or not)."""
    return json.dumps(bundle.encrypt_bytes(cleartext, b"\x07" * 16))


#: cleartexts the checked path refuses or reads in a particular way; the Arrow reader
#: accepts several of them as they are, so each must be caught before it lands in a frame
HOSTILE: dict[str, bytes] = {
    "no-id": b'{"histUri":"http://a","visits":[]}',
    "null-id": b'{"id":null,"histUri":"http://a","visits":[]}',
    "other-id": b'{"id":"someone-else","histUri":"http://a","visits":[]}',
    "bad-utf8-url": b'{"id":"%s","histUri":"http://\xff\xfe","visits":[]}',
    "bad-utf8-title": b'{"id":"%s","title":"\xc3","visits":[]}',
    "bom": b'\xef\xbb\xbf{"id":"%s","visits":[]}',
    "null-deleted": b'{"id":"%s","deleted":null,"histUri":"a","visits":[]}',
    "escaped-null-deleted": b'{"id":"%s","\\u0064eleted":null,"histUri":"a"}',
    "lowest-int64-date": b'{"id":"%s","visits":[{"date":-9223372036854775808,"type":1}]}',
    "float-date": b'{"id":"%s","visits":[{"date":1.5,"type":1}]}',
    "bool-type": b'{"id":"%s","visits":[{"date":1,"type":true}]}',
    "string-date": b'{"id":"%s","visits":[{"date":"1","type":1}]}',
    "huge-int": b'{"id":"%s","visits":[{"date":99999999999999999999,"type":1}]}',
    "visits-object": b'{"id":"%s","visits":{}}',
    "null-visit": b'{"id":"%s","visits":[null]}',
    "number-title": b'{"id":"%s","title":5}',
    "not-json": b'{"id":"%s",',
    "trailing": b'{"id":"%s","visits":[]} xx',
    "array": b"[1]",
    "raw-tab": b'{"id":"%s","title":"a\tb"}',
    "deep": b'{"id":"%s","x":' + b"[" * 3000 + b"]" * 3000 + b"}",
    "huge-title": b'{"id":"%s","title":"' + b"a" * 3_000_000 + b'","visits":[]}',
    "tombstone": b'{"id":"%s","deleted":true}',
    "tombstone-with-url": b'{"id":"%s","deleted":true,"histUri":"a"}',
    "unknown-field": b'{"id":"%s","histUri":"a","flavour":"x"}',
    "extra-visit-key": b'{"id":"%s","visits":[{"date":1,"type":1,"x":2}]}',
    "escaped-key": b'{"\\u0069d":"%s","histUri":"a"}',
    "url-is-deleted": b'{"id":"%s","histUri":"deleted"}',
    "leading-space": b' {"id":"%s","histUri":"a"} ',
    "nul-escape": b'{"id":"%s","histUri":"a\\u0000b"}',
}


def hostile_bsos(bundle: KeyBundle, n_good: int = 400) -> list[BSO]:
    """Good pages around every hostile cleartext, an HMAC failure, bad base64, bad padding
    and a payload that is not JSON: all with a server envelope."""
    out = []
    t = ServerTime.parse(T0)
    for i in range(n_good):
        rid = f"good{i:05d}"
        out.append(BSO(rid, json.dumps(bundle.encrypt(page(rid, i % 5))), t + i, i % 7 or None))
    for k, (name, text) in enumerate(HOSTILE.items()):
        rid = f"bad-{name}"[:64]
        clear = text.replace(b"%s", rid.encode()) if b"%s" in text else text
        out.insert(7 * k + 3, BSO(rid, raw_payload(bundle, clear), t + 1000 + k))
    tampered = bundle.encrypt(page("hmac0"))
    tampered["hmac"] = "0" * 64
    out.insert(50, BSO("hmac0", json.dumps(tampered), t + 2000))
    out.insert(60, BSO("b64", json.dumps(bundle.encrypt(page("b64")) | {"ciphertext": "!!notbase64"}), t + 2001))
    out.insert(70, BSO("notjson", "{not json", t + 2002))
    out.insert(80, BSO("shortiv", json.dumps(bundle.encrypt(page("shortiv")) | {"IV": "AAAA"}), t + 2003))
    return out


def parts_of(collection: str, bundle: KeyBundle, bsos: list[BSO], size: int) -> list[Part]:
    engine = engines.get(collection)
    parts = []
    for a in range(0, len(bsos), size):
        env = BSOColumns.from_bsos(bsos[a : a + size])
        parsed, _errors = engine.parse_cleartexts(decrypt_many(bundle, env.payloads, env.ids, raw=True), env.ids)
        parts.append(Part(env, parsed, np.ones(len(env), dtype=bool), np.arange(a, a + len(env))))
    return parts


def assert_frames_equal(got, want) -> None:
    assert got.names() == want.names()
    for name, df in want:
        other = got[name]
        assert list(other.columns) == list(df.columns), name
        for col in df.columns:
            pd.testing.assert_series_equal(other[col], df[col], check_names=True, obj=f"{name}.{col}")


@pytest.mark.parametrize("size", [97, 1000])
def test_history_parts_equal_the_plain_path_with_hostile_records(keys, size):
    bundle = keys.bundle_for("history")
    bsos = hostile_bsos(bundle)
    records = decrypt_many(bundle, [b.payload for b in bsos], [b.id for b in bsos])
    want = frames_from_records("history", records, envelopes=bsos)
    got = engines.get("history").assemble(parts_of("history", bundle, bsos, size))
    assert_frames_equal(got, want)
    errors = got.main.set_index("id")["error"]
    for name in HOSTILE:  # every refused record is a row with its reason, none dropped
        rid = f"bad-{name}"[:64]
        assert rid in errors.index
    assert errors["bad-no-id"].startswith("bad-cleartext")
    assert errors["bad-bad-utf8-url"].startswith("not-json")
    assert errors["bad-null-deleted"].startswith("bad-record: field 'deleted'")
    assert errors["bad-escaped-null-deleted"].startswith("bad-record: field 'deleted'")
    assert errors["bad-lowest-int64-date"].startswith("bad-record")
    assert errors["bad-deep"].startswith("not-json")
    assert errors["hmac0"].startswith("hmac-mismatch") and errors["notjson"].startswith("bad-shape")
    assert (
        pd.isna(errors["bad-huge-title"]) and len(got.main.set_index("id").at["bad-huge-title", "title"]) == 3_000_000
    )


@pytest.mark.parametrize("at", [0, 150])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_cleartext_among_good_ones_reads_as_the_plain_path_reads_it(keys, name, at):
    """One hostile record in a part the fast reader would otherwise take whole: it must
    notice (or read it exactly as the checked path does)."""
    bundle = keys.bundle_for("history")
    t = ServerTime.parse(T0)
    rid = f"bad-{name}"
    text = HOSTILE[name]
    clear = text.replace(b"%s", rid.encode()) if b"%s" in text else text
    bsos = [BSO(f"good{i:04d}", json.dumps(bundle.encrypt(page(f"good{i:04d}", i % 4))), t + i) for i in range(300)]
    bsos.insert(at, BSO(rid, raw_payload(bundle, clear), t + 150))
    records = decrypt_many(bundle, [b.payload for b in bsos], [b.id for b in bsos])
    want = frames_from_records("history", records, envelopes=bsos)
    assert_frames_equal(engines.get("history").assemble(parts_of("history", bundle, bsos, 1000)), want)


@pytest.mark.parametrize("compiled", [True, False])
def test_fast_readers_read_the_plain_pages_and_fall_back_only_where_they_must(keys, monkeypatch, compiled):
    """The fast path is taken for well-formed parts (not silently the slow one): the
    compiled reader where it is built, else Arrow's."""
    from synctools.engines import history
    from synctools.protocol import _bulk

    if compiled and _bulk._native is None:
        pytest.skip("the compiled extension is not built here")
    if not compiled:
        monkeypatch.setattr(_bulk, "_native", None)
    calls = {"native": 0, "arrow": 0, "plain": 0}
    real_native, real_arrow, real_plain = history._native_chunk, history._arrow_chunk, history._plain_chunk

    def native(*a, **k):
        got = real_native(*a, **k)
        calls["native"] += got is not None
        return got

    def arrow(*a, **k):
        got = real_arrow(*a, **k)
        calls["arrow"] += got is not None
        return got

    def plain(records):
        calls["plain"] += 1
        return real_plain(records)

    monkeypatch.setattr(history, "_native_chunk", native)
    monkeypatch.setattr(history, "_arrow_chunk", arrow)
    monkeypatch.setattr(history, "_plain_chunk", plain)
    bundle = keys.bundle_for("history")
    good = [BSO(f"p{i}", json.dumps(bundle.encrypt(page(f"p{i}"))), ServerTime(100 + i)) for i in range(300)]
    parts_of("history", bundle, good, 100)
    assert calls == ({"native": 3, "arrow": 0, "plain": 0} if compiled else {"native": 0, "arrow": 3, "plain": 0})
    parts_of("history", bundle, hostile_bsos(bundle, 50), 1000)
    assert calls["plain"] == 1


@pytest.mark.parametrize("collection", ["bookmarks", "passwords", "tabs", "prefs", "clients", "extension-storage"])
def test_other_engines_parts_equal_the_plain_path(keys, collection):
    bundle = keys.bundle_for(collection)
    recs = [{"id": f"r{i:03d}", "title": f"T{i}", "type": "bookmark", "parentid": "menu", "hostname": "https://a",
             "username": "u", "password": f"secret{i}", "clientName": "d", "tabs": [{"title": "t", "urlHistory": ["https://x"]}],
             "value": {"a": i}, "name": "n"} for i in range(40)]  # fmt: skip
    recs[5]["title"] = 5  # a wrong type: a row with its error
    bsos = [BSO(r["id"], json.dumps(bundle.encrypt(r)), ServerTime(100 + i)) for i, r in enumerate(recs)]
    bsos.insert(9, BSO("other-key", json.dumps(KeyBundle.random().encrypt({"id": "other-key"})), ServerTime(99)))
    for reveal in (False, True):
        records = decrypt_many(bundle, [b.payload for b in bsos], [b.id for b in bsos])
        want = frames_from_records(collection, records, envelopes=bsos, reveal=reveal)
        got = engines.get(collection).assemble(parts_of(collection, bundle, bsos, 16), reveal=reveal)
        assert_frames_equal(got, want)
        assert got.main.set_index("id").at["other-key", "error"].startswith("hmac-mismatch")


def test_dead_rows_leave_and_a_newer_version_takes_the_first_place(keys):
    """Liveness and order: what the view's bookkeeping hands the engines."""
    bundle = keys.bundle_for("history")
    v1 = [BSO(f"p{i}", json.dumps(bundle.encrypt(page(f"p{i}", 2))), ServerTime(100 + i)) for i in range(6)]
    newer = page("p2", 5) | {"title": "newer"}
    v2 = [BSO("p2", json.dumps(bundle.encrypt(newer)), ServerTime(200))]
    parts = parts_of("history", bundle, v1, 3) + parts_of("history", bundle, v2, 3)
    parts[0].live[2] = False  # p2's old row
    parts[2].key = np.array([2])  # where p2 was first read
    got = engines.get("history").assemble(parts)
    assert list(got.main["id"]) == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert got.main.set_index("id").at["p2", "title"] == "newer"
    assert got.main.set_index("id").at["p2", "visit_count"] == 5
    visits = got.visits.groupby("id", sort=False).size()
    assert list(visits.index) == ["p0", "p1", "p2", "p3", "p4", "p5"] and visits["p2"] == 5
    all_records = decrypt_many(bundle, [b.payload for b in v1], [b.id for b in v1])
    all_records[2] = newer
    envs = v1[:2] + v2 + v1[3:]
    assert_frames_equal(got, frames_from_records("history", all_records, envelopes=envs))
