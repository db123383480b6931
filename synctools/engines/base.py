"""What every engine shares: column declarations, field readers, the Engine class, Frames.

An engine turns decrypted records (cleartext dicts, or the :class:`CryptoError` that
stopped one from decrypting) plus their BSO envelopes into typed pandas frames. The
common columns come first on every frame; then the engine's own columns; then ``extra``,
which keeps every payload field the engine does not know, so nothing is dropped silently.

Field readers check types and raise :class:`RecordShapeError`, which becomes that record's
``error`` (the rest of its row empty). Messages name the field and the JSON type found,
never the value: a value may be a password.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from synctools.protocol._columns import NO_TIME, BSOColumns
from synctools.protocol.crypto import CryptoError, KeyBundle, decrypt_many, load_cleartexts

from ..errors import SynctoolsError

COMMON = ("id", "modified", "sortindex", "ttl", "deleted", "error")
CHUNK = 16384  # records per decrypt_many call: bounds the memory of one step
MASK = "********"

# Column kinds and the pandas dtype each becomes.
DTYPES: dict[str, str] = {
    "str": "str",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "s": "datetime64[s, UTC]",
    "ms": "datetime64[ms, UTC]",
    "us": "datetime64[us, UTC]",
    "list": "object",
    "object": "object",
    "category": "category",
}
_INT64 = 2**63


@dataclass(frozen=True)
class Column:
    """One column an engine produces: its name, its kind (a key of DTYPES), what it means."""

    name: str
    kind: str
    doc: str = ""
    categories: tuple[str, ...] | None = None  # fixed categories for kind "category"

    @property
    def dtype(self) -> str:
        return DTYPES[self.kind]


# --------------------------------------------------------------------------- field readers


class RecordShapeError(SynctoolsError, ValueError):
    """A decrypted record does not have the shape its collection requires."""

    reason = "bad-record"


def _jtype(value: Any) -> str:
    """The JSON name of a value's type (shown instead of the value, which may be secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def wrong(key: str, expected: str, value: Any) -> RecordShapeError:
    return RecordShapeError(f"field {key!r} should be {expected}, got {_jtype(value)}")


def text(rec: dict[str, Any], key: str) -> str | None:
    v = rec.get(key)
    if v is None or type(v) is str:
        return v
    raise wrong(key, "a string", v)


def integer(rec: dict[str, Any], key: str) -> int | None:
    v = rec.get(key)
    if v is None or (type(v) is int and -_INT64 < v < _INT64):
        return v
    raise wrong(key, "an integer", v)


def loose_int(rec: dict[str, Any], key: str) -> int | None:
    """An integer that some clients write as a string ("1795695132"), or as a float."""
    v = rec.get(key)
    if v is None or (type(v) is int and -_INT64 < v < _INT64):
        return v
    if type(v) is str:
        try:
            return int(v.strip()) if v.strip() else None
        except ValueError:
            pass
    if type(v) is float and v == v and abs(v) < 2**62:
        return int(v)
    raise wrong(key, "an integer (or its string)", v)


def boolean(rec: dict[str, Any], key: str) -> bool | None:
    v = rec.get(key)
    if v is None or type(v) is bool:
        return v
    raise wrong(key, "a boolean", v)


def str_list(rec: dict[str, Any], key: str) -> list[str] | None:
    v = rec.get(key)
    if v is None or (type(v) is list and all(type(x) is str for x in v)):
        return v
    raise wrong(key, "an array of strings", v)


def obj_list(rec: dict[str, Any], key: str) -> list[dict[str, Any]] | None:
    v = rec.get(key)
    if v is None or (type(v) is list and all(type(x) is dict for x in v)):
        return v
    raise wrong(key, "an array of objects", v)


def mapping(rec: dict[str, Any], key: str) -> dict[str, Any] | None:
    v = rec.get(key)
    if v is None or type(v) is dict:
        return v
    raise wrong(key, "an object", v)


def describe_error(exc: BaseException) -> str:
    """The ``error`` cell: a stable reason code, what was wrong, and the hint if any."""
    reason = getattr(exc, "reason", "error")
    detail = getattr(exc, "detail", None) or str(exc)
    hint = getattr(exc, "hint", "")
    return f"{reason}: {detail}" + (f". {hint}" if hint else "")


# --------------------------------------------------------------------------- columns -> arrays


