"""history: one record per page (``histUri``, ``title``, ``visits: [{date µs, type}]``).

Two frames: ``main`` has one row per page (url, title, visit count, first and last
visit); ``visits`` has one row per visit (page ``id``, ``date``, raw ``type`` and its
``transition`` name). Join them on ``id`` to get urls for visits.

History is the big collection (tens of thousands of records, a million on old
profiles), so it has its own column builder. Records are handled in chunks: each chunk
is decrypted by ``decrypt_many(raw=True)`` and, when pyarrow is installed, read into
columns in a background thread while the next chunk decrypts: by the compiled reader
(``protocol/_native.c``: the plain shape Firefox writes, straight into Arrow buffers),
else by Arrow's multi-threaded JSON reader. Any chunk neither can read exactly (a
malformed record, an unknown field, a type surprise) goes on the plain path, whose
checks name the bad record; all three give the same frames.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synctools.protocol import _bulk
from synctools.protocol._columns import BSOColumns
from synctools.protocol.crypto import CryptoError, KeyBundle, decrypt_many, load_cleartexts

from . import _workers
from .base import (
    CHUNK,
    Batch,
    Column,
    Engine,
    Frames,
    Part,
    RecordShapeError,
    batch_from_columns,
    describe_error,
    live_order,
    stamp,
    str_array,
    times_from_ints,
    well_formed_values,
    wrong,
)

try:  # optional: the fast path
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
except ImportError:  # pragma: no cover - exercised only where pyarrow is absent
    pa = None

# nsINavHistoryService transition types, 1..9, as Firefox records them.
TRANSITIONS = (
    "link",
    "typed",
    "bookmark",
    "embed",
    "redirect_permanent",
    "redirect_temporary",
    "download",
    "framed_link",
    "reload",
)
_MAXI = np.iinfo(np.int64).max
_MINI = np.iinfo(np.int64).min
_KNOWN = frozenset({"id", "deleted", "histUri", "title", "visits"})
_BOM = b"\xef\xbb\xbf"
#: an object key written with a \\u escape (``"\\u0064eleted": null`` is still ``deleted``)
_ESCAPED_KEY = re.compile(rb'\\u[0-9a-fA-F]{4}(?:[^"\\]|\\.)*"\s*:')


@dataclass
class _Chunk:
    """Columns for a run of consecutive records (every record gets a page row). Visits
    are stored page after page: ``count`` says how many each page has."""

    n: int
    deleted: np.ndarray  # bool
    deleted_na: np.ndarray  # bool: error rows
    errors: list[str | None]
    url: Any  # list[str | None], or a pyarrow string (chunked) array
    title: Any
    count: np.ndarray  # int64 visits per page
    vdate: np.ndarray  # int64 µs
    vdate_na: np.ndarray
    vtype: np.ndarray  # int64
    vtype_na: np.ndarray
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> _Chunk:
        """The chunk of pages ``rows`` (ascending), with their visits."""
        new = np.full(self.n, -1, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        visits = _visit_rows(self.count, rows)
        pick: Any = rows.tolist()
        return _Chunk(
            n=len(rows),
            deleted=self.deleted[rows],
            deleted_na=self.deleted_na[rows],
            errors=[self.errors[i] for i in pick],
            url=_take_strings(self.url, rows),
            title=_take_strings(self.title, rows),
            count=self.count[rows],
            vdate=self.vdate[visits],
            vdate_na=self.vdate_na[visits],
            vtype=self.vtype[visits],
            vtype_na=self.vtype_na[visits],
            extras={int(new[i]): x for i, x in self.extras.items() if new[i] >= 0},
        )


def _take_strings(values: Any, rows: np.ndarray) -> Any:
    if pa is not None and isinstance(values, pa.Array | pa.ChunkedArray):
        return values.take(pa.array(rows))
    return [values[i] for i in rows.tolist()]


# --------------------------------------------------------------------------- plain path


def _int_or_none(v: Any, key: str) -> int | None:
    if v is None or (type(v) is int and _MINI < v <= _MAXI):
        return v
    raise wrong(f"visits[].{key}", "an integer", v)


def _plain_chunk(records: Sequence[Any]) -> _Chunk:
    """Build a chunk from decrypted dicts / CryptoErrors, checking every field's type."""
    n = len(records)
    deleted = np.zeros(n, dtype=bool)
    deleted_na = np.zeros(n, dtype=bool)
    errors: list[str | None] = [None] * n
    urls: list[str | None] = [None] * n
    titles: list[str | None] = [None] * n
    count = np.zeros(n, dtype=np.int64)
    vdate: list[int | None] = []
    vtype: list[int | None] = []
    extras: dict[int, dict[str, Any]] = {}
    for i, rec in enumerate(records):
        try:
            if isinstance(rec, CryptoError):
                raise rec
            if type(rec) is not dict:
                raise RecordShapeError("cleartext is not a JSON object")
            extra = {k: v for k, v in rec.items() if k not in _KNOWN}
            d = rec.get("deleted", False)
            if type(d) is not bool:
                raise wrong("deleted", "a boolean", d)
            if d:
                deleted[i] = True
                if extra:
                    extras[i] = extra
                continue
            url, title, visits = rec.get("histUri"), rec.get("title"), rec.get("visits")
            if url is not None and type(url) is not str:
                raise wrong("histUri", "a string", url)
            if title is not None and type(title) is not str:
                raise wrong("title", "a string", title)
            if visits is None:
                visits = []
            elif type(visits) is not list:
                raise wrong("visits", "an array of objects", visits)
            dates = []
            types = []
            for v in visits:
                if type(v) is not dict:
                    raise wrong("visits[]", "an object", v)
                dates.append(_int_or_none(v.get("date"), "date"))
                types.append(_int_or_none(v.get("type"), "type"))
        except (CryptoError, RecordShapeError) as exc:
            deleted_na[i] = True
            errors[i] = describe_error(exc)
            continue
        urls[i], titles[i] = url, title
        count[i] = len(dates)
        vdate.extend(dates)
        vtype.extend(types)
        if extra:
            extras[i] = extra
    vd_na = np.fromiter((d is None for d in vdate), dtype=bool, count=len(vdate))
    vt_na = np.fromiter((t is None for t in vtype), dtype=bool, count=len(vtype))
    return _Chunk(
        n=n,
        deleted=deleted,
        deleted_na=deleted_na,
        errors=errors,
        url=urls,
        title=titles,
        count=count,
        vdate=np.fromiter((0 if d is None else d for d in vdate), np.int64, len(vdate)),
        vdate_na=vd_na,
        vtype=np.fromiter((0 if t is None else t for t in vtype), np.int64, len(vtype)),
        vtype_na=vt_na,
        extras=extras,
    )


