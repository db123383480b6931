"""URLs as Firefox judges them.

Firefox parses bookmark, history and login URLs with the WHATWG URL standard
(``URL.parse`` in SyncedBookmarksMirror's ``validateURL``), and Places refuses URLs
longer than ``DB_URL_LENGTH_MAX``. Python's ``urllib`` follows RFC 3986 instead: it
accepts URLs Firefox rejects (``https://exa mple.com``) and raises on some Firefox
also rejects (``http://[::1/``). ``can_ada`` binds ada, a WHATWG-conformant parser, so
the doctor agrees with Firefox instead of guessing.
"""

from __future__ import annotations

from typing import Any

import can_ada

from synctools.engines.base import well_formed  # JavaScript hands URL.parse a USVString: lone surrogates → U+FFFD

DB_URL_LENGTH_MAX = 65_536  # Places' limit (toolkit/components/places/PlacesUtils)
SPECIAL_SCHEMES = ("http:", "https:", "ftp:", "ws:", "wss:", "file:")


def parse(value: Any) -> can_ada.URL | None:
    """The parsed URL, or None when Firefox would not accept ``value`` as a URL."""
    if not isinstance(value, str) or len(value) > DB_URL_LENGTH_MAX:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = well_formed(value)
    try:
        return can_ada.parse(value)
    except ValueError:
        return None


def valid(value: str) -> bool:
    """Whether Firefox accepts ``value`` (a string) as a URL: the fast path (no URL object)."""
    if len(value) > DB_URL_LENGTH_MAX:
        return False
    try:
        return bool(can_ada.can_parse(value))
    except (TypeError, UnicodeError):  # lone surrogates: JavaScript would see U+FFFD
        return can_ada.can_parse(well_formed(value))


def problem(value: Any) -> str | None:
    """Why Firefox rejects ``value`` as a URL (missing, too long, unparsable), else None."""
    if value is None or value == "":
        return "is missing"
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if len(value) > DB_URL_LENGTH_MAX:
        return f"is {len(value):,} characters long, over Places' limit of {DB_URL_LENGTH_MAX:,}"
    if not valid(value):
        return "is not a URL the WHATWG URL standard (which Firefox follows) can parse"
    return None


def origin(url: can_ada.URL) -> str | None:
    """The serialized origin of a special-scheme URL (``https://host:port``), else None."""
    if url.protocol not in SPECIAL_SCHEMES or url.protocol == "file:":
        return None
    return f"{url.protocol}//{url.host}"