def _times(values: Sequence[int | None], unit: str) -> pd.api.extensions.ExtensionArray:
    n = len(values)
    mask = np.fromiter((v is None for v in values), dtype=bool, count=n)
    ints = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
    return times_from_ints(ints, mask, unit)


def times_from_ints(ints: np.ndarray, mask: np.ndarray | None, unit: str) -> Any:
    """int64 epoch counts in ``unit`` (s, ms, us) to a UTC datetime array; mask -> NaT."""
    arr = ints.astype(f"datetime64[{unit}]")
    if mask is not None and mask.any():
        arr[mask] = np.datetime64("NaT")
    return pd.Series(arr, copy=False).dt.tz_localize("UTC").array


try:  # optional: building string columns through Arrow is several times faster
    import pyarrow as _pa
except ImportError:  # pragma: no cover
    _pa = None
_STR = pd.Series([], dtype="str").dtype
_ARROW_STR = _pa is not None and _pa.array([], _pa.string()).to_pandas().dtype == _STR


def well_formed(value: str) -> str:
    """``value`` with each lone surrogate as U+FFFD, as JavaScript's ``toWellFormed`` and
    Firefox's UTF-8 conversion (Places, mozStorage) make it.

    Firefox writes JSON from JavaScript strings, which may hold half a surrogate pair (a
    title cut in the middle of an emoji): the JSON is valid, but the text has no UTF-8 form,
    so no Arrow or pandas string column can hold it. Frames show it as Firefox would; the
    record itself (``sync.record``, edits, re-uploads) keeps what the server holds.
    """
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def well_formed_values(values: Iterable[Any]) -> list[Any]:
    """Every string in ``values`` :func:`well_formed`; anything else as it is."""
    return [well_formed(v) if isinstance(v, str) else v for v in values]


def str_array(values: Sequence[str | None]) -> Any:
    """Strings (or None) to the default pandas string array (lone surrogates as U+FFFD)."""
    try:
        if _ARROW_STR:
            try:
                return _pa.array(values, type=_pa.string()).to_pandas().array
            except (_pa.ArrowException, TypeError, ValueError):
                pass
        return pd.array(values, dtype="str")
    except UnicodeEncodeError:  # a lone surrogate: rare, so the fast path above stays fast
        return str_array(well_formed_values(values))


def int_array(values: Sequence[int | None]) -> Any:
    """Integers (or None) to a nullable Int64 array; all-int and all-None lists fast."""
    n = len(values)
    kinds = set(map(type, values))
    if kinds <= {int}:
        try:
            return pd.arrays.IntegerArray(np.array(values, dtype=np.int64), np.zeros(n, dtype=bool))
        except OverflowError:
            pass
    if kinds <= {type(None)}:
        return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    # Whatever is not an integer an int64 can hold (a string, a float, a bool, 2**70 from a
    # hostile server) is missing here, never a crash: the record's own error says why.
    clean = [v if isinstance(v, int | np.integer) and not isinstance(v, bool) and -_INT64 <= v < _INT64 else None
             for v in values]  # fmt: skip
    return pd.array(clean, dtype="Int64")


def to_array(col: Column, values: Sequence[Any]) -> Any:
    """A Python list of cell values to the column's typed array (lone surrogates as U+FFFD)."""
    try:
        return _to_array(col, values)
    except UnicodeEncodeError:
        return _to_array(col, well_formed_values(values))


def _to_array(col: Column, values: Sequence[Any]) -> Any:
    kind = col.kind
    if kind in ("s", "ms", "us"):
        return _times(values, kind)
    if kind == "str":
        return str_array(values)
    if kind == "int":
        return int_array(values)
    if kind in ("list", "object"):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    if kind == "category":
        if col.categories is not None:
            known = set(col.categories)
            return pd.Categorical([v if v in known else None for v in values], categories=list(col.categories))
        return pd.Categorical(values)
    return pd.array(values, dtype=col.dtype)


# --------------------------------------------------------------------------- batches and results


@dataclass
class Batch:
    """Records of one collection with their envelopes, all lists of the same length.

    ``records`` holds each cleartext dict, or the :class:`CryptoError` that stopped it.
    ``modified`` is a UTC datetime array (NaT when unknown).
    """

    ids: list[str | None]
    records: list[Any]
    modified: Any
    sortindex: list[int | None]
    ttl: list[int | None]

    def __len__(self) -> int:
        return len(self.ids)

    def envelope(self) -> dict[str, Any]:
        """The envelope columns, one row per record."""
        return {
            "id": str_array(self.ids),
            "modified": self.modified,
            "sortindex": int_array(self.sortindex),
            "ttl": int_array(self.ttl),
        }

    def take(self, index: np.ndarray) -> dict[str, Any]:
        """Envelope columns repeated for rows that come from records ``index``."""
        return {name: values.take(index) for name, values in self.envelope().items()}


