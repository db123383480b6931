"""HTTP plumbing shared by every client: a traced ``requests.Session`` per server.

Every exchange is recorded in a :class:`Trace` (method, URL, status, timings, sizes,
headers) with secrets replaced by fingerprints, so a person can read exactly what was
said to which server as a DataFrame. Server signals -- ``X-Weave-Backoff``,
``Retry-After``, ``X-Weave-Alert``, ``X-Weave-Quota-Remaining`` -- become
:class:`ServerSignal` values on the trace and on the session; nothing here ever sleeps.
Request and response bodies are never stored: they carry passwords, tokens and keys.

Every request has an overall deadline (``DEFAULT_DEADLINE``, or the client's
``deadline=``) on top of the per-read ``timeout``; redirects are never followed; every
JSON body is parsed by orjson, which no nesting depth can crash.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import mohawk
import mohawk.util
import requests

from synctools.protocol._util import fingerprint

from . import _json
from ._deadline import DeadlineAdapter, RequestDeadlineExceeded, Watch

if TYPE_CHECKING:
    import pandas as pd

SignalKind = Literal["backoff", "retry-after", "alert", "quota"]
# Headers whose whole value is a credential (beyond Authorization, handled specially).
SECRET_HEADERS = frozenset({"cookie", "set-cookie", "proxy-authorization"})
MIN_SECRET_LEN = 8  # shorter strings would redact innocent text
_HAWK_FIELD = re.compile(r'(\w+)="([^"]*)"')


def fp(secret: str | bytes) -> str:
    """The label a secret gets on screen: ``<fp 1a2b3c4d>``."""
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return f"<fp {fingerprint(data)}>"


def redact_authorization(value: str) -> str:
    """Keep the scheme and the harmless Hawk fields; replace every credential by a label."""
    scheme, _, rest = value.partition(" ")
    low = scheme.lower()
    if low == "hawk":
        fields = dict(_HAWK_FIELD.findall(rest))
        parts = [f"id={fp(fields.get('id', ''))}"]
        parts += [f"{k}={fields[k]}" for k in ("ts", "nonce") if k in fields]
        return "Hawk " + " ".join(parts)
    if low == "bearer":
        # PyFxA's typed tokens ("fxs_<id>") keep their harmless kind prefix.
        kind, sep, token = rest.partition("_")
        if sep and kind.isalpha() and len(kind) <= 4:
            return f"Bearer {kind}_{fp(token)}"
        return f"Bearer {fp(rest)}"
    return f"{scheme} {fp(rest)}" if rest else fp(scheme)


@dataclass(frozen=True)
class ServerSignal:
    """Something a server asked of the client: wait, or read a message.

    ``kind`` is ``"backoff"`` (``X-Weave-Backoff``: finish what keeps data consistent,
    then make no request for ``seconds``), ``"retry-after"`` (503/429 with
    ``Retry-After``: the request was refused; retry after ``seconds``), ``"alert"``
    (``X-Weave-Alert``: ``text`` is for the person) or ``"quota"``
    (``X-Weave-Quota-Remaining``: ``kilobytes`` left).
    """

    kind: SignalKind
    service: str
    method: str
    url: str
    status: int
    at: datetime
    seconds: int | None = None
    text: str | None = None
    kilobytes: int | None = None

    @property
    def until(self) -> datetime | None:
        """When the wait ends (``None`` for alerts and quota notes)."""
        if self.kind in ("backoff", "retry-after") and self.seconds is not None:
            return self.at + timedelta(seconds=self.seconds)
        return None

    def short(self) -> str:
        """A few words for a table row that already says which request it was."""
        if self.kind == "alert":
            return f"alert: {self.text}"
        if self.kind == "quota":
            return f"quota left {self.kilobytes} KB"
        return f"{self.kind} {self.seconds}s"

    def describe(self) -> str:
        where = f"{self.service} {self.method} {self.url} → {self.status}"
        if self.kind == "backoff":
            return f"server asks to back off for {self.seconds}s ({where})"
        if self.kind == "retry-after":
            return f"server refused the request; retry after {self.seconds}s ({where})"
        if self.kind == "quota":
            return f"storage quota remaining: {self.kilobytes} KB ({where})"
        return f"server alert: {self.text} ({where})"


def signals_from(response: requests.Response, service: str) -> list[ServerSignal]:
    """Read every backoff/alert/quota header of a response."""
    h = response.headers
    req = response.request
    base: dict[str, Any] = {
        "service": service,
        "method": (req.method or "") if req is not None else "",
        "url": response.url or "",
        "status": response.status_code,
        "at": datetime.now(UTC),
    }
    out: list[ServerSignal] = []
    if "X-Weave-Backoff" in h:
        out.append(ServerSignal("backoff", seconds=_seconds(h["X-Weave-Backoff"]), **base))
    if "Retry-After" in h and response.status_code in (429, 503):
        out.append(ServerSignal("retry-after", seconds=_seconds(h["Retry-After"]), **base))
    if "X-Weave-Alert" in h:
        out.append(ServerSignal("alert", text=h["X-Weave-Alert"][:2000], **base))
    if "X-Weave-Quota-Remaining" in h:
        out.append(ServerSignal("quota", kilobytes=_seconds(h["X-Weave-Quota-Remaining"]), **base))
    return out


def _seconds(value: str) -> int | None:
    """Seconds from a header; HTTP-date Retry-After is turned into seconds from now."""
    try:
        return min(MAX_SIGNAL_SECONDS, max(0, int(float(value.strip()))))
    except (ValueError, OverflowError):  # not a number, or inf/nan
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC without saying so
        when = when.replace(tzinfo=UTC)
    return min(MAX_SIGNAL_SECONDS, max(0, int((when - datetime.now(UTC)).total_seconds())))


# A server asking for more than this (~4 months) is treated as asking for this much: a
# larger value is a broken header, and would overflow datetime arithmetic downstream.
MAX_SIGNAL_SECONDS = 10**7


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as the trace keeps it (no bodies, no secrets)."""

    seq: int
    service: str
    method: str
    url: str
    status: int | None
    started: datetime
    elapsed_ms: float
    request_bytes: int
    response_bytes: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    signals: tuple[ServerSignal, ...] = ()
    error: str | None = None


