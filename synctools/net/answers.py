"""What a storage node answers, checked before anything trusts it.

A malformed ANSWER (a body that is not JSON or not the expected shape, a timestamp header
that is garbage or later than the answer's own ``X-Weave-Timestamp``) is a
:class:`StorageError` naming the request and what was wrong. A malformed RECORD inside a
good answer is not an error of the answer: it becomes a :class:`MalformedBSO` that keeps
what the server sent (as text) and carries an :class:`EnvelopeError`, so the collection
still loads and the record is shown with why, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import requests

from synctools.protocol.bso import BSO, MAX_SORTINDEX, MAX_TTL, ServerTime
from synctools.protocol.crypto import CryptoError

from . import _json
from .errors import ResponseInfo, StorageError

if TYPE_CHECKING:
    from .http import Trace


class StorageClient(Protocol):
    """What the checks need of a storage client (the real one is in :mod:`.storage`,
    which imports this module: a structural type keeps the imports pointing one way)."""

    service: str
    trace: Trace

    @property
    def endpoint(self) -> str: ...


_ID = re.compile(r"[ -~]{1,64}")  # fullmatch: a final newline is not printable ASCII
# What a parser may raise on a well-formed JSON value of the wrong shape.
MALFORMED = (ValueError, TypeError, IndexError, KeyError, AttributeError, ArithmeticError)


def jtype(value: Any) -> str:
    """The JSON name of a value's type: errors name it instead of the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def what(resp: requests.Response, client: StorageClient) -> str:
    """``GET /storage/bookmarks``: the request an answer belongs to, for messages."""
    req = resp.request
    url = (req.url if req is not None else None) or resp.url or ""
    path = url[len(client.endpoint) :] if url.startswith(client.endpoint) else url
    return f"{(req.method if req is not None else None) or 'GET'} {path.split('?', 1)[0] or '/'}"


def malformed(resp: requests.Response, client: StorageClient, problem: str) -> StorageError:
    info = ResponseInfo.from_response(resp, client.service, client.trace)
    request = what(resp, client)
    # A write was sent and answered: only its answer is unusable, so say it may have happened.
    note = "" if request.startswith("GET") else "; the node may have applied the write: download again before retrying"
    return StorageError(f"the storage node's answer to {request} is malformed: {problem}{note}", info)


def parse_json(
    resp: requests.Response,
    client: StorageClient,
    kind: type,
    parse: Callable[[Any], Any] | None = None,
) -> Any:
    """The body as ``kind``, then through ``parse``: anything malformed is a StorageError
    carrying the (scrubbed) response, never a bare traceback from deep inside parsing."""
    try:
        data = _json.loads(resp.content)
    except ValueError as exc:
        problem = str(exc)
    else:
        if not isinstance(data, kind):
            problem = f"expected a JSON {'array' if kind is list else 'object'}, got {jtype(data)}"
        elif parse is None:
            return data
        else:
            try:
                return parse(data)
            except MALFORMED as exc:  # a storage answer holds no credential: its text may show
                problem = str(exc)[:300] if isinstance(exc, AnswerShapeError) else f"{type(exc).__name__}: {exc}"[:300]
    # raised here, outside any except block: no exception holding the body rides along
    raise malformed(resp, client, problem)


class AnswerShapeError(ValueError):
    """Raised by the answers' parsers: its message says what is wrong with the shape."""


# ------------------------------------------------------------------------- timestamps


def header_time(resp: requests.Response, name: str) -> ServerTime | None:
    """A timestamp header, or None if absent or not a timestamp (lenient)."""
    value = resp.headers.get(name)
    if value is None:
        return None
    try:
        return ServerTime.parse(value)
    except (ValueError, ArithmeticError):
        return None


def server_time(resp: requests.Response, client: StorageClient, name: str) -> ServerTime | None:
    """The timestamp header ``name`` (``X-Last-Modified``), accepted only if sane: a
    timestamp, and not after the same answer's ``X-Weave-Timestamp`` (the server's clock
    when it answered). A write guard is built from it, so a corrupt value is an error
    here rather than a silent overwrite later. ``None`` if the header is absent."""
    value = resp.headers.get(name)
    if value is None:
        return None
    t = header_time(resp, name)
    if t is None:
        raise malformed(resp, client, f"{name} is not a timestamp")
    check_not_after(resp, client, t, name)
    return t


def check_not_after(resp: requests.Response, client: StorageClient, t: ServerTime, name: str) -> None:
    """Refuse ``t`` (named ``name``) if it is after the answer's own X-Weave-Timestamp."""
    raw = resp.headers.get("X-Weave-Timestamp")
    if raw is None:
        return  # nothing to check against (not a SyncStorage 1.5 node?)
    now = header_time(resp, "X-Weave-Timestamp")
    if now is None:
        raise malformed(resp, client, f"X-Weave-Timestamp is not a timestamp, so {name} cannot be trusted")
    if t > now:
        raise malformed(resp, client, f"{name} ({t}) is after the answer's own X-Weave-Timestamp ({now})")


# ---------------------------------------------------------------------------- records