# --------------------------------------------------------------------------- arrow path

if pa is not None:
    _VISITS = pa.list_(pa.struct([("date", pa.int64()), ("type", pa.int64())]))
    _SCHEMA = pa.schema(
        [
            ("id", pa.string()),
            ("deleted", pa.bool_()),
            ("histUri", pa.string()),
            ("title", pa.string()),
            ("visits", _VISITS),
        ]
    )


def _chunk_job(bundle: KeyBundle, payloads: Sequence[Any], ids: Sequence[str | None], threads: bool) -> _Chunk:
    """One chunk from payloads to columns (runs in a worker process)."""
    raw = decrypt_many(bundle, payloads, ids, raw=True)
    got = _native_chunk(raw, ids) or _arrow_chunk(raw, ids, threads)
    return got if got is not None else _plain_chunk(decrypt_many(bundle, payloads, ids))


def _read_chunk(results: Sequence[Any], ids: Sequence[str | None]) -> _Chunk | None:
    """The compiled reader, else Arrow's; None when the chunk must take the plain path."""
    return _native_chunk(results, ids) or _arrow_chunk(results, ids)


def _decrypted(results: Sequence[Any]) -> tuple[Sequence[int], Sequence[bytes]]:
    """The rows that decrypted (their cleartext bytes) and where they are."""
    if set(map(type, results)) == {bytes}:
        return range(len(results)), results
    ok = [i for i, r in enumerate(results) if type(r) is bytes]
    return ok, [results[i] for i in ok]


