"""Bad input to check-server — no scheme, a host that does not answer, a URL that answers
HTML, TLS spoken to a plain-HTTP port, unreadable files — gives one clear line and exit
status 1, never a traceback; the Python function raises CheckServerError for arguments
and returns a report for what servers do."""

from __future__ import annotations

import json

import pytest

from synctools.doctor.server import CheckServerError, check_server
from synctools.errors import SynctoolsError
from synctools.server import LocalStack

from .conftest import assert_one_line, run_cli


@pytest.mark.parametrize("url", ["127.0.0.1:5000/1.0/sync/1.5", "sync.example.com", "ftp://sync.example.com", ""])
def test_a_url_without_http_scheme_is_one_line(url: str) -> None:
    line = assert_one_line(run_cli(["check-server", url]))
    assert "http://" in line and "https://" in line
    with pytest.raises(CheckServerError) as err:
        check_server(url)
    assert isinstance(err.value, SynctoolsError) and isinstance(err.value, ValueError)


def test_an_unreachable_host_is_one_line(closed_port: int) -> None:
    line = assert_one_line(run_cli(["check-server", f"http://127.0.0.1:{closed_port}/1.0/sync/1.5"]))
    assert "server.unreachable" in line and "refused" in line and f"127.0.0.1:{closed_port}" in line
    report = check_server(f"http://127.0.0.1:{closed_port}/")
    assert [f.check for f in report] == ["server.unreachable"] and report.exit_code == 1


def test_an_unknown_host_name_is_one_line() -> None:
    line = assert_one_line(run_cli(["check-server", "https://sync.invalid/1.0/sync/1.5", "--timeout", "5"]))
    assert "server.unreachable" in line and "sync.invalid" in line


def test_a_url_that_answers_html_is_one_line(html_site: str) -> None:
    line = assert_one_line(run_cli(["check-server", html_site + "/sync"]))
    assert "server.not-sync" in line and "Welcome to my NAS" in line
    report = check_server(html_site)
    assert [f.check for f in report] == ["server.not-sync"]
    assert report.one_line() is not None


def test_tls_spoken_to_a_plain_http_port_is_one_line(html_site: str) -> None:
    line = assert_one_line(run_cli(["check-server", html_site.replace("http://", "https://")]))
    assert "server.tls" in line and "does not speak TLS" in line


def test_the_json_output_of_an_unreachable_host_is_a_report(closed_port: int) -> None:
    proc = run_cli(["check-server", f"http://127.0.0.1:{closed_port}", "--json"])
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["ok"] is False and [f["check"] for f in data["findings"]] == ["server.unreachable"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["check-server"], "TOKEN_URL"),
        (["check-server", "--misconfigure", "wrong-secret", "http://x.example"], "--local"),
        (["check-server", "--token-file", "/nonexistent/token.json"], "cannot read"),
        (
            ["check-server", "--secret-file", "/nonexistent/secret", "--node", "http://x.example", "--uid", "1"],
            "cannot read",
        ),  # fmt: skip
        (["check-server", "--secret-file", "/dev/null"], "--node"),
        (["check-server", "http://x.example", "--auth-url", "http://a.example"], "--email"),
        (["check-server", "--session", "/nonexistent/session.json"], "no saved session"),
        (["check-server", "http://x.example", "--timeout", "0"], "--timeout"),
    ],
)
def test_inconsistent_options_are_one_line(args: list[str], words: str) -> None:
    assert words in assert_one_line(run_cli(args))


def test_a_token_file_that_is_not_a_token_is_one_line(tmp_path) -> None:
    bad = tmp_path / "token.json"
    bad.write_text("[1, 2, 3]")
    assert "JSON object" in assert_one_line(run_cli(["check-server", "--token-file", str(bad)]))
    bad.write_text("{not json")
    assert "not JSON" in assert_one_line(run_cli(["check-server", "--token-file", str(bad)]))
    bad.write_text(json.dumps({"id": "x", "key": "y", "uid": 1, "api_endpoint": "node.example/1.5/1", "duration": 60}))
    assert "api_endpoint" in assert_one_line(run_cli(["check-server", "--token-file", str(bad)]))
    bad.write_text(json.dumps({"id": "x"}))
    assert "lacks" in assert_one_line(run_cli(["check-server", "--token-file", str(bad)]))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"email": "a@example.com", "password": "pw"},  # an account without a tokenserver
        {"token_url": "http://x.example", "email": "a@example.com"},  # no password
        {"node_url": "http://x.example", "secret": "s"},  # no uid
        {"node_url": "http://x.example", "secret": "s", "uid": -1},
        {"node_url": "http://x.example", "secret": "s", "uid": True},
        {"token_url": "http://x.example", "email": "a@example.com", "password": "pw", "storage_token": {}},
        {"storage_token": {"id": "x"}},
        {"storage_token": "not a dict"},
        {"token_url": "http://x.example", "timeout": 0},
        {"token_url": "http://x.example", "timeout": float("nan")},
    ],
)
def test_arguments_the_function_cannot_use_raise_check_server_error(kwargs) -> None:
    with pytest.raises(CheckServerError):
        check_server(**kwargs)


def test_a_wrong_password_and_a_dead_accounts_server_are_findings(closed_port: int) -> None:
    with LocalStack(demo=True) as stack:
        demo = stack.demo_account
        wrong = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password="not the password")
        assert [f.check for f in wrong] == ["server.account"]
        assert "not the password" not in str(wrong)
        dead = check_server(stack.token_url, auth_url=f"http://127.0.0.1:{closed_port}/v1", email=demo.email,
                            password=demo.password)  # fmt: skip
        assert [f.check for f in dead] == ["server.fxa-unreachable"]
