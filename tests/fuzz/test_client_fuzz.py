"""Fuzz: a hostile server mangles one answer at random, the client stays calm (issue 12).

Hypothesis picks the answer (any endpoint a login → download → commit asks) and one to
three random mutations of it: a JSON node replaced by any JSON value, a key removed, the
body cut or replaced by random bytes or nested deep, a header set to random text, the
status changed, an endless pager. Every run must end in success or a synctools error
naming the endpoint, with no record dropped, no secret shown and no corrupt server time
kept (the checks of tests/hostile/harness.py).

Brief in CI (the ``ci`` profile), long with ``make fuzz``; set SYNCTOOLS_FUZZ_REPORT to a
file to get the counts of a run (runs, outcomes, generic exceptions) as JSON.
"""

from __future__ import annotations

import collections
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

# The hostile proxy and its checks live in tests/hostile (its own suite); tests/ is not a
# package, so reach them by name.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile.conftest import hostile_stack, proxied, proxy, seed  # noqa: E402, F401 - fixtures
from hostile.harness import drive, problems  # noqa: E402
from hostile.manglings import ENDPOINTS, endless_pager  # noqa: E402
from hostile.proxy import Answer, Request, Rule  # noqa: E402

STATS: collections.Counter[str] = collections.Counter()
NEEDLES = tuple({e.needle for e in ENDPOINTS} | {"/session/verify_code"})

HEADERS = ["X-Last-Modified", "X-Weave-Timestamp", "X-Weave-Next-Offset", "Retry-After", "X-Weave-Backoff",
           "X-Weave-Alert", "X-Weave-Quota-Remaining", "X-Weave-Records", "Content-Type", "Location",
           "X-Timestamp", "Content-Encoding"]  # fmt: skip
STATUSES = [200, 201, 202, 204, 301, 302, 304, 307, 400, 401, 403, 404, 409, 412, 413, 415, 429, 500, 503]

leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "x" * 70, "abc\n", "\ud800", "http:/x", "99999999999.99", "-1", "1e400"]),
)
json_value = st.recursive(
    leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8
)
header_text = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.decimals(min_value=-1, max_value=10**12, places=2, allow_nan=False).map(str),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
)

Mutation = Callable[[Answer, Request], Answer]


def _replace_node(k: int, value: Any) -> Mutation:
    def mutate(a: Answer, req: Request) -> Answer:
        try:
            data = json.loads(a.body)
        except (ValueError, RecursionError):  # not JSON (or made deep by an earlier mutation)
            return a
        count = [0]

        def visit(node: Any) -> Any:
            i = count[0]
            count[0] += 1
            if i == k:
                return value
            if isinstance(node, dict):
                return {key: visit(v) for key, v in node.items()}
            if isinstance(node, list):
                return [visit(v) for v in node]
            return node

        data = visit(data)
        a.body = json.dumps(data).encode("utf-8", "surrogatepass")
        return a

    return mutate


def _delete_key(k: int) -> Mutation:
    def mutate(a: Answer, req: Request) -> Answer:
        try:
            data = json.loads(a.body)
        except (ValueError, RecursionError):  # not JSON (or made deep by an earlier mutation)
            return a
        dicts: list[dict[str, Any]] = []
        todo = [data]
        while todo:  # pre-order, in place
            node = todo.pop()
            if isinstance(node, dict):
                dicts.append(node)
                todo.extend(reversed(list(node.values())))
            elif isinstance(node, list):
                todo.extend(reversed(node))
        keyed = [(d, key) for d in dicts for key in d]
        if keyed:
            d, key = keyed[k % len(keyed)]
            del d[key]
        a.body = json.dumps(data).encode()
        return a

    return mutate


def _set(field: str, value: Any) -> Mutation:
    def mutate(a: Answer, req: Request) -> Answer:
        if field == "header":
            a.set_header(*value)
        else:
            setattr(a, field, value)
        return a

    # a blank X-Weave-Next-Offset says "no more pages": a lie no client can see through
    mutate.ends_read = field == "header" and value[0] == "X-Weave-Next-Offset" and not value[1].strip()  # type: ignore[attr-defined]
    return mutate


mutation = st.one_of(
    st.builds(_replace_node, st.integers(0, 60), json_value),
    st.builds(_delete_key, st.integers(0, 60)),
    st.floats(0, 1).map(lambda f: lambda a, r: (setattr(a, "body", a.body[: int(len(a.body) * f)]), a)[1]),
    st.binary(max_size=80).map(lambda b: _set("body", b)),
    st.integers(1_100, 60_000).map(lambda d: lambda a, r: (setattr(a, "body", b"[" * d + a.body + b"]" * d), a)[1]),
    st.tuples(st.sampled_from(HEADERS), header_text).map(lambda h: _set("header", h)),
    st.sampled_from(STATUSES).map(lambda s: _set("status", s)),
)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    path = os.environ.get("SYNCTOOLS_FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(STATS), f, indent=1, sort_keys=True)


@given(
    endpoint=st.sampled_from(ENDPOINTS),
    mutations=st.lists(mutation, min_size=1, max_size=3),
    pager=st.sampled_from([None, False, True]),
)
def test_any_single_mangled_answer_leaves_the_client_calm(proxied, endpoint, mutations, pager):  # noqa: F811
    def mangle(a: Answer, req: Request) -> Answer:
        for m in mutations:
            try:
                a = m(a, req)
            except RecursionError:  # a mutation walking a body an earlier one nested deep
                pass
        return a

    intercept = None
    if pager is not None and endpoint.storage and endpoint.method == "GET":
        page_mangle, intercept = endless_pager(fresh=pager)
        first = mangle
        mangle = lambda a, r: page_mangle(first(a, r), r)  # noqa: E731
    account = seed(proxied.stack)
    r = Rule(endpoint.method, endpoint.path, mangle, endpoint.nth, intercept)
    outcome = drive(proxied, account, r, deadline=20.0)
    # A mangled answer may send the flow elsewhere (a changed kid fails at the tokenserver,
    # a verification method at /session/verify_code): the error names where it failed.
    ends_read = any(getattr(m, "ends_read", False) for m in mutations)
    found = problems(outcome, proxied, account, (endpoint.needle, *NEEDLES), complete=not ends_read)
    STATS["runs"] += 1
    STATS[f"outcome: {type(outcome.error).__name__ if outcome.error else 'success'}"] += 1
    generic = any(p.startswith("a generic exception") for p in found)
    STATS["generic exceptions"] += int(generic)
    STATS["other broken promises"] += int(bool(found) and not generic)
    for p in found:
        STATS[f"broken: {endpoint.name}: {p.splitlines()[0][:160]}"] += 1
    assert r.fired, f"the flow never asked {endpoint.method} {endpoint.path}"
    assert not found, "\n".join(found)
