"""Batched uploads packed to the server's ``info/configuration`` limits.

Behaves like application-services' ``sync15`` ``PostQueue`` (``client/request.rs``):
records are appended, in order, to the current POST until one more would break a
per-POST limit (``max_post_records``, ``max_post_bytes``, ``max_request_bytes``) or a
per-batch limit (``max_total_records``, ``max_total_bytes``); the first POST of a batch
says ``batch=true``, the following ones ``batch=<id>``, and the last one carries
``commit=true``, so a batch becomes visible atomically. Filling every POST greedily in
order gives the minimum number of POSTs the limits allow. A server that answers the
first POST with 200 instead of 202 does not batch: the queue then sends plain POSTs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synctools.protocol.bso import BSO, ServerTime

from .errors import BatchError
from .upload_result import UploadResult

__all__ = ["UNLIMITED", "InfoConfiguration", "PackingPlan", "PostQueue", "PostResponse", "UploadResult",
           "plan_packing", "serialize"]  # fmt: skip

UNLIMITED = sys.maxsize


@dataclass(frozen=True)
class InfoConfiguration:
    """The server's limits (``GET info/configuration``). Missing keys: no limit.

    The defaults of the two byte limits every server has are those application-services
    assumes when the endpoint is absent (404).
    """

    max_request_bytes: int = 260 * 1024
    max_post_records: int = UNLIMITED
    max_post_bytes: int = UNLIMITED
    max_total_records: int = UNLIMITED
    max_total_bytes: int = UNLIMITED
    max_record_payload_bytes: int = 256 * 1024
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InfoConfiguration:
        if not isinstance(data, Mapping):
            raise ValueError("info/configuration must be a JSON object")
        names = [
            "max_request_bytes",
            "max_post_records",
            "max_post_bytes",
            "max_total_records",
            "max_total_bytes",
            "max_record_payload_bytes",
        ]
        kw: dict[str, Any] = {}
        for name in names:
            if name in data and data[name] is not None:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise ValueError(f"info/configuration: {name} must be a positive integer")
                kw[name] = value
        return cls(**kw, raw=dict(data))

    def min_posts(self, payload_sizes: list[int], item_sizes: list[int] | None = None) -> int:
        """The fewest POSTs these limits allow for records of these sizes.

        Exact when every record has the same payload and item size (what the benchmark
        uploads); otherwise a lower bound from each limit on its own. Computed from
        the limits alone, independently of the packing, so ``posts / min_posts`` is an
        honest measure of it (1.0 = optimal).
        """
        n = len(payload_sizes)
        if n == 0:
            return 0
        if len(set(payload_sizes)) == 1 and (item_sizes is None or len(set(item_sizes)) == 1):
            # A POST must also fit in a batch; batches then hold whole POSTs.
            s = max(payload_sizes[0], 1)
            per_post = min(
                self.max_post_records, self.max_total_records, self.max_post_bytes // s, self.max_total_bytes // s
            )
            if item_sizes is not None:
                per_post = min(per_post, (self.max_request_bytes - 1) // (item_sizes[0] + 1))
            if per_post <= 0:
                raise ValueError("a record of this size can never be uploaded under these limits")
            return -(-n // per_post)
        total = sum(payload_sizes)
        bounds = [
            -(-n // min(self.max_post_records, self.max_total_records)),
            -(-total // min(self.max_post_bytes, self.max_total_bytes)),
        ]
        if item_sizes is not None:
            # body = "[" + items joined by "," + "]"; each POST adds 1 byte of brackets
            body = sum(item_sizes) + n
            bounds.append(-(-body // (self.max_request_bytes - 1)))
        return max(bounds)


@dataclass
class PostResponse:
    """What the queue needs from one POST's answer."""

    status: int
    last_modified: ServerTime | None
    batch: str | None
    success: list[str]
    failed: dict[str, str]


# (body, X-If-Unmodified-Since or None, batch: "true" | id | None, commit) -> PostResponse
Poster = Callable[[bytes, ServerTime | None, str | None, bool], PostResponse]


