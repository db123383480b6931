"""The rules ``check_server`` judges by, as pure functions over what the server said:
the check ids, ``info/configuration`` sanity, the token's shape, clocks, and what a
failed connection or an odd answer means. No I/O here (synctools.doctor.server does it).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .model import register

# -- the check ids (docs/self-hosting.md explains each with its fix) ------------------------
UNREACHABLE = register(
    "server.unreachable", "error", "the server does not answer at all: unknown host, connection refused or timed out"
)
TLS = register(
    "server.tls", "error", "TLS fails: a certificate Firefox refuses, or TLS spoken to a port that speaks plain HTTP"
)
NOT_SYNC = register(
    "server.not-sync",
    "error",
    "the URL answers, but nothing at it or at the usual paths is a Sync server (an HTML page, say)",
)
PROXY_AUTH = register(
    "server.proxy-auth",
    "error",
    "a reverse proxy demands its own login (HTTP basic auth) in front of the Sync services",
)
HEARTBEAT = register(
    "server.heartbeat",
    "error",
    "__heartbeat__ / __lbheartbeat__ say the server is unhealthy (its database, its connection pool)",
)
TOKEN_PATH = register(
    "server.token-path", "error", "the tokenserver URL given does not answer as a tokenserver; another usual path does"
)
FXA_UNREACHABLE = register("server.fxa-unreachable", "error", "the accounts (FxA) server does not answer")
ACCOUNT = register(
    "server.account", "error", "the accounts server refused the login, or the session still needs verification"
)
OAUTH_SCOPE = register(
    "server.oauth-scope", "error", "the accounts server did not grant the Sync scope (oldsync) to the OAuth token"
)
OAUTH_SERVER = register(
    "server.oauth-server",
    "error",
    "the tokenserver refuses OAuth tokens this accounts server issued: it verifies them with another one",
)
KEY_ID = register("server.key-id", "error", "the tokenserver refuses the X-KeyID header")
CLIENT_STATE = register(
    "server.client-state",
    "error",
    "the client-state rules: keys that went backwards are refused (or, wrongly, accepted)",
)
NEW_USERS = register(
    "server.new-users", "error", "the tokenserver refuses accounts it has not seen (allow_new_users is off)"
)
NO_NODE = register(
    "server.no-node", "error", "the tokenserver has no storage node to assign (its nodes/services tables are empty)"
)
TOKENSERVER_ERROR = register(
    "server.tokenserver-error", "error", "the tokenserver fails in another way (an internal error, a bad answer)"
)
TOKEN_DURATION = register("server.token-duration", "warning", "tokens live too briefly for a sync to finish")
PUBLIC_URL = register(
    "server.public-url", "error", "the node URL the tokenserver hands out (its nodes table) is not one clients can use"
)
PATH_PREFIX = register(
    "server.path-prefix",
    "error",
    "a proxy strips a path prefix before the node: Hawk signatures are checked against another path",
)
HOST_HEADER = register(
    "server.host-header",
    "error",
    "a proxy rewrites Host (or the scheme/port): Hawk signatures are checked against another host",
)
CLOCK_SKEW = register(
    "server.clock-skew",
    "error",
    "clocks disagree: tokens already expired on the node, or Hawk timestamps outside the window",
)
WRONG_SECRET = register(
    "server.wrong-secret",
    "error",
    "the node and the tokenserver use different master secrets: the node refuses every token",
)
TOKEN_REJECTED = register(
    "server.token-rejected", "error", "the node refuses a fresh token as if it had expired, though the clocks agree"
)
NODE_ERROR = register(
    "server.node-error", "error", "the storage node answers with a server error or something unexpected"
)
LIMITS = register(
    "server.limits", "error", "info/configuration limits smaller than one record, inconsistent, or without batches"
)
QUOTA = register("server.quota", "warning", "storage quota used up or nearly (info/quota, X-Weave-Quota-Remaining)")
PROXY_BODY_LIMIT = register(
    "server.proxy-body-limit",
    "error",
    "a proxy refuses request bodies the node announces it accepts (nginx's client_max_body_size)",
)

# -- the limits --------------------------------------------------------------------------
KIB = 1024
#: below this no ordinary record fits: a folder of a thousand bookmarks, a clients record
#: with pending commands
ONE_RECORD = 16 * KIB
#: what clients assume of a server that announces nothing (application-services' defaults,
#: and the limit every server had until 2017)
CLIENT_DEFAULT = 256 * KIB
LIMIT_NAMES = ("max_record_payload_bytes", "max_post_bytes", "max_post_records", "max_request_bytes",
               "max_total_bytes", "max_total_records", "max_quota_limit")  # fmt: skip
SYNCSTORAGE_RS_DEFAULTS = ("max_post_bytes 2621440, max_post_records 100, max_record_payload_bytes 2621440, "
                           "max_request_bytes 2625536, max_total_bytes 262144000, max_total_records 10000")  # fmt: skip


def limit_problems(config: Any) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` about an ``info/configuration`` body, in words."""
    if not isinstance(config, Mapping):
        return [f"info/configuration is not a JSON object (got {_short(config)})"], []
    errors: list[str] = []
    warnings: list[str] = []
    lim: dict[str, int] = {}
    for name in LIMIT_NAMES:
        value = config.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            errors.append(f"{name} is {_short(value)}, not a positive integer")
        else:
            lim[name] = value
    for name in ("max_record_payload_bytes", "max_post_bytes", "max_request_bytes"):
        if name in lim and lim[name] < ONE_RECORD:
            errors.append(f"{name} is {lim[name]} bytes: smaller than one ordinary record ({ONE_RECORD} bytes)")
        elif name in lim and lim[name] < CLIENT_DEFAULT:
            warnings.append(f"{name} is {lim[name]} bytes, below the {CLIENT_DEFAULT} bytes clients assume")
    payload, post, request = (lim.get(n) for n in ("max_record_payload_bytes", "max_post_bytes", "max_request_bytes"))
    if payload and post and post < payload:
        warnings.append(f"max_post_bytes ({post}) < max_record_payload_bytes ({payload}): a record of the "
                        "largest allowed size can never be uploaded")  # fmt: skip
    if post and request and request < post:
        warnings.append(f"max_request_bytes ({request}) < max_post_bytes ({post}): a full POST does not fit in "
                        "a request (syncstorage-rs keeps it max_post_bytes + 4096)")  # fmt: skip
    if lim.get("max_post_records", 100) < 10:
        warnings.append(f"max_post_records is {lim['max_post_records']}: an upload of a thousand records "
                        f"takes {-(-1000 // lim['max_post_records'])} requests")  # fmt: skip
    if "max_total_records" not in lim and "max_total_bytes" not in lim and not errors:
        warnings.append("no batch limits (max_total_records, max_total_bytes): the server may not support "
                        "batch uploads, so a large upload becomes visible to other devices half done")  # fmt: skip
    for total, per in (("max_total_records", "max_post_records"), ("max_total_bytes", "max_post_bytes")):
        if total in lim and per in lim and lim[total] < lim[per]:
            warnings.append(f"{total} ({lim[total]}) < {per} ({lim[per]}): a batch holds less than one POST, "
                            "so batches are in effect disabled")  # fmt: skip
    if "max_quota_limit" in lim and lim["max_quota_limit"] < 10 * KIB * KIB:
        warnings.append(f"max_quota_limit is {lim['max_quota_limit']} bytes: an ordinary account needs tens of MB")
    return errors, warnings


