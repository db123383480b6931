"""What the account subcommands share: server options, session and store paths, errors.

Where things live (XDG base directories, each overridable):

- the saved session: ``$SYNCTOOLS_SESSION``, else ``$XDG_CONFIG_HOME/synctools/session.json``
  (``~/.config/...``); ``--session PATH`` wins over both. Mode 0600: it holds the session
  token, the OAuth token and the sync keys (kSync, never the password or kB).
- the local store (downloaded records, staged edits): ``$SYNCTOOLS_DATA_DIR``, else
  ``$XDG_DATA_HOME/synctools`` (``~/.local/share/...``), one SQLite file per account and
  server (``synctools.machine.default_store_path``); ``--store PATH`` wins.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from synctools.cli import CommandError

SESSION_ENV = "SYNCTOOLS_SESSION"
DATA_ENV = "SYNCTOOLS_DATA_DIR"  # read by synctools.machine.data_dir

SERVER_HELP = """\
which account and server:
  by default the account saved by `synctools login` (Mozilla's servers unless it logged
  in elsewhere); --email (with --auth-url/--token-url for another server) logs in for
  this command only; --local starts the embedded demo stack just for this command, so
  you can try everything offline."""


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "synctools"


def data_dir() -> Path:
    from synctools.machine import data_dir as _data_dir

    return _data_dir()


def session_path(args: argparse.Namespace) -> Path:
    given = getattr(args, "session", None) or os.environ.get(SESSION_ENV)
    return Path(given).expanduser() if given else config_dir() / "session.json"


def add_session_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session", metavar="PATH",
                   help=f"the saved session file (default: ${SESSION_ENV}, else {config_dir() / 'session.json'})")  # fmt: skip


def add_server_options(p: argparse.ArgumentParser, *, local: bool = True) -> None:
    """--session/--store, and --local (or --token-url to override a saved session's)."""
    g = p.add_argument_group("account and server", SERVER_HELP if local else None)
    g.add_argument("--session", metavar="PATH",
                   help=f"the saved session file (default: ${SESSION_ENV}, else {config_dir() / 'session.json'})")  # fmt: skip
    g.add_argument("--store", metavar="PATH",
                   help=f"the local store (SQLite) to use (default: one per account under ${DATA_ENV}, else {data_dir()})")  # fmt: skip
    g.add_argument("--token-url", metavar="URL", help="tokenserver URL (default: the one saved at login)")
    g.add_argument("--email", help="log in for this command only (password asked at the prompt; nothing saved)")
    g.add_argument("--auth-url", metavar="URL", help="with --email: the accounts server (default: Mozilla's)")
    if local:
        g.add_argument("--local", action="store_true",
                       help="start the embedded stack with its demo account for this command (offline; nothing is kept)")  # fmt: skip


def expected_errors(fn: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    """Turn the failures a person can cause or fix (network, server, session, stage order)
    into one-line :class:`CommandError`\\ s; programming errors keep their traceback."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        from synctools import net
        from synctools.machine import SyncError
        from synctools.store import StoreError

        try:
            return int(fn(args) or 0)
        except CommandError:
            raise
        except (SyncError, net.NetError, StoreError) as exc:
            raise CommandError(_one_line(exc)) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            raise CommandError(_one_line(exc)) from None

    return run


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


# ------------------------------------------------------------------ session files


def read_saved(path: Path) -> dict[str, Any]:
    """The saved session's JSON (for its uid and what ``login`` saved beside it)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def ask(prompt: str, *, secret: bool) -> str:
    """A terminal prompt (hidden for secrets), or one line of stdin without a terminal."""
    if sys.stdin.isatty():
        value = getpass.getpass(prompt) if secret else input(prompt)
    else:
        print(prompt, end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            print(file=sys.stderr)  # end the prompt's line: the error gets its own
            raise CommandError(f"no answer to {prompt.strip().rstrip(':')!r} (stdin is closed)")
        value = line.rstrip("\r\n")
        print(file=sys.stderr)
    if not value:
        raise CommandError(f"{prompt.strip().rstrip(':')} is required")
    return value


# ------------------------------------------------------------------ opening a sync


@contextlib.contextmanager
def open_sync(args: argparse.Namespace, *, progress: bool = False) -> Iterator[Any]:
    """A :class:`~synctools.Sync` for the command: on the embedded demo stack with
    ``--local``, else from the saved session with a persistent local store."""
    from synctools import Sync

    if getattr(args, "local", False):
        from synctools import LocalStack

        say("starting the embedded stack with the demo account (--local)…")
        with LocalStack(demo=True) as stack:
            yield Sync.local(stack, progress=progress)
        return

    if getattr(args, "email", None):
        password = ask(f"Password for {args.email}: ", secret=True)
        store: Any = Path(args.store) if getattr(args, "store", None) else "auto"
        yield Sync.login(
            args.email, password, auth_url=args.auth_url, token_url=args.token_url, store=store,
            totp=lambda: ask("TOTP code (authenticator app): ", secret=False),
            code=lambda: ask("Code from the verification email: ", secret=False),
            interactive=False, progress=progress,
        )  # fmt: skip
        return
    if getattr(args, "auth_url", None):
        raise CommandError("--auth-url goes with --email (a one-off login); a saved session already knows its server")
    path = session_path(args)
    if not path.exists():
        raise CommandError(f"not logged in (no session at {path}): run `synctools login`, "
                           "or try the offline demo with --local")  # fmt: skip
    saved = read_saved(path)
    token_url = args.token_url or (saved.get("synctools_cli") or {}).get("token_url")
    store = Path(args.store) if getattr(args, "store", None) else "auto"  # auto: one per account and server
    try:
        sync = Sync.from_session(path, token_url=token_url, store=store, progress=progress, interactive=False)
    except (ValueError, PermissionError, FileNotFoundError) as exc:
        raise CommandError(_one_line(exc)) from None
    if sync.session is None or sync.session.sync_keys is None:
        raise CommandError(
            f"{path} holds no sync keys (saved with --no-keys, or by another tool): pass --email to"
            " log in for this command, or run `synctools login` again without --no-keys"
        )
    yield sync


def say(text: str = "") -> None:
    """Progress and notes go to stderr, so stdout stays the command's output."""
    print(text, file=sys.stderr, flush=True)


def out(text: str = "") -> None:
    print(text, flush=True)
