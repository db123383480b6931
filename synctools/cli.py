"""The ``synctools`` command line.

Each subcommand lives beside the code it drives and registers itself here through a
``register(subparsers)`` function, so this module stays a table of contents.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .errors import CommandError, SynctoolsError

# module that provides register(subparsers) -> None; each sets args.func
COMMAND_MODULES = [
    "synctools.commands.serve",  # serve: the embedded stack
    "synctools.demo",
    "synctools.commands.account",  # login, logout, status
    "synctools.commands.data",  # pull, export, doctor, trace
    "synctools.commands.changes",  # discard, restore
    "synctools.commands.lab",
    "synctools.commands.device",  # device: a Firefox profile (docs/device.md)
    "synctools.commands.snapshot",  # snapshot
    "synctools.commands.check_server",  # check-server: a self-hosted setup, link by link
]


__all__ = ["COMMAND_MODULES", "CommandError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Sync ids are base64url and may start with "-": argparse takes them for options
        odd = [a for a in message.partition("unrecognized arguments: ")[2].split() if a[:1] == "-" and a[1:2] != "-"]
        if odd and len(odd[0]) > 2:
            message += f" (a record id that starts with '-' goes after '--', e.g. `... -- {odd[0]}`)"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="synctools",
        description="Inspect and debug Firefox Sync account data; run a local sync stack.",
    )
    parser.add_argument("--version", action="version", version=f"synctools {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SynctoolsError as exc:  # CommandError, and any other error raised on purpose
        print(f"synctools: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `synctools export ... -o - | head`: the reader left, nothing is wrong
        # Python would report the failed flush at exit; point stdout at nothing instead
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    # `python -m synctools.cli` runs this file as __main__; use the importable module so
    # the CommandError that subcommands raise is the class main() catches.
    from synctools.cli import main as _main

    sys.exit(_main())
