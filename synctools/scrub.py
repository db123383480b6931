"""Anonymise records so that their problems survive: the scrubber behind ``synctools.snapshot``.

Every string becomes another string **of the same length and shape**: letters become
letters (of the same case, and of the same UTF-8 width), digits become digits, and
everything else (spaces, punctuation, NULs, line breaks) stays. The same string always
becomes the same replacement, and two different strings never share one, so duplicates
stay duplicates and a tag stays the name of its tag query. URLs keep their scheme, their
structure and their validity class: a URL Firefox rejects becomes another it rejects.
Ids, types and the protocol's vocabulary are kept; a fresh random salt per scrubber means
nobody can map a replacement back by trying guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

from synctools.doctor import urls

#: fields whose values are ids, types or protocol vocabulary: kept as they are, at any depth
KEEP = frozenset({
    "id", "parentid", "children", "type", "deleted", "fxaDeviceId", "applicationID", "source", "enabled",
    "protocols", "os", "version", "application", "appPackage", "formfactor", "device", "hasDupe", "guid",
    "pos", "command", "flowID", "deviceType", "storageVersion", "syncID", "engines", "declined",
})  # fmt: skip
URL_FIELDS = frozenset({"bmkUri", "feedUri", "siteUri", "histUri", "hostname", "formSubmitURL", "urlHistory", "icon"})
#: formSubmitURL's special values (application-services: '' = any form, '.' = '', 'javascript:')
SPECIAL_ACTIONS = frozenset({"", ".", "javascript:"})
COLLECTIONS = frozenset({"bookmarks", "history", "passwords", "forms", "prefs", "addons", "clients", "tabs",
                         "addresses", "creditcards", "meta", "crypto"})  # fmt: skip
_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)(//)?([^/?#\\]*)(.*)$", re.S)
_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
_LATIN = [c for c in map(chr, range(0xE0, 0x100)) if c.isalpha()]  # 2 bytes in UTF-8
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 512)]  # 3 bytes
_MATH = [chr(c) for c in range(0x1D41A, 0x1D434)]  # 4 bytes


class Scrubber:
    def __init__(self, salt: bytes | None = None, keep_addons: frozenset[str] = frozenset()):
        self.salt = salt if salt is not None else os.urandom(16)
        self.keep_addons = keep_addons
        self._text: dict[str, str] = {}
        self._url: dict[str, str] = {}
        self._taken: set[str] = set()

    # ----------------------------------------------------------------- strings
    def _stream(self, value: str, attempt: int) -> Iterator[int]:
        counter = 0
        while True:
            key = f"{attempt}#{counter}".encode() + value.encode("utf-8", "surrogatepass")
            yield from hmac.new(self.salt, key, hashlib.sha256).digest()
            counter += 1

    def _shape(self, value: str, attempt: int) -> str:
        rnd = self._stream(value, attempt)
        out = []
        for ch in value:
            if "a" <= ch <= "z":
                out.append(_LOWER[next(rnd) % 26])
            elif "A" <= ch <= "Z":
                out.append(_UPPER[next(rnd) % 26])
            elif "0" <= ch <= "9":
                out.append(_DIGITS[next(rnd) % 10])
            elif ord(ch) > 127 and ch.isalpha():
                width = len(ch.encode("utf-8", "surrogatepass"))
                pool = _LATIN if width == 2 else _CJK if width == 3 else _MATH
                out.append(pool[(next(rnd) * 256 + next(rnd)) % len(pool)])
            else:
                out.append(ch)
        return "".join(out)

    def text(self, value: str) -> str:
        """Same length, same shape, same replacement every time, never another string's."""
        if value in self._text:
            return self._text[value]
        if not any(ch.isalnum() for ch in value):
            new = value  # nothing but punctuation and spaces: nothing to hide
        else:
            new = ""
            for attempt in range(64):
                new = self._shape(value, attempt)
                if new not in self._taken:
                    break
            else:  # a very short string with few shapes left: stay unique, at one character more
                n = 0
                while f"{new}{n}" in self._taken:
                    n += 1
                new = f"{new}{n}"
        self._text[value] = new
        self._taken.add(new)
        return new

    # ----------------------------------------------------------------- URLs
    def url(self, value: str) -> str:
        if value in self._url:
            return self._url[value]
        valid = urls.parse(value) is not None
        new = None
        for attempt in range(8):
            cand = self._url_once(value, attempt)
            if (urls.parse(cand) is not None) == valid and cand not in self._taken:
                new = cand
                break
        if new is None:  # keep the class, lose the shape
            digest = hmac.new(self.salt, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]
            new = f"https://h{digest}.example/" if valid else f"http://[{digest}/"
        self._url[value] = new
        self._taken.add(new)
        return new

    def _url_once(self, value: str, attempt: int) -> str:
        m = _URL_RE.match(value)
        if m is None:
            return self._shape(value, attempt)
        scheme, slashes, authority, rest = m.groups()
        if scheme.lower() == "place:":
            return scheme + "&".join(self._place_param(p) for p in (authority + rest).split("&"))
        if not slashes:
            return scheme + self._shape(authority + rest, attempt)
        userinfo, at, hostport = authority.rpartition("@")
        host, port = _split_port(hostport)
        return (scheme + slashes + (self._shape(userinfo, attempt) + at if at else "") + self._host(host, attempt)
                + port + self._shape(rest, attempt))  # fmt: skip

    def _place_param(self, param: str) -> str:
        name, eq, value = param.partition("=")
        if name != "tag" or not eq:
            return param
        return f"tag={quote(self.text(unquote(value)), safe='') if '%' in value else self.text(value)}"

    def _host(self, host: str, attempt: int) -> str:
        if host.startswith("["):
            rnd = self._stream(host, attempt)
            return "".join("0123456789abcdef"[next(rnd) % 16] if c in "0123456789abcdefABCDEF" else c for c in host)
        if re.fullmatch(r"[0-9.]+", host):  # IPv4: each octet stays an octet of as many digits
            rnd = self._stream(host, attempt)

            def octet(o: str) -> str:
                lo, n = {1: (0, 10), 2: (10, 90), 3: (100, 156)}.get(len(o), (-1, 0))
                return o if lo < 0 else str(lo + next(rnd) % n)

            return ".".join(octet(o) for o in host.split("."))
        labels = host.split(".")
        keep_tld = len(labels) > 1 and labels[-1].isalpha() and len(labels[-1]) <= 6
        body = [self._shape(label, attempt) for label in (labels[:-1] if keep_tld else labels)]
        return ".".join(body + (labels[-1:] if keep_tld else []))

    # ----------------------------------------------------------------- records
    def value(self, field: str | None, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if k in KEEP else self.value(k, v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(field, v) for v in value]
        if not isinstance(value, str) or not value:
            return value
        if field == "formSubmitURL" and value in SPECIAL_ACTIONS:
            return value
        if field in URL_FIELDS:
            return self.url(value)
        if field == "addonID" and value in self.keep_addons:
            return value
        if field == "args" and value in COLLECTIONS:
            return value
        if field == "value" and urls.parse(value) is not None and "://" in value:
            return self.url(value)  # a pref that holds a URL (a home page)
        return self.text(value)

    def record(self, record: Any) -> Any:
        return self.value(None, record)


def _split_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        return (hostport[: end + 1], hostport[end + 1 :]) if end >= 0 else (hostport, "")
    host, colon, port = hostport.rpartition(":")
    return (host, colon + port) if colon and port.isdigit() else (hostport, "")
