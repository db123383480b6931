"""Each self-hosting mistake the embedded stack can reproduce is diagnosed by
check-server with the right cause and nothing else — through the Python function and
through the command line in a subprocess — and a healthy stack gets a clean report.
No output holds a secret."""

from __future__ import annotations

import pytest

from synctools import net
from synctools.doctor import check_server
from synctools.doctor.server import ServerReport
from synctools.server import LocalStack
from synctools.server.misconfig import KINDS

from .conftest import assert_no_secrets, report_json, run_cli


def _login(stack: LocalStack) -> net.FxaSession:
    demo = stack.demo_account
    session = net.FxaClient(stack.auth_url, stack.oauth_url).login(demo.email, demo.password)
    session.fetch_keys()
    return session


def _secrets(stack: LocalStack, session: net.FxaSession | None = None) -> list[str | bytes | None]:
    """Everything secret the check handled: the master secret, the password, and every
    secret the trace was told of (session and OAuth tokens, token ids and Hawk keys, kSync)."""
    known: list[str | bytes | None] = [stack.secret, stack.admin_secret, stack.demo_account.password]
    if session is not None:
        known += list(session.trace._secrets)  # the registry the trace scrubs with
    return known


def _all_output(report: ServerReport) -> str:
    import json

    return "\n".join([str(report), repr(report), report._repr_html_(), json.dumps(report.to_json()),
                      report.frame.to_string()])  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_misconfiguration_is_named_by_its_cause_alone(kind: str) -> None:
    expected = {KINDS[kind].finding} - {""}
    with LocalStack(demo=True, misconfigure=kind) as stack:
        demo = stack.demo_account
        # the Python function, with a session whose trace knows every secret it handled
        session = _login(stack) if kind not in ("proxy-auth",) else None
        if session is not None:
            report = check_server(stack.token_url, session=session)
        else:
            report = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
        assert {f.check for f in report} == expected, str(report)
        assert report.exit_code == (1 if expected else 0)
        assert all(f.explanation and "Fix:" in f.explanation for f in report), str(report)
        assert_no_secrets(_all_output(report), _secrets(stack, session))
        # the command line, as a person runs it: password on stdin
        proc = run_cli(["check-server", stack.token_url, "--auth-url", stack.auth_url, "--email", demo.email,
                        "--json"], stdin=demo.password + "\n")  # fmt: skip
        data = report_json(proc)
        assert proc.returncode == (1 if expected else 0), proc.stdout
        assert {f["check"] for f in data["findings"]} == expected
        assert_no_secrets(proc.stdout + proc.stderr, _secrets(stack, session))


def test_a_healthy_stack_gets_a_clean_report_with_every_step_ok() -> None:
    with LocalStack(demo=True) as stack:
        demo = stack.demo_account
        report = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
        assert report.ok and len(report) == 0 and report.exit_code == 0
        steps = {s.name: s.status for s in report.steps}
        for name in ("reach", "heartbeat", "tokenserver", "accounts", "token", "node", "clock", "limits", "quota",
                     "body size", "key rollback"):  # fmt: skip
            assert steps.get(name) == "ok", str(report)
        assert "no problems found" in str(report)
        proc = run_cli(["check-server", stack.token_url, "--auth-url", stack.auth_url, "--email", demo.email],
                       stdin=demo.password + "\n")  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "no problems found" in proc.stdout
        # read-only: nothing was written to the account
        writes = [r for r in stack.admin.requests() if r["service"] == "storage" and r["method"] != "GET"]
        assert all(r["status"] == 401 for r in writes), writes


def test_check_server_local_misconfigured_in_a_subprocess() -> None:
    proc = run_cli(["check-server", "--local", "--misconfigure", "host-header"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "[ERROR] server.host-header" in proc.stdout
    assert "FAIL node" in proc.stdout and "ok   token" in proc.stdout  # the walk, step by step
    assert proc.stdout.count("[ERROR]") + proc.stdout.count("[WARNING]") == 1


def test_a_node_clock_behind_is_a_warning_that_names_the_skew() -> None:
    with LocalStack(demo=True, misconfigure={"clock-skew": {"seconds": -7200}}) as stack:
        demo = stack.demo_account
        report = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
    (finding,) = report.findings
    assert (finding.check, finding.severity) == ("server.clock-skew", "warning")
    assert "(2.0 h) behind this machine" in finding.explanation
    assert abs(finding.facts["skew_seconds"] + 7200) < 30


def test_a_prefix_the_proxy_forwards_is_no_problem_but_one_it_strips_is() -> None:
    with LocalStack(demo=True, misconfigure="path-prefix-forwarded") as stack:
        demo = stack.demo_account
        assert stack.token_url.endswith("/sync/token/1.0/sync/1.5")
        clean = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
        assert clean.ok, str(clean)
        stack.admin.clear_misconfig("path-prefix-forwarded")
        stack.admin.misconfigure("path-prefix", prefix="/firefox/sync")
        broken = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
    (finding,) = broken.findings
    assert finding.check == "server.path-prefix"
    assert "without /firefox/sync" in finding.explanation, finding.explanation
