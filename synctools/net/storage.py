"""Storage client (SyncStorage 1.5): every endpoint, Hawk-signed with mohawk.

Timestamps are :class:`~synctools.protocol.bso.ServerTime` everywhere, read from the
headers digit for digit and sent back the same way. Writes take a mandatory
``if_unmodified_since`` keyword (pass ``None`` only to write unguarded on purpose);
a 412 becomes :class:`PreconditionFailed` with the server's ``X-Last-Modified``.
A 401 is refreshed through ``token_provider`` when one is given (node reassignment
raises :class:`NodeReassigned`), else raised as :class:`StorageUnauthorized`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import requests

from synctools.protocol._columns import BSOColumns, columns_from_json
from synctools.protocol.bso import BSO, ServerTime, valid_collection_name

from .batching import InfoConfiguration, PostQueue, PostResponse, UploadResult, serialize
from .errors import (
    WEAVE_ERRORS,
    BadRequest,
    CollectionChanged,
    NodeReassigned,
    NotFound,
    PreconditionFailed,
    RequestTooLarge,
    ResponseInfo,
    ServerBusy,
    ServerUnreachable,
    StorageError,
    StorageUnauthorized,
)
from .http import HawkSigner, RetryPolicy, ServerSignal, SignalHook, Trace, TracedSession, never_retry
from .tokenserver import Token

SORTS = ("newest", "oldest", "index")
MAX_IDS = 100
_UNSET: Any = object()
Record = BSO | Mapping[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a collection read."""

    records: Any  # a list of BSO objects (full) or ids; BSOColumns when read with columns=True
    last_modified: ServerTime | None
    next_offset: str | None
    number: int


class CollectionReader:
    """Iterates a collection's records page by page (``limit``/``offset``).

    Every page after the first repeats the same parameters plus ``offset``, and sends
    ``X-If-Unmodified-Since`` = the first page's ``X-Last-Modified``: a concurrent
    write shows as :class:`CollectionChanged` instead of a torn read.
    After (or during) iteration: ``last_modified``, ``pages_read``, ``records_read``.
    With ``columns=True`` (and ``full``) each page's records are one
    :class:`~synctools.protocol._columns.BSOColumns` (no Python object per record).
    """

    def __init__(
        self,
        client: StorageClient,
        collection: str,
        params: dict[str, str],
        *,
        full: bool,
        progress: bool,
        total: int | None,
        columns: bool = False,
    ) -> None:
        self.client = client
        self.columns = columns and full
        self.collection = collection
        self.params = params
        self.full = full
        self.progress = progress
        self.total = total
        self.last_modified: ServerTime | None = None
        self.pages_read = 0
        self.records_read = 0

    def pages(self) -> Iterator[Page]:
        offset: str | None = None
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total, desc=f"GET {self.collection}", unit="rec")
        try:
            while True:
                params = dict(self.params)
                headers = {}
                if offset is not None:
                    params["offset"] = offset
                    if self.last_modified is not None:
                        headers["X-If-Unmodified-Since"] = str(self.last_modified)
                try:
                    resp = self.client._request(
                        "GET", f"/storage/{self.collection}", params=params, headers=headers
                    )
                except PreconditionFailed as exc:
                    raise CollectionChanged(
                        f"collection {self.collection!r} changed while it was read page by page "
                        f"(first page at {self.last_modified}, now {exc.last_modified}, after "
                        f"{self.records_read} records)",
                        exc.response,
                        exc.last_modified,
                    ) from None
                if self.last_modified is None:
                    self.last_modified = _header_time(resp, "X-Last-Modified")
                if self.columns:
                    records = _page_columns(resp, self.client)
                else:
                    records = _json(
                        resp, self.client, list,
                        (lambda d: [BSO.from_json(o) for o in d]) if self.full else (lambda d: [str(i) for i in d]),
                    )  # fmt: skip
                self.pages_read += 1
                self.records_read += len(records)
                if bar is not None:
                    bar.update(len(records))
                offset = resp.headers.get("X-Weave-Next-Offset") or None
                yield Page(records, self.last_modified, offset, self.pages_read)
                if offset is None:
                    return
        finally:
            if bar is not None:
                bar.close()

    def __iter__(self) -> Iterator[Any]:
        for page in self.pages():
            yield from page.records

    def all(self) -> list[Any]:
        return list(self)


