"""``synctools lab``: open JupyterLab at the notebooks.

JupyterLab runs as a child process. Every signal that asks ``synctools lab`` to stop
(SIGTERM from a service manager or ``kill``, SIGHUP when its terminal goes, SIGINT) is
passed on to JupyterLab, and ``synctools lab`` waits for it to shut down: stopping the
command never leaves a server running behind it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from synctools.errors import CommandError

from ._common import out

# what each signal to `synctools lab` becomes for JupyterLab: SIGHUP would kill it
# outright (it keeps Python's default), SIGTERM lets it shut its kernels down first
FORWARD = {signal.SIGTERM: signal.SIGTERM, signal.SIGINT: signal.SIGINT}
if hasattr(signal, "SIGHUP"):
    FORWARD[signal.SIGHUP] = signal.SIGTERM

ROOT_HELP = (
    "JupyterLab refuses to run as root: a notebook could then do anything to this machine."
    " Run `synctools lab` as a normal user; or, where root is the only user (a container, a"
    " throwaway VM), pass --allow-root"
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lab",
        help="open JupyterLab at the synctools notebooks",
        description=(
            "Start JupyterLab in the notebooks folder (the walkthroughs: the stages of a sync, "
            "exploring your data, finding and fixing problems). Each notebook runs offline on the "
            "embedded demo stack, or on your account with Sync.from_session(). Extra arguments "
            "after -- go to JupyterLab (e.g. -- --port 8899). Stopping `synctools lab` (Ctrl-C, "
            "SIGTERM, closing the terminal) stops JupyterLab too."
        ),
    )
    p.add_argument(
        "--dir",
        metavar="PATH",
        help="folder to open (default: the notebooks of this checkout, else the current folder)",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (print the URL)")
    p.add_argument(
        "--allow-root",
        action="store_true",
        help="run even as root (JupyterLab refuses otherwise); only where root is the sole user, e.g. a container",
    )
    p.add_argument("--dry-run", action="store_true", help="print the command that would run, and exit")
    p.add_argument("extra", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run_lab)


def notebooks_dir() -> Path:
    """The checkout's ``notebooks/`` (next to the package), else the current folder."""
    candidate = Path(__file__).resolve().parents[2] / "notebooks"
    return candidate if candidate.is_dir() else Path.cwd()


def lab_command(
    folder: Path, *, no_browser: bool = False, allow_root: bool = False, extra: list[str] | None = None
) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}"]
    if no_browser:
        cmd.append("--no-browser")
    if allow_root:
        cmd.append("--allow-root")
    return cmd + [a for a in (extra or []) if a != "--"]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def run_lab(args: argparse.Namespace) -> int:
    folder = Path(args.dir).expanduser() if args.dir else notebooks_dir()
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder: give --dir PATH with the notebooks")
    allow_root = args.allow_root or "--allow-root" in args.extra
    cmd = lab_command(folder, no_browser=args.no_browser, allow_root=args.allow_root, extra=args.extra)
    if args.dry_run:
        out(shlex.join(cmd))
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise CommandError("JupyterLab is not installed in this environment: pip install jupyterlab")
    if _is_root() and not allow_root:
        raise CommandError(ROOT_HELP)
    return supervise(cmd)


def supervise(cmd: list[str]) -> int:
    """Run ``cmd``, pass stop signals on to it, wait for it; its exit status (a child
    killed by signal N gives 128 + N, as a shell reports it)."""
    child: subprocess.Popen[bytes] | None = None
    early: list[int] = []  # signals that came before the child existed

    def forward(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGINT and _terminal_sent_it_too():
            return  # Ctrl-C reached JupyterLab already: it asks, or stops on the second one
        if child is None:
            early.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(FORWARD[signal.Signals(signum)])

    # the handlers go in before the child starts, so no signal finds it unsupervised
    # (a child's exec resets caught signals to their defaults: JupyterLab sets its own)
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
        for sig in FORWARD:
            if signal.getsignal(sig) is not signal.SIG_IGN:  # `nohup synctools lab` stays immune to SIGHUP
                previous[sig] = signal.signal(sig, forward)
    try:
        if early:
            return 128 + early[0]
        child = subprocess.Popen(cmd)  # noqa: S603 - our own interpreter and arguments
        for signum in early:
            forward(signum, None)
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # no handler here (not the main thread): it has SIGINT too
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code if code >= 0 else 128 - code


def _terminal_sent_it_too() -> bool:
    """True when a SIGINT most likely came from Ctrl-C at our terminal: the terminal
    then signals its whole foreground process group, JupyterLab included."""
    try:
        return sys.stdin.isatty() and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