def serialize(record: BSO | Mapping[str, Any]) -> tuple[str, bytes, int]:
    """(id, compact JSON bytes, payload size in bytes) of one record to upload."""
    obj = record.to_json() if isinstance(record, BSO) else dict(record)
    rid = obj.get("id")
    if not isinstance(rid, str):
        raise ValueError("every record to upload needs a string 'id'")
    payload = obj.get("payload", "")
    if not isinstance(payload, str):
        raise ValueError(f"record {rid!r}: payload must be a string (the encrypted JSON)")
    item = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return rid, item, len(payload.encode("utf-8"))


@dataclass
class _Post:
    """One POST being filled: serialized items and what they count against the limits."""

    items: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    body_len: int = 1  # "["
    payload_bytes: int = 0

    def body(self) -> bytes:
        return b"[" + b",".join(self.items) + b"]"


class PostQueue:
    """Packs records into POSTs and batches; see the module docstring.

    POSTs are filled greedily under the per-POST limits capped by the per-batch ones
    (a POST must fit in a batch on its own), which gives the fewest POSTs any in-order
    packing can have. Whole POSTs are then grouped into batches: one completed POST is
    held back until the next is known, so the queue can tell whether it still fits in
    the current batch or must carry ``commit=true`` itself -- a batch is never ended by
    a half-empty POST that a new batch would have filled.
    """

    def __init__(
        self,
        config: InfoConfiguration,
        poster: Poster,
        if_unmodified_since: ServerTime | None,
        result: UploadResult,
    ) -> None:
        self.config = config
        self.poster = poster
        self.last_modified = if_unmodified_since
        self.result = result
        self.batch: str | None = None  # current batch id
        self.batched: bool | None = None  # unknown until the first answer
        self.on_post: Callable[[int], None] | None = None
        self._post_records = min(config.max_post_records, config.max_total_records)
        self._post_bytes = min(config.max_post_bytes, config.max_total_bytes)
        self._current = _Post()
        self._ready: _Post | None = None  # complete, waiting to know if it ends a batch
        self._batch_records = 0  # sent in the open batch
        self._batch_bytes = 0
        self._pending_success: list[str] = []
        self._pending_failed: dict[str, str] = {}

    def too_large(self, item: bytes, payload_len: int) -> str | None:
        c = self.config
        if payload_len > c.max_record_payload_bytes:
            limit = c.max_record_payload_bytes
            return f"payload of {payload_len} bytes exceeds max_record_payload_bytes ({limit})"
        if payload_len > self._post_bytes:
            return f"payload of {payload_len} bytes exceeds max_post_bytes/max_total_bytes"
        if len(item) + 2 > c.max_request_bytes:
            return f"record of {len(item)} bytes cannot fit in max_request_bytes ({c.max_request_bytes})"
        return None

    def enqueue(self, rid: str, item: bytes, payload_len: int) -> bool:
        """Queue one serialized record; ``False`` (and a failure entry) if it can never fit."""
        reason = self.too_large(item, payload_len)
        if reason is not None:
            self.result.failed[rid] = reason
            return False
        post = self._current
        if post.items and not (
            len(post.items) < self._post_records
            and post.payload_bytes + payload_len <= self._post_bytes
            and post.body_len + 1 + len(item) + 1 <= self.config.max_request_bytes
        ):
            self._complete(post)
            post = self._current = _Post()
        post.body_len += len(item) + (1 if post.items else 0)
        post.items.append(item)
        post.ids.append(rid)
        post.payload_bytes += payload_len
        self.result.records += 1
        self.result.payload_bytes += payload_len
        return True

    def _complete(self, post: _Post) -> None:
        if self._ready is not None:
            self._send(self._ready, commit=not self._fits(self._ready, post))
        self._ready = post

    def _fits(self, sent_next: _Post, after: _Post) -> bool:
        """Can ``after`` join the open batch once ``sent_next`` is in it?"""
        if self.batched is False:
            return True  # no batches: every POST stands alone
        c = self.config
        records = self._batch_records + len(sent_next.items) + len(after.items)
        size = self._batch_bytes + sent_next.payload_bytes + after.payload_bytes
        return records <= c.max_total_records and size <= c.max_total_bytes

    def _send(self, post: _Post, commit: bool) -> None:
        if self.batched is False:
            batch_arg, commit = None, False
        else:
            batch_arg = self.batch if self.batch is not None else "true"
        resp = self.poster(post.body(), self.last_modified, batch_arg, commit)
        self.result.posts += 1
        if self.on_post is not None:
            self.on_post(len(post.items))
        self._handle(resp, commit)
        if self.batch is not None:
            self._batch_records += len(post.items)
            self._batch_bytes += post.payload_bytes

    def _handle(self, resp: PostResponse, commit: bool) -> None:
        self._pending_success.extend(resp.success)
        self._pending_failed.update(resp.failed)
        if resp.last_modified is not None:
            self.last_modified = resp.last_modified
        if commit or self.batched is False:
            self._settle(resp)
            return
        if resp.status == 202:
            if not resp.batch:
                raise BatchError("the server answered 202 without a batch id")
            if self.batch is not None and resp.batch != self.batch:
                raise BatchError(f"the server switched batch ids mid-batch ({self.batch} → {resp.batch})")
            self.batched, self.batch = True, resp.batch
            return
        if self.batch is not None:
            raise BatchError(f"the server answered {resp.status} instead of 202 inside a batch")
        # 200 on the first POST: this server applies each POST at once (no batches).
        self.batched = False
        self.result.batched = False
        self._settle(resp)

    def _settle(self, resp: PostResponse) -> None:
        self.result.success.extend(self._pending_success)
        self.result.failed.update(self._pending_failed)
        self._pending_success, self._pending_failed = [], {}
        self.result.commits += 1
        self.result.modified = resp.last_modified or self.result.modified
        self.batch = None
        self._batch_records = self._batch_bytes = 0

    def finish(self) -> UploadResult:
        """Send what is left; the last POST commits the batch."""
        if self._current.items:
            self._complete(self._current)
            self._current = _Post()
        if self._ready is not None:
            self._send(self._ready, commit=True)
            self._ready = None
        return self.result


