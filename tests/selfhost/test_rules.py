"""The rules check-server judges by, fed hostile input: info/configuration bodies of the
wrong shape, node URLs clients cannot use, clock headers that lie, failed connections."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import requests

from synctools.doctor import CHECKS
from synctools.doctor import server_rules as R

DEFAULTS = {"max_post_bytes": 2621440, "max_post_records": 100, "max_record_payload_bytes": 2621440,
            "max_request_bytes": 2625536, "max_total_bytes": 262144000, "max_total_records": 10000,
            "max_quota_limit": 2097152000}  # fmt: skip


def test_syncstorage_rs_defaults_are_sane() -> None:
    assert R.limit_problems(DEFAULTS) == ([], [])


@pytest.mark.parametrize("body", [None, [], "x", 17, [DEFAULTS]])
def test_a_configuration_that_is_not_an_object_is_an_error(body) -> None:
    errors, _ = R.limit_problems(body)
    assert errors and "not a JSON object" in errors[0]


@pytest.mark.parametrize("value", [0, -1, True, "2621440", 2.5, {"a": 1}, [1]])
def test_a_limit_that_is_not_a_positive_integer_is_an_error(value) -> None:
    errors, _ = R.limit_problems({**DEFAULTS, "max_post_bytes": value})
    assert any("max_post_bytes" in e and "positive integer" in e for e in errors), errors


def test_a_limit_smaller_than_one_record_is_an_error_and_below_client_defaults_a_warning() -> None:
    errors, _ = R.limit_problems({**DEFAULTS, "max_record_payload_bytes": 1000})
    assert any("smaller than one ordinary record" in e for e in errors)
    errors, warnings = R.limit_problems({**DEFAULTS, "max_record_payload_bytes": 100 * 1024})
    assert not errors and any("below the 262144 bytes clients assume" in w for w in warnings)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"max_post_bytes": 1_000_000}, "can never be uploaded"),
        ({"max_request_bytes": 2_000_000}, "does not fit in a request"),
        ({"max_total_records": 50}, "batches are in effect disabled"),
        ({"max_total_bytes": 1_000_000}, "batches are in effect disabled"),
        ({"max_post_records": 2}, "takes 500 requests"),
        ({"max_quota_limit": 1024}, "tens of MB"),
    ],
)
def test_inconsistent_limits_are_warnings(change, words) -> None:
    errors, warnings = R.limit_problems({**DEFAULTS, **change})
    assert not errors and any(words in w for w in warnings), warnings


def test_a_server_without_batch_limits_is_warned_about() -> None:
    config = {k: v for k, v in DEFAULTS.items() if not k.startswith("max_total")}
    assert any("may not support batch uploads" in w for w in R.limit_problems(config)[1])


def test_node_urls_clients_cannot_use() -> None:
    ok = R.endpoint_problems("https://sync.example.com/1.5/42", 42, "https://sync.example.com/1.0/sync/1.5")
    assert ok == ([], [])
    errors, _ = R.endpoint_problems("https://sync.example.com/storage/42", 42, None)
    assert "{node}/1.5/{uid}" in errors[0]
    assert "not an http(s) URL" in R.endpoint_problems("sync.example.com/1.5/1", 1, None)[0][0]
    _, warnings = R.endpoint_problems("http://sync.example.com/1.5/1", 1, "https://sync.example.com/1.0/sync/1.5")
    assert "plain-http" in warnings[0]
    for local in ("http://localhost:8000", "http://127.0.0.1:8000", "http://192.168.1.20:8000", "http://[::1]:8000",
                  "http://0.0.0.0:8000", "http://sync.localhost"):  # fmt: skip
        _, warnings = R.endpoint_problems(local + "/1.5/1", 1, "https://sync.example.com/1.0/sync/1.5")
        assert any("other devices cannot reach" in w for w in warnings), local
    # a local tokenserver handing out a local node is a lab setup, not a mistake
    assert R.endpoint_problems("http://127.0.0.1:8000/1.5/1", 1, "http://127.0.0.1:8000/1.0/sync/1.5") == ([], [])


def _response(status: int = 200, headers: dict[str, str] | None = None, body: bytes = b"") -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.headers.update(headers or {})
    resp._content = body
    return resp


def test_the_node_clock_prefers_date_when_x_weave_timestamp_was_lifted_by_data() -> None:
    assert R.server_time(_response(headers={"X-Weave-Timestamp": "1700000000.50"})) == 1700000000.5
    lifted = _response(headers={"X-Weave-Timestamp": "1700007200.00", "Date": "Tue, 14 Nov 2023 22:13:20 GMT"})
    assert R.server_time(lifted) == 1700000000.0
    for junk in ("", "soon", "-5", "nan", "1e300", "inf"):
        assert R.server_time(_response(headers={"X-Weave-Timestamp": junk, "Date": junk})) is None
    assert R.header_time({"Date": "not a date"}, "Date") is None


def test_hawk_challenges_and_other_authentication_schemes() -> None:
    assert R.hawk_challenge('Hawk ts="1700000000", tsm="abc=", error="Stale timestamp"') == {
        "ts": "1700000000", "tsm": "abc=", "error": "Stale timestamp"}  # fmt: skip
    assert R.hawk_challenge("Hawk") == {} and R.hawk_challenge(None) == {} and R.hawk_challenge('Basic realm="x"') == {}
    assert R.basic_auth_challenge(_response(401, {"WWW-Authenticate": 'Basic realm="sync"'})) == "Basic"
    assert R.basic_auth_challenge(_response(401, {"WWW-Authenticate": "Hawk"})) is None
    assert R.basic_auth_challenge(_response(401)) is None


def test_answers_are_described_without_dumping_them() -> None:
    page = _response(
        404, {"Content-Type": "text/html"}, b"<html><head><title>404 Not Found</title></head>" + b"x" * 10**6
    )
    assert R.describe_answer(page) == '404 with an HTML page titled "404 Not Found"'
    ts = _response(401, {"Content-Type": "application/json"},
                   b'{"status": "invalid-credentials", "errors": [{"description": "Unauthorized"}]}')  # fmt: skip
    assert R.describe_answer(ts) == "401 invalid-credentials (Unauthorized)"
    assert R.tokenserver_error(_response(401, body=b'{"status": 3, "errors": "x"}')) is None
    assert R.tokenserver_error(_response(401, body=b'{"status": "x", "errors": []}')) == ("x", "")
    assert len(R.describe_answer(_response(500, body=b'"' + b"y" * 5000 + b'"'))) < 120
    assert "bytes" in R.describe_answer(_response(200, {"Content-Type": "image/png"}, b"\x89PNG\xff\xfe"))


@pytest.mark.parametrize(
    "exc, check, words",
    [
        (requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), R.TLS, "does not speak TLS"),
        (requests.exceptions.SSLError("certificate verify failed: self-signed certificate"), R.TLS, "self-signed"),
        (requests.exceptions.SSLError("certificate verify failed: certificate has expired"), R.TLS, "expired"),
        (requests.exceptions.SSLError("hostname 'a' doesn't match 'b'"), R.TLS, "another name"),
        (requests.exceptions.ConnectTimeout("timed out"), R.UNREACHABLE, "in time"),
        (requests.exceptions.ConnectionError("Failed to resolve 'sync.invalid'"), R.UNREACHABLE, "does not resolve"),
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), R.UNREACHABLE, "refused"),
        (requests.exceptions.ConnectionError("Connection reset by peer"), R.UNREACHABLE, "closed the connection"),
        (requests.exceptions.ConnectionError("something else"), R.UNREACHABLE, "cannot be reached"),
    ],
)
def test_failed_connections_name_their_cause(exc, check, words) -> None:
    got, what = R.connect_problem(exc, "https://sync.example.com:8443/x")
    assert got == check and words in what


def test_every_server_check_is_registered_with_a_summary() -> None:
    ids = [c for c in CHECKS if c.startswith("server.")]
    assert len(ids) >= 20
    assert all(CHECKS[c].summary and CHECKS[c].severity in ("error", "warning") for c in ids)


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Top-level statements, and those under a top-level ``if`` (TYPE_CHECKING)."""
    out: list[ast.stmt] = []
    for node in tree.body:
        out.append(node)
        if isinstance(node, ast.If):
            out += node.body + node.orelse
    return out


def test_the_embedded_server_still_imports_only_the_protocol_layer() -> None:
    """synctools/server/** imports synctools.protocol, synctools.errors, synctools.seams (the
    registry through which the demo data reaches it) and itself only (the `serve` command,
    a face, lives in commands/serve.py)."""
    root = Path(__file__).resolve().parents[2] / "synctools" / "server"
    allowed = ("synctools.protocol", "synctools.errors", "synctools.seams", "synctools.server")
    for path in root.rglob("*.py"):
        for node in _module_level(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module.startswith("synctools"):
                    assert node.module.startswith(allowed), f"{path.name} imports {node.module}"
                if node.level >= 2:  # from .. import x: outside synctools.server
                    base = "synctools" + (f".{node.module}" if node.module else "")
                    targets = [base] if node.module else [f"{base}.{a.name}" for a in node.names]
                    for target in targets:
                        assert target.startswith(allowed), f"{path.name} imports {target}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("synctools"):
                        assert alias.name.startswith(allowed), f"{path.name} imports {alias.name}"
