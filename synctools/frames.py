"""Sync records to pandas frames, without a ``Sync``: for scripts and notebooks.

From BSOs (as the server returns them) and keys::

    frames = frames_from_bsos("history", bsos, collection_keys)
    frames.main        # one row per page
    frames.visits      # one row per visit
    df = frame_from_bsos("passwords", bsos, keys)          # just the main frame

From records already decrypted (what the stepwise sync keeps in its local store)::

    frames = frames_from_records("bookmarks", records, envelopes=bsos)

Exports mask secrets (passwords, card numbers) unless ``reveal=True``; object columns
(lists, dicts) are written as JSON text to CSV and Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synctools import engines
from synctools.engines.base import Batch, Frames, str_array
from synctools.protocol.bso import BSO, ServerTime
from synctools.protocol.crypto import CollectionKeys, CryptoError, KeyBundle

__all__ = [
    "Frames",
    "export_view",
    "frame_from_bsos",
    "frame_from_records",
    "frames_from_bsos",
    "frames_from_records",
    "history_visits",
    "to_csv",
    "to_json",
    "to_parquet",
]

PROGRESS_FROM = 50_000  # show a progress bar from this many records on (progress=None)


# --------------------------------------------------------------------------- envelopes


def _modified(values: list[Any]) -> Any:
    """Server timestamps (seconds float, str, ServerTime, None) to datetime64[ms, UTC]."""
    n = len(values)
    kinds = set(map(type, values))
    if kinds <= {float}:
        centis = np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
        na = np.zeros(n, dtype=bool)
    else:
        centis = np.zeros(n, dtype=np.int64)
        na = np.zeros(n, dtype=bool)
        for i, v in enumerate(values):
            if v is None:
                na[i] = True
                continue
            try:
                centis[i] = int(ServerTime.parse(v))
            except (ValueError, TypeError, OverflowError):
                na[i] = True
    arr = (centis * 10).astype("datetime64[ms]")
    if na.any():
        arr[na] = np.datetime64("NaT")
    return pd.Series(arr, copy=False).dt.tz_localize("UTC").array


def _envelopes(items: Iterable[Any], *, need_payload: bool) -> tuple[Batch, list[Any]]:
    items = items if isinstance(items, list) else list(items)
    fast = _dict_envelopes(items, need_payload)
    if fast is not None:
        return fast
    ids: list[str | None] = []
    payloads: list[Any] = []
    mods: list[Any] = []
    sortindex: list[int | None] = []
    ttl: list[int | None] = []
    for n, b in enumerate(items):
        if isinstance(b, BSO):
            ids.append(b.id)
            payloads.append(b.payload)
            mods.append(b.modified)
            sortindex.append(b.sortindex)
            ttl.append(b.ttl)
        elif isinstance(b, Mapping):
            rid = b.get("id")
            if not isinstance(rid, str) and need_payload:
                raise ValueError(f"BSO #{n} has no string 'id'; every BSO needs its record id")
            ids.append(rid if isinstance(rid, str) else None)
            if need_payload:
                payloads.append(b.get("payload", ""))
            mods.append(b.get("modified"))
            si, t = b.get("sortindex"), b.get("ttl")
            sortindex.append(si if type(si) is int else None)
            ttl.append(t if type(t) is int else None)
        else:
            raise TypeError(
                f"BSO #{n} is a {type(b).__name__}; pass dicts {{id, modified, payload, ...}}"
                " or synctools.protocol.bso.BSO objects"
            )
    batch = Batch(ids=ids, records=[], modified=_modified(mods), sortindex=sortindex, ttl=ttl)
    return batch, payloads


def _dict_envelopes(items: list[Any], need_payload: bool) -> tuple[Batch, list[Any]] | None:
    """The common case, BSO dicts with well-typed fields, read with C-level maps."""
    n = len(items)
    if set(map(type, items)) - {dict}:
        return None
    get = dict.get
    ids = list(map(get, items, repeat("id", n)))
    sortindex = list(map(get, items, repeat("sortindex", n)))
    ttl = list(map(get, items, repeat("ttl", n)))
    if set(map(type, ids)) - {str} or set(map(type, chain(sortindex, ttl))) - {int, type(None)}:
        return None  # let the careful loop name the bad BSO / drop odd values
    payloads = list(map(get, items, repeat("payload", n), repeat("", n))) if need_payload else []
    mods = list(map(get, items, repeat("modified", n)))
    return Batch(ids=ids, records=[], modified=_modified(mods), sortindex=sortindex, ttl=ttl), payloads


def _bundle(collection: str, keys: KeyBundle | CollectionKeys) -> KeyBundle:
    if isinstance(keys, CollectionKeys):
        return keys.bundle_for(collection)
    if isinstance(keys, KeyBundle):
        return keys
    raise TypeError(
        f"keys must be a KeyBundle or a CollectionKeys (the decrypted crypto/keys), not {type(keys).__name__}"
    )


def _progress(progress: bool | None, total: int, collection: str) -> Any:
    show = total >= PROGRESS_FROM if progress is None else progress
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rec", desc=f"decrypting {collection}", leave=False)


# --------------------------------------------------------------------------- public API


def frames_from_bsos(
    collection: str,
    bsos: Iterable[Mapping[str, Any] | BSO],
    keys: KeyBundle | CollectionKeys,
    *,
    reveal: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> Frames:
    """Decrypt BSOs of ``collection`` and build all its frames.

    ``keys`` is the collection's :class:`KeyBundle` or the account's
    :class:`CollectionKeys` (its bundle for ``collection`` is used). Records that fail
    to decrypt or parse are rows with an ``error``; they never stop the others.
    Secrets are masked unless ``reveal=True``. ``progress=None`` shows a bar for large
    collections. ``workers``: processes for big collections (history); None picks by
    size, 1 stays in this process.
    """
    bundle = _bundle(collection, keys)
    batch, payloads = _envelopes(bsos, need_payload=True)
    engine = engines.get(collection)
    bar = _progress(progress, len(payloads), collection)
    try:
        return engine.from_payloads(batch, payloads, bundle, reveal=reveal, progress=bar, workers=workers)
    finally:
        if bar is not None:
            bar.close()


def frame_from_bsos(
    collection: str,
    bsos: Iterable[Mapping[str, Any] | BSO],
    keys: KeyBundle | CollectionKeys,
    *,
    reveal: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """The main frame of :func:`frames_from_bsos` (history: one row per page)."""
    return frames_from_bsos(collection, bsos, keys, reveal=reveal, progress=progress, workers=workers).main


def history_visits(
    bsos: Iterable[Mapping[str, Any] | BSO],
    keys: KeyBundle | CollectionKeys,
    *,
    progress: bool | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """One row per history visit: page ``id``, ``date``, ``type``, ``transition``."""
    return frames_from_bsos("history", bsos, keys, progress=progress, workers=workers).visits


def frames_from_records(
    collection: str,
    records: Sequence[Mapping[str, Any] | CryptoError],
    envelopes: Sequence[Mapping[str, Any] | BSO | None] | None = None,
    *,
    reveal: bool = False,
) -> Frames:
    """Build frames from records already decrypted: cleartext dicts or the CryptoError
    that stopped one.

    ``envelopes`` (same length, same order) give each record's ``id``, ``modified``,
    ``sortindex`` and ``ttl`` (BSO dicts or :class:`BSO`; the payload is not read; a
    ``None`` entry means unknown). Without them, ids come from the records and
    ``modified`` is NaT.
    """
    records = list(records)
    if envelopes is None:
        ids = [_record_id(r) for r in records]
        n = len(records)
        batch = Batch(ids, records, _modified([None] * n), [None] * n, [None] * n)
    else:
        envelopes = [
            env if env is not None else {"id": _record_id(rec)} for env, rec in zip(envelopes, records)
        ] + list(envelopes)[len(records) :]
        if len(envelopes) != len(records):
            raise ValueError(
                f"got {len(records)} records but {len(envelopes)} envelopes; pass one envelope per"
                " record, in the same order"
            )
        batch, _ = _envelopes(envelopes, need_payload=False)
        batch.records = [dict(r) if isinstance(r, Mapping) and type(r) is not dict else r for r in records]
    return engines.get(collection).build(batch, reveal=reveal)


def _record_id(rec: Any) -> str | None:
    if isinstance(rec, CryptoError):
        return rec.record_id
    rid = rec.get("id") if isinstance(rec, Mapping) else None
    return rid if isinstance(rid, str) else None


def frame_from_records(
    collection: str,
    records: Sequence[Mapping[str, Any] | CryptoError],
    envelopes: Sequence[Mapping[str, Any] | BSO | None] | None = None,
    *,
    reveal: bool = False,
) -> pd.DataFrame:
    """The main frame of :func:`frames_from_records`."""
    return frames_from_records(collection, records, envelopes, reveal=reveal).main


# --------------------------------------------------------------------------- exports


def export_view(df: pd.DataFrame, *, reveal: bool = False, json_objects: bool = True) -> pd.DataFrame:
    """The frame as the exports write it: secrets masked unless ``reveal``, and object
    columns (lists, dicts, mixed values) as JSON text when ``json_objects``.

    Raises ``ValueError`` for ``reveal=True`` on a frame built with secrets masked:
    masked values cannot be unmasked; build the frame again with ``reveal=True``.
    """
    info = df.attrs.get("synctools") or {}
    secrets = [c for c in info.get("secrets", ()) if c in df.columns]
    out = df
    if secrets and reveal and not info.get("revealed"):
        raise ValueError(
            f"this {info.get('collection')} frame was built with {', '.join(secrets)} masked;"
            " build it again with reveal=True to export the secrets"
        )
    if secrets and not reveal and info.get("revealed"):
        engine = engines.get(info.get("collection", ""))
        out = out.copy()
        for c in secrets:
            out[c] = out[c].map(lambda v, c=c: engine.mask(c, v) if isinstance(v, str) else v).astype("str")
    if json_objects:
        objects = [c for c in out.columns if out[c].dtype == object]
        if objects:
            out = out.copy() if out is df else out
            for c in objects:
                out[c] = str_array([_json_cell(v) for v in out[c]])
    return out


def _json_cell(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def to_parquet(df: pd.DataFrame, path: str | Path, *, reveal: bool = False, **kwargs: Any) -> None:
    """Write a frame to Parquet (needs the ``parquet`` extra: ``pip install 'synctools[parquet]'``)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("Parquet export needs pyarrow: pip install 'synctools[parquet]'") from None
    export_view(df, reveal=reveal).to_parquet(path, **kwargs)


def to_csv(df: pd.DataFrame, path: str | Path | None = None, *, reveal: bool = False, **kwargs: Any) -> str | None:
    """Write a frame to CSV (or return the text when ``path`` is None)."""
    kwargs.setdefault("index", False)
    text: str | None = export_view(df, reveal=reveal).to_csv(path, **kwargs)  # pandas is untyped here
    return text


def to_json(df: pd.DataFrame, path: str | Path | None = None, *, reveal: bool = False, **kwargs: Any) -> str | None:
    """Write a frame as JSON records (lists and dicts stay JSON), ISO dates."""
    kwargs.setdefault("orient", "records")
    kwargs.setdefault("date_format", "iso")
    if kwargs["orient"] == "records":
        kwargs.setdefault("lines", True)
    # pandas is untyped here: the text when path is None, else None
    text: str | None = export_view(df, reveal=reveal, json_objects=False).to_json(path, **kwargs)
    return text