def _arrow_chunk(results: Sequence[Any], ids: Sequence[str | None], threads: bool = True) -> _Chunk | None:
    """Parse raw cleartexts with Arrow; None when the chunk must take the plain path."""
    ok, texts = _decrypted(results)
    if not texts:
        return None
    blob = b"\n".join(texts)
    if b"\r" in blob or blob.count(b"\n") != len(texts) - 1:
        return None  # a pretty-printed record: line-delimited reading would split it
    if _BOM in blob:
        return None  # Arrow skips a byte order mark that JSON (and the plain path) refuses
    try:
        tbl = pj.read_json(
            pa.BufferReader(blob),
            read_options=pj.ReadOptions(use_threads=threads, block_size=max(1 << 20, 2 * max(map(len, texts)))),
            parse_options=pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="infer"),
        )
        if tbl.num_rows != len(texts) or tbl.schema != _SCHEMA:
            return None  # unknown fields (kept in `extra` by the plain path), nested surprises
        tbl = tbl.combine_chunks()
        tbl.validate(full=True)  # Arrow's reader does not check UTF-8; JSON text must be UTF-8
    except (ValueError, pa.ArrowException, UnicodeError):
        return None
    if tbl.column("id").null_count:
        return None  # no id, or a null one: the plain path names the record
    want = pa.array(ids if len(ok) == len(results) else [ids[i] for i in ok], type=pa.string())
    if pc.any(pc.not_equal(tbl.column("id"), want)).as_py():
        return None  # a cleartext id that does not match its BSO: the plain path names it
    deleted = tbl.column("deleted").chunk(0) if tbl.num_rows else pa.array([], pa.bool_())
    if blob.count(b'"deleted"') != len(deleted) - deleted.null_count or (
        deleted.null_count and b"\\u" in blob and _ESCAPED_KEY.search(blob)
    ):
        return None  # `"deleted": null` reads as absent in Arrow, but is a bad record
    visits = tbl.column("visits").chunk(0)
    url = tbl.column("histUri").chunk(0)
    title = tbl.column("title").chunk(0)
    is_del = pc.fill_null(deleted, False)
    if pc.any(pc.and_(is_del, pc.or_(pc.or_(url.is_valid(), title.is_valid()), visits.is_valid()))).as_py():
        return None  # tombstones with content: the plain path moves it to `extra`
    flat = visits.flatten()
    if flat.null_count:
        return None  # a null visit: the plain path reports it
    dates = flat.field("date")
    types = flat.field("type")
    if (dates.null_count < len(dates) and pc.min(dates).as_py() == _MINI) or (
        types.null_count < len(types) and pc.min(types).as_py() == _MINI
    ):
        return None  # the plain path refuses the lowest int64 (it marks "no visit")
    counts = pc.fill_null(pc.list_value_length(visits), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return _spread(results, ok, is_del, url, title, counts, dates, types)


def _spread(
    results: Sequence[Any],
    ok: Sequence[int],
    is_del: Any,
    url: Any,
    title: Any,
    counts: np.ndarray,
    dates: Any,
    types: Any,
) -> _Chunk:
    """A chunk from the columns of the records that decrypted (rows ``ok`` of ``results``):
    the others become empty rows with their error."""
    n = len(results)
    errors: list[str | None] = [None] * n
    deleted_na = np.zeros(n, dtype=bool)
    if len(ok) != n:
        # Spread the parsed rows back over all records; failed records become empty rows.
        where = np.full(n, -1, dtype=np.int64)
        where[ok] = np.arange(len(ok))
        for i, r in enumerate(results):
            if type(r) is not bytes:
                errors[i] = describe_error(r)
                deleted_na[i] = True
        idx = pa.array(where, mask=where < 0)
        url, title = url.take(idx), title.take(idx)
        is_del = is_del.take(idx)
        full = np.zeros(n, dtype=np.int64)
        full[ok] = counts
        counts = full
    return _Chunk(
        n=n,
        deleted=pc.fill_null(is_del, False).to_numpy(zero_copy_only=False),
        deleted_na=deleted_na,
        errors=errors,
        url=url,
        title=title,
        count=counts,
        vdate=dates.fill_null(0).to_numpy(),
        vdate_na=dates.is_null().to_numpy(zero_copy_only=False),
        vtype=types.fill_null(0).to_numpy(),
        vtype_na=types.is_null().to_numpy(zero_copy_only=False),
    )


def _native_chunk(results: Sequence[Any], ids: Sequence[str | None]) -> _Chunk | None:
    """Read raw cleartexts with the compiled reader (no Python object per record or visit,
    no JSON tokens for Arrow); None when it hands the chunk over (see _native.c), or when a
    url or title is not UTF-8 (Arrow's full validation checks)."""
    native = _bulk._native  # the compiled module, None where it is not built (or is turned off)
    if native is None or pa is None:
        return None
    ok, texts = _decrypted(results)
    if not texts:
        return None
    got = native.history_columns(texts, ids if len(ok) == len(results) else [ids[i] for i in ok])
    if got is None:
        return None
    deleted, url_off, url_data, url_ok, title_off, title_data, title_ok, count, vdate, vdate_ok, vtype, vtype_ok = got
    m = len(texts)
    try:
        url = _arrow_text(m, url_off, url_data, url_ok)
        title = _arrow_text(m, title_off, title_data, title_ok)
    except (pa.ArrowInvalid, ValueError):
        return None  # not UTF-8: the plain reader names the record
    is_del = pa.array(np.frombuffer(deleted, dtype=np.bool_))
    dates = pa.array(np.frombuffer(vdate, dtype=np.int64), mask=~np.frombuffer(vdate_ok, dtype=np.bool_))
    types = pa.array(np.frombuffer(vtype, dtype=np.int64), mask=~np.frombuffer(vtype_ok, dtype=np.bool_))
    return _spread(results, ok, is_del, url, title, np.frombuffer(count, dtype=np.int64).copy(), dates, types)


def _arrow_text(m: int, offsets: bytes, data: bytes, valid: bytes) -> Any:
    """A large_string array over the compiled reader's buffers, its UTF-8 checked."""
    mask = np.frombuffer(valid, dtype=np.bool_)
    bitmap = pa.py_buffer(np.packbits(mask, bitorder="little").tobytes())
    arr = pa.LargeStringArray.from_buffers(m, pa.py_buffer(offsets), pa.py_buffer(data), bitmap, m - int(mask.sum()))
    arr.validate(full=True)
    return arr


# --------------------------------------------------------------------------- the engine


class HistoryEngine(Engine):
    name = "history"
    version = 1
    columns = (
        Column("url", "str", "the page's url (histUri)"),
        Column("title", "str", "the page's title"),
        Column("visit_count", "int", "visits in the record (Firefox sends the latest 20)"),
        Column("first_visit", "us", "earliest visit in the record"),
        Column("last_visit", "us", "latest visit in the record"),
    )
    visit_columns = (
        Column("date", "us", "when the visit happened"),
        Column("type", "int", "raw transition type (1..9)"),
        Column("transition", "category", "transition name", TRANSITIONS),
    )
    fields = frozenset({"histUri", "title", "visits"})
    companion_names = ("visits",)

    def visit_dtypes(self) -> dict[str, str]:
        return {"id": "str", **{c.name: c.dtype for c in self.visit_columns}}

    def build(self, batch: Batch, *, reveal: bool = False) -> Frames:
        chunks = [_plain_chunk(batch.records[a : a + CHUNK]) for a in range(0, len(batch), CHUNK)]
        return self._assemble(batch, chunks, reveal)

    def parse_cleartexts(self, results: Sequence[Any], ids: Sequence[str | None]) -> tuple[Any, list[Any]]:
        """One part's raw cleartexts to a column chunk: the compiled reader or Arrow's when
        one reads the part exactly, else the plain path (whose checks name each bad record)."""
        if pa is not None and results:
            got = _read_chunk(results, ids)
            if got is not None:  # every cleartext a fast reader read is a JSON object with its BSO's id
                return got, [r if isinstance(r, CryptoError) else None for r in results]
        records = load_cleartexts(results, ids)
        return _plain_chunk(records), [r if isinstance(r, CryptoError) else None for r in records]

    def compact(self, frames: Frames) -> _Chunk | None:
        """The assembled frames as one chunk that shares their buffers (no copy), to
        stand for every part they were built from: a view then holds its records' parse
        once, not twice. None where the frames do not hold the parse as it was."""
        main, visits = frames.main, frames.companions.get("visits")
        if visits is None or pa is None:
            return None
        try:
            deleted, count, vtype = main["deleted"].array, main["visit_count"].array, visits["type"].array
            dates = visits["date"].array
            url, title = main["url"].array.__arrow_array__(), main["title"].array.__arrow_array__()
            errors = main["error"].array.__arrow_array__().to_pylist()
            parts = (deleted._data, deleted._mask, count._data, vtype._data, vtype._mask, dates.asi8)
        except AttributeError:  # not the arrays this engine built
            return None
        extra = main["extra"].to_numpy()
        return _Chunk(
            n=len(main), deleted=parts[0], deleted_na=parts[1], errors=errors, url=url, title=title,
            count=parts[2], vdate=parts[5], vdate_na=np.asarray(dates.isna()), vtype=parts[3], vtype_na=parts[4],
            extras={i: x for i, x in enumerate(extra.tolist()) if x is not None},
        )  # fmt: skip

    def assemble(self, parts: Sequence[Part], *, reveal: bool = False) -> Frames:
        chunks: list[_Chunk] = []
        envs: list[BSOColumns] = []
        for p in parts:
            rows = p.live_rows()
            if rows is None:
                chunks.append(p.parsed)
                envs.append(p.env)
            elif len(rows):
                chunks.append(p.parsed.take(rows))
                envs.append(p.env.take(rows))
        env = BSOColumns.concat(envs) if envs else BSOColumns.empty()
        order = live_order(parts)
        if order is not None:  # a newer version read later goes where its record first was
            env = env.take(order)
        return self._assemble(batch_from_columns(env, []), chunks, reveal, order)

    def from_payloads(
        self,
        batch: Batch,
        payloads: Sequence[Any],
        bundle: KeyBundle,
        *,
        reveal: bool = False,
        progress: Any = None,
        workers: int | None = None,
    ) -> Frames:
        """Decrypt and build in one pass, chunk by chunk (``batch.records`` is ignored).

        ``workers``: processes to spread the chunks over; None picks by size (see
        :mod:`synctools.engines._workers`), 1 keeps everything in this process.
        """
        ids = batch.ids
        n = len(payloads)
        if pa is None or n < 256:
            records = decrypt_many(bundle, payloads, ids)
            return self.build(_with_records(batch, records), reveal=reveal)
        spans = [(a, min(a + CHUNK, n)) for a in range(0, n, CHUNK)]
        workers = _workers.default_workers(n) if workers is None else workers
        done: list[_Chunk] | None = None
        if workers > 1:
            # Equal chunks, several per worker, so that no worker finishes long after another.
            size = min(CHUNK, max(2048, -(-n // (4 * workers))))
            even = [(a, min(a + size, n)) for a in range(0, n, size)]
            try:
                done = self._in_processes(bundle, payloads, ids, even, workers, progress)
            except _workers.BrokenProcessPool:
                _workers.shutdown()  # a worker died (out of memory?): do it here instead
        if done is None:
            done = self._in_threads(bundle, payloads, ids, spans, progress)
        return self._assemble(batch, done, reveal)

    def _in_processes(
        self,
        bundle: KeyBundle,
        payloads: Sequence[Any],
        ids: list[Any],
        spans: list[Any],
        workers: int,
        progress: Any,
    ) -> list[_Chunk]:
        pool = _workers.pool(workers)
        futures = [pool.submit(_chunk_job, bundle, payloads[a:b], ids[a:b], False) for a, b in spans]
        done = []
        try:
            for (a, b), fut in zip(spans, futures):
                done.append(fut.result())
                if progress is not None:
                    progress.update(b - a)
        except BaseException:  # interrupted: do not leave the workers busy with the rest
            for fut in futures:
                fut.cancel()
            raise
        return done

    def _in_threads(
        self, bundle: KeyBundle, payloads: Sequence[Any], ids: list[Any], spans: list[Any], progress: Any
    ) -> list[_Chunk]:
        # Decrypt chunk k+1 here while Arrow (which releases the GIL) parses chunk k.
        futures: list[Future[_Chunk | None]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synctools-history") as pool:
            for a, b in spans:
                raw = decrypt_many(bundle, payloads[a:b], ids[a:b], raw=True)
                futures.append(pool.submit(_read_chunk, raw, ids[a:b]))
                if progress is not None:
                    progress.update(b - a)
            done: list[_Chunk] = []
            for (a, b), fut in zip(spans, futures):
                got = fut.result()
                if got is None:  # the plain path, with its per-record checks
                    got = _plain_chunk(decrypt_many(bundle, payloads[a:b], ids[a:b]))
                done.append(got)
        return done

    # -- chunks -> frames
    def _assemble(self, batch: Batch, chunks: list[_Chunk], reveal: bool, order: np.ndarray | None = None) -> Frames:
        """Frames from column chunks (in ``batch`` order); ``order`` permutes the pages of
        the chunks (their visits follow) into the order of ``batch``."""
        n = len(batch)
        offsets = np.cumsum([0] + [c.n for c in chunks])
        count = _cat([c.count for c in chunks], np.int64)
        vdate = _cat([c.vdate for c in chunks], np.int64)
        vdate_na = _cat([c.vdate_na for c in chunks], bool)
        vtype = _cat([c.vtype for c in chunks], np.int64)
        vtype_na = _cat([c.vtype_na for c in chunks], bool)
        del_values = _cat([c.deleted for c in chunks], bool)
        del_na = _cat([c.deleted_na for c in chunks], bool)
        errors = [e for c in chunks for e in c.errors]
        extras = np.full(n, None, dtype=object)
        for c, off in zip(chunks, offsets):
            for i, x in c.extras.items():
                extras[off + i] = x
        url, title = _strings([c.url for c in chunks]), _strings([c.title for c in chunks])
        if order is not None:
            visits_at = _visit_rows(count, order)
            count, del_values, del_na, extras = count[order], del_values[order], del_na[order], extras[order]
            errors = [errors[i] for i in order.tolist()]
            url, title = url.take(order), title.take(order)
            vdate, vdate_na, vtype, vtype_na = (
                vdate[visits_at],
                vdate_na[visits_at],
                vtype[visits_at],
                vtype_na[visits_at],
            )
        vpage = np.repeat(np.arange(n, dtype=np.int64), count)
        first, last = _first_last(count, vdate, vdate_na)
        deleted = pd.arrays.BooleanArray(del_values, del_na)
        env = batch.envelope()
        count_arr = pd.arrays.IntegerArray(count, np.asarray(deleted.isna()) | np.asarray(deleted.fillna(False)))
        main = pd.DataFrame(
            {
                **env,
                "deleted": deleted,
                "error": str_array(errors),
                "url": url,
                "title": title,
                "visit_count": count_arr,
                "first_visit": times_from_ints(first, first == _MAXI, "us"),
                "last_visit": times_from_ints(last, last == _MINI, "us"),
                "extra": extras,
            },
            copy=False,
        )
        codes = np.where((vtype >= 1) & (vtype <= 9) & ~vtype_na, vtype - 1, -1).astype(np.int8)
        visits = pd.DataFrame(
            {
                "id": env["id"].take(vpage),
                "date": times_from_ints(vdate, vdate_na, "us"),
                "type": pd.arrays.IntegerArray(vtype, vtype_na),
                "transition": pd.Categorical.from_codes(codes, categories=list(TRANSITIONS)),
            },
            copy=False,
        )
        stamp(main, self.collection, "main", (), reveal)
        stamp(visits, self.collection, "visits", (), reveal)
        return Frames(self.collection, main, {"visits": visits})


def _with_records(batch: Batch, records: list[Any]) -> Batch:
    return Batch(batch.ids, records, batch.modified, batch.sortindex, batch.ttl)


def _visit_rows(count: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indexes of the visits of pages ``order`` (each page's visits in a run), given each
    page's visit ``count`` (visits stored page after page)."""
    starts = np.cumsum(count) - count
    sel = count[order]
    run = np.cumsum(sel) - sel
    return np.repeat(starts[order] - run, sel) + np.arange(int(sel.sum()), dtype=np.int64)


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _strings(parts: list[Any]) -> Any:
    if pa is not None:
        arrays: list[Any] = []
        for p in parts:  # large_string, as pandas keeps its strings (a compacted part already is)
            if isinstance(p, pa.ChunkedArray):
                arrays.extend(c.cast(pa.large_string()) for c in p.chunks)
            elif isinstance(p, pa.Array):
                arrays.append(p.cast(pa.large_string()))
            else:
                arrays.append(_arrow_strings(p))
        if not arrays:
            return pd.array([], dtype="str")
        return pa.chunked_array(arrays, type=pa.large_string()).to_pandas().array
    return str_array([x for p in parts for x in p])


def _arrow_strings(values: Sequence[str | None]) -> Any:
    try:
        return pa.array(values, type=pa.large_string())
    except UnicodeEncodeError:  # half a surrogate pair (a title cut mid-emoji): as Firefox shows it
        return pa.array(well_formed_values(values), type=pa.large_string())


def _first_last(count: np.ndarray, dates: np.ndarray, na: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-page min and max visit date; _MAXI/_MINI where a page has no dated visit."""
    n = len(count)
    first = np.full(n, _MAXI, dtype=np.int64)
    last = np.full(n, _MINI, dtype=np.int64)
    nonempty = count > 0
    if nonempty.any():
        starts = (np.cumsum(count) - count)[nonempty]
        lo = np.where(na, _MAXI, dates)
        hi = np.where(na, _MINI, dates)
        first[nonempty] = np.minimum.reduceat(lo, starts)
        last[nonempty] = np.maximum.reduceat(hi, starts)
    return first, last