class Trace:
    """Every exchange of one sync, across its clients, safe to show on screen.

    Clients register every secret they handle (:meth:`add_secret`); whatever the trace
    stores -- URLs, headers, error text -- is scrubbed of them, on top of the
    structural redaction of ``Authorization``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._signals: list[ServerSignal] = []
        self._secrets: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # A pickled trace keeps what it recorded, never the secrets it scrubs with.
        with self._lock:
            return {"exchanges": list(self._exchanges), "signals": list(self._signals)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self._exchanges.extend(state["exchanges"])
        self._signals.extend(state["signals"])

    # -- secrets
    def add_secret(self, value: str | bytes | None) -> None:
        """Never show ``value`` (nor its hex form, for bytes): scrub it as a fingerprint."""
        if not value:
            return
        forms = [value.hex(), value.decode("latin-1")] if isinstance(value, bytes) else [value]
        with self._lock:
            for form in forms:
                if len(form) >= MIN_SECRET_LEN:
                    self._secrets[form] = fp(form)

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret replaced by its fingerprint."""
        with self._lock:
            secrets = sorted(self._secrets.items(), key=lambda kv: -len(kv[0]))
        for secret, label in secrets:
            if secret in text:
                text = text.replace(secret, label)
        return text

    def redact_headers(self, headers: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in headers.items():
            value = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            low = name.lower()
            if low == "authorization":
                value = redact_authorization(value)
            elif low in SECRET_HEADERS:
                value = fp(value)
            out[name] = self.scrub(value)
        return out

    # -- recording
    def record(self, **fields: Any) -> Exchange:
        with self._lock:
            ex = Exchange(seq=len(self._exchanges) + 1, **fields)
            self._exchanges.append(ex)
            self._signals.extend(ex.signals)
        return ex

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    @property
    def signals(self) -> list[ServerSignal]:
        """Every backoff, retry-after, alert and quota note seen, oldest first."""
        with self._lock:
            return list(self._signals)

    def __len__(self) -> int:
        return len(self._exchanges)

    def __bool__(self) -> bool:  # an empty trace is still a trace (`trace or Trace()`)
        return True

    def __iter__(self) -> Any:
        return iter(self.exchanges)

    def __repr__(self) -> str:
        return f"<Trace {len(self)} exchanges, {len(self._signals)} server signals>"

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()
            self._signals.clear()

    # -- reading
    def frame(self, since: int = 0) -> pd.DataFrame:
        """One row per exchange: seq, service, method, url, status, started, elapsed_ms,
        request_bytes, response_bytes, signals, error, request_headers, response_headers.

        ``since``: only exchanges after that many (``mark = len(trace)`` before a stage,
        ``trace.frame(since=mark)`` after it shows just that stage's requests).
        """
        import pandas as pd

        rows = [
            {
                "seq": e.seq,
                "service": e.service,
                "method": e.method,
                "url": e.url,
                "status": e.status,
                "started": e.started,
                "elapsed_ms": round(e.elapsed_ms, 2),
                "request_bytes": e.request_bytes,
                "response_bytes": e.response_bytes,
                "signals": "; ".join(s.short() for s in e.signals),
                "error": e.error,
                "request_headers": e.request_headers,
                "response_headers": e.response_headers,
            }
            for e in self.exchanges
            if e.seq > since
        ]
        columns = [
            "seq", "service", "method", "url", "status", "started", "elapsed_ms",
            "request_bytes", "response_bytes", "signals", "error", "request_headers",
            "response_headers",
        ]  # fmt: skip
        df = pd.DataFrame(rows, columns=columns)
        return df.astype({"status": "Int64"}).set_index("seq")

    def signals_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["at", "kind", "service", "method", "url", "status", "seconds", "text", "kilobytes"]
        rows = [{c: getattr(s, c) for c in cols} for s in self.signals]
        return pd.DataFrame(rows, columns=cols)

    def _repr_html_(self) -> str:
        cols = ["service", "method", "url", "status", "elapsed_ms", "response_bytes", "signals"]
        table: str = self.frame()[cols].to_html()  # pandas is untyped here
        return table

    def dump_text(self) -> str:
        """Everything the trace holds, as one string (what a test scans for secrets)."""
        parts: list[str] = []
        for e in self.exchanges:
            parts.append(repr(e))
        parts.extend(repr(s) for s in self.signals)
        return "\n".join(parts)


SignalHook = Callable[[ServerSignal], Any]

# The most one request may take in all, in seconds, for every client built without its own
# ``deadline=``: requests' ``timeout`` bounds each read, so a server trickling a byte at a
# time could otherwise hold a request open for ever. Set it before building clients.
DEFAULT_DEADLINE = 120.0
#: bytes of a response body read per call (the whole of most answers; see TracedSession.send)
BODY_CHUNK = 4 << 20


class TracedSession(requests.Session):
    """A ``requests.Session`` for one server that records every exchange in a trace.

    PyFxA accepts such a session, so accounts traffic lands in the same trace.
    ``on_signal`` is called (after recording) for every backoff/alert/quota signal;
    its return value is ignored here -- retry decisions belong to the clients.
    """

    def __init__(
        self,
        service: str,
        trace: Trace | None = None,
        *,
        on_signal: SignalHook | None = None,
        timeout: float | None = 30.0,
        deadline: float | None = None,
        user_agent: str = "synctools/0.1 (Firefox Sync inspector)",
    ) -> None:
        super().__init__()
        self.service = service
        self.trace = trace if trace is not None else Trace()
        self.on_signal = on_signal
        self.timeout = timeout
        # The most one request may take in all (None: DEFAULT_DEADLINE, read now).
        self.deadline = DEFAULT_DEADLINE if deadline is None else deadline
        self.mount("http://", DeadlineAdapter())
        self.mount("https://", DeadlineAdapter())
        self.last_signals: list[ServerSignal] = []
        # The last raw response, so errors raised by PyFxA can still show theirs (scrubbed).
        self.last_response: requests.Response | None = None
        self.headers["User-Agent"] = user_agent

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None and self.timeout is not None:
            kwargs["timeout"] = self.timeout
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        body = request.body
        req_bytes = len(body) if isinstance(body, bytes | str) else 0
        common = {
            "service": self.service,
            "method": request.method or "",
            "url": self.trace.scrub(request.url or ""),
            "started": started,
            "request_bytes": req_bytes,
            "request_headers": self.trace.redact_headers(request.headers),
        }
        self.last_signals, self.last_response = [], None
        # A redirect is never followed: it would resend a body holding credentials (or a
        # Hawk header signed for another URL). The client sees the 3xx and says so.
        kwargs["allow_redirects"] = False
        # The body is read below, in one call for up to BODY_CHUNK bytes: requests reads 10 KiB
        # at a time, each a trip through three Python layers that, while other threads
        # decrypt, waits for the GIL (a 2.8 MB page took 280 such trips).
        kwargs["stream"] = True
        watch = Watch(self.deadline)
        try:
            with watch:
                response = super().send(request, **kwargs)
                if response.raw is not None:  # (an in-process adapter hands the body over read)
                    response._content = b"".join(response.iter_content(BODY_CHUNK))
                content = response.content  # read now, so the timing covers the whole body
            if watch.expired.is_set():  # cut short: whatever arrived is not the answer
                response.close()
                raise RequestDeadlineExceeded(self.deadline, watch.elapsed, len(content or b""))
        except requests.RequestException as exc:
            if watch.expired.is_set() and not isinstance(exc, RequestDeadlineExceeded):
                exc = RequestDeadlineExceeded(self.deadline, watch.elapsed)
            self.trace.record(
                status=None,
                elapsed_ms=(time.perf_counter() - t0) * 1000,
                response_bytes=0,
                response_headers={},
                error=self.trace.scrub(f"{type(exc).__name__}: {exc}")[:500],
                **common,
            )
            if isinstance(exc, RequestDeadlineExceeded):
                raise exc from None
            raise
        # Every JSON body any client reads, PyFxA's included, goes through the one parser
        # a hostile body cannot crash (no RecursionError, no NaN).
        response.json = partial(_json.loads, content)  # type: ignore[method-assign]
        signals = signals_from(response, self.service)
        self.last_signals = signals
        self.last_response = response
        self.trace.record(
            status=response.status_code,
            elapsed_ms=(time.perf_counter() - t0) * 1000,
            response_bytes=len(content or b""),
            response_headers=self.trace.redact_headers(response.headers),
            signals=tuple(signals),
            **common,
        )
        if self.on_signal is not None:
            for sig in signals:
                self.on_signal(sig)
        return response


# ------------------------------------------------------------------- third-party logs


class _NoHawkSecrets(logging.Filter):
    """mohawk logs, at DEBUG, the full Hawk header (the token id) and the MACs it
    computed. A root logger at DEBUG would print them: drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


for _name in ("mohawk", "mohawk.base", "mohawk.sender", "mohawk.receiver", "mohawk.util"):
    logging.getLogger(_name).addFilter(_NoHawkSecrets())


# ------------------------------------------------------------------------ Hawk signing


class HawkSigner:
    """Signs requests with Hawk credentials, on the server's clock rather than ours.

    Hawk servers refuse a timestamp more than a minute off theirs. Like Firefox's
    ``HawkClient`` (``localtimeOffsetMsec``), the signer keeps ``offset``, the seconds to
    add to the local clock to read the server's, learnt from every answer
    (:meth:`learn`), and a request refused as stale is retried once, signed anew.
    The server time is taken, best first, from a stale-timestamp ``WWW-Authenticate``
    whose ``tsm`` verifies with our key, then ``X-Weave-Timestamp``, then ``Date``.
    """

    def __init__(self, token_id: str, key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._credentials = {"id": token_id, "key": key, "algorithm": "sha256"}
        self.clock = clock
        self.offset = 0.0

    def use(self, token_id: str, key: str) -> None:
        """Sign with new credentials (a new token); the server's clock stays learnt."""
        self._credentials = {"id": token_id, "key": key, "algorithm": "sha256"}

    def __repr__(self) -> str:
        return f"<HawkSigner id={fp(self._credentials['id'])} offset={self.offset:+.2f}s>"

    def authorization(self, url: str, method: str) -> str:
        """The ``Authorization`` header for ``method url`` (the body is not hashed, as
        Firefox does not hash it either)."""
        sender = mohawk.Sender(
            self._credentials,
            url,
            method,
            always_hash_content=False,
            _timestamp=int(self.clock() + self.offset),
        )
        return str(sender.request_header)

    def learn(self, response: requests.Response) -> bool:
        """Update ``offset`` from ``response``; True when the request was refused for its
        timestamp alone (a Hawk stale-timestamp answer signed with our key), so one retry
        with a corrected timestamp can succeed."""
        server_time: float | None = None
        stale = False
        if response.status_code == 401:
            server_time = self._stale_time(response.headers.get("WWW-Authenticate", ""))
            stale = server_time is not None
        if server_time is None:
            server_time = _header_seconds(response.headers)
        if server_time is not None:
            self.offset = server_time - self.clock()
        return stale

    def _stale_time(self, www_authenticate: str) -> float | None:
        scheme, _, rest = www_authenticate.partition(" ")
        fields = dict(_HAWK_FIELD.findall(rest))
        ts, tsm = fields.get("ts", ""), fields.get("tsm", "")
        if scheme.lower() != "hawk" or not (ts.isascii() and ts.isdigit() and 0 < len(ts) <= 12):
            return None
        expected = mohawk.util.calculate_ts_mac(int(ts), self._credentials)
        if isinstance(expected, bytes):
            expected = expected.decode("ascii")
        # An unsigned server time could come from anyone on the path: ignore it.
        return float(ts) if hmac.compare_digest(expected, tsm) else None


def _header_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's clock from ``X-Weave-Timestamp`` (10 ms) or ``Date`` (1 s), if sane."""
    value: float | None = None
    try:
        value = float(headers.get("X-Weave-Timestamp", ""))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            value = parsedate_to_datetime(headers.get("Date", "")).timestamp()
        except (TypeError, ValueError, OverflowError):
            return None
    # Between 2001 and 2286: anything else is a broken header, not a clock.
    return value if value is not None and 1e9 <= value < 1e10 else None


# --------------------------------------------------------------------- retry policies

RetryPolicy = Callable[[ServerSignal], bool | None]


def never_retry(signal: ServerSignal) -> bool:
    """The default: a ``Retry-After`` refusal becomes an error the caller sees."""
    return False


def wait_and_retry(
    max_wait: float = 60.0, *, show: bool = True, sleep: Callable[[float], None] = time.sleep
) -> RetryPolicy:
    """A policy that waits out ``Retry-After`` (showing a countdown) when it is short.

    Returns ``True`` (retry now) after waiting when ``seconds <= max_wait``; otherwise
    ``False`` so the caller gets the error and can tell the person how long to wait.
    ``X-Weave-Backoff`` notices on successful responses are not waited for here: the
    client finishes what it is doing and the caller decides about the next sync.
    """

    def policy(signal: ServerSignal) -> bool:
        if signal.kind != "retry-after":
            return False
        seconds = signal.seconds if signal.seconds is not None else 0
        if seconds > max_wait:
            return False
        if show and seconds > 0:
            from tqdm.auto import tqdm

            for _ in tqdm(range(int(seconds)), desc=f"{signal.service}: server asked to wait", unit="s", leave=False):
                sleep(1)
            sleep(seconds - int(seconds))
        else:
            sleep(seconds)
        return True

    return policy


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


__all__ = [
    "Exchange",
    "HawkSigner",
    "RetryPolicy",
    "ServerSignal",
    "SignalHook",
    "Trace",
    "TracedSession",
    "fp",
    "never_retry",
    "redact_authorization",
    "wait_and_retry",
]
