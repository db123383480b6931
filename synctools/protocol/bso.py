"""The BSO envelope, the storage server's validation rules, and exact server timestamps.

Server timestamps are seconds with exactly two decimals (10 ms resolution). They are
kept as :class:`ServerTime`, an ``int`` of hundredths of a second, so that the value we
read from ``X-Last-Modified`` or a record's ``modified`` is the value we send back in
``X-If-Unmodified-Since``, digit for digit, with no float drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ProtocolError

# Limits and patterns from the SyncStorage 1.5 contract (syncstorage-rs). Always apply
# them with ``fullmatch``: Python's ``$`` also matches before a final newline (Rust's,
# in syncstorage-rs, does not), so ``match`` would let ``"abc\n"`` through.
BSO_ID_RE = re.compile(r"[ -~]{1,64}")
COLLECTION_RE = re.compile(r"[a-zA-Z0-9._-]{1,32}")
MAX_SORTINDEX = 999_999_999
MAX_TTL = 999_999_999
DEFAULT_MAX_PAYLOAD_BYTES = 2_621_440
MAX_CENTIS = 10**13  # 1e11 seconds
ALLOWED_FIELDS = frozenset({"id", "sortindex", "payload", "ttl", "modified", "collection"})


class ServerTime(int):
    """A server timestamp in hundredths of a second; prints as ``"1795695132.67"``."""

    __slots__ = ()

    @classmethod
    def parse(cls, value: str | int | float | Decimal | ServerTime) -> ServerTime:
        """Read a timestamp from a header string, a JSON number, or a Decimal.

        Raises ``ValueError`` for anything that is not a non-negative number of seconds.
        """
        if isinstance(value, ServerTime):
            return value
        if isinstance(value, bool):
            raise ValueError("a timestamp cannot be a boolean")
        if isinstance(value, int):
            centis = value * 100
        elif isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"not a finite timestamp: {value!r}")
            # Values on the wire have two decimals; rounding the float recovers them
            # exactly (they have at most ~13 significant digits).
            centis = round(value * 100)
        else:
            text = str(value).strip()
            try:
                dec = Decimal(text)
            except InvalidOperation:
                raise ValueError(f"not a timestamp: {text[:40]!r}") from None
            if not dec.is_finite():
                raise ValueError(f"not a finite timestamp: {text[:40]!r}")
            if dec.adjusted() > 12:  # past the year 5000, and big enough to overflow Decimal
                raise ValueError("a timestamp past the year 5000 is not a server timestamp")
            centis = int((dec * 100).to_integral_value(rounding="ROUND_HALF_EVEN"))
        if centis < 0:
            raise ValueError("a timestamp cannot be negative")
        if centis >= MAX_CENTIS:
            raise ValueError("a timestamp past the year 5000 is not a server timestamp")
        return cls(centis)

    @classmethod
    def from_millis(cls, millis: int) -> ServerTime:
        """Milliseconds truncated to 10 ms, as the server does."""
        return cls(millis // 10)

    @property
    def seconds(self) -> float:
        return int(self) / 100

    def to_datetime(self) -> datetime:
        return datetime.fromtimestamp(int(self) / 100, tz=UTC)

    def __str__(self) -> str:
        return f"{int(self) // 100}.{int(self) % 100:02d}"

    def __repr__(self) -> str:
        return f"ServerTime({self})"

    def to_json(self) -> float:
        """The JSON number (two decimals survive ``json.dumps`` of this float)."""
        return int(self) / 100

    def __add__(self, other: object) -> ServerTime:
        if isinstance(other, int):
            return ServerTime(int(self) + int(other))
        return NotImplemented


class BSOValidationError(ProtocolError):
    """A BSO breaks one of the server's rules. ``field`` names the offending field."""

    def __init__(self, message: str, field: str | None = None, bso_id: str | None = None):
        where = f" (record {bso_id!r})" if bso_id is not None else ""
        super().__init__(message + where)
        self.field = field
        self.bso_id = bso_id


def validate_bso_fields(
    obj: Any,
    *,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    require_id: bool = True,
) -> None:
    """Apply the storage server's rules to an incoming BSO object.

    Raises :class:`BSOValidationError` with the reason. ``modified`` and ``collection``
    are accepted and ignored, as the server does; any other unknown field is invalid.
    """
    if not isinstance(obj, dict):
        raise BSOValidationError("a BSO must be a JSON object")
    bso_id = obj.get("id")
    if bso_id is None:
        if require_id:
            raise BSOValidationError("missing id", "id")
    elif not valid_bso_id(bso_id):
        raise BSOValidationError("invalid id: 1-64 printable ASCII characters required", "id")
    shown = bso_id if isinstance(bso_id, str) else None
    unknown = set(obj) - ALLOWED_FIELDS
    if unknown:
        raise BSOValidationError(f"unknown field(s) {sorted(unknown)}", sorted(unknown)[0], shown)
    if "sortindex" in obj and obj["sortindex"] is not None:
        si = obj["sortindex"]
        if isinstance(si, bool) or not isinstance(si, int) or abs(si) > MAX_SORTINDEX:
            raise BSOValidationError("invalid sortindex: integer within ±999999999", "sortindex", shown)
    if "ttl" in obj and obj["ttl"] is not None:
        ttl = obj["ttl"]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
            raise BSOValidationError("invalid ttl: integer 0..999999999 seconds", "ttl", shown)
    if "payload" in obj:
        payload = obj["payload"]
        if not isinstance(payload, str):
            raise BSOValidationError("invalid payload: must be a string", "payload", shown)
        try:
            size = len(payload.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") has no UTF-8 form
            raise BSOValidationError(
                "invalid payload: not valid Unicode (a lone surrogate)", "payload", shown
            ) from None
        if size > max_payload_bytes:
            raise BSOValidationError(
                f"payload larger than max_record_payload_bytes ({max_payload_bytes})",
                "payload",
                shown,
            )


def valid_bso_id(value: Any) -> bool:
    """1 to 64 printable ASCII characters, nothing else (no trailing newline)."""
    return isinstance(value, str) and BSO_ID_RE.fullmatch(value) is not None


def valid_collection_name(name: Any) -> bool:
    return isinstance(name, str) and COLLECTION_RE.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class BSO:
    """A Basic Storage Object as the server stores it. ``payload`` is the raw string."""

    id: str
    payload: str
    modified: ServerTime | None = None
    sortindex: int | None = None
    ttl: int | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> BSO:
        """Build from a server response object (``modified`` parsed exactly)."""
        if not isinstance(obj, dict) or "id" not in obj:
            raise BSOValidationError("a BSO from the server must be an object with an id")
        modified = obj.get("modified")
        return cls(
            id=obj["id"],
            payload=obj.get("payload", ""),
            modified=None if modified is None else ServerTime.parse(modified),
            sortindex=obj.get("sortindex"),
            ttl=obj.get("ttl"),
        )

    def to_json(self) -> dict[str, Any]:
        """The object to upload: id, payload, and sortindex/ttl when set."""
        out: dict[str, Any] = {"id": self.id, "payload": self.payload}
        if self.sortindex is not None:
            out["sortindex"] = self.sortindex
        if self.ttl is not None:
            out["ttl"] = self.ttl
        return out

    def validate(self, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        validate_bso_fields(self.to_json(), max_payload_bytes=max_payload_bytes)
