"""Batched uploads: packed exactly to each info/configuration limit, committed atomically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synctools.net import InfoConfiguration, PreconditionFailed, StorageClient, plan_packing

from .conftest import DEFAULT_LIMITS, Login

ITEM_OVERHEAD = len(json.dumps({"id": "r00000", "payload": ""}, separators=(",", ":")))


def recs(n: int, size: int = 10) -> list[dict[str, Any]]:
    return [{"id": f"r{i:05d}", "payload": "x" * size} for i in range(n)]


def posts_in_trace(storage: StorageClient, after: int = 0) -> list[str]:
    """The query strings of the storage POSTs recorded after exchange number ``after``."""
    return [
        e.url.split("?", 1)[-1]
        for e in storage.trace
        if e.service == "storage" and e.method == "POST" and e.seq > after
    ]


def upload_with(stack: Any, storage: StorageClient, records: list[dict[str, Any]], **limits: int) -> Any:
    stack.admin.set_config(**{**DEFAULT_LIMITS, **limits})
    storage.info_configuration()  # re-read the limits, as a sync does at its start
    plan = plan_packing(storage.config, records)
    before = len(storage.trace)
    result = storage.upload("history", records, if_unmodified_since=None)
    assert (plan.posts, len(plan.batches)) == (result.posts, result.commits)  # as planned
    assert result.ok, result.failed
    assert sorted(storage.get_collection("history", full=False)) == [r["id"] for r in records]
    assert result.posts == len(posts_in_trace(storage, before))
    sizes = [len(r["payload"]) for r in records]
    items = [ITEM_OVERHEAD + s for s in sizes]
    assert result.posts == storage.config.min_posts(sizes, items)  # the minimum, exactly
    return result


@pytest.mark.parametrize(("n", "posts"), [(5, 1), (6, 2), (15, 3), (16, 4)])
def test_max_post_records(stack: Any, storage: StorageClient, n: int, posts: int) -> None:
    result = upload_with(stack, storage, recs(n), max_post_records=5)
    assert result.posts == posts and result.commits == 1 and result.atomic
    queries = posts_in_trace(storage)
    assert queries[0].startswith("batch=true")
    assert queries[-1].endswith("commit=true")
    assert all("commit" not in q for q in queries[:-1])


@pytest.mark.parametrize(("limit", "posts"), [(500, 2), (501, 2), (499, 3)])
def test_max_post_bytes(stack: Any, storage: StorageClient, limit: int, posts: int) -> None:
    # Ten payloads of 100 bytes: 5 fit in 500 bytes (exactly at the limit), 4 in 499.
    result = upload_with(stack, storage, recs(10, 100), max_post_bytes=limit)
    assert result.posts == posts


@pytest.mark.parametrize(("slack", "posts"), [(0, 2), (-1, 3)])
def test_max_request_bytes(stack: Any, storage: StorageClient, slack: int, posts: int) -> None:
    item = ITEM_OVERHEAD + 100
    body_of_4 = 4 * item + 3 + 2  # "[" + 4 items + 3 commas + "]"
    result = upload_with(stack, storage, recs(8, 100), max_request_bytes=body_of_4 + slack)
    assert result.posts == posts


def test_max_total_records_splits_into_committed_batches(stack: Any, storage: StorageClient) -> None:
    exact = upload_with(stack, storage, recs(6), max_post_records=4, max_total_records=6)
    assert (exact.posts, exact.commits, exact.atomic) == (2, 1, True)
    storage.delete_collection("history", if_unmodified_since=None)
    over = upload_with(stack, storage, recs(7), max_post_records=4, max_total_records=6)
    # 4 + 3 in two batches beats 4 + 2 then 1: never end a batch with a short POST.
    assert (over.posts, over.commits, over.atomic) == (2, 2, False)
    plan = plan_packing(storage.config, recs(7))
    assert plan.batches == [[[f"r{i:05d}" for i in range(4)]], [[f"r{i:05d}" for i in range(4, 7)]]]


def test_max_total_bytes(stack: Any, storage: StorageClient) -> None:
    exact = upload_with(stack, storage, recs(6, 100), max_post_bytes=400, max_total_bytes=600)
    assert (exact.posts, exact.commits) == (2, 1)
    storage.delete_collection("history", if_unmodified_since=None)
    over = upload_with(stack, storage, recs(6, 100), max_post_bytes=400, max_total_bytes=599)
    assert (over.posts, over.commits) == (2, 2)


def test_max_record_payload_bytes(stack: Any, storage: StorageClient) -> None:
    stack.admin.set_config(**{**DEFAULT_LIMITS, "max_record_payload_bytes": 100})
    storage.info_configuration()
    records = recs(3, 100) + [{"id": "big", "payload": "y" * 101}]
    result = storage.upload("history", records, if_unmodified_since=0)
    assert result.success == ["r00000", "r00001", "r00002"]
    assert list(result.failed) == ["big"] and "max_record_payload_bytes" in result.failed["big"]
    assert result.posts == 1  # the oversized record was never sent


def test_a_concurrent_write_mid_batch_fails_the_upload_and_commits_nothing(stack: Any, user: Login) -> None:
    storage = user.storage()
    stack.admin.set_config(**{**DEFAULT_LIMITS, "max_post_records": 3})
    storage.info_configuration()
    since = storage.put_record("history", {"id": "mine", "payload": "{}"}, if_unmodified_since=0)

    def records() -> Iterator[dict[str, Any]]:
        for i, r in enumerate(recs(9)):
            if i == 4:  # another device writes while our batch is open
                stack.admin.put_records(user.email, "history", [{"id": "theirs", "payload": "{}"}])
            yield r

    with pytest.raises(PreconditionFailed) as info:
        storage.upload("history", records(), if_unmodified_since=since)
    assert info.value.last_modified is not None and info.value.last_modified > since
    assert sorted(storage.get_collection("history", full=False)) == ["mine", "theirs"]


def test_min_posts_is_the_bound_each_limit_imposes() -> None:
    cfg = InfoConfiguration(max_post_records=10, max_post_bytes=1000, max_total_records=25)
    assert cfg.min_posts([10] * 25) == 3
    assert cfg.min_posts([100] * 25) == 3
    assert cfg.min_posts([200] * 25) == 5
    assert cfg.min_posts([]) == 0
    # Seven records, 4 per POST, 6 per batch: 4 then 3, in two batches -- two POSTs.
    assert InfoConfiguration(max_post_records=4, max_total_records=6).min_posts([1] * 7) == 2
    # A POST can never hold more than a batch may.
    assert InfoConfiguration(max_post_records=10, max_total_records=3).min_posts([1] * 7) == 3


def _fewest_posts(sizes: list[int], items: list[int], lim: dict[str, int]) -> int:
    """The true minimum, by dynamic programming over every in-order packing.

    best[i] = fewest POSTs for the first i records with a batch ending at i; a batch
    j..i is allowed if it fits the batch limits, and costs the fewest POSTs that cover it
    (found by a second DP over POST cuts).
    """

    def post_ok(a: int, b: int) -> bool:  # records a..b-1 in one POST
        return (
            b - a <= lim["max_post_records"]
            and sum(sizes[a:b]) <= lim["max_post_bytes"]
            and sum(items[a:b]) + (b - a - 1) + 2 <= lim["max_request_bytes"]
        )

    def posts_for(a: int, b: int) -> float:
        cost = [0.0] + [float("inf")] * (b - a)
        for k in range(1, b - a + 1):
            for m in range(k):
                if cost[m] + 1 < cost[k] and post_ok(a + m, a + k):
                    cost[k] = cost[m] + 1
        return cost[b - a]

    n = len(sizes)
    best = [0.0] + [float("inf")] * n
    for i in range(1, n + 1):
        for j in range(i):
            if i - j <= lim["max_total_records"] and sum(sizes[j:i]) <= lim["max_total_bytes"]:
                best[i] = min(best[i], best[j] + posts_for(j, i))
    return int(best[n])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(1, 60), min_size=1, max_size=24),
    post_records=st.integers(1, 6),
    post_bytes=st.integers(60, 200),
    total_records=st.integers(1, 12),
    total_bytes=st.integers(60, 400),
    request_slack=st.integers(0, 150),
)
def test_packing_is_optimal_for_any_sizes_and_limits(
    stack: Any,
    storage: StorageClient,
    sizes: list[int],
    post_records: int,
    post_bytes: int,
    total_records: int,
    total_bytes: int,
    request_slack: int,
) -> None:
    records = [{"id": f"r{i:05d}", "payload": "p" * s} for i, s in enumerate(sizes)]
    items = [ITEM_OVERHEAD + s for s in sizes]
    limits = {
        "max_post_records": post_records,
        "max_post_bytes": post_bytes,
        "max_total_records": total_records,
        "max_total_bytes": total_bytes,
        "max_request_bytes": max(items) + 2 + request_slack,
    }
    stack.admin.set_config(**{**DEFAULT_LIMITS, **limits})
    storage.info_configuration()
    storage.delete_collection("history", if_unmodified_since=None)
    result = storage.upload("history", records, if_unmodified_since=None)
    assert result.ok, result.failed  # the server took every POST: all within its limits
    assert len(storage.get_collection("history", full=False)) == len(records)
    assert result.posts == _fewest_posts(sizes, items, {**DEFAULT_LIMITS, **limits})
