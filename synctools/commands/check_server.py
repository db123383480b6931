"""``synctools check-server``: walk a self-hosted sync setup and name what is broken."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synctools.errors import CommandError

from ._common import ask, expected_errors, out, read_saved, say

if TYPE_CHECKING:  # for the types only: the functions import the doctor when they run
    from synctools.doctor.server import ServerReport

EPILOG = """\
examples:
  synctools check-server https://sync.example.com/1.0/sync/1.5
      the server up to its tokenserver (no account needed)
  synctools check-server https://sync.example.com/1.0/sync/1.5 --email you@example.com
      sign in (Mozilla accounts) and check the token and the storage node too
  synctools check-server https://sync.example.com/1.0/sync/1.5 --session ~/.config/synctools/session.json
      the same with a session saved by `synctools login`
  synctools check-server --node https://sync.example.com --secret-file master_secret.txt --uid 1
      a bare storage node, with a token minted from its master secret
  synctools check-server --local --misconfigure path-prefix
      see what a misconfiguration looks like, on the embedded stack

Exit status: 0 when nothing is wrong, 1 with findings (or when the server cannot be
reached at all). Only reads: GETs, a token exchange, and one POST without credentials
(turn it off with --no-body-probe). Secrets are shown as fingerprints only.
See docs/self-hosting.md for every finding and its fix."""


def register(subparsers: Any) -> None:
    from synctools.server.misconfig import KINDS

    p = subparsers.add_parser(
        "check-server",
        help="check a self-hosted sync server's setup and say what is wrong and how to fix it",
        description=(
            "Walk a self-hosted Firefox Sync setup link by link — reach, TLS, __heartbeat__, the "
            "tokenserver's path, sign-in and the OAuth scope, the token, the storage node with that "
            "token, clocks, info/configuration limits, quota, the proxy's body-size limit, the "
            "client-state rules — and stop at the first broken link with what is wrong and how to "
            "fix it. A node that refuses a fresh token is asked again with other signatures, to tell "
            "a proxy's path prefix or Host rewrite from clock skew and a wrong master secret."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "token_url",
        nargs="?",
        metavar="TOKEN_URL",
        help="the tokenserver: the full …/1.0/sync/1.5 URL Firefox uses, or the base it hangs under",
    )
    g = p.add_argument_group("an account (checks the token and the node too)")
    g.add_argument("--email", help="sign in with this account (password asked at the prompt, or read from stdin)")
    g.add_argument("--auth-url", metavar="URL", help="with --email: the accounts server (default: Mozilla's)")
    g.add_argument("--oauth-url", metavar="URL", help="with --email: the OAuth server (default: the accounts server)")
    g.add_argument(
        "--session", metavar="PATH", help="a session saved by `synctools login` (its tokenserver unless TOKEN_URL)"
    )
    g = p.add_argument_group("a bare storage node")
    g.add_argument(
        "--token-file",
        metavar="PATH",
        help="a storage token as JSON (id, key, uid, api_endpoint, duration), e.g. a tokenserver answer",
    )
    g.add_argument("--node", metavar="URL", help="with --secret-file and --uid: the node's base URL")
    g.add_argument("--secret-file", metavar="PATH", help="a file holding the node's master secret (mints a token)")
    g.add_argument("--uid", type=int, help="the storage uid to mint the token for")
    g = p.add_argument_group("the embedded stack")
    g.add_argument("--local", action="store_true", help="start the embedded stack with its demo account and check it")
    g.add_argument("--misconfigure", action="append", default=[], metavar="KIND", choices=list(KINDS),
                   help="with --local: misconfigure it first (repeatable): " + ", ".join(KINDS))  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each answer (default 10)")
    p.add_argument(
        "--no-body-probe",
        action="store_true",
        help="skip the unauthenticated POST of max_request_bytes that finds a proxy's body limit",
    )
    p.set_defaults(func=expected_errors(run))


def run(args: argparse.Namespace) -> int:
    from synctools.doctor.server import CheckServerError

    if args.misconfigure and not args.local:
        raise CommandError("--misconfigure goes with --local (it misconfigures the embedded stack)")
    if not 0 < args.timeout <= 600:
        raise CommandError(f"--timeout must be between 0 and 600 seconds, got {args.timeout}")
    try:
        if args.local:
            report = _local(args)
        else:
            report = _check(args)
    except CheckServerError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        out(json.dumps(report.to_json(), indent=2))
    elif (line := report.one_line()) is not None:
        raise CommandError(line)
    else:
        out(str(report))
    return report.exit_code


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {"timeout": args.timeout, "probe_body_limit": not args.no_body_probe}


def _check(args: argparse.Namespace) -> ServerReport:
    from synctools import net
    from synctools.doctor.server import check_server

    kw = _common(args)
    if args.session:
        if args.email or args.token_file or args.secret_file:
            raise CommandError("--session is an account already: drop --email / --token-file / --secret-file")
        path = Path(args.session).expanduser()
        try:
            session = net.load_session(path)
        except (ValueError, PermissionError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        if session.sync_keys is None:
            raise CommandError(f"{path} holds no sync keys (saved with --no-keys): use --email instead")
        token_url = args.token_url or (read_saved(path).get("synctools_cli") or {}).get("token_url")
        if not token_url:
            raise CommandError(f"{path} does not say which tokenserver it used: give TOKEN_URL")
        return check_server(token_url, session=session, **kw)
    if args.token_file or args.secret_file:
        if args.email:
            raise CommandError("give an account (--email) or a storage token (--token-file, --secret-file), not both")
        if args.token_file:
            return check_server(args.token_url, storage_token=_read_json(args.token_file), **kw)
        if not args.node or args.uid is None:
            raise CommandError("--secret-file needs --node URL and --uid N (the token is minted for them)")
        secret = _read_secret(args.secret_file)
        return check_server(args.token_url, node_url=args.node, secret=secret, uid=args.uid, **kw)
    if args.token_url is None:
        raise CommandError("give the tokenserver URL (TOKEN_URL), or --token-file / --node for a bare node, or --local")
    if args.email:
        password = ask(f"Password for {args.email}: ", secret=True)
        return check_server(
            args.token_url, auth_url=args.auth_url, oauth_url=args.oauth_url, email=args.email,
            password=password, totp=lambda: ask("TOTP code (authenticator app): ", secret=False),
            code=lambda: ask("Code from the verification email: ", secret=False), **kw,
        )  # fmt: skip
    if args.auth_url or args.oauth_url:
        raise CommandError("--auth-url / --oauth-url go with --email")
    return check_server(args.token_url, **kw)


def _local(args: argparse.Namespace) -> ServerReport:
    from synctools.doctor.server import check_server
    from synctools.server import LocalStack

    if args.token_url or args.email or args.session or args.token_file or args.secret_file:
        raise CommandError("--local checks the embedded stack: drop the server and account options")
    say("starting the embedded stack with the demo account (--local)"
        + (f", misconfigured: {', '.join(args.misconfigure)}" if args.misconfigure else "") + "…")  # fmt: skip
    try:
        stack = LocalStack(demo=True, misconfigure=args.misconfigure).start()
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        demo = stack.demo_account
        return check_server(stack.token_url, auth_url=stack.auth_url, email=demo.email, password=demo.password,
                            **_common(args))  # fmt: skip
    finally:
        stack.stop()


def _read_json(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).expanduser().read_text("utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read --token-file {path}: {exc.strerror}") from None
    except ValueError:
        raise CommandError(f"--token-file {path} is not JSON") from None
    if not isinstance(data, dict):
        raise CommandError(f"--token-file {path} must hold a JSON object (id, key, uid, api_endpoint, duration)")
    return data


def _read_secret(path: str) -> str:
    try:
        secret = Path(path).expanduser().read_text("utf-8").strip()
    except OSError as exc:
        raise CommandError(f"cannot read --secret-file {path}: {exc.strerror}") from None
    if not secret:
        raise CommandError(f"--secret-file {path} is empty")
    return secret
