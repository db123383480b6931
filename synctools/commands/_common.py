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
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from synctools.errors import CommandError, SynctoolsError

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


# what reading a session file of the right format but the wrong shape raises (a field
# missing, a number where a URL should be)
MALFORMED_SESSION = (KeyError, TypeError, AttributeError)


def session_path(args: argparse.Namespace) -> Path:
    given = getattr(args, "session", None) or os.environ.get(SESSION_ENV)
    return Path(given).expanduser() if given else config_dir() / "session.json"


def add_session_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--session",
        metavar="PATH",
        help=f"the saved session file (default: ${SESSION_ENV}, else {config_dir() / 'session.json'})",
    )


def add_server_options(p: argparse.ArgumentParser, *, local: bool = True) -> None:
    """--session/--store, and --local (or --token-url to override a saved session's)."""
    g = p.add_argument_group("account and server", SERVER_HELP if local else None)
    g.add_argument(
        "--session",
        metavar="PATH",
        help=f"the saved session file (default: ${SESSION_ENV}, else {config_dir() / 'session.json'})",
    )
    g.add_argument(
        "--store",
        metavar="PATH",
        help=f"the local store (SQLite) to use (default: one per account under ${DATA_ENV}, else {data_dir()})",
    )
    g.add_argument("--token-url", metavar="URL", help="tokenserver URL (default: the one saved at login)")
    g.add_argument("--email", help="log in for this command only (password asked at the prompt; nothing saved)")
    g.add_argument("--auth-url", metavar="URL", help="with --email: the accounts server (default: Mozilla's)")
    if local:
        g.add_argument(
            "--local",
            action="store_true",
            help="start the embedded stack with its demo account for this command (offline; nothing is kept)",
        )


