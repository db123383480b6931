"""Hostile and damaged profiles: a clear SynctoolsError or a row with its error, never a
traceback from deep inside, and the rest of the profile still reads."""

from __future__ import annotations

import json
import sqlite3
import struct

import lz4.block
import pytest

from synctools.device import NotAProfileError, Profile, ProfileFileError
from synctools.errors import SynctoolsError

from .conftest import hashes


def test_not_a_profile(tmp_path):
    for path, why in [(tmp_path / "missing", "does not exist"), (tmp_path, "not a Firefox profile")]:
        with pytest.raises(NotAProfileError, match=why) as info:
            Profile(path)
        assert isinstance(info.value, SynctoolsError)
    (tmp_path / "places.sqlite.txt").write_text("x")
    with pytest.raises(NotAProfileError, match="is a file"):
        Profile(tmp_path / "places.sqlite.txt")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "header-only"])
def test_damaged_places(profile_dir, damage):
    db = profile_dir / "places.sqlite"
    data = db.read_bytes()
    db.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\x00\xff" * 5000, "empty": b"",
                    "header-only": data[:100]}[damage])  # fmt: skip
    before = hashes(profile_dir)
    p = Profile(profile_dir)
    with pytest.raises(ProfileFileError) as info:
        p.bookmarks()
        p.history(limit=None)
    assert "places.sqlite" in str(info.value) and isinstance(info.value, SynctoolsError)
    assert len(p.logins()) == 5 and len(p.syncs()) == 5  # the rest still reads
    assert hashes(profile_dir) == before


def test_places_of_an_old_and_a_new_firefox(profile_dir):
    db = profile_dir / "places.sqlite"
    with sqlite3.connect(db) as con:  # Firefox 52 had neither sync column
        con.execute("ALTER TABLE moz_bookmarks DROP COLUMN syncChangeCounter")
        con.execute("PRAGMA user_version = 35")
    with pytest.raises(ProfileFileError, match="before Firefox 53"):
        Profile(profile_dir).bookmarks()
    with sqlite3.connect(db) as con:  # a future Firefox: a newer schema, a new column, a column gone
        con.execute("PRAGMA user_version = 99")
        con.execute("ALTER TABLE moz_places ADD COLUMN something_new TEXT")
        for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%frecency%'"
        ).fetchall():
            con.execute(f"DROP INDEX {name}")
        con.execute("ALTER TABLE moz_places DROP COLUMN frecency")
    (profile_dir / "compatibility.ini").write_text("[Compatibility]\nLastVersion=190.0_20300101/20300101\n")
    p = Profile(profile_dir)
    bm = p.bookmarks()
    assert bm["sync_change_counter"].isna().all() and bm["sync_status"].notna().any()
    assert p.history()["frecency"].isna().all() and len(p.history()) == 6
    assert any("190.0" in n for n in p.notes)


def test_not_places_at_all(profile_dir):
    db = profile_dir / "places.sqlite"
    db.unlink()
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE other (x)")
    with pytest.raises(ProfileFileError, match="not a Places database"):
        Profile(profile_dir).bookmarks()


def test_bad_logins_json(profile_dir):
    path = profile_dir / "logins.json"
    path.write_text('{"logins": [')
    with pytest.raises(ProfileFileError, match="not valid JSON"):
        Profile(profile_dir).logins()
    path.write_text(json.dumps({"logins": [7, {"hostname": "https://x.example"}, {"guid": "{g}", "hostname": 5},
                                           {"guid": "{t}", "deleted": True, "syncCounter": 1}]}))  # fmt: skip
    logins = Profile(profile_dir).logins()
    assert logins["error"].tolist()[:3] == ["login #0 is a JSON int, not an object",
                                            "login #1 has no guid: Sync cannot upload it",
                                            "no origin (hostname): no site can use it"]  # fmt: skip
    assert logins["deleted"].tolist()[3] and logins["error"].isna().tolist()[3]
    path.write_text("[]")
    with pytest.raises(ProfileFileError, match="no 'logins' list"):
        Profile(profile_dir).logins()


def test_bad_signed_in_user(profile_dir):
    (profile_dir / "signedInUser.json").write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ProfileFileError, match="signedInUser.json"):
        Profile(profile_dir).account()


def _archive(profile_dir, name, data: bytes):
    folder = profile_dir / "datareporting" / "archived" / "2019-05"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def mozlz4(text: str) -> bytes:
    raw = text.encode()
    return b"mozLz40\0" + struct.pack("<I", len(raw)) + lz4.block.compress(raw, store_size=False)


