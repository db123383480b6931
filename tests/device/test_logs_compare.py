"""Sync logs as syncs, and the comparison with the server, on the real Firefox profile."""

from __future__ import annotations

import pytest

from synctools.device import DeviceError, Profile, compare
from synctools.device.logs import recognise

# Lines as Firefox 153 writes them (services/sync sources) -> the event they are
LINES = {
    "Starting sync at 2026-11-30 09:00:45 in browser session 4hLnhgT3XSpC": "sync_start",
    "Sync completed at 2026-11-30 09:00:44 after 0.22 secs.": "sync_finish",
    'Sync encountered an error: {"status":503}': "sync_error",
    "Aborting sync: failed to get collections.": "sync_aborted",
    "Status.sync: success.sync => error.sync.reason.serverMaintenance": "status",
    "Records: 3 applied, 2 successfully, 1 failed to apply, 1 newly failed to apply, 0 reconciled.": "records",
    "Uploading 9 outgoing records": "uploading",
    "GET fail 503 http://127.0.0.1:1/storage/1.5/1/info/collections": "http",
    "POST http://127.0.0.1:1/v1/oauth/token 200": "http",
    "GET request to http://127.0.0.1:1/x failed": "http_failed",
    "Got Retry-After: 600": "retry_after",
    "Got X-Weave-Backoff: 300": "backoff",
    "Got backoff notification: 600000ms": "backoff",
    "Got 401 response; resetting clusterURL.": "auth_401",
    "Last sync also failed for 401. Delaying next sync.": "auth_401",
    "Setting cluster to http://127.0.0.1:1/storage/1.5/1/": "cluster",
    "Clock offset vs http://127.0.0.1:1/v1: -234": "clock_skew",
    "Failed to apply incoming record abcdefghijkl: TypeError": "record_error",
    "Ignoring: TypeError: URL constructor: htp//x is not a valid URL.": "record_error",
    "history failed: Error": "engine_failed",
    "Uploading records failed: 413": "upload_failed",
    "Failed to fetch a token for authentication": "token_error",
}


@pytest.mark.parametrize(("line", "event"), LINES.items())
def test_lines_a_person_searches_for_are_recognised(line, event):
    assert recognise(line)[0] == event


def test_syncs_of_the_real_logs(profile_dir):
    s = Profile(profile_dir).syncs()
    assert len(s) == 5 and s["id"].str.match(r"(error|success)-sync-\d+\.txt:\d+").all()
    # the first sync is one sync: the score-triggered start Firefox refused during it
    # ("Cannot start sync: already syncing?") is a line of it, not a second sync
    assert s["outcome"].tolist() == ["success"] * 4 + ["error"]
    assert s.iloc[0]["took"] > 0 and s.iloc[0]["uploaded"]
    last = s.iloc[-1]
    assert (
        last["status"] == "error.sync.reason.serverMaintenance"
        and last["retry_after"] == 600
        and last["backoff"] >= 600
    )
    assert last["statuses"] == {503: 1} and last["http_errors"][0].startswith("GET 503 ")
    ok = s.iloc[2]  # the sync that uploaded the three logins
    assert ok["uploaded"]["passwords"] == 3 and ok["requests"] > 0 and ok["cluster_url"].endswith("/storage/1.5/1/")
    assert s["clock_skew_ms"].notna().any()


def test_401_loop_and_node_reassignment(profile_dir):
    log = profile_dir / "weave" / "logs" / "error-sync-1796030000000.txt"
    t = 1796030000000
    lines = [
        "Sync.Service\tInfo\tStarting sync at 2026-11-30 09:13:20 in browser session x",
        "Sync.Resource\tDebug\tGET fail 401 http://127.0.0.1:2/storage/1.5/1/info/collections",
        "Sync.ErrorHandler\tInfo\tGot 401 response; resetting clusterURL.",
        "Sync.SyncAuthManager\tDebug\tSetting cluster to http://127.0.0.1:9999/storage/1.5/1/",
        "Sync.Service\tInfo\tStarting sync at 2026-11-30 09:13:21 in browser session x",
        "Sync.Resource\tDebug\tGET fail 401 http://127.0.0.1:9999/storage/1.5/1/info/collections",
        "Sync.ErrorHandler\tWarn\tLast sync also failed for 401. Delaying next sync.",
    ]
    log.write_text("".join(f"{t + i}\t{line}\n" for i, line in enumerate(lines)))
    s = Profile(profile_dir).syncs().tail(2)
    assert s["auth_401"].tolist() == [1, 1] and s["node_reassigned"].tolist() == [True, False]
    assert s["cluster_url"].iloc[-1] == "http://127.0.0.1:9999/storage/1.5/1/"


def problems(df):
    return {(r.id, r.problem) for r in df.itertuples()}


def test_compare_finds_exactly_what_the_fixture_made(profile_dir, server):
    p = Profile(profile_dir)
    bm = p.bookmarks().set_index("title")
    offline, recipes = (
        bm.loc["Added while the server refused", "id"],
        p.bookmarks_mirror().set_index("title").loc["Recipes", "id"],
    )
    df = compare(p, "bookmarks", server["bookmarks"])
    assert problems(df) == {(offline, "missing_on_server"), ("synctoolsBm1", "missing_on_device"),
                            (recipes, "deleted_on_one_side"), ("menu", "differs"), ("toolbar", "differs"),
                            ("unfiled", "differs")}  # fmt: skip
    row = df.set_index("id").loc[recipes]
    assert row["deleted_on"] == "device" and row["server"]["title"] == "Recipes"
    tb = df.set_index("id").loc["toolbar"]
    assert tb["fields"] == ["children"] and tb["device"]["children"][-1] == offline
    login = p.logins().set_index("origin").loc["https://offline.example", "id"]
    assert problems(compare(p, "passwords", server["passwords"])) == {(login, "missing_on_server")}
    city = p.forms().set_index("value").loc["Lisbon", "id"]
    assert problems(compare(p, "forms", server["forms"])) == {(city, "missing_on_server")}
    assert compare(p, "history", server["history"]).empty


def test_compare_marks_differences_and_hides_passwords(profile_dir, server):
    recs = {k: dict(v) for k, v in server["passwords"].items()}
    some = next(k for k, v in recs.items() if v.get("hostname") == "https://example.com")
    recs[some].update(password="hunter2-secret", formSubmitURL="https://elsewhere.example")
    df = compare(profile_dir, "passwords", recs)
    row = df.set_index("id").loc[some]
    assert row["problem"] == "differs" and row["fields"] == ["form_action"]
    assert "hunter2-secret" not in df.to_csv() + repr(df.to_dict("records"))
    bms = {k: dict(v) for k, v in server["bookmarks"].items()}
    wiki = next(k for k, v in bms.items() if v.get("title") == "Team wiki")
    bms[wiki].update(title=7, bmkUri=None, parentid="menu")
    bms["junk"] = {"id": "junk", "type": "folder", "children": "not-a-list"}
    df = compare(Profile(profile_dir), "bookmarks", bms).set_index("id")
    assert set(df.loc[wiki, "fields"]) == {"parent_id", "url", "title"}
    assert df.loc["junk", "problem"] == "missing_on_device"
    with pytest.raises(DeviceError, match="compares bookmarks, passwords, forms, history"):
        compare(profile_dir, "tabs", {})


def test_undecryptable_server_records_are_shown(profile_dir, server):
    df = compare(profile_dir, "forms", server["forms"], undecryptable=["zzBrokenRec1"])
    assert ("zzBrokenRec1", "server_undecryptable") in problems(df)
