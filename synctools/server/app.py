"""The WSGI application: one port, three services, faults and the admin API around them."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..protocol.bso import ServerTime
from .admin import AccountInfo
from .faults import Fault
from .http import Request, Response, json_response
from .transport import BODY_REFUSED

if TYPE_CHECKING:
    from .accounts_api import AccountsAPI, ProfileAPI
    from .admin import Admin, RequestLog
    from .faults import FaultTable
    from .storage import StorageNode
    from .tokenserver import TokenServer


class Stack(Protocol):
    """What the application uses of its :class:`~synctools.server.LocalStack`, named by
    shape: the stack builds its Application, so this module cannot import the stack's."""

    storage_only: bool
    root_node: StorageNode | None
    node_prefixes: dict[str, StorageNode]
    accounts_api: AccountsAPI
    profile_api: ProfileAPI
    tokenserver: TokenServer
    admin: Admin
    admin_secret: str
    limits: dict[str, int]
    request_log: RequestLog
    faults: FaultTable

    def concurrent_write(self, path: str) -> None: ...


log = logging.getLogger(__name__)

ADMIN_PREFIX = "/__admin__/"
ADMIN_METHODS = {
    "create_account",
    "account",
    "put_records",
    "delete_storage",
    "verification_code",
    "totp_code",
    "reassign",
    "expire_tokens",
    "set_config",
    "reset_config",
    "inject_fault",
    "clear_faults",
    "faults",
    "requests",
    "clear_requests",
    "misconfigure",
    "clear_misconfig",
    "misconfigurations",
}


# Request bodies beyond these are refused before they are read (see transport.py). A
# storage node takes its advertised max_request_bytes (read per request: set_config can
# change it); the accounts service and tokenserver take small JSON bodies (1 MiB is
# hapi's default payload.maxBytes, under FxA's auth server); the admin API loads whole
# collections through put_records, up to a batch's max_total_bytes, once its secret is
# shown (1 MiB before).
SERVICE_BODY_LIMIT = 1024 * 1024

# CORS exactly as syncstorage-rs configures actix-cors (syncserver-settings: any origin,
# echoed; these methods and request headers; max age 1728000 s = 20 days), for every path
# but the admin API, which no web page may call.
CORS_METHODS = "DELETE, GET, POST, PUT"
CORS_HEADERS = (
    "authorization, content-type, user-agent, x-last-modified, x-weave-timestamp, "
    "x-weave-next-offset, x-weave-records, x-weave-bytes, x-weave-total-records, "
    "x-weave-total-bytes, x-verify-code, test_idles"
)
CORS_MAX_AGE = "1728000"
CORS_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
_CORS_ALLOWED = frozenset(CORS_METHODS.split(", "))
_CORS_HEADER_SET = frozenset(CORS_HEADERS.split(", "))
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def _weave_timestamp() -> tuple[str, str]:
    return ("X-Weave-Timestamp", str(ServerTime.from_millis(int(time.time() * 1000))))


def _to_json(value: Any) -> Any:
    if isinstance(value, AccountInfo):
        return {"email": value.email, "uid": value.uid, "storage_uid": value.storage_uid, "node": value.node}
    if isinstance(value, ServerTime):
        return str(value)
    return value


def _logged_headers(environ: dict[str, Any]) -> dict[str, str]:
    """Request headers for the log, lower-case names; credentials reduced to their scheme."""
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").lower()
        else:
            continue
        if name in ("authorization", "x-admin-secret", "cookie"):
            value = value.split(" ", 1)[0] + " …" if name == "authorization" else "…"
        out[name] = value
    return out


