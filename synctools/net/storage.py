"""Storage client (SyncStorage 1.5): every endpoint, Hawk-signed with mohawk.

Timestamps are :class:`~synctools.protocol.bso.ServerTime` everywhere, read from the
headers digit for digit and sent back the same way. Writes take a mandatory
``if_unmodified_since`` keyword (pass ``None`` only to write unguarded on purpose);
a 412 becomes :class:`PreconditionFailed` with the server's ``X-Last-Modified``.
A 401 is refreshed through ``token_provider`` when one is given (node reassignment
raises :class:`NodeReassigned`), else raised as :class:`StorageUnauthorized`.

Nothing a node answers is trusted unchecked (see :mod:`.answers`): a malformed answer
is a :class:`StorageError` naming the request and what was wrong, a malformed record a
:class:`MalformedBSO` row, and an ``X-Last-Modified`` later than the answer's own
``X-Weave-Timestamp`` is refused rather than kept as a write guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from synctools.protocol.bso import BSO, ServerTime, valid_collection_name

from .answers import (
    AnswerShapeError,
    bso_from_server,
    check_not_after,
    header_time,
    jtype,
    parse_json,
    server_time,
)
from .batching import InfoConfiguration, PostQueue, PostResponse, UploadResult, serialize
from .errors import (
    WEAVE_ERRORS,
    BadRequest,
    NodeReassigned,
    NotFound,
    PreconditionFailed,
    RequestTooLarge,
    ResponseInfo,
    ServerBusy,
    StorageError,
    StorageUnauthorized,
    unreachable,
)
from .http import HawkSigner, RetryPolicy, ServerSignal, SignalHook, Trace, TracedSession, never_retry
from .reader import CollectionReader
from .tokenserver import Token, check_endpoint

SORTS = ("newest", "oldest", "index")
MAX_IDS = 100
_UNSET: Any = object()
Record = BSO | Mapping[str, Any]


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
        deadline: float | None = None,
        max_retries: int = 3,
    ) -> None:
        self.trace = trace if trace is not None else Trace()
        self.token_provider = token_provider
        self.retry_policy = on_backoff or never_retry
        self.max_retries = max_retries
        self.signals: list[ServerSignal] = []
        self.server_time: ServerTime | None = None  # last X-Weave-Timestamp
        self.info_last_modified: ServerTime | None = None  # the last info/collections' X-Last-Modified
        self.session = TracedSession(self.service, self.trace, on_signal=on_signal, timeout=timeout, deadline=deadline)
        self._config: InfoConfiguration | None = None
        self.hawk = HawkSigner(token.id, token.key)
        self._set_token(token)

    def __repr__(self) -> str:
        return f"<StorageClient {self.token.api_endpoint}>"

    def _set_token(self, token: Token) -> None:
        problem = check_endpoint(token.api_endpoint)
        if problem:  # a hand-made token (the tokenserver's are checked already)
            raise StorageError(f"the storage token's api_endpoint {problem}")
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
            req = self.session.prepare_request(requests.Request(method, url, headers=hdrs, data=body))
            req.headers["Authorization"] = self.hawk.authorization(req.url or url, method)
            failure: requests.RequestException | None = None
            try:
                resp = self.session.send(req)
            except requests.RequestException as exc:
                failure = exc
            if failure is not None:  # raised outside the except block: nothing rides along
                raise unreachable(f"storage node {self.endpoint} did not answer {method} {path}", failure)
            signals = tuple(self.session.last_signals)
            self.signals.extend(signals)
            if "X-Weave-Timestamp" in resp.headers:
                self.server_time = header_time(resp, "X-Weave-Timestamp")
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
        if 300 <= status < 400:
            to = self.trace.scrub(resp.headers.get("Location", "nowhere"))[:200]
            return StorageError(
                f"{what}: the node redirected to {to}; synctools never follows a redirect (a Hawk"
                " signature is for one URL): check the tokenserver's api_endpoint", info,
            )  # fmt: skip
        if status == 412:
            lm = header_time(resp, "X-Last-Modified")
            return PreconditionFailed(f"{what}: the resource changed on the server (now {lm})", info, lm)
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
            self._config = parse_json(resp, self, dict, InfoConfiguration.from_json)
        return self._config

    @property
    def config(self) -> InfoConfiguration:
        return self._config if self._config is not None else self.info_configuration()

    def info_collections(self) -> dict[str, ServerTime]:
        """``{collection: last modified}``; the answer's X-Last-Modified (the account's
        storage timestamp) is kept as ``info_last_modified``."""
        resp = self._request("GET", "/info/collections")
        parsed: dict[str, ServerTime] = parse_json(resp, self, dict, _collection_times)
        for name, t in parsed.items():  # no collection was modified after the answer was made
            check_not_after(resp, self, t, f"the timestamp of {name!r}")
        self.info_last_modified = server_time(resp, self, "X-Last-Modified")
        return parsed

    def info_collection_counts(self) -> dict[str, int]:
        """``{collection: number of records}``."""
        resp = self._request("GET", "/info/collection_counts")
        return parse_json(resp, self, dict, lambda d: _numbers(d, int, "a record count"))  # type: ignore[no-any-return]

    def info_collection_usage(self) -> dict[str, float]:
        """``{collection: KB used}``."""
        resp = self._request("GET", "/info/collection_usage")
        return parse_json(resp, self, dict, lambda d: _numbers(d, float, "a size in KB"))  # type: ignore[no-any-return]

    def info_quota(self) -> tuple[float, float | None]:
        """``(KB used, quota KB or None)``."""
        return parse_json(self._request("GET", "/info/quota"), self, list, _quota)  # type: ignore[no-any-return]

    # -------------------------------------------------------------------- reads
    def get_record(self, collection: str, record_id: str) -> BSO:
        """One BSO; :class:`NotFound` if it does not exist."""
        _check_collection(collection)
        resp = self._request("GET", f"/storage/{collection}/{_quote_id(record_id)}")
        bso = parse_json(
            resp, self, dict, lambda d: bso_from_server(d, "the record", header_time(resp, "X-Weave-Timestamp"))
        )
        error = getattr(bso, "error", None)
        if error is not None:  # one record asked for: its answer is malformed as a whole
            raise StorageError(
                f"GET /storage/{collection}/{record_id}: {error.detail}",
                ResponseInfo.from_response(resp, self.service, self.trace),
            )
        return bso  # type: ignore[no-any-return]

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
        max_pages: int | None = None,
        columns: bool = False,
    ) -> CollectionReader:
        """Read a collection lazily, page by page: BSOs (``full=True``) or ids, ``limit``
        per request. A record with a malformed envelope is a :class:`MalformedBSO`.

        ``newer``/``older`` are strict bounds; ``sort`` is ``newest``, ``oldest`` or
        ``index``; ``ids`` at most 100. ``progress`` shows a bar (``total`` if known).
        ``max_pages`` caps the read (default: from ``info/collection_counts``, asked when
        a second page is announced). ``columns=True``: each full page as one
        ``BSOColumns`` (for bulk readers), malformed envelopes as rows with their error.
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
        return CollectionReader(
            self,
            collection,
            params,
            full=full,
            progress=progress,
            total=total,
            max_pages=max_pages,
            columns=columns,
        )

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
        return _modified(resp, self)

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
        return self._post(
            collection, body, ServerTime.parse(xius["X-If-Unmodified-Since"]) if xius else None, batch, commit
        )

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
            "POST",
            f"/storage/{collection}",
            params=params,
            headers=headers,
            body=body,
            ok=(200, 202),
        )
        answer: PostResponse = parse_json(resp, self, dict, lambda d: _post_response(resp.status_code, d))
        lm = server_time(resp, self, "X-Last-Modified")
        if lm is None and answer.last_modified is not None:
            check_not_after(resp, self, answer.last_modified, "the answer's modified")
        elif lm is not None:
            answer.last_modified = lm
        return answer

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
        return _modified(resp, self)

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
            return _modified(self._request("DELETE", f"/storage/{collection}", headers=headers), self)
        id_list = _id_list(ids)
        modified = ServerTime(0)
        for start in range(0, len(id_list), MAX_IDS):
            chunk = id_list[start : start + MAX_IDS]
            resp = self._request("DELETE", f"/storage/{collection}", params={"ids": ",".join(chunk)}, headers=headers)
            modified = _modified(resp, self)
            if headers:  # the next chunk is guarded by what this one produced
                headers = {"X-If-Unmodified-Since": str(modified)}
        return modified

    def delete_storage(self, *, if_unmodified_since: ServerTime | int | None = _UNSET) -> ServerTime:
        """DELETE every collection of the account (``X-Confirm-Delete: 1``)."""
        headers = {"X-Confirm-Delete": "1", **_xius(if_unmodified_since, "delete_storage")}
        return _modified(self._request("DELETE", "/storage", headers=headers), self)

    def delete_user(self, *, if_unmodified_since: ServerTime | int | None = _UNSET) -> ServerTime:
        """DELETE ``/1.5/<uid>``: everything the node holds for this user."""
        headers = {"X-Confirm-Delete": "1", **_xius(if_unmodified_since, "delete_user")}
        return _modified(self._request("DELETE", "", headers=headers), self)


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


