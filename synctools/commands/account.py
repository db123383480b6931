"""``synctools login``, ``logout`` and ``status``: the saved session and the account's setup."""

from __future__ import annotations

import argparse
from typing import Any

from synctools.errors import CommandError

from ._common import (
    MALFORMED_SESSION,
    add_offline_option,
    add_server_options,
    add_session_option,
    ask,
    check_email,
    check_server_urls,
    check_session_target,
    expected_errors,
    open_sync,
    out,
    ready_or_offline,
    say,
    session_path,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "login",
        help="log in to a Firefox Account and save the session for the other commands",
        description=(
            "Log in with email and password (asked at the prompt, never on the command line), "
            "answer the TOTP or emailed code if the account asks for one, fetch the sync keys, "
            "and save the session to a file only you can read (mode 0600). The file holds the "
            "session token, an OAuth token and, unless --no-keys, the sync keys (kSync: it decrypts "
            "your data) but never the password or kB. `synctools logout` ends the session and deletes it."
        ),
        epilog=(
            "examples:\n"
            "  synctools login --email ada@example.com           # Mozilla's servers\n"
            "  synctools login --auth-url http://127.0.0.1:8000/v1 --token-url http://127.0.0.1:8000/token\n"
            "                                                    # a self-hosted stack (or `synctools serve --demo`)\n"
            "Without a terminal (a script), the password and code are read from stdin, one per line."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--email", help="the account's email (asked at the prompt when missing)")
    p.add_argument(
        "--auth-url", metavar="URL", help="accounts server API (default: Mozilla's, https://api.accounts.firefox.com)"
    )
    p.add_argument("--oauth-url", metavar="URL", help="OAuth server (default: the accounts server)")
    p.add_argument(
        "--token-url", metavar="URL", help="tokenserver (default: Mozilla's, https://token.services.mozilla.com)"
    )
    add_session_option(p)
    p.add_argument(
        "--no-keys",
        action="store_true",
        help="save the session without the sync keys; the other commands then need --email "
        "(and the password) each time, since keys can only be fetched at login",
    )
    p.add_argument("--local", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=expected_errors(run_login))

    p = subparsers.add_parser(
        "logout",
        help="end the saved session on the server and delete the session file",
        description="Destroy the session on the accounts server, revoke its OAuth token and delete the saved file. "
        "The local store (downloaded records) is kept; delete it by hand if you want it gone.",
    )
    add_session_option(p)
    p.add_argument(
        "--forget",
        action="store_true",
        help=(
            "delete the file even when the server cannot be told (the session then stays valid there until it expires)"
        ),
    )
    p.set_defaults(func=expected_errors(run_logout))

    p = subparsers.add_parser(
        "status",
        help="check the account's setup: session, meta/global, engines, crypto/keys",
        description=(
            "Run the setup stages of a sync (log in with the saved session, get a storage token, "
            "read info/collections, meta/global and crypto/keys) and report what is wrong with "
            "them: storage version, declined engines that still hold data, engines missing from "
            "meta/global, malformed syncIDs, keys that no longer decrypt. Nothing is downloaded "
            "or written. `synctools doctor` checks the records too."
        ),
    )
    add_offline_option(p)
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_status))


def run_login(args: argparse.Namespace) -> int:
    from synctools import Sync
    from synctools.net import save_session

    if args.local:
        raise CommandError("--local starts a throwaway demo stack: there is nothing to log in to. "
                           "Use --local directly with status, pull, export, doctor or trace")  # fmt: skip
    check_server_urls(args)
    path = session_path(args)
    check_session_target(path)  # before the password: a login whose session cannot be saved is lost
    email = check_email(args.email if args.email is not None else ask("Email: ", secret=False))
    password = ask(f"Password for {email}: ", secret=True)
    sync = Sync.login(
        email, password, auth_url=args.auth_url, oauth_url=args.oauth_url, token_url=args.token_url,
        totp=lambda: ask("TOTP code (authenticator app): ", secret=False),
        code=lambda: ask("Code from the verification email: ", secret=False),
        store=None, interactive=False, progress=False,
    )  # fmt: skip
    del password
    auth = sync.authenticate()
    sync.exchange_token()  # proves the keys and the tokenserver work before anything is saved
    assert sync.session is not None
    keep_keys = not args.no_keys
    save_session(sync.session, path, include_keys=keep_keys, extra={"synctools_cli": {"token_url": sync.token_url}})
    how = f" (verified by {auth.verification})" if auth.verification else ""
    out(
        f"logged in as {sync.session.email}{how}; key {auth.key_fingerprint}, "
        f"storage node {sync.token.api_endpoint if sync.token else '?'}"
    )
    what = "it holds the sync keys" if keep_keys else "without the sync keys (--no-keys)"
    out(f"session saved to {path} (mode 600, {what}; `synctools logout` removes it)")
    return 0


def run_logout(args: argparse.Namespace) -> int:
    from synctools import net

    path = session_path(args)
    if not path.exists():
        raise CommandError(f"not logged in: no session at {path}")
    try:
        session = net.load_session(path)
    except PermissionError as exc:  # others could read it: tighten it first, then end it
        raise CommandError(f"{exc}; then run `synctools logout` again to end the session") from None
    except (ValueError, *MALFORMED_SESSION) as exc:
        raise CommandError(f"{path} is not a usable synctools session ({exc}): nothing was deleted;"
                           " delete it by hand if it is yours") from None  # fmt: skip
    problems, notes = [], []
    for what, call in (("revoke the OAuth token", session.revoke_oauth_token), ("end the session", session.logout)):
        try:
            call()
        except net.LoginRequired:
            notes.append(f"nothing to {what}: the file holds no session token")
        except net.HTTPError as exc:
            if exc.status in (400, 401):  # an invalid or destroyed token: it ended already
                notes.append(f"could not {what}: the server says it is no longer valid")
            else:
                problems.append(f"could not {what}: {exc}")
        except net.NetError as exc:
            problems.append(f"could not {what}: {exc}")
    if problems and not args.forget:
        raise CommandError(
            "; ".join(problems) + f". The session is still valid on the server, so {path} is kept:"
            " run `synctools logout` again when the server answers (--forget deletes the file anyway)"
        )
    path.unlink()
    out(f"logged out; deleted {path}")
    for p in notes + problems:
        say(f"note: {p}")
    if problems:
        say("note: the session stays valid on the server until it expires (--forget)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from synctools import doctor

    with open_sync(args) as sync:
        offline = ready_or_offline(sync, args, lambda: sync.run(until="fetch_crypto_keys"), collections=[])
        report = doctor.check_setup(sync)
        who = sync.session.email if sync.session else "?"
        out(f"account: {who}")
        if offline:
            out(sync.offline.describe())
            if sync.offline.node:
                out(f"storage node: {sync.offline.node} (as of {sync.offline.as_of})")
        elif sync.token is not None:
            out(f"storage node: {sync.token.api_endpoint}")
        out(f"sync state: {sync.state.value}" + (" (offline, from the local store)" if offline else ""))
        meta = sync.meta_global
        if meta is not None:
            on = sorted(meta.engines)
            out(f"meta/global: storage version {meta.storage_version}; engines: {', '.join(on) or 'none'}; "
                f"declined: {', '.join(sorted(meta.declined)) or 'none'}")  # fmt: skip
        if sync.collection_keys is not None:
            fps = sync.collection_keys.fingerprints()
            out("crypto/keys: " + ", ".join(f"{k} {v}" for k, v in fps.items()))
        if sync.info_collections:
            out("collections on the server: " + ", ".join(sorted(sync.info_collections)))
        out()
        out(str(report))
    return 0
