"""``synctools lab``: open JupyterLab at the notebooks."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from synctools.cli import CommandError

from ._common import out


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "lab",
        help="open JupyterLab at the synctools notebooks",
        description=(
            "Start JupyterLab in the notebooks folder (the walkthroughs: the stages of a sync, "
            "exploring your data, finding and fixing problems). Each notebook runs offline on the "
            "embedded demo stack, or on your account with Sync.from_session(). Extra arguments "
            "after -- go to JupyterLab (e.g. -- --port 8899)."
        ),
    )
    p.add_argument("--dir", metavar="PATH", help="folder to open (default: the notebooks of this checkout, else the current folder)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser (print the URL)")
    p.add_argument("--dry-run", action="store_true", help="print the command that would run, and exit")
    p.add_argument("extra", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run_lab)


def notebooks_dir() -> Path:
    """The checkout's ``notebooks/`` (next to the package), else the current folder."""
    candidate = Path(__file__).resolve().parents[2] / "notebooks"
    return candidate if candidate.is_dir() else Path.cwd()


def lab_command(folder: Path, *, no_browser: bool = False, extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}"]
    if no_browser:
        cmd.append("--no-browser")
    return cmd + [a for a in (extra or []) if a != "--"]


def run_lab(args: argparse.Namespace) -> int:
    folder = Path(args.dir).expanduser() if args.dir else notebooks_dir()
    if not folder.is_dir():
        raise CommandError(f"{folder} is not a folder: give --dir PATH with the notebooks")
    cmd = lab_command(folder, no_browser=args.no_browser, extra=args.extra)
    if args.dry_run:
        out(shlex.join(cmd))
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        raise CommandError("JupyterLab is not installed in this environment: pip install jupyterlab")
    env = dict(os.environ)
    try:
        return subprocess.call(cmd, env=env)  # noqa: S603 - our own interpreter and arguments
    except KeyboardInterrupt:
        return 130