def test_archived_pings_good_and_corrupt(profile_dir):
    ping = {
        "type": "sync",
        "payload": {
            "why": "schedule",
            "uid": "u1",
            "syncs": [
                {
                    "when": 1557000000000,
                    "took": 512,
                    "why": "user",
                    "failureReason": {"name": "autherror", "from": "tokenserver"},
                    "engines": [
                        {
                            "name": "bookmarks",
                            "incoming": {"applied": 4, "failed": 1},
                            "outgoing": [{"sent": 2}, {"sent": 1, "failed": 1}],
                            "validation": {"checked": 9, "problems": [{"name": "orphans", "count": 2}]},
                        }
                    ],
                }
            ],
        },
    }
    _archive(profile_dir, "1557000000000.aaaa-good.sync.jsonlz4", mozlz4(json.dumps(ping)))
    _archive(profile_dir, "1557000000001.bbbb-magic.sync.jsonlz4", b"notLz40\0" + b"\x00" * 20)
    good = mozlz4(json.dumps(ping))
    _archive(profile_dir, "1557000000002.cccc-cut.sync.jsonlz4", good[: len(good) // 2])
    _archive(profile_dir, "1557000000003.dddd-huge.sync.jsonlz4", b"mozLz40\0" + struct.pack("<I", 2**31) + b"\x10a")
    _archive(profile_dir, "1557000000004.eeee-json.sync.jsonlz4", mozlz4("{not json"))
    _archive(profile_dir, "1557000000005.ffff-short.sync.jsonlz4", b"mozLz40\0\x01")
    main = Profile(profile_dir).pings().main
    arch = main[main["source"] == "archived"].set_index("ping")
    ok = arch.loc["aaaa-good"]
    assert ok["failure"] == 'autherror {"from": "tokenserver"}' and ok["took"] == 512 and ok["reason"] == "schedule"
    errors = arch["error"].dropna().to_dict()
    assert set(errors) == {"bbbb-magic", "cccc-cut", "dddd-huge", "eeee-json", "ffff-short"}
    assert "not a mozLz4 file" in errors["bbbb-magic"] and "does not decompress" in errors["cccc-cut"]
    assert "damaged" in errors["dddd-huge"] and "not JSON" in errors["eeee-json"] and "cut off" in errors["ffff-short"]
    eng = Profile(profile_dir).pings().engines
    row = eng[eng["engine"] == "bookmarks"].iloc[0]
    assert (row["applied"], row["failed"], row["sent"], row["sent_failed"], row["validation_checked"]) == (
        4,
        1,
        3,
        1,
        9,
    )


def test_bad_pending_pings(profile_dir):
    pending = profile_dir / "datareporting" / "glean" / "pending_pings"
    (pending / "bad-json").write_text("/submit/firefox-desktop/sync/1/bad-json\n{oops\n")
    (pending / "no-body").write_text("/submit/firefox-desktop/sync/1/no-body\n")
    (pending / "not-sync").write_text("/submit/firefox-desktop/baseline/1/x\n{oops\n")
    (pending / "odd-syncs").write_text(
        '/submit/firefox-desktop/sync/1/odd\n{"metrics": {"object": {"syncs.syncs": [3]}}}\n'
    )
    main = Profile(profile_dir).pings().main
    errs = main.set_index("id")["error"].dropna().to_dict()
    assert (
        "not JSON" in errs["bad-json"]
        and "no body" in errs["no-body"]
        and errs["odd-syncs/0"] == "sync #0 is not a JSON object"
    )
    assert not main["id"].str.startswith("not-sync").any()


def test_log_lines_in_unknown_formats(profile_dir):
    logs = profile_dir / "weave" / "logs"
    (logs / "error-sync-1.txt").write_bytes(b"\xff\xfe\x00 binary junk\nno tabs here\n")
    (logs / "success-sync-2.txt").write_text(
        "1796029299000\tSync.Service\tNOISY\tStarting sync at 2026-11-30 09:01:39\n"
        "1796029299001\tSync.Service\tInfo\tcontinues\n  a stack line\n"
    )
    log = Profile(profile_dir).log()
    bad = log[log["error"].notna()]
    assert set(bad["file"]) == {"error-sync-1.txt", "success-sync-2.txt"}
    assert bad[bad["file"] == "error-sync-1.txt"]["error"].str.contains("not in Firefox's log format").all()
    assert "unknown log level 'NOISY'" in set(bad["error"])
    cont = log[(log["file"] == "success-sync-2.txt") & log["error"].isna()]
    assert cont["message"].iloc[0] == "continues\n  a stack line"
    assert len(Profile(profile_dir).syncs()) == 5  # the unknown line starts no sync


def test_prefs_js_is_parsed_never_executed(profile_dir, tmp_path):
    marker = tmp_path / "pwned"
    (profile_dir / "prefs.js").write_text(
        '// comment with user_pref("x", 1);\n/* block\nuser_pref("y", 2); */\n# hash comment\n'
        f'user_pref("services.sync.evil", __import__("os").system("touch {marker}"));\n'
        'user_pref("services.sync.username", "a\\"b\\\\c\\u00e9\\x41");\n'
        "user_pref('services.sync.single', 'it''s');\n"
        'user_pref("services.sync.multi",\n  42);\n'
        'user_pref("services.sync.big", 99999999999);\n'
        'user_pref("services.sync.cut", \n'
    )
    prefs = Profile(profile_dir).prefs()
    assert not marker.exists()
    values = {r.id: r.value for r in prefs.itertuples() if isinstance(r.id, str)}
    assert values["services.sync.username"] == 'a"b\\céA' and values["services.sync.multi"] == 42
    assert "x" not in values and "y" not in values
    errors = prefs["error"].dropna().tolist()
    assert any("not a string, an integer, true or false" in e for e in errors)
    assert any("integer Firefox cannot hold" in e for e in errors) and any("cut off" in e for e in errors)
    assert Profile(profile_dir).settings.username == 'a"b\\céA'