class StorageClient:
    """Talks to one storage node with a tokenserver :class:`Token`.

    ``on_backoff(signal)`` hears every ``X-Weave-Backoff`` and ``Retry-After``; for a
    503/429 refusal, returning ``True`` retries the request (the hook has waited, e.g.
    :func:`~synctools.net.http.wait_and_retry`), anything else raises
    :class:`ServerBusy`. Every signal, alerts included, is on ``trace.signals`` and on
    ``self.signals``; ``self.backoff`` is the backoff still in force, if any.
    """

    service = "storage"

    def __init__(
        self,
        token: Token,
        *,
        token_provider: Callable[[], Token] | None = None,
        trace: Trace | None = None,
        on_backoff: RetryPolicy | None = None,
        on_signal: SignalHook | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        self.trace = trace if trace is not None else Trace()
        self.token_provider = token_provider
        self.retry_policy = on_backoff or never_retry
        self.max_retries = max_retries
        self.signals: list[ServerSignal] = []
        self.server_time: ServerTime | None = None  # last X-Weave-Timestamp
        self.info_last_modified: ServerTime | None = None  # the last info/collections' X-Last-Modified
        self.session = TracedSession(self.service, self.trace, on_signal=on_signal, timeout=timeout)
        self._config: InfoConfiguration | None = None
        self.hawk = HawkSigner(token.id, token.key)
        self._set_token(token)

    def __repr__(self) -> str:
        return f"<StorageClient {self.token.api_endpoint}>"

    def _set_token(self, token: Token) -> None:
        self.token = token
        self.trace.add_secret(token.id)
        self.trace.add_secret(token.key)
        self.hawk.use(token.id, token.key)  # a new token, the same server clock

    @property
    def endpoint(self) -> str:
        return self.token.api_endpoint.rstrip("/")

    @property
    def backoff(self) -> ServerSignal | None:
        """The latest ``X-Weave-Backoff``/``Retry-After`` whose wait has not ended."""
        now = datetime.now(UTC)
        for sig in reversed(self.signals):
            if sig.until is not None and sig.until > now:
                return sig
        return None

    @property
    def alerts(self) -> list[ServerSignal]:
        return [s for s in self.signals if s.kind == "alert"]

    # ------------------------------------------------------------------ plumbing
    def refresh_token(self) -> Token:
        """Fetch a new token from ``token_provider``; raise if the node changed."""
        if self.token_provider is None:
            raise StorageUnauthorized("the storage token expired and no token_provider was given")
        old = self.endpoint
        self._set_token(self.token_provider())
        if self.endpoint != old:
            self._config = None
            raise NodeReassigned(old, self.endpoint)
        return self.token

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        if self.token_provider is not None and self.token.expired():
            self.refresh_token()
        url = self.endpoint + path
        if params:
            url += "?" + urlencode(params)
        refreshed = reclocked = False
        for _attempt in range(self.max_retries + 1):
            hdrs = dict(headers or {})
            if body is not None:
                hdrs.setdefault("Content-Type", "application/json")
            req = self.session.prepare_request(
                requests.Request(method, url, headers=hdrs, data=body)
            )
            req.headers["Authorization"] = self.hawk.authorization(req.url or url, method)
            try:
                resp = self.session.send(req)
            except requests.RequestException as exc:
                raise ServerUnreachable(
                    f"storage node {self.endpoint} did not answer {method} {path}: "
                    f"{type(exc).__name__}; check the connection and retry"
                ) from None
            signals = tuple(self.session.last_signals)
            self.signals.extend(signals)
            if "X-Weave-Timestamp" in resp.headers:
                self.server_time = _header_time(resp, "X-Weave-Timestamp")
            for sig in signals:
                if sig.kind == "backoff":
                    self.retry_policy(sig)  # a notice: the request itself succeeded
            stale = self.hawk.learn(resp)
            if resp.status_code in ok or resp.status_code == 304 and 304 in ok:
                return resp
            if stale and not reclocked:  # our clock is off: once more, on the server's
                reclocked = True
                continue
            if resp.status_code == 401 and self.token_provider is not None and not refreshed:
                refreshed = True
                self.refresh_token()
                url = self.endpoint + path + (("?" + urlencode(params)) if params else "")
                continue
            retry = [s for s in signals if s.kind == "retry-after"]
            if resp.status_code in (429, 503) and retry and self.retry_policy(retry[0]) is True:
                continue
            raise self._error(resp, signals)
        raise self._error(resp, signals)

    def _error(self, resp: requests.Response, signals: tuple[ServerSignal, ...]) -> StorageError:
        info = ResponseInfo.from_response(resp, self.service, self.trace, signals)
        status = resp.status_code
        what = f"{info.method} {_path_of(info.url, self.endpoint)}"
        if status == 412:
            lm = _header_time(resp, "X-Last-Modified")
            return PreconditionFailed(
                f"{what}: the resource changed on the server (now {lm})", info, lm
            )
        if status == 401:
            return StorageUnauthorized(f"{what}: storage token refused", info)
        if status == 404:
            return NotFound(f"{what}: not found", info)
        if status in (429, 503):
            secs = next((s.seconds for s in signals if s.kind == "retry-after"), None)
            when = f"; retry after {secs}s" if secs is not None else ""
            return ServerBusy(f"{what}: server unavailable{when}", info)
        if status == 413:
            return RequestTooLarge(f"{what}: request body too large", info)
        data = info.json()
        meaning = WEAVE_ERRORS.get(data) if isinstance(data, int) else None
        detail = f" (error {data}: {meaning})" if meaning else ""
        if status == 400:
            return BadRequest(f"{what}: bad request{detail}", info)
        return StorageError(f"{what}: HTTP {status}{detail}", info)

    # ------------------------------------------------------------------- info/*
    def info_configuration(self) -> InfoConfiguration:
        """The server's limits; a 404 means the defaults. Cached per node."""
        try:
            resp = self._request("GET", "/info/configuration")
        except NotFound:
            self._config = InfoConfiguration()
        else:
            self._config = _json(resp, self, dict, InfoConfiguration.from_json)
        return self._config

    @property
    def config(self) -> InfoConfiguration:
        return self._config if self._config is not None else self.info_configuration()

    def info_collections(self) -> dict[str, ServerTime]:
        """``{collection: last modified}``; the answer's X-Last-Modified (the account's
        storage timestamp) is kept as ``info_last_modified``."""
        resp = self._request("GET", "/info/collections")
        parsed = _json(resp, self, dict, lambda d: {str(k): ServerTime.parse(v) for k, v in d.items()})
        self.info_last_modified = _header_time(resp, "X-Last-Modified")
        return parsed

    def info_collection_counts(self) -> dict[str, int]:
        return dict(_json(self._request("GET", "/info/collection_counts"), self, dict))

    def info_collection_usage(self) -> dict[str, float]:
        """``{collection: KB used}``."""
        return dict(_json(self._request("GET", "/info/collection_usage"), self, dict))

    def info_quota(self) -> tuple[float, float | None]:
        """``(KB used, quota KB or None)``."""
        return _json(  # type: ignore[no-any-return]
            self._request("GET", "/info/quota"), self, list, lambda d: (float(d[0]), d[1] if len(d) > 1 else None)
        )

    # -------------------------------------------------------------------- reads
    def get_record(self, collection: str, record_id: str) -> BSO:
        """One BSO; :class:`NotFound` if it does not exist."""
        _check_collection(collection)
        resp = self._request("GET", f"/storage/{collection}/{_quote_id(record_id)}")
        return _json(resp, self, dict, BSO.from_json)  # type: ignore[no-any-return]

    def iter_collection(
        self,
        collection: str,
        *,
        newer: ServerTime | int | None = None,
        older: ServerTime | int | None = None,
        ids: Iterable[str] | None = None,
        full: bool = True,
        sort: str | None = None,
        limit: int | None = None,
        progress: bool = False,
        total: int | None = None,
        columns: bool = False,
    ) -> CollectionReader:
        """Read a collection lazily: BSOs (``full=True``) or ids, ``limit`` per request.

        ``newer``/``older`` are strict bounds; ``sort`` is ``newest``, ``oldest`` or
        ``index``; ``ids`` at most 100. ``progress`` shows a bar (``total`` if known).
        ``columns=True``: each full page as one ``BSOColumns`` (for bulk readers).
        """
        _check_collection(collection)
        params: dict[str, str] = {}
        if full:
            params["full"] = "1"
        if newer is not None:
            params["newer"] = str(ServerTime.parse(newer))
        if older is not None:
            params["older"] = str(ServerTime.parse(older))
        if ids is not None:
            id_list = _id_list(ids)
            if len(id_list) > MAX_IDS:
                raise ValueError(f"at most {MAX_IDS} ids per read, got {len(id_list)}; split them")
            params["ids"] = ",".join(id_list)
        if sort is not None:
            if sort not in SORTS:
                raise ValueError(f"sort must be one of {SORTS}, got {sort!r}")
            params["sort"] = sort
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                raise ValueError(f"limit must be a positive integer, got {limit!r}")
            params["limit"] = str(limit)
        return CollectionReader(self, collection, params, full=full, progress=progress, total=total, columns=columns)

    def get_collection(self, collection: str, **kwargs: Any) -> list[Any]:
        """All matching records at once (see :meth:`iter_collection` for the arguments)."""
        return self.iter_collection(collection, **kwargs).all()

    # ------------------------------------------------------------------- writes
    def put_record(
        self,
        collection: str,
        record: Record,
        *,
        if_unmodified_since: ServerTime | int | None = _UNSET,
    ) -> ServerTime:
        """PUT one BSO; returns its new ``modified``."""
        _check_collection(collection)
        rid, item, _ = serialize(record)
        resp = self._request(
            "PUT",
            f"/storage/{collection}/{_quote_id(rid)}",
            headers=_xius(if_unmodified_since, "put_record"),
            body=item,
        )
        return _modified(resp)

    def post_records(
        self,
        collection: str,
        records: Iterable[Record],
        *,
        if_unmodified_since: ServerTime | int | None = _UNSET,
        batch: str | None = None,
        commit: bool = False,
    ) -> PostResponse:
        """One raw POST (no packing): the building block :meth:`upload` uses."""
        _check_collection(collection)
        body = b"[" + b",".join(serialize(r)[1] for r in records) + b"]"
        xius = _xius(if_unmodified_since, "post_records")
        return self._post(collection, body, ServerTime.parse(xius["X-If-Unmodified-Since"])
                          if xius else None, batch, commit)

    def _post(
        self, collection: str, body: bytes, xius: ServerTime | None, batch: str | None, commit: bool
    ) -> PostResponse:
        params: dict[str, str] = {}
        if batch is not None:
            params["batch"] = batch
        if commit:
            params["commit"] = "true"
        headers = {} if xius is None else {"X-If-Unmodified-Since": str(xius)}
        resp = self._request(
            "POST", f"/storage/{collection}", params=params, headers=headers, body=body,
            ok=(200, 202),
        )
        def parse(data: dict[str, Any]) -> PostResponse:
            modified = data.get("modified")
            lm = _header_time(resp, "X-Last-Modified") or (
                ServerTime.parse(modified) if modified is not None else None
            )
            return PostResponse(
                status=resp.status_code,
                last_modified=lm,
                batch=str(data["batch"]) if data.get("batch") is not None else None,
                success=[str(i) for i in data.get("success") or []],
                failed={str(k): str(v) for k, v in (data.get("failed") or {}).items()},
            )

        return _json(resp, self, dict, parse)  # type: ignore[no-any-return]

    def upload(
        self,
        collection: str,
        records: Iterable[Record],
        *,
        if_unmodified_since: ServerTime | int | None = _UNSET,
        progress: bool = False,
        total: int | None = None,
    ) -> UploadResult:
        """Upload records in as few POSTs as the server's limits allow, batch-committed.

        ``if_unmodified_since`` is the collection's timestamp the plan was made against
        (``0`` if it must not exist yet). Records too large for the server are not sent
        and are listed in ``result.failed`` with the reason, like records the server
        refused. More records than one batch may hold are committed in several batches
        (``result.atomic`` is then ``False``).
        """
        _check_collection(collection)
        xius_h = _xius(if_unmodified_since, "upload")
        xius = ServerTime.parse(xius_h["X-If-Unmodified-Since"]) if xius_h else None
        result = UploadResult(collection)
        queue = PostQueue(
            self.config,
            lambda body, x, batch, commit: self._post(collection, body, x, batch, commit),
            xius,
            result,
        )
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"POST {collection}", unit="rec")
            queue.on_post = bar.update
        try:
            for record in records:
                queue.enqueue(*serialize(record))
            return queue.finish()
        except PreconditionFailed as exc:
            # Batches committed before the 412 are on the server: say which.
            exc.partial = result
            raise
        finally:
            if bar is not None:
                bar.close()

    def delete_record(
        self, collection: str, record_id: str, *, if_unmodified_since: ServerTime | int | None = _UNSET
    ) -> ServerTime:
        """DELETE one BSO (a sync client deletes by uploading a tombstone instead)."""
        _check_collection(collection)
        resp = self._request(
            "DELETE",
            f"/storage/{collection}/{_quote_id(record_id)}",
            headers=_xius(if_unmodified_since, "delete_record"),
        )
        return _modified(resp)

    def delete_collection(
        self,
        collection: str,
        *,
        ids: Iterable[str] | None = None,
        if_unmodified_since: ServerTime | int | None = _UNSET,
    ) -> ServerTime:
        """DELETE a whole collection, or only ``ids`` (sent 100 per request)."""
        _check_collection(collection)
        headers = _xius(if_unmodified_since, "delete_collection")
        if ids is None:
            return _modified(self._request("DELETE", f"/storage/{collection}", headers=headers))
        id_list = _id_list(ids)
        modified = ServerTime(0)
        for start in range(0, len(id_list), MAX_IDS):
            chunk = id_list[start : start + MAX_IDS]
            resp = self._request(
                "DELETE", f"/storage/{collection}", params={"ids": ",".join(chunk)}, headers=headers
            )
            modified = _modified(resp)
            if headers:  # the next chunk is guarded by what this one produced
                headers = {"X-If-Unmodified-Since": str(modified)}
        return modified

    def delete_storage(self, *, if_unmodified_since: ServerTime | int | None = _UNSET) -> ServerTime:
        """DELETE every collection of the account (``X-Confirm-Delete: 1``)."""
        headers = {"X-Confirm-Delete": "1", **_xius(if_unmodified_since, "delete_storage")}
        return _modified(self._request("DELETE", "/storage", headers=headers))

    def delete_user(self, *, if_unmodified_since: ServerTime | int | None = _UNSET) -> ServerTime:
        """DELETE ``/1.5/<uid>``: everything the node holds for this user."""
        headers = {"X-Confirm-Delete": "1", **_xius(if_unmodified_since, "delete_user")}
        return _modified(self._request("DELETE", "", headers=headers))


