"""meta/global: parsing, fresh records, the application-services engine rules as data."""

from __future__ import annotations

import json

import pytest

from synctools.protocol.metaglobal import (
    DEFAULT_ENGINES,
    EngineInfo,
    MetaGlobal,
    MetaGlobalError,
    compute_engine_states,
    engine_table,
    fixup,
    new_sync_id,
    plan_changes,
    valid_sync_id,
)


def sound(**over) -> MetaGlobal:
    engines = {n: EngineInfo(v, new_sync_id()) for n, v in DEFAULT_ENGINES.items()}
    base = MetaGlobal(sync_id=new_sync_id(), engines=engines)
    return MetaGlobal(**{**base.__dict__, **over})


def test_fresh_has_every_default_engine_and_roundtrips():
    mg = MetaGlobal.fresh(declined=["addresses"])
    assert mg.storage_version == 5 and valid_sync_id(mg.sync_id)
    assert set(mg.engines) == set(DEFAULT_ENGINES) - {"addresses"}
    assert mg.engines["bookmarks"].version == 2 and mg.engines["prefs"].version == 2
    assert mg.engines["history"].version == 1
    back = MetaGlobal.from_payload(mg.to_json())
    assert back == mg
    assert mg.problems() == []


def test_unknown_engines_and_fields_are_kept():
    payload = sound().to_payload()
    payload["engines"]["extension-storage"] = {"version": 1, "syncID": new_sync_id()}
    payload["futureField"] = {"x": 1}
    mg = MetaGlobal.from_payload(json.dumps(payload))
    assert "extension-storage" in mg.engines
    out = mg.to_payload()
    assert out["futureField"] == {"x": 1} and "extension-storage" in out["engines"]
    plan = plan_changes(mg, info_collections=["extension-storage"])
    assert plan.status == "ok"  # never erases another device's engine


@pytest.mark.parametrize(
    "payload, match",
    [
        ("nope", "not JSON"),
        ("[1]", "not a JSON object"),
        ({"syncID": "x"}, "storageVersion"),
        ({"storageVersion": "5"}, "storageVersion"),
        ({"storageVersion": 5, "engines": []}, "engines"),
        ({"storageVersion": 5, "engines": {"a": 1}}, "engine 'a'"),
        ({"storageVersion": 5, "declined": "bookmarks"}, "declined"),
    ],
)
def test_malformed(payload, match):
    with pytest.raises(MetaGlobalError, match=match):
        MetaGlobal.from_payload(payload)


def test_missing_meta_global_plans_a_fresh_start():
    plan = plan_changes(None, local_declined=["forms"])
    assert plan.status == "fresh-start" and plan.needs_upload
    assert "forms" in plan.proposed.declined and "forms" not in plan.proposed.engines


def test_storage_versions():
    assert plan_changes(sound(storage_version=6)).status == "upgrade-required"
    assert plan_changes(sound(storage_version=6)).proposed is None
    old = plan_changes(sound(storage_version=4))
    assert old.status == "fresh-start" and old.proposed.storage_version == 5
    assert "newer than 5" in sound(storage_version=6).problems()[0]


def test_missing_engine_added_declined_engine_removed():
    mg = sound()
    engines = dict(mg.engines)
    del engines["tabs"]
    mg = MetaGlobal(mg.sync_id, 5, engines, frozenset({"forms"}))
    fixed, changed = fixup(mg)
    assert changed == {"tabs": "added", "forms": "removed"}
    assert "tabs" in fixed.engines and "forms" not in fixed.engines
    plan = plan_changes(mg)
    assert plan.status == "upload"
    actions = {(c.engine, c.action) for c in plan.changes}
    assert ("tabs", "add") in actions and ("forms", "remove") in actions
    # the current record is untouched: plans are data
    assert "tabs" not in mg.engines


def test_user_declines_engine_with_data():
    mg = sound()
    plan = plan_changes(mg, info_collections=["history", "bookmarks"], user_changes={"history": False})
    actions = {(c.engine, c.action) for c in plan.changes}
    assert {
        ("history", "decline"),
        ("history", "remove"),
        ("history", "reset-local"),
        ("history", "wipe-remote"),
    } <= actions
    assert "history" in plan.proposed.declined


def test_user_enables_declined_engine():
    mg = sound()
    engines = dict(mg.engines)
    del engines["forms"]
    mg = MetaGlobal(mg.sync_id, 5, engines, frozenset({"forms"}))
    plan = plan_changes(mg, user_changes={"forms": True})
    assert "forms" not in plan.proposed.declined and "forms" in plan.proposed.engines


def test_compute_engine_states_matches_application_services():
    # no remote: the local declined list is the most recent
    s = compute_engine_states(["a"], None, [], {"b": False})
    assert s.declined == {"a", "b"} and s.local_resets == {"b"} and s.remote_wipes == set()
    # remote wins over local; wipes only for engines we just declined that have data
    s = compute_engine_states(["a"], ["c"], ["b", "c"], {"b": False, "c": True})
    assert s.declined == {"b"} and s.remote_wipes == {"b"}


def test_changed_sync_ids_reset_local_state():
    mg = sound()
    plan = plan_changes(mg, local_sync_ids={"global": "otherglobal1", "bookmarks": "oldbookmarks"})
    actions = {(c.engine, c.action) for c in plan.changes}
    assert ("*", "reset-local") in actions and ("bookmarks", "reset-local") in actions
    assert plan.status == "ok"  # resets are local; nothing to upload


def test_problems_and_engine_table():
    mg = sound()
    engines = dict(mg.engines)
    engines["bookmarks"] = EngineInfo(3, "bad id")
    mg = MetaGlobal("short", 5, engines, frozenset({"tabs"}))
    problems = " | ".join(mg.problems())
    assert "global syncID" in problems and "bookmarks: syncID" in problems
    assert "version 3 is newer" in problems and "both listed and declined" in problems
    rows = {r["engine"]: r for r in engine_table(mg, {"history": 1.0, "weird": 2.0, "meta": 1.0})}
    assert rows["tabs"]["state"] == "declined"
    assert rows["weird"]["state"] == "missing" and rows["weird"]["on_server"]
    assert rows["history"]["state"] == "enabled" and "meta" not in rows


def test_rewriting_keeps_what_another_client_wrote_in_an_engine_entry():
    payload = sound().to_payload()
    payload["engines"]["bookmarks"] = {"version": "2", "syncID": "abcdefghijk1", "futureKey": [1]}
    payload["engines"]["history"] = {"version": 1.9, "syncID": "abcdefghijk2"}
    del payload["engines"]["tabs"]  # so a client would upload
    mg = MetaGlobal.from_payload(json.dumps(payload))
    assert any("'2' is not an integer" in p for p in mg.problems())
    plan = plan_changes(mg)
    assert plan.status == "upload"
    engines = plan.proposed.to_payload()["engines"]
    assert engines["bookmarks"] == {"version": "2", "syncID": "abcdefghijk1", "futureKey": [1]}
    assert engines["history"] == {"version": 1.9, "syncID": "abcdefghijk2"}
