"""The planted problems are really there, each once, and nothing else is broken."""

from __future__ import annotations

from synctools.demodata import EPOCH_MS, DemoAccount, Planted, PlantedKind
from synctools.protocol.bso import ServerTime

DAY = 86_400


def test_manifest_lists_each_kind_once_with_existing_records(account: DemoAccount) -> None:
    assert sorted(p.kind for p in account.planted) == sorted(PlantedKind.ALL)
    for p in account.planted:
        assert p.record_id in {b["id"] for b in account.bsos[p.collection]}, p
        assert p.explanation and len(p.explanation) > 40
        assert Planted.from_json(p.to_json()) == p


def _tree(account: DemoAccount) -> dict[str, dict]:
    return {r["id"]: r for r in account.cleartext["bookmarks"]}


def test_orphan_points_to_a_missing_folder(account: DemoAccount) -> None:
    p = account.planted_of(PlantedKind.ORPHAN)
    tree = _tree(account)
    orphan = tree[p.record_id]
    assert orphan["parentid"] == p.details["missing_parent_id"]
    assert orphan["parentid"] not in tree
    assert not any(p.record_id in r.get("children", ()) for r in tree.values())


def test_children_mismatch(account: DemoAccount) -> None:
    p = account.planted_of(PlantedKind.CHILDREN_MISMATCH)
    tree = _tree(account)
    folder, child = tree[p.record_id], tree[p.details["child_id"]]
    claimed = tree[p.details["claimed_parent_id"]]
    assert folder["type"] == claimed["type"] == "folder"
    assert child["id"] in folder["children"]
    assert child["parentid"] == claimed["id"] != folder["id"]
    assert child["id"] not in claimed["children"]


def test_the_rest_of_the_tree_is_consistent(account: DemoAccount) -> None:
    """Only the planted records break the tree: a debugger finds exactly those two."""
    tree = _tree(account)
    listed_in: dict[str, list[str]] = {}
    for r in tree.values():
        for child in r.get("children", ()):
            listed_in.setdefault(child, []).append(r["id"])
    problems = set()
    for r in tree.values():
        if r["parentid"] == "places":
            continue
        if r["parentid"] not in tree:
            problems.add(("orphan", r["id"]))
        elif listed_in.get(r["id"]) != [r["parentid"]]:
            problems.add(("mismatch", r["id"]))
    for child, parents in listed_in.items():
        assert child in tree, f"{parents} list missing child {child}"
    orphan = account.planted_of(PlantedKind.ORPHAN)
    mismatch = account.planted_of(PlantedKind.CHILDREN_MISMATCH)
    assert problems == {("orphan", orphan.record_id), ("mismatch", mismatch.details["child_id"])}


def _modified(account: DemoAccount, coll: str, rid: str) -> int:
    return int(ServerTime.parse(next(b for b in account.bsos[coll] if b["id"] == rid)["modified"]))


def test_stale_client(account: DemoAccount) -> None:
    p = account.planted_of(PlantedKind.STALE_CLIENT)
    ages = {c["id"]: EPOCH_MS // 10 - _modified(account, "clients", c["id"]) for c in account.cleartext["clients"]}
    assert ages.pop(p.record_id) > 90 * DAY * 100
    assert all(age < 7 * DAY * 100 for age in ages.values()), "the other devices synced this week"
    stale = next(c for c in account.cleartext["clients"] if c["id"] == p.record_id)
    assert stale["commands"], "a command waits for the device that never came back"


def test_expired_record_is_the_only_expired_one(account: DemoAccount) -> None:
    p = account.planted_of(PlantedKind.EXPIRED)
    now = EPOCH_MS // 10
    expired = {
        (coll, b["id"])
        for coll, bsos in account.bsos.items()
        for b in bsos
        if b.get("ttl") is not None and int(ServerTime.parse(b["modified"])) + b["ttl"] * 100 < now
    }
    assert expired == {(p.collection, p.record_id)}
    assert p.details["ttl"] == next(b["ttl"] for b in account.bsos[p.collection] if b["id"] == p.record_id)
