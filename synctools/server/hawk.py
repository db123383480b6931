"""Hawk request checking with mohawk, plus a bounded nonce cache against replays."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import mohawk
import mohawk.exc
import mohawk.util

from .http import Request

# Mozilla's servers allow a wide clock skew (clients' clocks are often wrong); a local
# stack has no reason to be stricter.
WIDE_SKEW = 30 * 24 * 3600


class NonceCache:
    """Remembers recent (id, nonce, ts) triples; a repeat is a replay."""

    def __init__(self, size: int = 20000):
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def __call__(self, sender_id: str, nonce: str, ts: str) -> bool:
        key = (sender_id, nonce, str(ts))
        with self._lock:
            if key in self._seen:
                return True
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return False


class HawkError(Exception):
    """The request's Hawk header is missing, malformed or does not verify."""


def hawk_id(header: str) -> str:
    """The ``id`` attribute of a Hawk Authorization header (unverified)."""
    try:
        parsed = mohawk.util.parse_authorization_header(header)
    except mohawk.exc.HawkFail as exc:
        raise HawkError(f"malformed Hawk header: {exc}") from None
    if "id" not in parsed:
        raise HawkError("Hawk header has no id")
    return parsed["id"]


def check_hawk(
    req: Request,
    key_for: Callable[[str], bytes | str],
    nonces: NonceCache,
) -> str:
    """Verify the request's Hawk signature; returns the Hawk id.

    ``key_for(id)`` returns the key or raises ``LookupError``. A payload hash, when the
    client sent one, is checked against the body.
    """
    header = req.header("Authorization") or ""
    if not header.startswith("Hawk "):
        raise HawkError("expected a Hawk Authorization header")

    def credentials(sender_id: str) -> dict[str, object]:
        return {"id": sender_id, "key": key_for(sender_id), "algorithm": "sha256"}

    try:
        receiver = mohawk.Receiver(
            credentials,
            header,
            req.url,
            req.method,
            content=req.body,
            content_type=req.header("Content-Type") or "",
            accept_untrusted_content=True,
            seen_nonce=nonces,
            timestamp_skew_in_seconds=WIDE_SKEW,
        )
    except mohawk.exc.HawkFail as exc:
        raise HawkError(f"Hawk check failed: {type(exc).__name__}") from None
    return receiver.parsed_header["id"]
