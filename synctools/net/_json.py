"""The one JSON parser for every server answer: orjson, which a hostile body cannot crash.

The standard library's parser recurses, so a body nested 50,000 levels deep raises
``RecursionError``; it also accepts ``NaN`` and ``Infinity``. orjson stops at 1,024
levels, refuses both, refuses invalid UTF-8 and lone surrogates, and is about twice as
fast. Every failure is a :class:`NotJSON` (a ``ValueError``) saying what was wrong and
where, never quoting the body: a body may hold a credential.
"""

from __future__ import annotations

from typing import Any

import orjson


class NotJSON(ValueError):
    """A body that is not the JSON a server must send; the message never quotes it."""


def loads(body: bytes | bytearray | memoryview | str | None) -> Any:
    """Parse ``body``; raise :class:`NotJSON` (only) if it is not strict JSON."""
    if body is None:
        raise NotJSON("empty body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # exc.doc is the whole body: keep it out of the error (and of any traceback)
        reason = exc.msg
    except (TypeError, RecursionError) as exc:  # not a buffer; never raised by orjson in practice
        reason = type(exc).__name__
    size = len(body)
    raise NotJSON(f"not JSON ({reason}; {size} bytes)" if size else "empty body")
