"""Shared pieces of the demo generator: the fixed clock, ids and seeded derivations.

Everything time-related is derived from :data:`EPOCH_MS`, the demo's fixed "now", never
from the wall clock, so that a seed always yields the same bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from synctools.protocol._util import b64url_nopad

#: The demo's fixed "now": the moment the demo laptop last synced (2026-11-20 18:00 UTC).
EPOCH_MS = int(datetime(2026, 11, 20, 18, 0, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
#: When the account first synced: everything older was uploaded by that first sync.
FIRST_SYNC_MS = EPOCH_MS - 400 * DAY_MS
#: Firefox desktop's application id (the prefs record id and addons' applicationID).
FIREFOX_APP_ID = "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"


@dataclass(frozen=True)
class Seeded:
    """Keyed derivations from the seed: one HMAC key, many labelled outputs."""

    seed: int | str

    @property
    def key(self) -> bytes:
        return hashlib.sha256(f"synctools-demo/{self.seed}".encode()).digest()

    def derive(self, label: str, length: int = 32) -> bytes:
        out = b""
        counter = 0
        while len(out) < length:
            out += hmac.new(self.key, f"{label}#{counter}".encode(), hashlib.sha256).digest()
            counter += 1
        return out[:length]

    def rng(self, name: str) -> random.Random:
        """An independent stream per part, so changing one part leaves the others alone."""
        return random.Random(f"synctools-demo/{self.seed}/{name}")

    def sync_id(self, name: str) -> str:
        """A 12-character base64url syncID, as Firefox makes them from 9 random bytes."""
        return b64url_nopad(self.derive(f"syncid/{name}", 9))


def guid(rng: random.Random) -> str:
    """A Places-style GUID: 12 base64url characters (9 random bytes)."""
    return b64url_nopad(rng.getrandbits(72).to_bytes(9, "big"))


def braced_uuid(rng: random.Random) -> str:
    """``{xxxxxxxx-...}``: the id form desktop Firefox uses for logins."""
    return "{" + str(uuid.UUID(int=rng.getrandbits(128), version=4)) + "}"


def hex_id(rng: random.Random, nbytes: int = 16) -> str:
    return rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


def sync_time_centis(day: int) -> int:
    """The demo laptop's daily sync on ``day`` (days since FIRST_SYNC), in 1/100 s.

    Daily, in the evening, at a minute that varies from day to day.
    """
    base = FIRST_SYNC_MS // 10 + day * (DAY_MS // 10)
    jitter = int.from_bytes(hashlib.sha256(f"sync/{day}".encode()).digest()[:4], "big")
    return base + (jitter % 360_000)  # up to an hour after the base time


LAST_SYNC_CENTIS = EPOCH_MS // 10


def modified_after(t_ms: int) -> int:
    """The server ``modified`` (1/100 s) of a record last changed at ``t_ms``: the first
    sync after the change (the first-ever sync for anything older)."""
    if t_ms <= FIRST_SYNC_MS:
        return sync_time_centis(0)
    day = (t_ms - FIRST_SYNC_MS) // DAY_MS
    for d in (day, day + 1):
        c = sync_time_centis(d)
        if c * 10 >= t_ms:
            return min(c, LAST_SYNC_CENTIS)
    return LAST_SYNC_CENTIS


def weighted_index(rng: random.Random, cum: list[float]) -> int:
    """Index drawn from cumulative weights ``cum`` (bisect, no per-call allocation)."""
    return bisect.bisect_right(cum, rng.random() * cum[-1])
