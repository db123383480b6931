"""The WSGI application: one port, three services, faults and the admin API around them."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..protocol.bso import ServerTime
from .admin import AccountInfo
from .faults import Fault
from .http import Request, Response, json_response

if TYPE_CHECKING:
    from .stack import LocalStack

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
}


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
    def __init__(self, stack: LocalStack):
        self.stack = stack

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = Request(environ)
        started = time.monotonic()
        try:
            resp = self._respond(req, environ)
        except Exception:
            log.exception("internal error on %s %s", req.method, req.path)
            resp = Response(
                500,
                "0"
                if req.route == "storage"
                else json.dumps(
                    {
                        "code": 500,
                        "errno": 999,
                        "error": "Internal Server Error",
                        "message": "internal error: see the server log",
                    }
                ),
            )
            if req.route == "storage":  # the contract: X-Weave-Timestamp on every response
                resp.headers.append(("X-Weave-Timestamp", str(ServerTime.from_millis(int(time.time() * 1000)))))
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
    def _service(self, req: Request) -> tuple[str, Callable[[Request, str], Response] | None, str]:
        path = req.path
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

    def _respond(self, req: Request, environ: dict[str, Any]) -> Response | None:
        if req.path.startswith(ADMIN_PREFIX):
            req.route = "admin"
            return self._admin(req)
        route, handler, rest = self._service(req)
        req.route = route
        faults = self.stack.faults.take(req.method, req.path)
        after: list[Fault] = []
        for fault in faults:
            early = self._apply_before(fault, req, route, environ)
            if early is not None:
                return early if early != "drop" else None
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
            errno = {401: 110, 503: 201}.get(status, 999)
            return json_response({"code": status, "errno": errno, "error": name, "message": message}, status)
        return Response(status, "0")

    def _apply_before(self, fault: Fault, req: Request, route: str, environ: dict[str, Any]):
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
            return Response(
                int(p["status"]), body, [(str(k), str(v)) for k, v in (p.get("headers") or {}).items()]
            )
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
            return json_response(
                {"error": f"unknown admin method {name!r}", "methods": sorted(ADMIN_METHODS)}, 404
            )
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