# ----------------------------------------------------------------------- helpers


def _check_collection(name: str) -> None:
    if not isinstance(name, str) or not valid_collection_name(name):
        raise ValueError(f"invalid collection name {name!r}: 1-32 characters of [a-zA-Z0-9._-]")


def _id_list(ids: Iterable[str]) -> list[str]:
    out = list(ids)
    bad = [i for i in out if not isinstance(i, str) or "," in i]
    if bad:
        raise ValueError(
            f"ids= is a comma-separated list, so it cannot name {bad[0]!r}; "
            "use get_record()/delete_record() for ids with commas"
        )
    return out


def _quote_id(record_id: str) -> str:
    from urllib.parse import quote

    return quote(record_id, safe="")


def _xius(value: Any, what: str) -> dict[str, str]:
    if value is _UNSET:
        raise TypeError(
            f"{what}() needs if_unmodified_since=<the timestamp your plan is based on> "
            "(0 = must not exist yet; None = write unguarded on purpose)"
        )
    if value is None:
        return {}
    return {"X-If-Unmodified-Since": str(ServerTime.parse(value))}


def _header_time(resp: requests.Response, name: str) -> ServerTime | None:
    value = resp.headers.get(name)
    if value is None:
        return None
    try:
        return ServerTime.parse(value)
    except (ValueError, ArithmeticError):
        return None


