"""The walk's other links on the embedded stack: the tokenserver's path found from the
bare host, a check without an account, bare nodes by secret and by token file, an
unhealthy heartbeat, short-lived tokens, and misconfigurations toggled at run time
through the admin API and `synctools serve --misconfigure`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import requests

from synctools.doctor import check_server
from synctools.protocol import tokens
from synctools.server import LocalStack

from .conftest import assert_no_secrets, report_json, run_cli

SECRET = "the-node-master-secret-for-tests"  # noqa: S105 - a test secret


def test_the_tokenserver_path_is_found_from_the_bare_host() -> None:
    with LocalStack(demo=True) as stack:
        report = check_server(stack.url)  # the person gave the host, not …/token/1.0/sync/1.5
    (finding,) = report.findings
    assert finding.check == "server.token-path"
    assert finding.facts["found"] == stack.token_url
    assert "identity.sync.tokenserver.uri" in finding.explanation
    assert [s.status for s in report.steps if s.name == "node"] == ["skip"]


def test_without_an_account_the_check_stops_at_the_tokenserver_and_is_clean() -> None:
    with LocalStack() as stack:
        report = check_server(stack.token_url)
        proc = run_cli(["check-server", stack.token_url])
    assert report.ok
    assert [s.name for s in report.steps] == ["reach", "heartbeat", "tokenserver", "node"]
    assert proc.returncode == 0 and "no problems found" in proc.stdout


def test_a_bare_node_by_its_secret_and_by_a_token_file(tmp_path) -> None:
    with LocalStack(storage_only=True, secret=SECRET) as stack:
        assert check_server(node_url=stack.url, secret=SECRET, uid=7).ok
        wrong = check_server(node_url=stack.url, secret="another secret entirely", uid=7)
        assert [f.check for f in wrong] == ["server.wrong-secret"]
        assert "the secret you gave" in wrong.findings[0].explanation
        secret_file = tmp_path / "secret"
        secret_file.write_text(SECRET + "\n")
        proc = run_cli(["check-server", "--node", stack.url, "--secret-file", str(secret_file), "--uid", "7", "--json"])
        assert proc.returncode == 0 and report_json(proc)["ok"], proc.stdout
        token_id = tokens.make_token({"uid": 9, "node": stack.url}, SECRET, 600)
        token = {"id": token_id, "key": tokens.derived_secret(token_id, SECRET), "uid": 9,
                 "api_endpoint": f"{stack.url}/1.5/9", "duration": 600}  # fmt: skip
        token_file = tmp_path / "token.json"
        token_file.write_text(json.dumps(token))
        proc = run_cli(["check-server", "--token-file", str(token_file)])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert_no_secrets(proc.stdout + proc.stderr, [SECRET, token["id"], token["key"]])
        stack.admin.misconfigure("wrong-secret")
        proc = run_cli(["check-server", "--token-file", str(token_file), "--json"])
        assert [f["check"] for f in report_json(proc)["findings"]] == ["server.wrong-secret"]
        assert_no_secrets(proc.stdout + proc.stderr, [SECRET, token["id"], token["key"]])


def test_an_unhealthy_heartbeat_stops_the_walk() -> None:
    with LocalStack(demo=True) as stack:
        stack.node_prefixes["/storage"].store.db.close()  # the database is gone
        report = check_server(stack.token_url)
    assert [f.check for f in report] == ["server.heartbeat"]
    assert "database Err" in report.findings[0].explanation
    assert [s.name for s in report.steps][-1] == "heartbeat"


def test_tokens_that_live_seconds_are_a_warning() -> None:
    with LocalStack(demo=True) as stack:
        stack.tokenserver.duration = 30
        demo = stack.demo_account
        report = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
    assert [(f.check, f.severity) for f in report] == [("server.token-duration", "warning")]


def test_misconfigurations_toggle_at_run_time_through_the_admin_api() -> None:
    with LocalStack(demo=True) as stack:
        demo = stack.demo_account
        url = stack.url

        def admin(method: str, **body) -> requests.Response:
            return requests.post(f"{stack.admin_url}/{method}", json=body, timeout=30,
                                 headers={"X-Admin-Secret": stack.admin_secret})  # fmt: skip

        def check() -> list[str]:
            report = check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password)
            return [f.check for f in report]

        assert admin("misconfigure", kind="tiny-limits").status_code == 200
        assert admin("misconfigure", kind="over-quota", remaining=0).status_code == 200
        assert admin("misconfigurations").json()["result"].keys() == {"tiny-limits", "over-quota"}
        # once the node answers, its limits, quota and body size are judged side by side
        assert sorted(check()) == ["server.limits", "server.quota"]
        assert admin("clear_misconfig", kind="tiny-limits").status_code == 200
        assert check() == ["server.quota"]
        assert admin("clear_misconfig").status_code == 200
        assert check() == []
        # a prefix moves every URL, and clearing it moves them back
        assert admin("misconfigure", kind="path-prefix").json()["result"] == {"prefix": "/sync"}
        assert stack.url == url + "/sync" and stack.token_url.startswith(url + "/sync/")
        assert check() == ["server.path-prefix"]
        assert requests.post(f"{url}/__admin__/clear_misconfig", timeout=30,  # the proxy: only /sync is served
                             headers={"X-Admin-Secret": stack.admin_secret}).status_code == 404  # fmt: skip
        assert admin("clear_misconfig").status_code == 200
        assert stack.url == url and check() == []
        # refusals
        assert admin("misconfigure", kind="no-such-kind").status_code == 400
        assert admin("misconfigure", kind="clock-skew", minutes=3).status_code == 400
        assert admin("clear_misconfig", kind="wrong-secret").status_code == 400
        assert admin("misconfigure", kind="path-prefix", prefix="/").status_code == 400
        admin("misconfigure", kind="path-prefix")
        assert admin("misconfigure", kind="path-prefix-forwarded").status_code == 400


def test_storage_only_stacks_refuse_tokenserver_misconfigurations() -> None:
    with LocalStack(storage_only=True, secret=SECRET) as stack:
        for kind in ("no-node", "wrong-public-url", "key-rollback", "wrong-oauth-server"):
            try:
                stack.misconfig.turn_on(kind)
            except ValueError as exc:
                assert "storage-only" in str(exc)
            else:  # pragma: no cover - the assertion that fails
                raise AssertionError(f"{kind} was accepted on a storage-only stack")


def test_serve_misconfigure_in_a_subprocess() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from synctools.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "serve", "--demo", "--misconfigure", "wrong-public-url"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(lines)
        assert "MISCONFIGURED wrong-public-url" in text
        token_url = re.search(r"tokenserver\s+(\S+)", text).group(1)
        auth_url = re.search(r"accounts\s+(\S+)", text).group(1)
        email = re.search(r"email\s+(\S+)", text).group(1)
        password = re.search(r"password\s+(\S+)", text).group(1)
        report = check_server(token_url, auth_url=auth_url, email=email, password=password)
        assert [f.check for f in report] == ["server.public-url"]
        assert "cannot be reached" in report.findings[0].explanation
    finally:
        proc.send_signal(signal.SIGINT)  # the process this test started, by its handle
        assert proc.wait(timeout=60) == 0


def test_a_saved_session_is_checked_against_the_tokenserver_it_names(tmp_path) -> None:
    from synctools import net

    with LocalStack(demo=True, misconfigure="wrong-secret") as stack:
        demo = stack.demo_account
        session = net.FxaClient(stack.auth_url, stack.oauth_url).login(demo.email, demo.password)
        session.fetch_keys()
        session.oauth_token()
        path = tmp_path / "session.json"
        net.save_session(session, path, include_keys=True, extra={"synctools_cli": {"token_url": stack.token_url}})
        proc = run_cli(["check-server", "--session", str(path), "--json"])
        assert [f["check"] for f in report_json(proc)["findings"]] == ["server.wrong-secret"]
        assert_no_secrets(proc.stdout + proc.stderr, [demo.password, stack.secret, *session.trace._secrets])
        path.chmod(0o644)  # a session others can read is refused, in one line
        proc = run_cli(["check-server", "--session", str(path)])
        assert proc.returncode == 1 and "readable by other users" in proc.stderr and "Traceback" not in proc.stderr


def test_a_client_id_without_the_sync_scope_is_named() -> None:
    from synctools import net

    with LocalStack(demo=True) as stack:
        demo = stack.demo_account
        other = net.FxaClient(stack.auth_url, stack.oauth_url, client_id="0123456789abcdef").login(
            demo.email, demo.password
        )
        report = check_server(stack.token_url, session=other)
    assert [f.check for f in report] == ["server.oauth-scope"]
    assert "0123456789abcdef" in report.findings[0].explanation