@dataclass
class PackingPlan:
    """How :meth:`StorageClient.upload` will split records, computed without sending.

    ``batches`` is a list of batches, each a list of POSTs, each a list of record ids;
    ``failed`` holds the records the limits can never admit, with the reason.
    """

    batches: list[list[list[str]]]
    failed: dict[str, str]

    @property
    def posts(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def records(self) -> int:
        return sum(len(p) for b in self.batches for p in b)

    def __repr__(self) -> str:
        return (
            f"<PackingPlan {self.records} records in {self.posts} POSTs, "
            f"{len(self.batches)} batches, {len(self.failed)} too large>"
        )


def plan_packing(config: InfoConfiguration, records: Iterable[BSO | Mapping[str, Any]]) -> PackingPlan:
    """The POSTs and batches an upload of ``records`` will make under ``config``.

    Runs the same :class:`PostQueue` against a local stand-in that answers as a batching
    server would, so the plan is exactly what the upload does (if nobody writes meanwhile).
    """
    batches: list[list[list[str]]] = [[]]

    def dry_post(body: bytes, xius: ServerTime | None, batch: str | None, commit: bool) -> PostResponse:
        ids = [obj["id"] for obj in json.loads(body)]
        batches[-1].append(ids)
        if commit:
            batches.append([])
            return PostResponse(200, xius, None, ids, {})
        return PostResponse(202, xius, "plan", ids, {})

    result = UploadResult("plan")
    queue = PostQueue(config, dry_post, None, result)
    for record in records:
        queue.enqueue(*serialize(record))
    queue.finish()
    return PackingPlan([b for b in batches if b], dict(result.failed))
