"""Errors of the network clients. Each carries the response that caused it, minus secrets.

``err.response`` is a :class:`ResponseInfo` (status, method, URL, redacted headers,
scrubbed body text, server signals), never the raw ``requests.Response``, whose
request still holds the Authorization header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synctools.protocol._util import fingerprint
from synctools.protocol.bso import ServerTime

from ..errors import SynctoolsError
from . import _json
from ._deadline import RequestDeadlineExceeded

if TYPE_CHECKING:
    import requests

    from .batching import UploadResult
    from .http import ServerSignal, Trace

MAX_BODY = 2000
# Services whose successful answers exist to hand out credentials (session, key-fetch and
# OAuth tokens, key bundles, Hawk ids and keys). The client registers those secrets for
# scrubbing only once an answer parses, so a malformed answer would show them raw: the
# body of such an answer never goes into a ResponseInfo, and their error bodies are
# scrubbed of anything shaped like a credential.
CREDENTIAL_SERVICES = frozenset({"fxa", "oauth", "tokenserver"})
# A JSON string value under a name that may hold a secret, even cut short by a truncated
# body ("key":"abc... with no closing quote).
_SECRET_VALUE = re.compile(
    r'("[^"]*(?:key|token|id|secret|bundle|authpw|password|kb|ka|code|salt)[^"]*"\s*:\s*")'
    r'((?:[^"\\]|\\.)*)',
    re.IGNORECASE,
)
# Anything long and token-shaped (hex, base64, base64url: letters and digits), wherever
# it is; words such as "invalid-client-state" have no digit and stay readable.
_TOKEN_RUN = re.compile(r"(?=[A-Za-z_+/=-]*[0-9])[A-Za-z0-9_+/=-]{20,}")


def _fp(value: str) -> str:
    return f"<fp {fingerprint(value.encode('utf-8', 'surrogatepass'))}>"


def scrub_credentials(text: str) -> str:
    """``text`` with every credential-shaped value replaced by a fingerprint: any string
    value whose name suggests a secret, and any long token-shaped run of characters."""
    text = _SECRET_VALUE.sub(lambda m: m.group(1) + (_fp(m.group(2)) if m.group(2) else ""), text)
    return _TOKEN_RUN.sub(lambda m: m.group(0) if m.group(0).startswith("<fp") else _fp(m.group(0)), text)


@dataclass(frozen=True)
class ResponseInfo:
    """What a person needs to see of a failed response; safe to print."""

    service: str
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: str
    signals: tuple[ServerSignal, ...] = field(default=())

    @classmethod
    def from_response(
        cls,
        response: requests.Response,
        service: str,
        trace: Trace,
        signals: tuple[ServerSignal, ...] = (),
    ) -> ResponseInfo:
        size = len(response.content or b"")
        if service in CREDENTIAL_SERVICES and response.status_code < 400:
            text = f"<{size} bytes withheld: a {service} answer carries credentials>"
        else:
            try:
                text = response.text
            except Exception:  # noqa: BLE001 - undecodable body: show its size only
                text = f"<{size} undecodable bytes>"
            text = trace.scrub(text[:MAX_BODY])
            if service in CREDENTIAL_SERVICES:
                text = scrub_credentials(text)
        req = response.request
        return cls(
            service=service,
            method=(req.method or "") if req is not None else "",
            url=trace.scrub(response.url or ""),
            status=response.status_code,
            headers=trace.redact_headers(response.headers),
            body=text,
            signals=signals,
        )

    def json(self) -> Any:
        try:
            return _json.loads(self.body)
        except ValueError:
            return None


class NetError(SynctoolsError):
    """Base of every error raised by :mod:`synctools.net`."""


class HTTPError(NetError):
    """A server answered with an error status. ``response`` says which and why."""

    hint = ""

    def __init__(self, message: str, response: ResponseInfo | None = None):
        self.response = response
        where = ""
        if response is not None:
            where = f" [{response.service} {response.method} {response.url} → {response.status}]"
        hint = f" {self.hint}" if self.hint else ""
        super().__init__(f"{message}{where}.{hint}")

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def body(self) -> str | None:
        return self.response.body if self.response is not None else None

    @property
    def signals(self) -> tuple[ServerSignal, ...]:
        return self.response.signals if self.response is not None else ()

    @property
    def retry_after(self) -> int | None:
        """Seconds the server asked us to wait (``Retry-After``), if it did."""
        for sig in self.signals:
            if sig.kind == "retry-after":
                return sig.seconds
        return None

    @property
    def alerts(self) -> list[str]:
        return [s.text or "" for s in self.signals if s.kind == "alert"]


class ServerUnreachable(NetError):
    """The request never got an answer (connection refused, dropped, timed out)."""


class DeadlineExceeded(ServerUnreachable):
    """The answer did not arrive in full within the request's overall deadline (a
    stalling or trickling server). ``deadline`` and ``elapsed`` are in seconds."""

    def __init__(self, message: str, deadline: float, elapsed: float):
        self.deadline = deadline
        self.elapsed = elapsed
        super().__init__(message)


def unreachable(what: str, exc: BaseException) -> ServerUnreachable:
    """The error for a request to ``what`` (e.g. ``storage node https://… GET /info/collections``)
    that got no usable answer; never carries the underlying exception's text, which may
    quote a URL or a body."""
    if isinstance(exc, RequestDeadlineExceeded):
        return DeadlineExceeded(
            f"{what}: {exc}; the server is stalling or too slow. Retry later, or allow more"
            " time (the client's deadline=, or synctools.net.http.DEFAULT_DEADLINE)",
            exc.deadline,
            exc.elapsed,
        )
    return ServerUnreachable(f"{what}: no answer ({type(exc).__name__}); check the connection and retry")


# ---------------------------------------------------------------- accounts (FxA)


class FxaError(HTTPError):
    """The accounts server refused. ``errno`` is FxA's error number."""

    def __init__(self, message: str, response: ResponseInfo | None = None, errno: int | None = None):
        self.errno = errno
        super().__init__(message, response)


class IncorrectEmailCase(FxaError):
    """errno 120: the account's email differs in case; ``email`` is the right one."""

    email: str | None = None


class UnknownAccount(FxaError):
    hint = "Check the email address and the accounts server URL."


class IncorrectPassword(FxaError):
    hint = "Check the password (nothing was changed on the account)."


class InvalidVerificationCode(FxaError):
    hint = "Ask for a fresh code and try again."


class VerificationRequired(NetError):
    """The session must be verified (TOTP or emailed code) before keys can be fetched."""


class LoginRequired(NetError):
    """What is asked for needs a (new) login: no session token, or it expired."""


class FxaBusy(FxaError):
    hint = "The accounts server asked to wait; see retry_after."


# ------------------------------------------------------------------- tokenserver


class TokenServerError(HTTPError):
    """The tokenserver refused. ``error_name`` is its status string, e.g. ``invalid-client-state``."""

    error_name: str = ""

    def __init__(self, message: str, response: ResponseInfo | None = None, description: str = ""):
        self.description = description
        super().__init__(message, response)


class InvalidCredentials(TokenServerError):
    error_name = "invalid-credentials"
    hint = "The OAuth token is expired, revoked or lacks the sync scope: get a new one."


class InvalidKeyId(TokenServerError):
    error_name = "invalid-key-id"
    hint = "The X-KeyID is malformed or does not match the account: fetch keys again."


class InvalidGeneration(TokenServerError):
    error_name = "invalid-generation"
    hint = "The account's password changed since this login: log in again."


class InvalidKeysChangedAt(TokenServerError):
    error_name = "invalid-keysChangedAt"
    hint = "The keys changed after this token's keyRotationTimestamp: log in again."


class InvalidClientState(TokenServerError):
    error_name = "invalid-client-state"
    hint = (
        "The sync keys are older than the ones the server has seen (client state may only"
        " move forward): log in again to get the current kB."
    )


class NewUsersDisabled(TokenServerError):
    error_name = "new-users-disabled"
    hint = "This server does not accept new sync users."


class UnsupportedService(TokenServerError):
    error_name = "unsupported"
    hint = "Check the tokenserver URL: it must serve /1.0/sync/1.5."


class TokenServerBusy(TokenServerError):
    error_name = "busy"
    hint = "The tokenserver asked to wait; see retry_after."


TOKENSERVER_ERRORS: dict[str, type[TokenServerError]] = {
    cls.error_name: cls
    for cls in (
        InvalidCredentials,
        InvalidKeyId,
        InvalidGeneration,
        InvalidKeysChangedAt,
        InvalidClientState,
        NewUsersDisabled,
    )
}


# ----------------------------------------------------------------------- storage

# The storage server's bare-integer error bodies (SyncStorage 1.5 "respcodes").
WEAVE_ERRORS = {
    1: "illegal method/protocol",
    2: "incorrect/missing CAPTCHA",
    3: "invalid/missing username",
    4: "attempt to overwrite data that can't be overwritten",
    5: "userid does not match account in path",
    6: "JSON parse failure",
    7: "missing password field",
    8: "invalid Weave Basic Object",
    9: "requested password not strong enough",
    10: "invalid/missing password reset code",
    11: "unsupported function",
    12: "no email address on file",
    13: "invalid collection",
    14: "user over quota",
    15: "the email does not match the username",
    16: "client upgrade required",
    17: "size limit exceeded",
}


class StorageError(HTTPError):
    """The storage node refused."""

    @property
    def weave_code(self) -> int | None:
        data = self.response.json() if self.response is not None else None
        return data if isinstance(data, int) and not isinstance(data, bool) else None


class StorageUnauthorized(StorageError):
    hint = (
        "The token expired or the account moved to another node: exchange the OAuth token"
        " for a new one (TokenServerClient.exchange) and retry."
    )


class NotFound(StorageError):
    pass


class BadRequest(StorageError):
    pass


class RequestTooLarge(StorageError):
    hint = "Upload fewer or smaller records per request (see info/configuration)."


class ServerBusy(StorageError):
    hint = "The node asked to wait (Retry-After); retry later or pass on_backoff=wait_and_retry()."


class PreconditionFailed(StorageError):
    """412: someone else wrote since ``X-If-Unmodified-Since``.

    ``last_modified`` is the server's current timestamp of the resource. Re-download,
    re-merge and re-plan; never retry the same write blindly.
    """

    hint = "Another client wrote meanwhile: download again, merge, and re-plan the write."

    def __init__(
        self,
        message: str,
        response: ResponseInfo | None = None,
        last_modified: ServerTime | None = None,
        partial: UploadResult | None = None,
    ):
        self.last_modified = last_modified
        #: for an upload larger than one batch: what the batches committed before the 412 wrote
        self.partial = partial
        super().__init__(message, response)


class CollectionChanged(PreconditionFailed):
    """A paged read saw the collection change between pages: restart the read."""

    hint = "The collection changed while it was being read: start the read again."


class BatchError(StorageError):
    """The server broke the batch protocol (e.g. 202 without a batch id)."""


class NodeReassigned(NetError):
    """The new token points to another storage node: the data there is not what we knew.

    The client now talks to ``new_endpoint``; reset last-sync state and sync from scratch.
    """

    def __init__(self, old_endpoint: str, new_endpoint: str):
        self.old_endpoint = old_endpoint
        self.new_endpoint = new_endpoint
        super().__init__(
            f"the account moved from storage node {old_endpoint} to {new_endpoint}; "
            "reset the last-sync state and sync from scratch"
        )
