"""Servers that answer badly — a tokenserver with a malformed token, a node URL leading
to a catch-all web page, a node that redirects or fails, an accounts URL that is a web
page — give a finding that names the link, never a traceback and never a secret."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from synctools.doctor import check_server
from synctools.server import LocalStack

from .conftest import assert_no_secrets, report_json, run_cli

Answer = tuple[int, dict[str, str], bytes]
TS_401 = (
    401,
    {"Content-Type": "application/json"},
    b'{"status": "error", "errors": [{"location": "body", "name": "", "description": "Unauthorized"}]}',
)


class Fake:
    """A web server whose answers a test chooses, per path (the longest prefix wins)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], Answer]] = {}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                match = max((p for p in fake.routes if self.path.startswith(p)), key=len, default=None)
                status, headers, body = (
                    fake.routes[match](self)
                    if match
                    else (404, {"Content-Type": "text/html"}, b"<html><title>nope</title></html>")
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any  # noqa: N815 - the stdlib's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def on(self, path: str, answer: Answer | Callable[[Any], Answer]) -> None:
        self.routes[path] = answer if callable(answer) else (lambda _h, a=answer: a)


@pytest.fixture
def fake() -> Iterator[Fake]:
    f = Fake()
    f.thread.start()
    try:
        yield f
    finally:
        f.server.shutdown()
        f.server.server_close()
        f.thread.join(timeout=10)


def _tokenserver(fake: Fake, token: dict[str, Any] | bytes, status: int = 200) -> None:
    body = token if isinstance(token, bytes) else json.dumps(token).encode()

    def answer(h: Any) -> Answer:
        if not h.headers.get("Authorization"):
            return TS_401
        return status, {"Content-Type": "application/json", "X-Timestamp": "1700000000"}, body

    fake.on("/1.0/sync/1.5", answer)


@pytest.fixture(scope="module")
def accounts() -> Iterator[LocalStack]:
    """A real accounts server (the embedded stack's) for the sign-in before the fakes."""
    with LocalStack(demo=True) as stack:
        yield stack


def _check(accounts: LocalStack, token_url: str):
    demo = accounts.demo_account
    return check_server(token_url, auth_url=accounts.auth_url, email=demo.email, password=demo.password)


def test_a_malformed_token_is_a_tokenserver_error(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, {"id": "only an id"})
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.tokenserver-error"]
    assert "malformed token" in report.findings[0].explanation


def test_a_tokenserver_error_without_the_syncstorage_shape_is_a_tokenserver_error(fake: Fake, accounts) -> None:
    _tokenserver(fake, b"<html>Bad Gateway</html>", status=502)
    assert [f.check for f in _check(accounts, fake.url + "/1.0/sync/1.5")] == ["server.tokenserver-error"]


def _token_to(node: str, uid: int = 5) -> dict[str, Any]:
    return {"id": "x" * 120, "key": "k" * 44, "uid": uid, "api_endpoint": f"{node}/1.5/{uid}", "duration": 3600,
            "node_type": "mysql"}  # fmt: skip


def test_a_node_url_leading_to_a_catch_all_page_is_a_public_url_problem(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, _token_to(fake.url + "/app"))
    fake.on("/app/1.5/", (200, {"Content-Type": "text/html"}, b"<html><title>Dashboard</title></html>"))
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.public-url"]
    assert "Dashboard" in report.findings[0].explanation
    assert_no_secrets(str(report), ["x" * 120, "k" * 44, accounts.demo_account.password])


def test_a_node_url_without_the_proxy_prefix_answers_404(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, _token_to(fake.url))  # the node lives under /sync, the nodes table says /
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.public-url"]
    assert "lacks the path prefix" in report.findings[0].explanation


def test_a_redirecting_node_and_a_failing_node(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, _token_to(fake.url))
    fake.on("/1.5/", (301, {"Location": "https://sync.example.com/1.5/5/info/collections"}, b""))
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.public-url"] and "redirect" in report.findings[0].explanation
    fake.on("/1.5/", (500, {"Content-Type": "application/json"}, b"0"))
    assert [f.check for f in _check(accounts, fake.url + "/1.0/sync/1.5")] == ["server.node-error"]


def test_an_api_endpoint_of_the_wrong_shape_stops_at_the_token(fake: Fake, accounts: LocalStack) -> None:
    token = _token_to(fake.url)
    token["api_endpoint"] = fake.url + "/storage/5"
    _tokenserver(fake, token)
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.public-url"]
    assert "{node}/1.5/{uid}" in report.findings[0].explanation
    assert [s.name for s in report.steps][-1] == "token"


def test_a_node_that_refuses_with_basic_auth_is_a_proxy(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, _token_to(fake.url))
    fake.on("/1.5/", (401, {"WWW-Authenticate": 'Basic realm="private"', "Content-Type": "text/html"}, b"<html/>"))
    assert [f.check for f in _check(accounts, fake.url + "/1.0/sync/1.5")] == ["server.proxy-auth"]


def test_a_stale_timestamp_challenge_is_clock_skew(fake: Fake, accounts: LocalStack) -> None:
    _tokenserver(fake, _token_to(fake.url))
    fake.on("/1.5/", (401, {"WWW-Authenticate": 'Hawk ts="1000000000", tsm="x", error="Stale timestamp"'}, b"0"))
    report = _check(accounts, fake.url + "/1.0/sync/1.5")
    assert [f.check for f in report] == ["server.clock-skew"]
    assert "behind this machine" in report.findings[0].explanation


def test_an_accounts_url_that_is_a_web_page_is_a_finding(fake: Fake, accounts: LocalStack) -> None:
    fake.on("/", (200, {"Content-Type": "text/html"}, b"<html><title>Welcome</title></html>"))
    demo = accounts.demo_account
    report = check_server(accounts.token_url, auth_url=fake.url + "/v1", email=demo.email, password=demo.password)
    assert [f.check for f in report] in (["server.account"], ["server.fxa-unreachable"])
    proc = run_cli(["check-server", accounts.token_url, "--auth-url", fake.url, "--email", demo.email, "--json"],
                   stdin=demo.password + "\n")  # fmt: skip
    assert proc.returncode == 1 and len(report_json(proc)["findings"]) == 1
    assert_no_secrets(proc.stdout + proc.stderr, [demo.password])


def test_an_unhealthy_lbheartbeat_is_a_warning_and_the_walk_goes_on(fake: Fake) -> None:
    fake.on("/__heartbeat__", (200, {"Content-Type": "application/json"}, b'{"status": "Ok", "database": "Ok"}'))
    fake.on("/__lbheartbeat__", (500, {"Content-Type": "application/json"}, b"{}"))
    fake.on("/1.0/sync/1.5", TS_401)
    report = check_server(fake.url + "/1.0/sync/1.5")
    assert [(f.check, f.severity) for f in report] == [("server.heartbeat", "warning")]
    assert any(s.name == "tokenserver" and s.status == "ok" for s in report.steps)


def test_the_tokenserver_under_an_unusual_prefix_is_found(fake: Fake) -> None:
    fake.on("/ff-sync/1.0/sync/1.5", TS_401)
    report = check_server(fake.url + "/sync")  # a guess that answers 404 HTML
    assert [f.check for f in report] == ["server.token-path"]
    assert report.findings[0].facts["found"] == fake.url + "/ff-sync/1.0/sync/1.5"
