"""Benchmark: the storage client on the embedded stack (issue 4).

  (a) download 100,000 records of one collection page by page (``limit``/``offset``);
  (b) upload 10,000 records in batches under small ``info/configuration`` limits.

Prints records/s, the requests made, and for the upload the POSTs made against the
minimum the limits allow (goal 1.0), for uniformly sized records (exact minimum) and for
mixed sizes (against a lower bound, so ≥ 1.0 can be the best possible).

    python benchmarks/storage.py [--download 100000] [--upload 10000] [--page 1000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synctools.net import FxaClient, StorageClient, TokenServerClient, Trace  # noqa: E402
from synctools.server import LocalStack  # noqa: E402

PASSWORD = "benchmark password"  # noqa: S105
SMALL_LIMITS = {
    "max_post_records": 64,
    "max_post_bytes": 40_000,
    "max_request_bytes": 48_000,
    "max_total_records": 1_000,
    "max_total_bytes": 600_000,
}


def payload(rng: random.Random, size: int) -> str:
    """An encrypted-looking payload of about ``size`` bytes."""
    raw = rng.randbytes(max(16, (size - 120) * 3 // 4) // 16 * 16)
    return json.dumps(
        {
            "ciphertext": base64.b64encode(raw).decode(),
            "IV": base64.b64encode(rng.randbytes(16)).decode(),
            "hmac": rng.randbytes(32).hex(),
        }
    )


def login(stack: LocalStack, email: str, trace: Trace) -> StorageClient:
    stack.admin.create_account(email, PASSWORD)
    session = FxaClient(stack.auth_url, stack.oauth_url, trace=trace).login(email, PASSWORD)
    keys = session.fetch_keys()
    tokens = TokenServerClient(stack.token_url, trace=trace)
    token = tokens.exchange(session.oauth_token().access_token, keys)
    return StorageClient(token, trace=trace, token_provider=session.token_provider(tokens))


def count(trace: Trace, method: str, since: int) -> int:
    return sum(1 for e in trace if e.seq > since and e.service == "storage" and e.method == method)


def bench_download(stack: LocalStack, n: int, page: int, rng: random.Random) -> None:
    trace = Trace()
    storage = login(stack, "download@example.com", trace)
    records = [{"id": f"{i:012d}", "payload": payload(rng, 560)} for i in range(n)]
    for start in range(0, n, 10_000):  # seed straight into the node, outside the timing
        stack.admin.put_records("download@example.com", "history", records[start : start + 10_000])
    before = len(trace)
    t0 = time.perf_counter()
    reader = storage.iter_collection("history", limit=page)
    got = sum(1 for _ in reader)
    dt = time.perf_counter() - t0
    assert got == n, (got, n)
    mb = sum(e.response_bytes for e in trace if e.seq > before) / 1e6
    print(
        f"download: {n:,} records in {dt:.2f}s = {n / dt:,.0f} records/s "
        f"({mb:.1f} MB, {count(trace, 'GET', before)} GETs of limit={page}, "
        f"{reader.pages_read} pages)"
    )


def bench_upload(stack: LocalStack, n: int, rng: random.Random, mixed: bool) -> float:
    email = f"upload-{'mixed' if mixed else 'uniform'}@example.com"
    trace = Trace()
    storage = login(stack, email, trace)
    stack.admin.set_config(**SMALL_LIMITS)
    config = storage.info_configuration()
    sizes = [rng.randint(200, 1400) if mixed else 600 for _ in range(n)]
    records = [{"id": f"{i:012d}", "payload": payload(rng, s)} for i, s in enumerate(sizes)]
    payload_sizes = [len(r["payload"].encode()) for r in records]
    item_sizes = [len(json.dumps(r, separators=(",", ":")).encode()) for r in records]
    before = len(trace)
    t0 = time.perf_counter()
    result = storage.upload("history", records, if_unmodified_since=0)
    dt = time.perf_counter() - t0
    stack.admin.reset_config()
    assert result.ok, list(result.failed.items())[:3]
    posts = count(trace, "POST", before)
    assert posts == result.posts
    minimum = config.min_posts(payload_sizes, item_sizes)
    kind = "mixed sizes, vs a lower bound" if mixed else "uniform sizes, vs the exact minimum"
    print(
        f"upload ({kind}): {n:,} records in {dt:.2f}s = {n / dt:,.0f} records/s; "
        f"{posts} POSTs / {minimum} minimum = {posts / minimum:.3f}; "
        f"{result.commits} committed batches"
    )
    return posts / minimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download", type=int, default=100_000)
    parser.add_argument("--upload", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    rng = random.Random(4)
    print(f"limits for the upload: {SMALL_LIMITS}  (cpu count {os.cpu_count()})")
    with LocalStack(demo=False) as stack:
        bench_download(stack, args.download, args.page, rng)
        bench_upload(stack, args.upload, rng, mixed=False)
        bench_upload(stack, args.upload, rng, mixed=True)


if __name__ == "__main__":
    main()
