"""Many BSOs as columns: a page of a collection read without a Python object per record.

A full page from the storage server is a JSON array of ``{id, modified, payload,
sortindex?, ttl?}``. :func:`columns_from_json` reads the parsed array with C-level maps
into :class:`BSOColumns` (ids, payload strings, ``modified`` as int64 hundredths of a
second, sortindex, ttl) when every object is exactly well typed, and answers ``None``
otherwise, so the caller takes the checked per-record path (the network layer's
``bso_from_server``) for that page: the fast path accepts exactly the pages on which the
checked path finds nothing wrong (ids of 1-64 printable ASCII characters, sortindex and
ttl in range, ``modified`` not after the answer's ``X-Weave-Timestamp``), never more.
A page read the checked way keeps each malformed envelope's error in ``errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from . import _bulk
from .bso import BSO, MAX_CENTIS, MAX_SORTINDEX, MAX_TTL, ServerTime
from .crypto import CryptoError

NO_TIME = -1  # ``modified`` of a BSO the server sent without one (ServerTime is never negative)
_NONE = type(None)


@dataclass
class BSOColumns:
    """BSOs of one collection as parallel columns (row ``i`` is one BSO)."""

    ids: list[str]
    payloads: list[str]
    modified: np.ndarray  # int64 ServerTime hundredths; NO_TIME when unknown
    sortindex: list[int | None]
    ttl: list[int | None]
    #: per row, the error of an envelope the server sent malformed (or None); None when
    #: every row is well formed (the common case costs nothing)
    errors: list[CryptoError | None] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_bsos(cls, bsos: Sequence[BSO]) -> BSOColumns:
        """Columns of BSOs; a sortindex or ttl that is not an integer (a server sent
        ``"7"`` or ``true``) is no sortindex or ttl, here as in the mirror and the frames."""
        n = len(bsos)
        mods = np.fromiter((NO_TIME if b.modified is None else int(b.modified) for b in bsos), np.int64, n)
        # a MalformedBSO (net.answers) carries its envelope's error
        errors: list[CryptoError | None] = [getattr(b, "error", None) for b in bsos]
        return cls([b.id for b in bsos], [b.payload for b in bsos], mods,
                   [_int_or_none(b.sortindex) for b in bsos], [_int_or_none(b.ttl) for b in bsos],
                   errors if any(e is not None for e in errors) else None)  # fmt: skip

    @classmethod
    def empty(cls) -> BSOColumns:
        return cls([], [], np.zeros(0, np.int64), [], [])

    def bso(self, i: int) -> BSO:
        m = int(self.modified[i])
        return BSO(self.ids[i], self.payloads[i], None if m == NO_TIME else ServerTime(m),
                   self.sortindex[i], self.ttl[i])  # fmt: skip

    def bsos(self) -> list[BSO]:
        return [self.bso(i) for i in range(len(self))]

    def take(self, index: Sequence[int] | np.ndarray) -> BSOColumns:
        idx = [int(i) for i in index]
        errs = self.errors
        return BSOColumns([self.ids[i] for i in idx], [self.payloads[i] for i in idx],
                          self.modified[np.asarray(idx, dtype=np.intp)],
                          [self.sortindex[i] for i in idx], [self.ttl[i] for i in idx],
                          None if errs is None else [errs[i] for i in idx])  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[BSOColumns]) -> BSOColumns:
        if len(parts) == 1:
            return parts[0]
        errors = None
        if any(p.errors is not None for p in parts):
            errors = [e for p in parts for e in (p.errors if p.errors is not None else [None] * len(p))]
        return cls([i for p in parts for i in p.ids], [x for p in parts for x in p.payloads],
                   np.concatenate([p.modified for p in parts]) if parts else np.zeros(0, np.int64),
                   [x for p in parts for x in p.sortindex], [x for p in parts for x in p.ttl], errors)  # fmt: skip


def _int_or_none(v: Any) -> int | None:
    return v if type(v) is int else None


def columns_from_body(body: bytes, now: ServerTime | None = None) -> BSOColumns | None:
    """A page's JSON body straight to columns by the compiled reader (no Python object per
    field on the way), or None where the JSON parser and :func:`columns_from_json` must
    decide: it accepts only pages that those accept, with the same values (see
    ``page_columns`` in ``_native.c``). None too where the reader is not built."""
    native = _bulk._native
    if native is None:
        return None
    got = native.page_columns(body, -1 if now is None else int(now))
    if got is None:
        return None
    ids, payloads, centis, sortindex, ttl = got
    return BSOColumns(ids, payloads, np.frombuffer(centis, dtype=np.int64), sortindex, ttl)


def columns_from_json(data: Any, now: ServerTime | None = None) -> BSOColumns | None:
    """A parsed page (a list of BSO objects) as columns, or None when any object is not
    exactly ``{id: str, modified: number, payload: str, sortindex/ttl: int or absent/null}``
    (booleans are not numbers here), an id is not 1-64 printable ASCII characters, a
    sortindex or ttl is out of range, or a time is out of range or after ``now`` (the
    answer's X-Weave-Timestamp): then read it per record."""
    if type(data) is not list or set(map(type, data)) - {dict}:
        return None
    n = len(data)
    get = dict.get
    ids = list(map(get, data, repeat("id", n)))
    payloads = list(map(get, data, repeat("payload", n)))
    mods = list(map(get, data, repeat("modified", n)))
    sortindex = list(map(get, data, repeat("sortindex", n)))
    ttl = list(map(get, data, repeat("ttl", n)))
    if n and (
        set(map(type, ids)) != {str}
        or set(map(type, payloads)) != {str}
        or set(map(type, mods)) - {float, int}
        or set(map(type, sortindex)) - {int, _NONE}
        or set(map(type, ttl)) - {int, _NONE}
    ):
        return None
    if n and not (_ids_ok(ids) and _in_range(sortindex, -MAX_SORTINDEX, MAX_SORTINDEX)
                  and _in_range(ttl, 0, MAX_TTL)):  # fmt: skip
        return None
    try:
        seconds = np.array(mods, dtype=np.float64)
    except OverflowError:
        return None
    # ServerTime.parse(float) is round(value * 100), half to even, as np.rint; an int
    # below 1e11 seconds is exact in a float64, so both kinds give the checked path's value
    centis = np.rint(seconds * 100)
    if n and not (np.isfinite(centis).all() and centis.min() >= 0 and centis.max() < MAX_CENTIS):
        return None
    if n and now is not None and centis.max() > int(now):
        return None
    return BSOColumns(ids, payloads, centis.astype(np.int64), sortindex, ttl)  # type: ignore[arg-type]


def _ids_ok(ids: list[Any]) -> bool:
    """Every id 1-64 printable ASCII characters (space to ``~``), checked in C: the
    joined text is ASCII and printable exactly when every id is."""
    joined = "".join(ids)
    return min(map(len, ids)) >= 1 and max(map(len, ids)) <= 64 and joined.isascii() and joined.isprintable()


def _in_range(values: list[Any], low: int, high: int) -> bool:
    """Every integer of ``values`` (ints or None, as checked above) within low..high."""
    got = values if None not in values else [v for v in values if v is not None]
    return not got or (low <= min(got) and max(got) <= high)