def expected_errors(fn: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    """Turn the failures a person can cause or fix into one-line :class:`CommandError`\\ s:
    every error synctools raises on purpose (a server, the session, the store, stage
    order), and the file system's (a missing folder, a file where a folder should be, no
    permission, a full disk). Programming errors keep their traceback."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args) or 0)
        except (CommandError, BrokenPipeError):  # main() ends a closed pipe quietly
            raise
        except SynctoolsError as exc:
            raise CommandError(_one_line(exc)) from None
        except OSError as exc:  # requests' own errors are OSErrors too: say what failed
            raise CommandError(os_error(exc)) from None

    return run


def os_error(exc: OSError, what: str = "") -> str:
    """``cannot write /x/y.csv: No such file or directory`` rather than ``[Errno 2] ...``."""
    name = exc.filename if exc.filename is not None else what
    if exc.strerror and name:
        return f"cannot use {name}: {exc.strerror}"
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


# ------------------------------------------------------------------ checking arguments

# PyFxA's rule for the email it salts the password with (fxa.crypto.test_salt_email),
# as a full match: a local part, "@", and a lower-case domain with at least one dot.
_EMAIL = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@[a-z\d](?:[a-z\d-]{0,253}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,253}[a-z\d])?)+"
)


def check_email(email: str) -> str:
    """The email as Firefox Accounts takes it, or a :class:`CommandError` saying what to fix.

    The email is the password's salt (key stretching v1), so it is never silently
    changed: a space or a capital in the domain is pointed out, with the fix."""
    shown = repr(email) if len(email) <= 80 else repr(email[:77] + "...")
    if email != email.strip():
        raise CommandError(f"the email {shown} has spaces or line breaks around it: give it as {email.strip()!r}")
    if "@" not in email:
        raise CommandError(f"{shown} is not an email address (no @): give the account's email, e.g. ada@example.com")
    local, _, domain = email.rpartition("@")
    if domain != domain.lower() and _EMAIL.fullmatch(f"{local}@{domain.lower()}"):
        raise CommandError(f"the email {shown} has capitals after the @, which Firefox Accounts refuses:"
                           f" give it as {local + '@' + domain.lower()!r}")  # fmt: skip
    if not _EMAIL.fullmatch(email):
        raise CommandError(
            f"{shown} is not an email address Firefox Accounts accepts (letters, digits and"
            " .!#$%&'*+/=?^`{|}~- before the @, a lower-case domain with a dot after it): check it"
        )
    return email


def check_url(option: str, url: str | None) -> str | None:
    """An http(s) URL with a host, or a :class:`CommandError` naming the option."""
    if url is None:
        return None
    shown = repr(url) if len(url) <= 80 else repr(url[:77] + "...")
    example = "e.g. http://127.0.0.1:8000/v1" if "auth" in option else "e.g. http://127.0.0.1:8000/token"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise CommandError(f"{option} {shown} is not a URL ({exc}): {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or url != url.strip():
        raise CommandError(f"{option} {shown} is not a URL: it needs http:// or https:// and a host, {example}")
    return url


def check_server_urls(args: argparse.Namespace) -> None:
    for option in ("--auth-url", "--oauth-url", "--token-url"):
        check_url(option, getattr(args, option[2:].replace("-", "_"), None))


def check_session_target(path: Path) -> None:
    """Where ``login`` will save the session: not a folder, and no file where one of its
    folders should be (the missing folders are made, 0700)."""
    if path.is_dir():
        raise CommandError(f"the session path {path} is a folder: give --session a file name")
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise CommandError(f"the session path {path} cannot be made: {folder} is a file, not a folder")
            return


def check_writable(path: str | os.PathLike[str] | None, option: str) -> None:
    """Fail before any work when an output file cannot be written: its folder is missing
    or is not a folder, or the path is a folder. (``-`` is stdout.)"""
    if path is None or str(path) == "-":
        return
    target = Path(path).expanduser()
    folder = target.parent
    if target.is_dir():
        raise CommandError(f"{option} {path} is a folder: give a file name")
    if not folder.is_dir():
        why = "does not exist" if not folder.exists() else "is not a folder"
        raise CommandError(f"{option} {path}: the folder {folder} {why}; create it or write elsewhere")
    if not os.access(folder, os.W_OK):
        raise CommandError(f"{option} {path}: the folder {folder} is not writable by you; write elsewhere")


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

    check_server_urls(args)
    if getattr(args, "offline", False) and (getattr(args, "local", False) or getattr(args, "email", None) is not None):
        raise CommandError("--offline works from the local store of a saved session (`synctools login`);"
                           " --local and --email need the network")  # fmt: skip
    if getattr(args, "local", False):
        from synctools import LocalStack

        say("starting the embedded stack with the demo account (--local)…")
        with LocalStack(demo=True) as stack:
            yield Sync.local(stack, progress=progress)
        return

    if getattr(args, "email", None) is not None:
        check_email(args.email)
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
    token_url = args.token_url
    if token_url is None:
        cli_part = saved.get("synctools_cli")
        token_url = cli_part.get("token_url") if isinstance(cli_part, dict) else None
        if token_url is not None and not isinstance(token_url, str):
            token_url = repr(token_url)
        check_url(f"the token URL saved in {path}", token_url)
    store = Path(args.store) if getattr(args, "store", None) else "auto"  # auto: one per account and server
    try:
        sync = Sync.from_session(path, token_url=token_url, store=store, progress=progress, interactive=False)
    except (ValueError, PermissionError, FileNotFoundError, IsADirectoryError) as exc:
        raise CommandError(_one_line(exc)) from None
    except MALFORMED_SESSION as exc:  # valid JSON of the wrong shape
        raise CommandError(f"{path} is not a usable synctools session ({type(exc).__name__}: {exc}):"
                           " run `synctools login` again") from None  # fmt: skip
    if sync.session is None or sync.session.sync_keys is None:
        raise CommandError(
            f"{path} holds no sync keys (saved with --no-keys, or by another tool): pass --email to"
            " log in for this command, or run `synctools login` again without --no-keys"
        )
    yield sync


def ready(sync: Any, until: str = "fetch_crypto_keys") -> None:
    """Run the setup stages; stop with one line if the server needs a fresh start or upgrade."""
    sync.run(until=until)
    if sync.state.value in ("fresh_start_required", "upgrade_required"):
        stage = sync.results.get("fetch_crypto_keys") or sync.results.get("fetch_meta_global")
        why = "; ".join(stage.warnings) if stage is not None and stage.warnings else sync.state.value
        raise CommandError(f"cannot read records: {why} (see `synctools status`)")


def add_offline_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--offline", action="store_true",
                   help="work from the local store alone (what the last pull or status read), without the network;"
                        " this also happens, with a note, when the server cannot be reached")  # fmt: skip


def ready_or_offline(
    sync: Any, args: argparse.Namespace, online: Callable[[], None], *, collections: list[str] | None = None
) -> bool:
    """Run ``online`` (the setup stages, and a download if the command needs one); with
    ``--offline``, or when a server does not answer, open the sync on the local store
    instead (``Sync.open_offline``), saying so on stderr. True when offline."""
    from synctools import net

    if getattr(args, "offline", False):
        reason = "--offline"
    else:
        try:
            online()
            return False
        except net.ServerUnreachable as exc:
            if sync.keys is None or sync.store is None:  # a password login needs the network
                raise CommandError(_one_line(exc)) from None
            reason = "the server did not answer"
            say(f"note: {_one_line(exc)}")
    if sync.keys is None:
        sync.authenticate()  # a saved session with keys: no network
    sync.open_offline(reason, collections)
    say(f"synctools: {sync.offline.describe()}")
    return True


def say(text: str = "") -> None:
    """Progress and notes go to stderr, so stdout stays the command's output."""
    print(text, file=sys.stderr, flush=True)


def out(text: str = "") -> None:
    print(text, flush=True)


# ------------------------------------------------------------------ plans: review, confirm, commit


def refuse_if_staged(sync: Any, command: str) -> None:
    """A command that stages its own changes and plans them refuses to run over changes
    staged earlier: the plan would carry them too, and a person confirming the command's
    plan would commit edits they did not make here."""
    staged = sync.store.staged_index() if sync.store is not None else []
    if staged:
        counts: dict[str, int] = {}
        for collection, _, _ in staged:
            counts[collection] = counts.get(collection, 0) + 1
        where = ", ".join(f"{c} ({n})" for c, n in sorted(counts.items()))
        raise CommandError(
            f"{len(staged)} change(s) are already staged in the local store ({where}): `synctools discard"
            f" --all` drops them (or commit them from a notebook) before `synctools {command}`"
        )


def confirm(question: str, *, yes: bool, flag: str) -> bool:
    """``--yes``, or ask at the terminal; without a terminal and without ``--yes``, refuse."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CommandError(f"{flag} asks before it writes: run it in a terminal, or add --yes")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def commit_plan(sync: Any, plan: Any) -> Any:
    """Accept every change of a reviewed plan, commit it and say what happened. A commit
    that did not write everything (someone else wrote meanwhile, the server refused
    records) is a :class:`CommandError` after the details: exit status 1."""
    plan.accept()
    result = sync.commit(plan)
    for w in result.warnings:
        say(f"warning: {w}")
    written = sum(len(u.success) for u in result.uploads)
    snap = f"; snapshot #{result.snapshot} holds the old versions (`synctools restore {result.snapshot}`)"
    out(f"commit: {result.status}, {written} record(s) written" + (snap if result.snapshot else ""))
    if result.status == "conflict":
        raise CommandError("not everything was written: another device changed the collection meanwhile;"
                           " run the command again to review a fresh plan")  # fmt: skip
    if result.status == "partial":
        refused = sum(len(f) for f in result.failed.values())
        raise CommandError(f"the server refused {refused} record(s) (see the warnings above); the rest is written")
    return result
