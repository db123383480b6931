"""What every frame shares: common columns, errors, tombstones, unknown fields, dtypes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synctools import engines
from synctools.frames import frame_from_bsos, frame_from_records, frames_from_bsos, frames_from_records
from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.crypto import CollectionKeys, HMACMismatchError, KeyBundle

from .conftest import T0, dtype_map, expected_dtypes, make_bsos

FORMS = [
    {"id": "form1", "name": "searchbar-history", "value": "yoga coffee"},
    {"id": "form2", "name": "email", "value": "ada@example.com"},
]


def test_registry_knows_every_collection_and_falls_back_to_generic():
    for name in (
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
    ):
        assert engines.get(name).name == name
    for name in ("extension-storage", "no-such-collection", ""):
        engine = engines.get(name)
        assert isinstance(engine, engines.GenericEngine)
        assert engine.collection == name


def test_common_columns_come_first_with_their_dtypes(keys):
    df = frame_from_bsos("forms", make_bsos(FORMS, keys.bundle_for("forms"), sortindex=5, ttl=3600), keys)
    assert list(df.columns[:6]) == ["id", "modified", "sortindex", "ttl", "deleted", "error"]
    assert list(df.columns[-1:]) == ["extra"]
    assert dtype_map(df) == expected_dtypes(engines.get("forms").dtypes())
    assert df["modified"].iloc[0] == pd.Timestamp("2026-11-26 12:12:12.670", tz="UTC")
    assert df["sortindex"].tolist() == [5, 5]
    assert df["ttl"].tolist() == [3600, 3600]
    assert df["deleted"].tolist() == [False, False]
    assert df["error"].isna().all()
    assert df["value"].tolist() == ["yoga coffee", "ada@example.com"]


def test_modified_keeps_server_precision_from_every_form(keys):
    bundle = keys.bundle_for("forms")
    payload = json.dumps(bundle.encrypt(FORMS[0]))
    bsos = [
        {"id": "form1", "payload": payload, "modified": T0},
        {"id": "form1", "payload": payload, "modified": "1795695132.67"},
        BSO(id="form1", payload=payload, modified=ServerTime.parse("1795695132.67")),
        {"id": "form1", "payload": payload},
    ]
    got = frame_from_bsos("forms", bsos, keys)["modified"].tolist()
    want = pd.Timestamp("2026-11-26 12:12:12.670", tz="UTC")
    assert got[:3] == [want] * 3
    assert pd.isna(got[3])


def test_tombstones_are_rows_marked_deleted(keys):
    recs = [FORMS[0], {"id": "gone", "deleted": True}]
    df = frame_from_bsos("forms", make_bsos(recs, keys.bundle_for("forms")), keys)
    gone = df.set_index("id").loc["gone"]
    assert bool(gone["deleted"]) is True
    assert pd.isna(gone["name"]) and pd.isna(gone["error"])


def test_records_that_fail_to_decrypt_stay_with_their_error(keys):
    good = make_bsos(FORMS, keys.bundle_for("forms"))
    other_key = make_bsos([{"id": "stranger", "name": "q", "value": "v"}], KeyBundle.random())
    not_json = [{"id": "garbled", "modified": T0, "payload": "{not json"}]
    wrong_id = make_bsos([{"id": "elsewhere", "name": "q", "value": "v"}], keys.bundle_for("forms"))
    wrong_id[0]["id"] = "claimed"
    df = frame_from_bsos("forms", good + other_key + not_json + wrong_id, keys).set_index("id")
    assert df.loc["stranger", "error"].startswith("hmac-mismatch: ")
    assert df.loc["garbled", "error"].startswith("bad-shape: ")
    assert df.loc["claimed", "error"].startswith("bad-cleartext: ")
    for rid in ("stranger", "garbled", "claimed"):
        row = df.loc[rid]
        assert pd.isna(row["name"]) and pd.isna(row["value"]) and pd.isna(row["deleted"])
    assert df.loc[["form1", "form2"], "error"].isna().all()


def test_malformed_cleartext_fields_are_reported_not_raised(keys):
    recs = [FORMS[0], {"id": "odd", "name": 42, "value": "v"}, {"id": "odd2", "deleted": "yes"}]
    df = frame_from_bsos("forms", make_bsos(recs, keys.bundle_for("forms")), keys).set_index("id")
    assert df.loc["odd", "error"] == "bad-record: field 'name' should be a string, got number"
    assert df.loc["odd2", "error"] == "bad-record: field 'deleted' should be a boolean, got string"
    assert pd.isna(df.loc["form1", "error"])


def test_error_messages_never_show_the_bad_value(keys):
    recs = [{"id": "p", "hostname": "https://a.example", "password": ["s3cret-value"]}]
    df = frame_from_bsos("passwords", make_bsos(recs, keys.bundle_for("passwords")), keys)
    assert "s3cret" not in df["error"].iloc[0]
    assert "'password' should be a string, got array" in df["error"].iloc[0]


def test_unknown_fields_are_kept_in_extra(keys):
    recs = [{"id": "f", "name": "q", "value": "v", "newField": {"nested": [1, 2]}, "flag": True}]
    df = frame_from_bsos("forms", make_bsos(recs, keys.bundle_for("forms")), keys)
    assert df["extra"].iloc[0] == {"newField": {"nested": [1, 2]}, "flag": True}


def test_unknown_collections_keep_every_field(keys):
    recs = [{"id": "ext-1", "extId": "addon@example.com", "data": '{"k": 1}'}]
    df = frame_from_bsos("extension-storage", make_bsos(recs, keys.default), keys)
    assert list(df.columns) == ["id", "modified", "sortindex", "ttl", "deleted", "error", "extra"]
    assert df["extra"].iloc[0] == {"extId": "addon@example.com", "data": '{"k": 1}'}


def test_collection_keys_pick_the_collections_own_bundle(keys):
    assert keys.bundle_for("passwords") != keys.default
    recs = [{"id": "p1", "hostname": "https://a.example", "username": "u", "password": "pw"}]
    bsos = make_bsos(recs, keys.bundle_for("passwords"))
    assert frame_from_bsos("passwords", bsos, keys)["error"].isna().all()
    assert frame_from_bsos("passwords", bsos, keys.bundle_for("passwords"))["error"].isna().all()
    df = frame_from_bsos("passwords", bsos, keys.default)
    assert df["error"].iloc[0].startswith("hmac-mismatch")


def test_empty_collections_give_empty_typed_frames(keys):
    for name in ("forms", "history", "bookmarks", "tabs", "unknown"):
        frames = frames_from_bsos(name, [], keys)
        assert len(frames.main) == 0
        assert list(frames.main.columns) == list(engines.get(name).dtypes())


def test_bad_inputs_say_what_to_pass(keys):
    with pytest.raises(TypeError, match="KeyBundle or a CollectionKeys"):
        frame_from_bsos("forms", [], b"\x00" * 64)
    with pytest.raises(TypeError, match="pass dicts"):
        frame_from_bsos("forms", ["just a payload"], keys)
    with pytest.raises(ValueError, match="has no string 'id'"):
        frame_from_bsos("forms", [{"payload": "{}"}], keys)
    with pytest.raises(ValueError, match="one envelope per record"):
        frame_from_records("forms", FORMS, envelopes=[{"id": "form1"}])


def test_frames_from_records_takes_decrypted_records_and_errors(keys):
    envelopes = [
        {"id": "form1", "modified": T0, "sortindex": 1},
        {"id": "form2", "modified": T0 + 1},
        {"id": "x"},
    ]
    records = [FORMS[0], FORMS[1], HMACMismatchError("HMAC mismatch", "x")]
    df = frame_from_records("forms", records, envelopes)
    assert df["id"].tolist() == ["form1", "form2", "x"]
    assert df["sortindex"].tolist()[0] == 1
    assert df["error"].iloc[2].startswith("hmac-mismatch")
    # An unknown envelope (None), as a store may hold: the id comes from the record.
    df = frame_from_records("forms", records, [envelopes[0], None, None])
    assert df["id"].tolist() == ["form1", "form2", "x"] and df["modified"].isna().tolist() == [
        False,
        True,
        True,
    ]
    # Without envelopes: ids from the records (or the error), modified unknown.
    df = frame_from_records("forms", records)
    assert df["id"].tolist() == ["form1", "form2", "x"]
    assert df["modified"].isna().all()


def test_frames_from_records_equals_frames_from_bsos(keys):
    bsos = make_bsos(FORMS, keys.bundle_for("forms"))
    a = frames_from_bsos("forms", bsos, keys).main
    b = frames_from_records("forms", [keys.bundle_for("forms").decrypt(b["payload"]) for b in bsos], bsos).main
    pd.testing.assert_frame_equal(a, b)


def test_frames_result_lists_and_names_its_frames(keys):
    frames = frames_from_bsos("forms", make_bsos(FORMS, keys.bundle_for("forms")), keys)
    assert frames.names() == ["main"]
    assert frames["main"] is frames.main
    with pytest.raises(KeyError, match="forms has no frame 'visits'"):
        frames["visits"]
    assert "forms" in repr(frames) and "2 rows" in repr(frames)
    page = frames._repr_html_()
    assert "main: 2 rows" in page and "yoga coffee" in page


def test_keys_never_appear_in_frames_or_errors():
    keys = CollectionKeys.generate()
    bsos = make_bsos([{"id": "a", "name": "n", "value": "v"}], KeyBundle.random())
    df = frame_from_bsos("forms", bsos, keys)
    text = df.to_csv()
    for secret in keys.default.to_b64():
        assert secret not in text


def test_secrets_in_unknown_fields_are_masked_too():
    from synctools.frames import frame_from_records, to_csv

    cards = [{"id": "cc2", "cc-number": "4222222222222222", "entry": {"cc-number-enc": "ENCRYPTED"}}]
    df = frame_from_records("creditcards", cards)
    text = to_csv(df, None)
    assert "4222222222222222" not in text and "ENCRYPTED" not in text
    assert frame_from_records("creditcards", cards, reveal=True)["extra"][0]["cc-number"] == "4222222222222222"
    logins = [{"id": "p1", "hostname": "https://a.example", "password": "pw1", "entry": {"password": "pw2"}}]
    text = to_csv(frame_from_records("passwords", logins), None)
    assert "pw1" not in text and "pw2" not in text