# -- the token -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Where:
    """A URL cut into what Hawk signs and what clients connect to."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Where:
        p = urlsplit(url)
        try:
            port = p.port
        except ValueError:
            port = None
        default = 443 if p.scheme == "https" else 80
        return cls(p.scheme, (p.hostname or "").lower(), port or default, p.path.rstrip("/"))

    @property
    def netloc(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def is_local_host(host: str) -> bool:
    """Loopback, unspecified, link-local or a private-range address (or ``localhost``):
    reachable from this machine perhaps, from a phone on another network never."""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_private


def endpoint_problems(api_endpoint: str, uid: int, token_url: str | None) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` about the node URL a token points to, against the token URL."""
    errors: list[str] = []
    warnings: list[str] = []
    ep = Where.of(api_endpoint)
    if ep.scheme not in ("http", "https") or not ep.host:
        return [f"api_endpoint {api_endpoint!r} is not an http(s) URL"], []
    if not ep.path.endswith(f"/1.5/{uid}"):
        errors.append(f"api_endpoint {api_endpoint!r} does not end with /1.5/{uid}: the services table's "
                      "pattern must be '{node}/1.5/{uid}'")  # fmt: skip
    if token_url is None:
        return errors, warnings
    ts = Where.of(token_url)
    if ts.scheme == "https" and ep.scheme == "http":
        warnings.append(f"the tokenserver is served over https but hands out a plain-http node URL "
                        f"({ep.origin}): Hawk credentials and all your data travel unencrypted")  # fmt: skip
    if is_local_host(ep.host) and not is_local_host(ts.host):
        warnings.append(f"the node URL's host {ep.host} is local to the server, while clients reach the "
                        f"tokenserver as {ts.host}: other devices cannot reach the node")  # fmt: skip
    return errors, warnings


