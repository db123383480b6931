"""The client stays calm whatever a server answers (issue 12, "Client"; issue 11, secrets).

A reverse proxy between ``Sync.local`` and the real embedded stack mangles exactly one
answer per run; every run is a whole login → verify → keys → token → download → edit →
commit. The outcome is success, or a synctools error naming the endpoint (and, where
the mangling is known, what was wrong); never a generic exception, never a dropped
record, never a secret in an error or the trace, never a corrupt server time as a guard.
"""

from __future__ import annotations

import pytest

from .conftest import seed
from .harness import drive, problems
from .manglings import BY_NAME, ENDPOINTS, MANGLINGS, Endpoint, rule

pytestmark = pytest.mark.slow  # ~600 whole syncs: a few minutes, still in CI

STORAGE_ONLY = {
    "x-last-modified-future", "x-last-modified-garbage", "x-weave-timestamp-garbage",
    "x-weave-timestamp-past", "deep-payloads", "next-offset-repeated", "next-offset-fresh",
}  # fmt: skip
LISTINGS = {"bookmarks-page-1", "bookmarks-page-2", "history"}
TRICKLED = {"login", "account-keys", "tokenserver", "info-collections", "bookmarks-page-2", "commit"}
# What an error caused by the mangling must say (any of these words), when it is an error.
SAYS = {
    "trickle": ("deadline",),
    "redirect-307": ("redirect",),
    "drop-scheme": ("api_endpoint",),
    "next-offset-repeated": ("X-Weave-Next-Offset",),
    "next-offset-fresh": ("X-Weave-Next-Offset",),
    "x-last-modified-future": ("X-Last-Modified",),
    "x-last-modified-garbage": ("X-Last-Modified",),
    "deep-nest": ("not JSON", "malformed", "depth"),
}


def applies(endpoint: Endpoint, mangling: str) -> bool:
    if mangling in STORAGE_ONLY and not endpoint.storage:
        return False
    if mangling.startswith("next-offset") and endpoint.name not in LISTINGS:
        return False
    if mangling == "drop-scheme":
        return endpoint.name == "tokenserver"
    if mangling == "trickle":
        return endpoint.name in TRICKLED
    return True


CASES = [pytest.param(e.name, m, id=f"{e.name}:{m}") for e in ENDPOINTS for m in MANGLINGS if applies(e, m)]


def test_the_unmangled_flow_goes_through_the_proxy(proxied):
    """The harness itself: without mangling, the flow completes and every request
    (storage included) went through the proxy."""
    account = seed(proxied.stack)
    outcome = drive(proxied, account, None)
    assert outcome.error is None and outcome.phase == "done"
    urls = {e.url.split("/")[2] for e in outcome.sync.trace_log}
    assert urls == {proxied.proxy.url.split("/")[2]}
    assert problems(outcome, proxied, account, None) == []


@pytest.mark.parametrize("endpoint, mangling", CASES)
def test_one_mangled_answer(proxied, endpoint, mangling):
    account = seed(proxied.stack)
    e = BY_NAME[endpoint]
    r = rule(e, mangling)
    outcome = drive(proxied, account, r)
    assert r.fired, f"the flow never asked {e.method} {e.path} (occurrence {e.nth})"
    found = problems(outcome, proxied, account, e.needle, SAYS.get(mangling, ()) if outcome.error else ())
    assert not found, "\n".join(found)
