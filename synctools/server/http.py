"""A small request/response layer over raw WSGI: just what the three services need.

No framework: the stack is a handful of routes, and owning the bytes lets the storage
node build its JSON by joining stored strings (the fast read path).
"""

from __future__ import annotations

import json
import math
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs


class Request:
    """One incoming request. ``path`` is the decoded path; ``raw_uri`` is what was sent."""

    __slots__ = ("environ", "method", "path", "query", "_body", "route")

    def __init__(self, environ: dict[str, Any]):
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path: str = environ.get("PATH_INFO", "") or "/"
        self.query: dict[str, list[str]] = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        self._body: bytes | None = None
        self.route: str = ""  # which service handled it (for the admin request log)

    def header(self, name: str, default: str | None = None) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            value = self.environ.get(key)
        else:
            value = self.environ.get("HTTP_" + key)
        return default if value is None or value == "" else value

    def arg(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def content_length(self) -> int:
        try:
            return int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 0

    @property
    def body(self) -> bytes:
        if self._body is None:
            length = self.content_length
            self._body = self.environ["wsgi.input"].read(length) if length > 0 else b""
        return self._body

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def url(self) -> str:
        """The absolute URL as the client signed it (Hawk needs host, port and raw path)."""
        host = self.environ.get("HTTP_HOST") or (
            f"{self.environ.get('SERVER_NAME', 'localhost')}:{self.environ.get('SERVER_PORT', 80)}"
        )
        uri = self.environ.get("REQUEST_URI")
        if not uri:
            uri = self.environ.get("PATH_INFO", "")
            if self.environ.get("QUERY_STRING"):
                uri += "?" + self.environ["QUERY_STRING"]
        return f"http://{host}{uri}"

    def json(self) -> Any:
        """The body parsed as strict JSON (see :func:`loads`); raises ValueError when it is not."""
        return loads(self.body)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def loads(data: bytes | str) -> Any:
    """Parse JSON as strictly as syncstorage-rs (serde_json) does; raise ValueError else.

    On top of ``json.loads``: nesting too deep for the parser, ``NaN``/``Infinity``,
    numbers out of float range, and strings holding a lone surrogate (``"\\ud800"``,
    which has no UTF-8 form and would fail later, when stored or sent) are all refused
    as not JSON, so every caller answers 400 instead of raising something else.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
        # The escape is rare in real bodies, so the exact (slower) check seldom runs.
        if _SURROGATE_ESCAPE.search(text) is not None:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeEncodeError:
        raise ValueError("JSON string holds a lone surrogate") from None
    return value


class Response:
    """A complete response: status, headers (list of pairs) and body bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(
        self,
        status: int = 200,
        body: bytes | str = b"",
        headers: list[tuple[str, str]] | None = None,
        content_type: str | None = "application/json",
    ):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers: list[tuple[str, str]] = list(headers or [])
        if content_type and not self.get_header("Content-Type"):
            self.headers.append(("Content-Type", content_type))

    def get_header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def status_line(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")), headers)


class HTTPError(Exception):
    """Raised inside a handler to answer with ``response`` straight away."""

    def __init__(self, response: Response):
        super().__init__(response.status_line)
        self.response = response