def _modified(resp: requests.Response, client: StorageClient) -> ServerTime:
    """When a write happened: X-Last-Modified, else X-Weave-Timestamp, else the body's."""
    lm = server_time(resp, client, "X-Last-Modified")
    if lm is not None:
        return lm
    t = header_time(resp, "X-Weave-Timestamp")
    if t is not None:
        return t
    data = parse_json(resp, client, object)
    modified = data.get("modified") if isinstance(data, dict) else data
    if type(modified) in (int, float):
        try:
            return ServerTime.parse(modified)  # type: ignore[arg-type]
        except ValueError:
            pass
    info = ResponseInfo.from_response(resp, client.service, client.trace)
    raise StorageError("the server did not say when the write happened (no X-Last-Modified)", info)


def _collection_times(data: dict[str, Any]) -> dict[str, ServerTime]:
    out = {}
    for name, value in data.items():
        if type(value) not in (int, float):
            raise AnswerShapeError(f"the timestamp of {name[:40]!r} is {jtype(value)}, not a number")
        try:
            out[name] = ServerTime.parse(value)
        except ValueError:
            raise AnswerShapeError(f"the timestamp of {name[:40]!r} is not a server timestamp") from None
    return out


def _numbers(data: dict[str, Any], kind: type, meaning: str) -> dict[str, Any]:
    for name, value in data.items():
        if type(value) not in (int, kind) or value < 0 or value != value:
            raise AnswerShapeError(f"{name[:40]!r} is {jtype(value)}, not {meaning}")
    return data