# -- clocks -------------------------------------------------------------------------------
#: clocks further apart than this are worth a warning even when nothing fails yet
SKEW_WARN = 300.0
#: syncstorage-rs accepts Hawk timestamps this far from its clock (auth.rs: 52 weeks)
SYNCSTORAGE_HAWK_WINDOW = 52 * 7 * 86400


def header_time(headers: Mapping[str, str], name: str) -> float | None:
    """A timestamp header in seconds (``X-Weave-Timestamp``, ``X-Timestamp``, ``Date``)."""
    value = headers.get(name)
    if not value:
        return None
    if name.lower() == "date":
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    try:
        t = float(value)
    except ValueError:
        return None
    return t if 0 < t < 1e11 else None


def server_time(resp: requests.Response) -> float | None:
    """The node's clock: ``X-Weave-Timestamp`` (10 ms), unless ``Date`` is clearly
    earlier — syncstorage-rs sends ``max(now, X-Last-Modified)``, so data written while
    its clock was ahead lifts X-Weave-Timestamp above the clock itself."""
    weave = header_time(resp.headers, "X-Weave-Timestamp")
    date = header_time(resp.headers, "Date")
    if weave is not None and date is not None and weave - date > 2:
        return date
    return weave if weave is not None else date


def hawk_challenge(header: str | None) -> dict[str, str]:
    """The attributes of a ``WWW-Authenticate: Hawk ...`` challenge (``ts``, ``tsm``,
    ``error``), which a Hawk server sends with a stale timestamp; ``{}`` otherwise."""
    if not header or not header.lower().startswith("hawk"):
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def relative(value: float) -> str:
    """``2.0 h ahead of`` / ``10 min behind`` / ``level with``, for "the node's clock is … X"."""
    if abs(value) < 0.5:
        return "level with"
    return seconds(abs(value)).lstrip("+") + (" ahead of" if value > 0 else " behind")


def seconds(value: float) -> str:
    """``7200 s (2.0 h)`` and the like."""
    v = abs(value)
    if v >= 86400:
        return f"{value:.0f} s ({value / 86400:.1f} days)"
    if v >= 3600:
        return f"{value:.0f} s ({value / 3600:.1f} h)"
    if v >= 120:
        return f"{value:.0f} s ({value / 60:.0f} min)"
    return f"{value:+.0f} s" if v >= 0.5 else "0 s"


# -- answers --------------------------------------------------------------------------------
def json_body(resp: requests.Response) -> Any:
    try:
        return json.loads(resp.content.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def is_html(resp: requests.Response) -> bool:
    ctype = resp.headers.get("Content-Type", "").lower()
    head = resp.content[:200].lstrip().lower()
    return "html" in ctype or head.startswith((b"<!doctype", b"<html"))


def html_title(resp: requests.Response) -> str | None:
    m = re.search(rb"<title[^>]*>(.*?)</title>", resp.content[:20000], re.I | re.S)
    if not m:
        return None
    return " ".join(m.group(1).decode("utf-8", "replace").split())[:80] or None


def tokenserver_error(resp: requests.Response) -> tuple[str, str] | None:
    """``(status, description)`` if the answer is a tokenserver's error body
    (``{"status": ..., "errors": [{"location", "name", "description"}]}``)."""
    data = json_body(resp)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("status"), str)
        or not isinstance(data.get("errors"), list)
    ):
        return None
    first = data["errors"][0] if data["errors"] and isinstance(data["errors"][0], dict) else {}
    return data["status"], str(first.get("description", ""))


