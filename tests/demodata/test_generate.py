"""The generator: determinism, counts, and record shapes as Firefox writes them."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from synctools.demodata import (
    COLLECTIONS,
    EPOCH_MS,
    DemoAccount,
    PlantedKind,
    build_demo_account,
)
from synctools.protocol.bso import ServerTime, valid_collection_name, validate_bso_fields
from synctools.protocol.metaglobal import DEFAULT_ENGINES, MetaGlobal

DAY_MS = 86_400_000
FIREFOX_APP_ID = "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"
GUID_RE = re.compile(r"^[A-Za-z0-9_-]{12}$")


def test_same_seed_gives_identical_bytes(account: DemoAccount) -> None:
    again = build_demo_account()
    assert again.bsos == account.bsos  # ciphertext, IVs, HMACs, timestamps: all equal
    assert again.cleartext == account.cleartext
    assert again.kb == account.kb and again.planted == account.planted


def test_another_seed_gives_another_account_with_the_same_plantings(account: DemoAccount) -> None:
    other = build_demo_account(seed="another seed")
    assert other.kb != account.kb
    assert {b["id"] for b in other.bsos["history"]}.isdisjoint(b["id"] for b in account.bsos["history"])
    assert sorted(p.kind for p in other.planted) == sorted(PlantedKind.ALL)


def test_bad_seed_is_refused() -> None:
    with pytest.raises(TypeError, match="seed must be an int or a str"):
        build_demo_account(seed=1.5)  # type: ignore[arg-type]


def test_counts(account: DemoAccount) -> None:
    counts = {c: len(v) for c, v in account.cleartext.items()}
    assert list(account.bsos) == list(COLLECTIONS) == list(account.cleartext)
    assert counts["history"] == 20_000
    assert counts["passwords"] == 200
    assert 3 <= counts["clients"] <= 4 and counts["tabs"] == counts["clients"]
    assert (counts["meta"], counts["crypto"], counts["prefs"]) == (1, 1, 1)
    assert counts["forms"] >= 100 and counts["addons"] >= 5
    assert counts["addresses"] >= 1 and counts["creditcards"] >= 1
    kinds = Counter(r["type"] for r in account.cleartext["bookmarks"])
    assert 1900 <= kinds["bookmark"] <= 2100
    assert 200 <= kinds["folder"] <= 400
    assert kinds["separator"] >= 10 and kinds["query"] >= 5 and kinds["livemark"] >= 1
    for coll, bsos in account.bsos.items():
        assert [b["id"] for b in bsos] == [r["id"] for r in account.cleartext[coll]]
        assert len({b["id"] for b in bsos}) == len(bsos), f"duplicate ids in {coll}"


def test_bsos_pass_the_servers_rules(account: DemoAccount) -> None:
    for coll, bsos in account.bsos.items():
        assert valid_collection_name(coll)
        for bso in bsos:
            validate_bso_fields(bso)
            modified = ServerTime.parse(bso["modified"])
            assert modified.to_json() == bso["modified"]  # exactly two decimals
            assert int(modified) * 10 <= EPOCH_MS, "nothing is modified after the demo's now"


def test_meta_global(account: DemoAccount) -> None:
    meta = MetaGlobal.from_payload(account.bsos["meta"][0]["payload"])
    assert meta == account.meta_global
    assert meta.storage_version == 5
    assert meta.problems() == []
    assert meta.declined == {"addresses"}
    assert {n: e.version for n, e in meta.engines.items()} == {
        n: v for n, v in DEFAULT_ENGINES.items() if n != "addresses"
    }
    assert meta.engines["bookmarks"].version == 2 and meta.engines["prefs"].version == 2


def _children_index(records: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in records}


def test_bookmark_records_have_firefoxs_shapes(account: DemoAccount) -> None:
    records = account.cleartext["bookmarks"]
    by_id = _children_index(records)
    common = {"id", "type", "parentid", "hasDupe", "parentName", "dateAdded"}
    per_type = {
        "folder": {"title", "children"},
        "bookmark": {"bmkUri", "title"},
        "query": {"bmkUri", "title"},
        "livemark": {"title", "feedUri", "siteUri"},
        "separator": {"pos"},
    }
    optional = {"bookmark": {"keyword", "tags"}, "query": {"folderName"}}
    for r in records:
        need = common | per_type[r["type"]]
        assert need <= set(r) <= need | optional.get(r["type"], set()), r["id"]
        assert r["hasDupe"] is True
        assert isinstance(r["dateAdded"], int) and r["dateAdded"] <= EPOCH_MS
        if r["id"] not in ("menu", "toolbar", "unfiled", "mobile"):
            assert GUID_RE.match(r["id"]), r["id"]
    for root in ("menu", "toolbar", "unfiled", "mobile"):
        assert by_id[root]["type"] == "folder"
        assert (by_id[root]["parentid"], by_id[root]["parentName"]) == ("places", "")
    assert "places" not in by_id, "Firefox never uploads the Places root"
    tagged = [r for r in records if r.get("tags")]
    assert len(tagged) > 100 and all(isinstance(t, str) for r in tagged for t in r["tags"])
    keywords = [r["keyword"] for r in records if "keyword" in r]
    assert len(keywords) >= 5 and len(set(keywords)) == len(keywords)
    queries = [r for r in records if r["type"] == "query"]
    assert all(q["bmkUri"].startswith("place:") for q in queries)
    tag_queries = [q for q in queries if "folderName" in q]
    assert tag_queries and all(q["bmkUri"] == f"place:tag={q['folderName']}" for q in tag_queries)
    for sep in (r for r in records if r["type"] == "separator"):
        assert by_id[sep["parentid"]]["children"][sep["pos"]] == sep["id"]
    for r in records:
        parent = by_id.get(r["parentid"])
        if parent is not None and r["parentid"] != "places":
            assert r["parentName"] == parent["title"]


def test_history_records(account: DemoAccount) -> None:
    start_us = (EPOCH_MS - 366 * DAY_MS) * 1000
    types: Counter[int] = Counter()
    urls = set()
    for r in account.cleartext["history"]:
        assert set(r) == {"id", "histUri", "title", "visits"}
        assert GUID_RE.match(r["id"]) and r["histUri"].startswith("https://")
        urls.add(r["histUri"])
        visits = r["visits"]
        assert 1 <= len(visits) <= 20
        dates = [v["date"] for v in visits]
        assert dates == sorted(dates, reverse=True) and len(set(dates)) == len(dates)
        assert all(start_us <= d <= EPOCH_MS * 1000 for d in dates)
        types.update(v["type"] for v in visits)
    assert len(urls) == 20_000
    assert set(types) == {1, 2, 3, 5, 6, 7, 8, 9}, "every syncable transition type; embeds (4) never sync"
    assert types[1] > sum(types.values()) / 2, "following links is the usual way"
    # Top sites: a few pages carry the full 20 visits, most pages only one or two.
    visit_counts = Counter(len(r["visits"]) for r in account.cleartext["history"])
    assert visit_counts[20] >= 20 and visit_counts[1] > 5_000
    # Visits spread over the whole year, not bunched in a week.
    months = Counter(
        (EPOCH_MS - v["date"] // 1000) // (30 * DAY_MS) for r in account.cleartext["history"] for v in r["visits"]
    )
    assert all(months[m] > 500 for m in range(12))
    # People browse more on weekdays (1970-01-01 was a Thursday: Monday is 0 here).
    weekdays = Counter((v["date"] // 1000 // DAY_MS + 3) % 7 for r in account.cleartext["history"] for v in r["visits"])
    assert min(weekdays[d] for d in range(5)) > max(weekdays[5], weekdays[6])


def test_history_sortindex_ranks_top_sites_first(account: DemoAccount) -> None:
    bsos = sorted(account.bsos["history"], key=lambda b: -b["sortindex"])
    top_ids = {b["id"] for b in bsos[:20]}
    top_urls = {r["histUri"] for r in account.cleartext["history"] if r["id"] in top_ids}
    assert "https://www.google.com/" in top_urls


def test_passwords(account: DemoAccount) -> None:
    fields = {
        "id",
        "hostname",
        "formSubmitURL",
        "httpRealm",
        "username",
        "password",
        "usernameField",
        "passwordField",
        "timeCreated",
        "timePasswordChanged",
        "timeLastUsed",
        "timesUsed",
    }
    for r in account.cleartext["passwords"]:
        assert set(r) == fields
        assert re.match(r"^\{[0-9a-f-]{36}\}$", r["id"])
        assert r["hostname"].startswith("https://") and r["password"]
        # A login is either for a form (no realm) or for HTTP auth (no form).
        assert (r["httpRealm"] is None) != (r["formSubmitURL"] is None)
        assert r["timeCreated"] <= r["timePasswordChanged"] <= r["timeLastUsed"] <= EPOCH_MS
        assert r["timesUsed"] >= 1


def test_clients_and_tabs(account: DemoAccount) -> None:
    clients = account.cleartext["clients"]
    for c in clients:
        assert {"id", "name", "type", "version", "protocols", "os", "fxaDeviceId"} <= set(c)
        assert isinstance(c.get("commands", []), list)
        assert c["type"] in ("desktop", "mobile") and c["protocols"] == ["1.5"]
        assert re.match(r"^[0-9a-f]{32}$", c["fxaDeviceId"])
    assert {c["type"] for c in clients} == {"desktop", "mobile"}
    tabs = {t["id"]: t for t in account.cleartext["tabs"]}
    assert set(tabs) == {c["id"] for c in clients}, "one tabs record per device, keyed by client id"
    for c in clients:
        record = tabs[c["id"]]
        assert record["clientName"] == c["name"] and record["tabs"]
        for tab in record["tabs"]:
            assert (
                {"title", "urlHistory", "icon", "lastUsed"}
                <= set(tab)
                <= {"title", "urlHistory", "icon", "lastUsed", "inactive"}
            )
            assert tab.get("inactive", True) is True, "written only when true"
            assert tab["icon"] is None or tab["icon"].startswith("https://")
            assert 1 <= len(tab["urlHistory"]) <= 5 and isinstance(tab["lastUsed"], int)
            assert tab["lastUsed"] <= EPOCH_MS // 1000


def _luhn(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def test_small_collections(account: DemoAccount) -> None:
    ct = account.cleartext
    assert all(set(r) == {"id", "name", "value"} for r in ct["forms"])
    assert len({(r["name"], r["value"]) for r in ct["forms"]}) == len(ct["forms"])
    (prefs,) = ct["prefs"]
    assert prefs["id"] == "e2VjODAzMGY3LWMyMGEtNDY0Zi05YjBlLTEzYTNhOWU5NzM4NH0="  # b64url(app id)
    assert isinstance(prefs["value"], dict) and "browser.startup.page" in prefs["value"]
    for a in ct["addons"]:
        assert set(a) == {"id", "addonID", "applicationID", "enabled", "source"}
        assert a["applicationID"] == FIREFOX_APP_ID and a["source"] == "amo"
    for r in ct["addresses"]:
        assert set(r) == {"id", "entry"} and r["entry"]["version"] == 1
        assert {"given-name", "family-name", "street-address", "postal-code", "country"} <= set(r["entry"])
    for r in ct["creditcards"]:
        assert set(r) == {"id", "entry"} and r["entry"]["version"] == 3
        assert r["entry"]["cc-number"] in ("4111111111111111", "5555555555554444")  # test numbers
        assert _luhn(r["entry"]["cc-number"])


def test_ttls_are_firefoxs(account: DemoAccount) -> None:
    ttls = {c: {b.get("ttl") for b in bsos} for c, bsos in account.bsos.items()}
    assert ttls["clients"] == {15_552_000}
    assert ttls["forms"] == {3 * 365 * 86_400}
    assert ttls["history"] == {None} and ttls["bookmarks"] == {None}


def test_repr_hides_secrets(account: DemoAccount) -> None:
    text = repr(account)
    assert account.password not in text and account.kb.hex() not in text
    assert "demo@example.com" in text