def batch_from_columns(env: BSOColumns, records: list[Any]) -> Batch:
    """A :class:`Batch` from envelope columns (``modified`` in ServerTime hundredths)."""
    sortindex, ttl = env.sortindex, env.ttl
    if set(map(type, sortindex)) - {int, type(None)}:  # only what the checked path let through
        sortindex = [v if type(v) is int else None for v in sortindex]
    if set(map(type, ttl)) - {int, type(None)}:
        ttl = [v if type(v) is int else None for v in ttl]
    centis = env.modified
    modified = times_from_ints(centis * 10, centis == NO_TIME, "ms")
    return Batch(list(env.ids), records, modified, list(sortindex), list(ttl))


@dataclass
class Part:
    """Records absorbed together (a page of a download, the records a commit wrote, a
    slice of the local store's mirror): their envelopes, what the engine parsed from their
    cleartexts (:meth:`Engine.parse_cleartexts`), and which rows are still current (a
    newer version of a record, read later, makes its older row dead)."""

    env: BSOColumns
    parsed: Any
    live: np.ndarray  # bool, one per row
    #: each row's place in the frames (the order its record was first read): a newer
    #: version of a record takes the place of the one it replaces, as in the mirror
    key: np.ndarray | None = None  # int64; None: only ever compared within the part

    def live_rows(self) -> np.ndarray | None:
        """Indexes of the live rows, or None when every row is live."""
        return None if self.live.all() else np.flatnonzero(self.live)


def live_env(parts: Sequence[Part]) -> BSOColumns:
    """The envelopes of the parts' live rows, in the order :meth:`Engine.assemble` puts them."""
    envs = []
    for p in parts:
        rows = p.live_rows()
        envs.append(p.env if rows is None else p.env.take(rows))
    env = BSOColumns.concat(envs) if envs else BSOColumns.empty()
    order = live_order(parts)
    return env if order is None else env.take(order)


def live_order(parts: Sequence[Part]) -> np.ndarray | None:
    """The permutation that puts the parts' live rows (concatenated in part order) in
    the order their records were first read; None when they already are."""
    keys = [p.key if p.live.all() else p.key[p.live] for p in parts if p.key is not None]
    if len(keys) != len(parts) or not keys:
        return None
    allkeys = np.concatenate(keys)
    if len(allkeys) < 2 or bool((allkeys[1:] > allkeys[:-1]).all()):
        return None
    return np.argsort(allkeys, kind="stable")


@dataclass
class Frames:
    """The frames of one collection: ``main`` plus named companions (history ``visits``).

    ``frames["visits"]`` and ``frames.visits`` both work; ``tree`` is the bookmarks tree.
    """

    collection: str
    main: pd.DataFrame
    companions: dict[str, pd.DataFrame] = field(default_factory=dict)
    tree: Any = None

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name == "main":
            return self.main
        try:
            return self.companions[name]
        except KeyError:
            have = ", ".join(["main", *self.companions])
            raise KeyError(f"{self.collection} has no frame {name!r}; it has: {have}") from None

    def __getattr__(self, name: str) -> pd.DataFrame:
        companions = self.__dict__.get("companions", {})
        if name in companions:
            return companions[name]
        raise AttributeError(name)

    def names(self) -> list[str]:
        return ["main", *self.companions]

    def __iter__(self) -> Iterator[tuple[str, pd.DataFrame]]:
        yield "main", self.main
        yield from self.companions.items()

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {len(df)} rows" for name, df in self)
        return f"<Frames {self.collection} ({parts})>"

    def _repr_html_(self) -> str:
        """In a notebook: each frame's size, errors and first rows."""
        out = [f"<p><b>{html.escape(self.collection)}</b></p>"]
        for name, df in self:
            errors = int(df["error"].notna().sum()) if "error" in df.columns else 0
            note = f", {errors} failed" if errors else ""
            out.append(f"<p>{html.escape(name)}: {len(df):,} rows{note}</p>")
            out.append(df.head(5).to_html(max_cols=12))
        return "".join(out)


