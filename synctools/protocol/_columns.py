"""Many BSOs as columns: a page of a collection read without a Python object per record.

A full page from the storage server is a JSON array of ``{id, modified, payload,
sortindex?, ttl?}``. :func:`columns_from_json` reads the parsed array with C-level maps
into :class:`BSOColumns` (ids, payload strings, ``modified`` as int64 hundredths of a
second, sortindex, ttl) when every object is exactly well typed, and answers ``None``
otherwise, so the caller takes the checked per-record path (:meth:`BSO.from_json`) for
that page: the fast path accepts a subset of what the checked path accepts, never more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from .bso import BSO, MAX_CENTIS, ServerTime

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

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_bsos(cls, bsos: Sequence[BSO]) -> BSOColumns:
        """Columns of BSOs; a sortindex or ttl that is not an integer (a server sent
        ``"7"`` or ``true``) is no sortindex or ttl, here as in the mirror and the frames."""
        n = len(bsos)
        mods = np.fromiter((NO_TIME if b.modified is None else int(b.modified) for b in bsos), np.int64, n)
        return cls([b.id for b in bsos], [b.payload for b in bsos], mods,
                   [_int_or_none(b.sortindex) for b in bsos], [_int_or_none(b.ttl) for b in bsos])  # fmt: skip

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
        return BSOColumns([self.ids[i] for i in idx], [self.payloads[i] for i in idx],
                          self.modified[np.asarray(idx, dtype=np.intp)],
                          [self.sortindex[i] for i in idx], [self.ttl[i] for i in idx])  # fmt: skip

    @classmethod
    def concat(cls, parts: Sequence[BSOColumns]) -> BSOColumns:
        if len(parts) == 1:
            return parts[0]
        return cls([i for p in parts for i in p.ids], [x for p in parts for x in p.payloads],
                   np.concatenate([p.modified for p in parts]) if parts else np.zeros(0, np.int64),
                   [x for p in parts for x in p.sortindex], [x for p in parts for x in p.ttl])  # fmt: skip


def _int_or_none(v: Any) -> int | None:
    return v if type(v) is int else None


def columns_from_json(data: Any) -> BSOColumns | None:
    """A parsed page (a list of BSO objects) as columns, or None when any object is not
    exactly ``{id: str, modified: number, payload: str, sortindex/ttl: int or absent/null}``
    (booleans are not numbers here) or a time is out of range: then read it per record."""
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
    try:
        seconds = np.array(mods, dtype=np.float64)
    except OverflowError:
        return None
    # ServerTime.parse(float) is round(value * 100), half to even, as np.rint; an int
    # below 1e11 seconds is exact in a float64, so both kinds give the checked path's value
    centis = np.rint(seconds * 100)
    if n and not (np.isfinite(centis).all() and centis.min() >= 0 and centis.max() < MAX_CENTIS):
        return None
    return BSOColumns(ids, payloads, centis.astype(np.int64), sortindex, ttl)  # type: ignore[arg-type]