class Application:
    def __init__(self, stack: Stack):
        self.stack = stack

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = Request(environ)
        started = time.monotonic()
        try:
            resp = self._respond(req, environ)
        except Exception:
            log.exception("internal error on %s %s", req.method, req.path)
            resp = self.error_response(req.path, 500, "Internal Server Error", "internal error: see the server log")
        if resp is not None and not req.path.startswith(ADMIN_PREFIX):
            origin = req.header("Origin")
            if origin is not None and resp.get_header("Access-Control-Allow-Origin") is None:
                resp.headers += [("Access-Control-Allow-Origin", origin), ("Vary", CORS_VARY)]
        if resp is None:  # dropped connection
            start_response("500 Internal Server Error", [("Content-Length", "0")])
            return []
        if not req.path.startswith(ADMIN_PREFIX):
            self.stack.request_log.add(
                {
                    "method": req.method,
                    "path": req.path,
                    "query": environ.get("QUERY_STRING", ""),
                    "status": resp.status,
                    "service": req.route,
                    "headers": _logged_headers(environ),
                    "time": time.time(),
                    "duration": time.monotonic() - started,
                }
            )
        headers = [*resp.headers, ("Content-Length", str(len(resp.body)))]
        start_response(resp.status_line, headers)
        return [resp.body] if req.method != "HEAD" else []

    # -- routing ------------------------------------------------------------------
    def _service(self, path: str) -> tuple[str, Callable[[Request, str], Response] | None, str]:
        stack = self.stack
        if stack.storage_only:
            return "storage", stack.root_node.handle if stack.root_node else None, path
        for prefix, node in stack.node_prefixes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return "storage", node.handle, path[len(prefix) :]
        if path.startswith("/v1/"):
            return "accounts", stack.accounts_api.handle, path[3:]
        if path.startswith("/profile/v1/"):
            return "profile", stack.profile_api.handle, path[len("/profile/v1") :]
        if path.startswith("/token/"):
            return "token", stack.tokenserver.handle, path[len("/token") :]
        return "", None, path

    def body_limit(self, path: str, headers: dict[str, str]) -> int:
        """The largest request body accepted on ``path`` (asked before reading one, with
        the request headers as waitress keeps them: ``X_ADMIN_SECRET``)."""
        path = "/" + path.lstrip("/")  # as waitress will hand it to the application
        if path.startswith(ADMIN_PREFIX):
            secret = headers.get("X_ADMIN_SECRET", "")
            if hmac.compare_digest(secret.encode(), self.stack.admin_secret.encode()):
                return self.stack.limits["max_total_bytes"]
            return SERVICE_BODY_LIMIT  # no large body before the secret is shown
        if self._service(path)[0] == "storage":
            return self.stack.limits["max_request_bytes"]
        return SERVICE_BODY_LIMIT

    def error_response(self, path: str, status: int, name: str, message: str = "") -> Response:
        """An error in the usual body of the service that owns ``path``."""
        if path.startswith(ADMIN_PREFIX):
            return json_response({"error": message or name}, status)
        route = self._service(path)[0]
        resp = self._error_body(route, status, name, message or name)
        if route == "storage":
            if status == 413:
                resp.body = b"17"  # WeaveError: size limit exceeded
            # The contract: X-Weave-Timestamp on every response.
            resp.headers.append(_weave_timestamp())
        return resp

    def _preflight(self, req: Request, route: str) -> Response:
        """A CORS preflight, checked and answered as actix-cors does for syncstorage-rs."""
        method = req.header("Access-Control-Request-Method") or ""
        asked = req.header("Access-Control-Request-Headers")
        names = [h.strip().lower() for h in asked.split(",")] if asked is not None else []
        if method not in _CORS_ALLOWED or not all(_is_token(n) and n in _CORS_HEADER_SET for n in names):
            return self.error_response(req.path, 400, "Bad Request", "CORS: method or headers not allowed")
        headers = [
            ("Access-Control-Allow-Methods", CORS_METHODS),
            ("Access-Control-Allow-Headers", CORS_HEADERS),
            ("Access-Control-Max-Age", CORS_MAX_AGE),
            ("Vary", CORS_VARY),
        ]
        origin = req.header("Origin")
        if origin is not None:
            headers.insert(0, ("Access-Control-Allow-Origin", origin))
        if route == "storage":
            headers.append(_weave_timestamp())
        return Response(200, b"", headers, content_type=None)

    def _respond(self, req: Request, environ: dict[str, Any]) -> Response | None:
        if environ.get(BODY_REFUSED):
            limit = self.body_limit(req.path, {"X_ADMIN_SECRET": req.header("X-Admin-Secret") or ""})
            return self.error_response(
                req.path, 413, "Request Entity Too Large", f"request body over {limit} bytes: refused unread"
            )
        if req.path.startswith(ADMIN_PREFIX):
            req.route = "admin"
            return self._admin(req)
        route, handler, rest = self._service(req.path)
        req.route = route
        acrm = req.header("Access-Control-Request-Method")
        if req.method == "OPTIONS" and acrm is not None and _is_token(acrm):
            return self._preflight(req, route)
        faults = self.stack.faults.take(req.method, req.path)
        after: list[Fault] = []
        for fault in faults:
            early = self._apply_before(fault, req, route, environ)
            if early == "drop":
                return None
            if early is not None:
                # The node's own refusals carry the header every storage answer has; a
                # "status" fault is sent exactly as asked.
                if route == "storage" and fault.kind != "status" and not early.get_header("X-Weave-Timestamp"):
                    early.headers.append(_weave_timestamp())
                return early
            after.append(fault)
        if handler is None:
            resp = Response(404, "0")
        else:
            resp = handler(req, rest)
        for fault in after:
            self._apply_after(fault, resp)
        return resp

    # -- faults -------------------------------------------------------------------
    def _error_body(self, route: str, status: int, name: str, message: str) -> Response:
        if route == "token":
            from .tokenserver import ts_error

            return ts_error(status, name, message)
        if route in ("accounts", "profile"):
            # FxA's errnos: 110 invalid token, 113 request body too large, 201 unavailable.
            errno = {401: 110, 413: 113, 503: 201}.get(status, 999)
            return json_response({"code": status, "errno": errno, "error": name, "message": message}, status)
        return Response(status, "0")

    def _apply_before(
        self, fault: Fault, req: Request, route: str, environ: dict[str, Any]
    ) -> Response | Literal["drop"] | None:
        p = fault.params
        if fault.kind == "slow":
            time.sleep(float(p.get("delay", 1.0)))
        elif fault.kind == "drop":
            drop = environ.get("synctools.drop")
            if drop is not None:
                drop()
                return "drop"
            return Response(500, "0")  # pragma: no cover - only without our waitress task
        elif fault.kind == "412":
            self.stack.concurrent_write(req.path)
        elif fault.kind == "status":
            body = p.get("body", "")
            if not isinstance(body, str | bytes):
                body = json.dumps(body)
            return Response(int(p["status"]), body, [(str(k), str(v)) for k, v in (p.get("headers") or {}).items()])
        elif fault.kind == "503":
            resp = self._error_body(route, 503, "Service Unavailable", "injected fault: service unavailable")
            if "body" in p:
                resp.body = str(p["body"]).encode()
            resp.headers.append(("Retry-After", str(p.get("retry_after", 10))))
            return resp
        elif fault.kind == "401":
            resp = self._error_body(
                route,
                401,
                "invalid-credentials" if route == "token" else "Unauthorized",
                "injected fault: unauthorized",
            )
            if "body" in p:
                resp.body = str(p["body"]).encode()
            return resp
        elif fault.kind == "quota" and p.get("exceeded"):
            # syncstorage's "over quota" WeaveError is 14.
            return Response(403, "14", [("X-Weave-Quota-Remaining", "0")])
        return None

    @staticmethod
    def _apply_after(fault: Fault, resp: Response) -> None:
        p = fault.params
        if fault.kind == "backoff":
            resp.headers.append(("X-Weave-Backoff", str(p.get("seconds", 60))))
            resp.headers.append(("X-Backoff", str(p.get("seconds", 60))))
        elif fault.kind == "alert":
            resp.headers.append(("X-Weave-Alert", str(p.get("text", "This service is going away"))))
        elif fault.kind == "quota":
            resp.headers.append(("X-Weave-Quota-Remaining", str(p.get("remaining", 0))))

    # -- admin --------------------------------------------------------------------
    def _admin(self, req: Request) -> Response:
        remote = req.environ.get("REMOTE_ADDR", "")
        try:
            loopback = ipaddress.ip_address(remote).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return json_response({"error": "the admin API answers loopback clients only"}, 403)
        secret = req.header("X-Admin-Secret") or ""
        if not hmac.compare_digest(secret.encode(), self.stack.admin_secret.encode()):
            return json_response({"error": "missing or wrong X-Admin-Secret header"}, 401)
        name = req.path[len(ADMIN_PREFIX) :].strip("/")
        if name not in ADMIN_METHODS:
            return json_response({"error": f"unknown admin method {name!r}", "methods": sorted(ADMIN_METHODS)}, 404)
        if req.method not in ("POST", "GET"):
            return json_response({"error": "use POST with a JSON object of arguments"}, 405)
        try:
            kwargs = req.json() if req.body else {}
            if not isinstance(kwargs, dict):
                raise ValueError("the body must be a JSON object of keyword arguments")
            if isinstance(kwargs.get("kb"), str):
                kwargs["kb"] = bytes.fromhex(kwargs["kb"])
            if kwargs.get("modified") is not None and name == "put_records":
                kwargs["modified"] = ServerTime.parse(kwargs["modified"])
            result = getattr(self.stack.admin, name)(**kwargs)
        except (ValueError, LookupError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"result": _to_json(result)})