def _quota(data: list[Any]) -> tuple[float, float | None]:
    if not data or type(data[0]) not in (int, float):
        raise AnswerShapeError("info/quota must start with the KB used (a number)")
    quota = data[1] if len(data) > 1 else None
    if quota is not None and type(quota) not in (int, float):
        raise AnswerShapeError(f"the quota is {jtype(quota)}, not a number")
    return float(data[0]), quota


def _post_response(status: int, data: dict[str, Any]) -> PostResponse:
    success, failed, batch = data.get("success") or [], data.get("failed") or {}, data.get("batch")
    if type(success) is not list or not all(type(i) is str for i in success):
        raise AnswerShapeError("'success' must be an array of record ids")
    if type(failed) is not dict:
        raise AnswerShapeError(f"'failed' is {jtype(failed)}, not an object")
    if batch is not None and (type(batch) not in (str, int) or str(batch) == ""):
        raise AnswerShapeError(f"'batch' is {jtype(batch)}, not a batch id")
    modified = data.get("modified")
    lm = None
    if modified is not None:
        if type(modified) not in (int, float):
            raise AnswerShapeError(f"'modified' is {jtype(modified)}, not a timestamp")
        lm = ServerTime.parse(modified)
    return PostResponse(
        status=status,
        last_modified=lm,
        batch=None if batch is None else str(batch),
        success=success,
        failed={k: _reason(v) for k, v in failed.items()},
    )


def _reason(value: Any) -> str:
    """Why the server refused a record: its text (some servers send a list of texts)."""
    if type(value) is str:
        return value
    if type(value) is list and all(type(v) is str for v in value):
        return "; ".join(value)
    return f"(the server gave {jtype(value)} as the reason)"


def _path_of(url: str, endpoint: str) -> str:
    return url[len(endpoint) :] if url.startswith(endpoint) else url