def _modified(resp: requests.Response) -> ServerTime:
    for name in ("X-Last-Modified", "X-Weave-Timestamp"):
        t = _header_time(resp, name)
        if t is not None:
            return t
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and "modified" in data:
        return ServerTime.parse(data["modified"])
    if isinstance(data, int | float) and not isinstance(data, bool):
        return ServerTime.parse(data)
    raise StorageError("the server did not say when the write happened (no X-Last-Modified)")


_MALFORMED = (ValueError, TypeError, IndexError, KeyError, AttributeError, ArithmeticError)


def _json(
    resp: requests.Response, client: StorageClient, kind: type, parse: Callable[[Any], Any] | None = None
) -> Any:
    """The body as ``kind``, then through ``parse``; anything malformed is a StorageError
    carrying the (scrubbed) response, never a bare traceback from deep inside parsing."""
    try:
        data = json.loads(resp.content)
    except ValueError:
        info = ResponseInfo.from_response(resp, client.service, client.trace)
        raise StorageError("the storage node sent a body that is not JSON", info) from None
    if not isinstance(data, kind):
        info = ResponseInfo.from_response(resp, client.service, client.trace)
        raise StorageError(f"expected a JSON {kind.__name__} from the storage node", info)
    if parse is None:
        return data
    try:
        return parse(data)
    except _MALFORMED as exc:
        info = ResponseInfo.from_response(resp, client.service, client.trace)
        raise StorageError(f"the storage node sent a malformed answer ({type(exc).__name__}: {exc})", info) from None


def _page_columns(resp: requests.Response, client: StorageClient) -> BSOColumns:
    """A full page as columns: orjson and C-level maps when every BSO is exactly well
    typed, else the checked per-record path (the same answer, or the same error)."""
    try:
        data = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        data = None
    cols = columns_from_json(data) if data is not None else None
    if cols is None:
        return BSOColumns.from_bsos(_json(resp, client, list, lambda d: [BSO.from_json(o) for o in d]))
    return cols


def _path_of(url: str, endpoint: str) -> str:
    return url[len(endpoint) :] if url.startswith(endpoint) else url
