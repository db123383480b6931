"""The state machine's table, on its own: no server, no network (milliseconds)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from synctools.states import (
    MAIN_LINE,
    NEXT_STAGE,
    STAGES,
    TRANSITIONS,
    WRITES,
    Event,
    Machine,
    Outcome,
    StageOrderError,
    State,
    UpgradeRequired,
    table_markdown,
)

ROOT = Path(__file__).resolve().parents[2]


def machine_in(state: State) -> Machine:
    """A machine walked into ``state`` by the table's own rows (never by assignment)."""
    m = Machine()
    path = {
        State.NEW: [],
        State.FRESH_START_REQUIRED: [*STAGES[:3], (Event.FETCH_META_GLOBAL, Outcome.FRESH_START)],
        State.UPGRADE_REQUIRED: [*STAGES[:3], (Event.FETCH_META_GLOBAL, Outcome.UPGRADE)],
    }.get(state)
    if path is None:
        path = STAGES[: MAIN_LINE.index(state)]
    for step in path:
        event, outcome = step if isinstance(step, tuple) else (Event(step), Outcome.OK)
        m.fire(event, outcome)
    assert m.state is state
    return m


def test_the_stages_and_the_main_line():
    assert STAGES == ["authenticate", "exchange_token", "fetch_info", "fetch_meta_global",
                      "fetch_crypto_keys", "download", "merge", "plan_upload", "commit"]  # fmt: skip
    # sync.next() walks the main line and never commits
    assert [NEXT_STAGE[s] for s in MAIN_LINE] == [*STAGES[:-1], None, None]
    assert NEXT_STAGE[State.FRESH_START_REQUIRED] is None and NEXT_STAGE[State.UPGRADE_REQUIRED] is None


def test_every_state_is_reachable_and_every_row_can_happen():
    reached = {State.NEW}
    frontier = [State.NEW]
    while frontier:
        state = frontier.pop()
        for row in TRANSITIONS:
            if state in row.sources:
                target = row.leads_to(state)
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
    assert reached == set(State)
    for row in TRANSITIONS:
        assert row.sources, row
        assert row.sources & reached


def test_the_table_is_deterministic():
    """One event with one outcome from one state leads to exactly one place."""
    seen: dict[tuple[Event, Outcome, State], State] = {}
    for row in TRANSITIONS:
        for state in row.sources:
            key = (row.event, row.outcome, state)
            assert key not in seen, f"two rows for {key}"
            seen[key] = row.leads_to(state)


@pytest.mark.parametrize("event", sorted(WRITES | {Event.PLAN_FRESH_START}, key=lambda e: e.value))
def test_no_write_is_possible_once_the_server_needs_a_newer_client(event):
    m = machine_in(State.UPGRADE_REQUIRED)
    assert not m.allows(event)
    with pytest.raises(UpgradeRequired, match="Nothing will be written"):
        m.check(event)
    for outcome in Outcome:
        with pytest.raises(UpgradeRequired):
            m.fire(event, outcome)
    assert m.state is State.UPGRADE_REQUIRED


def test_writes_are_only_the_commits():
    assert {e.value for e in WRITES} == {"commit", "commit_fresh_start", "commit_meta_global", "commit_engine_reset"}
    for state in State:  # a records commit needs a reviewed plan
        assert machine_in_or_none(state) is None or (Machine.allows(machine_in(state), Event.COMMIT)
                                                     == (state is State.PLANNED))  # fmt: skip


def machine_in_or_none(state: State) -> Machine | None:
    try:
        return machine_in(state)
    except (ValueError, StageOrderError):
        return None


def test_a_stage_too_early_names_the_stage_to_run_first():
    m = Machine()
    with pytest.raises(
        StageOrderError, match=r"download\(\) cannot run in state 'new' .*run sync.authenticate\(\) first"
    ):
        m.check(Event.DOWNLOAD)
    m = machine_in(State.INFO)
    with pytest.raises(StageOrderError, match=r"run sync.fetch_meta_global\(\) first"):
        m.fire(Event.MERGE)
    assert m.state is State.INFO  # a refused event moves nothing
    m = machine_in(State.FRESH_START_REQUIRED)
    with pytest.raises(StageOrderError, match="fresh start"):
        m.check(Event.DOWNLOAD)


def test_rewinds_are_rows_of_the_table():
    m = machine_in(State.PLANNED)
    m.fire(Event.STAGE)  # an edit after planning: the plan is stale, merge again
    assert m.state is State.DOWNLOADED
    m = machine_in(State.MERGED)
    m.fire(Event.STAGE)
    assert m.state is State.MERGED
    m = machine_in(State.COMMITTED)
    m.fire(Event.RESOLVE)
    assert m.state is State.MERGED
    m = machine_in(State.PLANNED)
    m.fire(Event.COMMIT, Outcome.CONFLICT)  # a 412: download again
    assert m.state is State.READY
    for state in (State.DOWNLOADED, State.UPGRADE_REQUIRED, State.FRESH_START_REQUIRED):
        m = machine_in(state)
        m.fire(Event.NODE_MOVED)
        assert m.state is State.TOKEN
    m = machine_in(State.AUTHENTICATED)  # nothing known of a node yet: nothing to move
    assert not m.allows(Event.NODE_MOVED)
    m = machine_in(State.COMMITTED)
    m.fire(Event.AUTHENTICATE)  # running an earlier stage again rewinds to its state
    assert m.state is State.AUTHENTICATED


def test_the_docs_show_the_table_as_it_is():
    page = (ROOT / "docs" / "stepwise-sync.md").read_text("utf-8")
    assert table_markdown() in page, "regenerate the table in docs/stepwise-sync.md with states.table_markdown()"


def test_only_the_machine_moves_the_state():
    """No module assigns a sync's state but Machine itself (results record it as text)."""
    offenders = []
    for path in (ROOT / "synctools").rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        machine_nodes = {
            id(n)
            for c in ast.walk(tree)
            if isinstance(c, ast.ClassDef) and path.name == "states.py" and c.name == "Machine"
            for n in ast.walk(c)
        }
        for node in ast.walk(tree):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign | ast.AugAssign)
                else []
            )
            for t in targets:
                if isinstance(t, ast.Attribute) and t.attr == "state" and id(node) not in machine_nodes:
                    owner = t.value.id if isinstance(t.value, ast.Name) else ast.unparse(t.value)
                    if owner != "result":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert offenders == []
