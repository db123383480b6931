"""Profile reads a real Firefox ESR profile into typed frames, and never shows a secret."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from synctools.device import Profile


def test_bookmarks_carry_sync_ids_and_fields(profile_dir):
    bm = Profile(profile_dir).bookmarks()
    assert str(bm["date_added"].dtype) == "datetime64[us, UTC]" and str(bm["sync_change_counter"].dtype) == "Int64"
    assert str(bm["deleted"].dtype) == "boolean" and str(bm["id"].dtype) == "str"
    by_title = bm.set_index("title")
    # the roots keep Sync's names; the tags root is never synced
    assert {"places", "menu", "toolbar", "unfiled", "mobile"} <= set(bm["id"])
    assert not bm.loc[bm["id"] == "tags", "syncable"].iloc[0]
    offline = by_title.loc["Added while the server refused"]  # added while the stack answered 503
    assert offline["sync_status"] == "new" and offline["sync_change_counter"] == 1 and offline["parent_id"] == "toolbar"
    assert (
        by_title.loc["Team wiki", "sync_status"] == "normal" and by_title.loc["Team wiki", "sync_change_counter"] == 0
    )
    work = by_title.loc["Work", "id"]
    kids = bm[bm["parent_id"] == work].sort_values("position")
    assert kids["type"].tolist() == ["bookmark", "bookmark", "separator"]
    tomb = bm[bm["deleted"]]
    assert len(tomb) == 1 and tomb["last_modified"].notna().all()  # "Recipes", deleted while offline
    assert bm["error"].isna().all()


def test_mirror_history_visits_forms(profile_dir):
    p = Profile(profile_dir)
    mirror = p.bookmarks_mirror()
    assert "Recipes" in set(mirror["title"].dropna())  # the server still had it when Firefox last merged
    assert mirror.loc[mirror["id"] == "toolbar", "guid"].iloc[0] == "toolbar_____"
    h = p.history()
    assert (
        len(h) == 6 and h["last_visit"].is_monotonic_decreasing and str(h["last_visit"].dtype) == "datetime64[us, UTC]"
    )
    v = p.visits()
    assert len(v) == 12 and set(v["transition"]) == {"link", "typed"} and set(v["id"]) == set(h["id"])
    f = p.forms()
    assert set(zip(f["name"], f["value"])) >= {("email", "ada@example.com"), ("city", "Lisbon")}


def test_history_is_capped_and_filtered(profile_dir):
    p = Profile(profile_dir)
    two = p.history(limit=2)
    assert len(two) == 2 and two.attrs["synctools"]["truncated"] is True
    assert p.history(limit=100).attrs["synctools"]["truncated"] is False
    newest = p.history()["last_visit"].iloc[0]
    since = p.history(since=newest - pd.Timedelta(hours=36))
    assert len(since) == 2 and (since["last_visit"] >= newest - pd.Timedelta(hours=36)).all()
    assert p.history(url="page/3")["url"].tolist() == ["https://example.com/page/3"]
    assert len(p.visits(limit=3)) == 3 and len(p.visits(url="page/1")) == 2
    with pytest.raises(ValueError, match="limit"):
        p.history(limit=-1)
    with pytest.raises(TypeError, match="date bound"):
        p.history(since=object())


def test_logins_never_show_what_is_encrypted(profile_dir):
    p = Profile(profile_dir)
    logins = p.logins()
    raw = json.loads((profile_dir / "logins.json").read_text())
    secrets = [x[k] for x in raw["logins"] for k in ("encryptedUsername", "encryptedPassword") if x.get(k)]
    shown = logins.to_csv() + repr(logins.to_dict("records"))
    assert secrets and not any(s in shown or s[:24] in shown for s in secrets)
    assert not [c for c in logins.columns if "encrypted" in c or c in ("username", "password")]
    offline = logins[logins["origin"] == "https://offline.example"].iloc[0]
    assert offline["sync_counter"] == 1 and offline["ever_synced"] == False and offline["has_password"]  # noqa: E712
    assert not logins.loc[logins["origin"] == "chrome://FirefoxAccounts", "syncable"].iloc[0]


def test_account_shows_no_key_or_token(profile_dir):
    p = Profile(profile_dir)
    acct = p.account()
    data = json.loads((profile_dir / "signedInUser.json").read_text())["accountData"]
    assert acct["email"].iloc[0] == data["email"] and acct["id"].iloc[0] == data["uid"] and acct["verified"].iloc[0]
    assert acct["device_id"].iloc[0] == data["device"]["id"]
    assert "sessionToken" in acct["fields"].iloc[0]  # its name, never its value
    everything = "".join(df.to_csv() for df in p.frames().values())
    for key in ("sessionToken", "encryptedSendTabKeys"):
        assert data[key] not in everything
    for token in data["oauthTokens"].values():
        assert token["token"] not in everything


def test_prefs_and_settings(profile_dir):
    p = Profile(profile_dir)
    s = p.settings
    assert s.configured and s.username.startswith("firefox-") and s.client_id and s.declined == []
    assert s.last_sync is not None and s.last_sync.tzinfo is not None
    assert s.engines["bookmarks"] and s.token_server.endswith("/token/1.0/sync/1.5")
    prefs = p.prefs()
    assert prefs["id"].str.startswith(("services.sync.", "identity.")).all()
    assert len(p.prefs(everything=True)) > len(prefs)


def test_pings_from_a_real_pending_glean_ping(profile_dir):
    pings = Profile(profile_dir).pings()
    main, engines = pings.main, pings["engines"]
    assert len(main) == 5 and (main["source"] == "glean-pending").all() and main["error"].isna().all()
    last = main.iloc[-1]
    assert last["failure"] == 'httperror {"code": 503}' and last["status_sync"] == "error.sync.reason.serverMaintenance"
    assert str(main["when"].dtype) == "datetime64[ms, UTC]"
    bm = engines[engines["engine"] == "bookmarks-buffered"]
    assert bm["sent"].max() >= 1 and bm["validation_checked"].notna().any()


def test_no_pings_is_not_an_error(profile_dir):
    import shutil

    shutil.rmtree(profile_dir / "datareporting")
    pings = Profile(profile_dir).pings()
    assert pings.main.empty and pings.engines.empty and "when" in pings.main.columns


def test_profile_with_only_prefs(tmp_path):
    (tmp_path / "prefs.js").write_text('user_pref("browser.startup.page", 1);\n')
    p = Profile(tmp_path)
    for name, df in p.frames().items():
        assert df.empty, name
    assert not p.settings.configured