class EnvelopeError(CryptoError):
    """A record whose envelope (id, modified, payload, sortindex, ttl) breaks the protocol."""

    reason = "bad-envelope"
    hint = "The storage node sent this record malformed: it is kept as sent, and its content is not used"

    @classmethod
    def from_stored(cls, text: str, record_id: str | None) -> EnvelopeError:
        """The error again from its ``str()`` (as the local store keeps it)."""
        prefix, suffix = f"record {record_id!r}: ", f". {cls.hint}"
        detail = text[len(prefix) :] if text.startswith(prefix) else text
        return cls(detail[: -len(suffix)] if detail.endswith(suffix) else detail, record_id)


def from_mirror(bso: BSO, error: str | None, reason: str | None) -> BSO:
    """A record as the local store's mirror kept it: again a :class:`MalformedBSO` if it
    was one (so a restart never shows it healthy), else the plain BSO."""
    err = envelope_error(bso.id, error, reason)
    if err is None:
        return bso
    return MalformedBSO(bso.id, bso.payload, bso.modified or None, bso.sortindex, bso.ttl, err)


def envelope_error(record_id: str, error: str | None, reason: str | None) -> EnvelopeError | None:
    """The error the local store's mirror kept for a record, again, if it was an
    envelope's (else None: a decryption error is found again by decrypting)."""
    return EnvelopeError.from_stored(error or "", record_id) if reason == EnvelopeError.reason else None


@dataclass(frozen=True, slots=True)
class MalformedBSO(BSO):
    """A record the server sent with a malformed envelope: what could be read of it (the
    payload as text, bad fields as None, an ``id`` made up when it had no usable one) and
    ``error``, the :class:`EnvelopeError` saying what was wrong."""

    error: EnvelopeError | None = None


def _int_field(obj: dict[str, Any], name: str, low: int, high: int, problems: list[str]) -> int | None:
    v = obj.get(name)
    if v is None:
        return None
    if type(v) is int and low <= v <= high:
        return v
    problems.append(f"{name} is {jtype(v) if type(v) is not int else 'out of range'}, "
                    f"not an integer in {low}..{high}")  # fmt: skip
    return None


def bso_from_server(obj: Any, position: str, now: ServerTime | None) -> BSO:
    """A record of a listing: a :class:`BSO`, or a :class:`MalformedBSO` saying why not.

    ``position`` (``"page 2 #17"``) names a record with no usable id; ``now`` is the
    answer's X-Weave-Timestamp, which no record can be modified after.
    """
    if type(obj) is dict:
        rid, payload, modified = obj.get("id"), obj.get("payload"), obj.get("modified")
        si, ttl = obj.get("sortindex"), obj.get("ttl")
        if (  # the common case, checked without building anything
            type(rid) is str
            and _ID.fullmatch(rid)
            and type(payload) is str
            and type(modified) in (float, int)
            and (si is None or type(si) is int and -MAX_SORTINDEX <= si <= MAX_SORTINDEX)
            and (ttl is None or type(ttl) is int and 0 <= ttl <= MAX_TTL)
        ):
            try:
                t = ServerTime.parse(modified)  # type: ignore[arg-type]
            except ValueError:
                pass
            else:
                if now is None or t <= now:
                    return BSO(rid, payload, t, si, ttl)
        return _malformed_bso(obj, position, now)
    shown = f"<not a record: {position}>"
    error = EnvelopeError(f"the listing's entry is {jtype(obj)}, not an object", shown)
    return MalformedBSO(shown, _text(obj), None, None, None, error)


def _malformed_bso(obj: dict[str, Any], position: str, now: ServerTime | None) -> MalformedBSO:
    problems: list[str] = []
    rid = obj.get("id")
    if type(rid) is str and _ID.fullmatch(rid):
        shown = rid
    elif "id" not in obj:
        shown = f"<no id: {position}>"
        problems.append("it has no id")
    elif type(rid) is str:
        shown = f"<bad id {ascii(rid)[:72]}>"
        problems.append("id is not 1-64 printable ASCII characters")
    else:
        shown = f"<bad id: {position}>"
        problems.append(f"id is {jtype(rid)}, not a string")
    payload = obj.get("payload")
    if type(payload) is not str:
        problems.append("it has no payload" if "payload" not in obj else f"payload is {jtype(payload)}, not a string")
        payload = "" if payload is None else _text(payload)
    modified: ServerTime | None = None
    raw = obj.get("modified")
    if type(raw) in (int, float):
        try:
            modified = ServerTime.parse(raw)  # type: ignore[arg-type]
        except ValueError:
            problems.append("modified is not a timestamp")
        else:
            if now is not None and modified > now:
                problems.append("modified is after the answer's X-Weave-Timestamp")
                modified = None
    else:
        problems.append("it has no modified" if raw is None else f"modified is {jtype(raw)}, not a number")
    si = _int_field(obj, "sortindex", -MAX_SORTINDEX, MAX_SORTINDEX, problems)
    ttl = _int_field(obj, "ttl", 0, MAX_TTL, problems)
    error = EnvelopeError("; ".join(problems) or "malformed envelope", shown)
    return MalformedBSO(shown, payload, modified, si, ttl, error)


def _text(value: Any) -> str:
    """A JSON value back as text, to keep what the server sent."""
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return ""
