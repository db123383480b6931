"""Hawk request checking with mohawk, and a nonce memory that makes replays fail.

A Hawk request signs its timestamp and a nonce. The server accepts a timestamp within
``SKEW`` seconds of its own clock and remembers each nonce for as long as that timestamp
stays acceptable: a captured request replayed later is stale, sooner it is a seen nonce.
Memory is bounded by time, not by count: a nonce is forgotten once its timestamp can no
longer pass, so the store holds at most the requests of about ``2 × SKEW`` seconds.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Any

import mohawk
import mohawk.exc
import mohawk.util

from .http import Request

# One minute each way: the Hawk reference implementation's `timestampSkewSec`, mohawk's
# and hawkauthlib's default, what FxA's auth server applies, and the window Firefox's
# hawkclient.sys.mjs is written for ("HAWK tolerates a window of one minute of clock
# skew"). syncstorage-rs accepts 52 weeks but keeps no nonces at all, relying on TLS;
# a local stack on plain HTTP cannot, so it keeps the Hawk window and tells a client
# whose clock is off the server time (WWW-Authenticate ts/tsm), as Hawk specifies.
SKEW = 60
# Our window to remember nonces is a little wider than mohawk's acceptance window, so no
# request mohawk accepts (it reads the clock a moment later) goes unremembered.
_MARGIN = 2
REQUIRED_FIELDS = ("id", "ts", "nonce", "mac")


class NonceCache:
    """``(id, nonce, ts)`` triples seen while their timestamp is acceptable; a repeat is
    a replay. Called by mohawk after the MAC verified, so only genuine requests land here."""

    def __init__(self, skew: float = SKEW, clock: Callable[[], float] = time.time):
        self.skew = skew
        self._clock = clock
        self._expiry: dict[tuple[str, str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str, str]]] = []  # (expiry, key), soonest first
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        # mohawk checks nonces only `if resource.seen_nonce:`; with __len__ below, an
        # empty cache would be falsy and every nonce would go unchecked.
        return True

    def __len__(self) -> int:
        with self._lock:
            self._forget(self._clock())
            return len(self._expiry)

    def _forget(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] < now:
            _, key = heapq.heappop(heap)
            self._expiry.pop(key, None)

    def __call__(self, sender_id: str, nonce: str, ts: str | int) -> bool:
        now = self._clock()
        try:
            stamp = int(ts)
        except (TypeError, ValueError):
            return False  # not a timestamp: the skew check refuses it right after
        if abs(stamp - now) > self.skew + _MARGIN:
            return False  # stale: refused next, and never acceptable, so nothing to remember
        key = (sender_id, nonce, str(ts))
        with self._lock:
            self._forget(now)
            if key in self._expiry:
                return True
            expiry = stamp + self.skew + _MARGIN
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
        return False


class HawkError(Exception):
    """The request's Hawk header is missing, malformed or does not verify."""


class StaleTimestamp(HawkError):
    """The signature verified but its timestamp is outside the window.

    ``www_authenticate`` is the Hawk answer that carries the server time, signed with the
    client's key (``ts``, ``tsm``), so the client can correct its clock and retry."""

    def __init__(self, server_time: int, www_authenticate: str):
        super().__init__("Stale timestamp")
        self.server_time = server_time
        self.www_authenticate = www_authenticate


def parse_header(header: str) -> dict[str, str]:
    """The attributes of a Hawk Authorization header, refused unless it has what every
    Hawk request must carry (id, ts, nonce, mac) and ``ts`` is whole seconds."""
    try:
        parsed: dict[str, str] = mohawk.util.parse_authorization_header(header)  # mohawk is untyped
    except (mohawk.exc.HawkFail, ValueError) as exc:
        raise HawkError(f"malformed Hawk header: {type(exc).__name__}") from None
    missing = [name for name in REQUIRED_FIELDS if not parsed.get(name)]
    if missing:
        raise HawkError(f"Hawk header lacks {', '.join(missing)}")
    ts = parsed["ts"]
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
        raise HawkError("Hawk ts must be whole seconds since the epoch")
    return parsed


def hawk_id(header: str) -> str:
    """The ``id`` attribute of a well-formed Hawk Authorization header (unverified)."""
    return parse_header(header)["id"]


def stale_answer(now: int, credentials: dict[str, Any]) -> str:
    """``WWW-Authenticate`` for a stale timestamp, as the Hawk specification words it."""
    tsm = mohawk.util.calculate_ts_mac(now, credentials)
    if isinstance(tsm, bytes):
        tsm = tsm.decode("ascii")
    return f'Hawk ts="{now}", tsm="{tsm}", error="Stale timestamp"'


def check_hawk(
    req: Request,
    key_for: Callable[[str], bytes | str],
    nonces: NonceCache,
) -> str:
    """Verify the request's Hawk signature; returns the Hawk id.

    ``key_for(id)`` returns the key or raises ``LookupError``. A payload hash, when the
    client sent one, is checked against the body. Raises :class:`StaleTimestamp` when
    only the timestamp is wrong, :class:`HawkError` for anything else.
    """
    header = req.header("Authorization") or ""
    if not header.startswith("Hawk "):
        raise HawkError("expected a Hawk Authorization header")
    parse_header(header)
    used: dict[str, Any] = {}

    def credentials(sender_id: str) -> dict[str, object]:
        used.update(id=sender_id, key=key_for(sender_id), algorithm="sha256")
        return used

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
            timestamp_skew_in_seconds=nonces.skew,
        )
    except mohawk.exc.TokenExpired as exc:
        now = int(exc.localtime_in_seconds)
        raise StaleTimestamp(now, stale_answer(now, used)) from None
    except (mohawk.exc.HawkFail, ValueError) as exc:
        raise HawkError(f"Hawk check failed: {type(exc).__name__}") from None
    sender_id: str = receiver.parsed_header["id"]  # mohawk is untyped; parse_header checked it
    return sender_id