def describe_answer(resp: requests.Response) -> str:
    """A few words on what came back: ``404 HTML page "Not Found"``, ``200 JSON``…"""
    if is_html(resp):
        title = html_title(resp)
        return f"{resp.status_code} with an HTML page" + (f' titled "{title}"' if title else "")
    ts = tokenserver_error(resp)
    if ts is not None:
        return f"{resp.status_code} {ts[0]}" + (f" ({ts[1]})" if ts[1] else "")
    data = json_body(resp)
    if data is not None:
        return f"{resp.status_code} JSON {_short(data)}"
    ctype = resp.headers.get("Content-Type", "no Content-Type")
    return f"{resp.status_code} ({ctype}, {len(resp.content)} bytes)"


def basic_auth_challenge(resp: requests.Response) -> str | None:
    """The scheme of a non-Hawk ``WWW-Authenticate`` (Basic, Digest, Bearer…), if any."""
    header = resp.headers.get("WWW-Authenticate", "")
    scheme = header.split(" ", 1)[0].strip()
    return scheme if scheme and scheme.lower() != "hawk" else None


def connect_problem(exc: BaseException, url: str) -> tuple[str, str]:
    """``(check id, what happened)`` for a request that got no HTTP answer."""
    where = Where.of(url)
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        low = text.lower()
        if "wrong_version_number" in low or "wrong version number" in low or "record layer failure" in low:
            what = (f"{where.host}:{where.port} does not speak TLS (it answered like plain HTTP): use http://, or "
                    "put a TLS-terminating proxy on that port")  # fmt: skip
        elif "hostname" in low or "doesn't match" in low or "not valid for" in low:
            what = f"the TLS certificate of {where.host} is for another name: Firefox refuses it too"
        elif "expired" in low:
            what = f"the TLS certificate of {where.host} has expired: Firefox refuses it too"
        elif "self-signed" in low or "self signed" in low or "unable to get local issuer" in low:
            what = (f"the TLS certificate of {where.host} is self-signed or from an unknown authority: Firefox "
                    "refuses it unless that authority is imported (use a certificate from a public CA, e.g. "
                    "Let's Encrypt)")  # fmt: skip
        else:
            what = f"TLS with {where.host}:{where.port} failed ({_tls_reason(text)})"
        return TLS, what
    if isinstance(exc, requests.exceptions.Timeout):
        return (
            UNREACHABLE,
            f"{where.host}:{where.port} did not answer in time (a firewall dropping packets, or the server hangs)",
        )
    low = text.lower()
    if any(
        s in low
        for s in (
            "name or service not known",
            "nodename nor servname",
            "failed to resolve",
            "temporary failure in name resolution",
            "no address associated",
            "getaddrinfo",
        )
    ):
        return UNREACHABLE, f"the name {where.host} does not resolve (DNS): check the spelling, or the DNS record"
    if "refused" in low:
        return UNREACHABLE, (f"{where.host}:{where.port} refused the connection: nothing listens there (is the "
                             "server running, on that port, on an interface this machine can reach?)")  # fmt: skip
    if "reset" in low or "aborted" in low or "remote end closed" in low:
        return UNREACHABLE, f"{where.host}:{where.port} closed the connection without an answer"
    return UNREACHABLE, f"{where.host}:{where.port} cannot be reached ({type(exc).__name__})"


def _tls_reason(text: str) -> str:
    m = re.search(r"\[SSL: ([A-Z_]+)\]", text) or re.search(r"(CERTIFICATE_VERIFY_FAILED|SSLV3_ALERT_[A-Z_]+)", text)
    return m.group(1).lower().replace("_", " ") if m else "handshake failed"


def _short(value: Any, n: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"