def stamp(df: pd.DataFrame, collection: str, frame: str, secrets: Sequence[str], revealed: bool) -> pd.DataFrame:
    """Record in ``df.attrs`` what the frame is and which columns hold secrets (for exports)."""
    df.attrs["synctools"] = {
        "collection": collection,
        "frame": frame,
        "secrets": [s for s in secrets if s in df.columns],
        "revealed": bool(revealed),
    }
    return df


# --------------------------------------------------------------------------- the engine


Row = tuple[Any, ...]


class Engine:
    """Declares a collection's columns and turns its records into :class:`Frames`.

    Subclasses set ``columns`` and ``fields`` (the payload keys they read) and implement
    :meth:`parse`, which returns one row (a tuple in ``columns`` order) or, with
    ``explode = True``, a list of rows (one per tab, per preference...). Engines with
    companion frames or derived columns override :meth:`build` or :meth:`finish`.
    """

    name: ClassVar[str] = "generic"
    version: ClassVar[int | None] = None  # engine version in meta/global
    columns: ClassVar[tuple[Column, ...]] = ()
    fields: ClassVar[frozenset[str]] = frozenset()
    secrets: ClassVar[tuple[str, ...]] = ()
    #: raw field names whose values are secret, at any depth of a record (``entry.cc-number``
    #: as much as a top-level ``password``): the one masking policy, see :meth:`mask_record`
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    masks: ClassVar[dict[str, Callable[[str], str]]] = {}  # column -> how a frame shows it masked
    field_masks: ClassVar[dict[str, Callable[[str], str]]] = {}  # raw field -> the same, in records
    explode: ClassVar[bool] = False
    companion_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str | None = None):
        if name is not None:
            self.collection = name
        else:
            self.collection = self.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.collection!r}: {len(self.columns)} columns>"

    # -- declared schema
    def dtypes(self) -> dict[str, str]:
        """Column name -> pandas dtype of the main frame, in order."""
        out = {
            "id": "str",
            "modified": "datetime64[ms, UTC]",
            "sortindex": "Int64",
            "ttl": "Int64",
            "deleted": "boolean",
            "error": "str",
        }
        out.update({c.name: c.dtype for c in self.columns})
        out["extra"] = "object"
        return out

    # -- per record
    def parse(self, rec: dict[str, Any]) -> Row | list[Row]:
        return ()

    def unknown_fields(self, rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
        """Payload fields this engine does not read (None when there are none)."""
        return {k: v for k, v in rec.items() if k not in known} or None

    def mask(self, column: str, value: str) -> str:
        fn = self.masks.get(column)
        return fn(value) if fn else MASK

    # -- whole batch
    def build(self, batch: Batch, *, reveal: bool = False) -> Frames:
        main = self.table(batch, reveal=reveal)
        return self.finish(Frames(self.collection, main), batch, reveal=reveal)

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
        """Decrypt ``payloads`` (in order with ``batch``) with the bulk path, then build.

        ``workers`` is a hint for engines that can spread big collections over processes.
        """
        records: list[Any] = []
        for a in range(0, len(payloads), CHUNK):
            part = decrypt_many(bundle, payloads[a : a + CHUNK], batch.ids[a : a + CHUNK])
            records.extend(part)
            if progress is not None:
                progress.update(len(part))
        return self.build(replace(batch, records=records), reveal=reveal)

    def finish(self, frames: Frames, batch: Batch, *, reveal: bool) -> Frames:
        """Hook for derived columns and companion frames."""
        return frames

    # -- in parts (what a Sync holds): parse each part once, assemble the frames later
    def parse_cleartexts(self, results: Sequence[Any], ids: Sequence[str | None]) -> tuple[Any, list[Any]]:
        """Parse one part's ``decrypt_many(raw=True)`` results: ``(parsed, errors)`` where
        ``errors`` holds, per record, the :class:`CryptoError` that stopped it (its
        decryption's, or its cleartext's: not JSON, not an object, another id) or None.
        Runs in a worker thread while the next part decrypts: no shared state."""
        records = load_cleartexts(results, ids)
        return records, [r if isinstance(r, CryptoError) else None for r in records]

    def compact(self, frames: Frames) -> Any:
        """What :meth:`assemble` built, as one part's parse sharing the frames' memory, or
        None (the default: the parts are kept as they are)."""
        return None

    def assemble(self, parts: Sequence[Part], *, reveal: bool = False) -> Frames:
        """All frames from parsed parts, their live rows in order."""
        envs: list[BSOColumns] = []
        records: list[Any] = []
        for p in parts:
            rows = p.live_rows()
            if rows is None:
                envs.append(p.env)
                records.extend(p.parsed)
            elif len(rows):
                envs.append(p.env.take(rows))
                records.extend(p.parsed[i] for i in rows.tolist())
        env = BSOColumns.concat(envs) if envs else BSOColumns.empty()
        order = live_order(parts)
        if order is not None:
            env = env.take(order)
            records = [records[i] for i in order.tolist()]
        return self.build(batch_from_columns(env, records), reveal=reveal)

    def split(self, batch: Batch) -> Iterator[tuple[int, bool | None, str | None, Any, list[Row]]]:
        """For each record: (index, deleted, error, extra, rows)."""
        known = self.fields | {"id", "deleted"}
        explode = self.explode
        for i, rec in enumerate(batch.records):
            if isinstance(rec, CryptoError):
                yield i, None, describe_error(rec), None, []
                continue
            if type(rec) is not dict:
                yield i, None, "bad-record: cleartext is not a JSON object", None, []
                continue
            extra = self.unknown_fields(rec, known)
            deleted = rec.get("deleted", False)
            if type(deleted) is not bool:
                yield i, None, describe_error(wrong("deleted", "a boolean", deleted)), None, []
                continue
            if deleted:
                yield i, True, None, extra, []
                continue
            try:
                parsed = self.parse(rec)
            except RecordShapeError as exc:
                yield i, None, describe_error(exc), None, []
                continue
            rows = parsed if explode else [parsed]
            yield i, False, None, extra, rows  # type: ignore[misc]

    def table(self, batch: Batch, *, reveal: bool) -> pd.DataFrame:
        """The main frame: common columns, the engine's columns, ``extra``."""
        ncols = len(self.columns)
        empty: Row = (None,) * ncols
        index: list[int] = []
        deleted: list[bool | None] = []
        errors: list[str | None] = []
        extras: list[Any] = []
        rows: list[Row] = []
        for i, d, err, extra, recrows in self.split(batch):
            for row in recrows or [empty]:
                index.append(i)
                deleted.append(d)
                errors.append(err)
                extras.append(extra)
                rows.append(row)
        cols = list(zip(*rows)) if rows else [()] * ncols
        take = np.asarray(index, dtype=np.intp)
        data = batch.take(take)
        data["deleted"] = pd.array(deleted, dtype="boolean")
        data["error"] = str_array(errors)
        for col, column in zip(self.columns, cols):
            values: list[Any] = list(column)
            if col.name in self.secrets and not reveal:
                values = [None if v is None else self.mask(col.name, v) for v in values]
            data[col.name] = to_array(col, values)
        if self.secret_fields and not reveal:  # a secret in an unexpected place is still a secret
            extras = [self._mask_extra(e) for e in extras]
        data["extra"] = to_array(Column("extra", "object"), extras)
        df = pd.DataFrame(data, copy=False)
        return stamp(df, self.collection, "main", self.secrets, reveal)

    def linked(self, changes: Sequence[tuple[str, Any, Any]]) -> list[set[str]]:
        """Which of a plan's changes to this collection belong together, given
        ``(id, before, after)`` cleartexts: each set must be written whole or not at all.
        A collection whose records stand alone has none."""
        return []

    def mask_record(self, record: Any, *, reveal: bool = False) -> Any:
        """``record`` with every secret field masked at any depth (dicts in lists in dicts):
        the masking every display path uses (plans, diffs, conflicts, staged changes,
        widgets, frames' ``extra``). A copy; the record itself is never changed."""
        if reveal or record is None or not self.secret_fields:
            return record
        return self._mask_extra(record)

    def _mask_field(self, key: str, value: Any) -> Any:
        fn = self.field_masks.get(key)
        return fn(value) if fn is not None and isinstance(value, str) else MASK

    def _mask_extra(self, extra: Any) -> Any:
        if isinstance(extra, dict):
            out = {}
            for k, v in extra.items():
                field = str(k).rsplit(".", 1)[-1]  # frames flatten "entry.cc-number"
                secret = field in self.secret_fields and v is not None and v != ""
                out[k] = self._mask_field(field, v) if secret else self._mask_extra(v)
            return out
        if isinstance(extra, list):
            return [self._mask_extra(v) for v in extra]
        return extra
