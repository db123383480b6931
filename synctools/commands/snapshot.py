"""``synctools snapshot``: an anonymised copy of the account that reproduces its problems."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from synctools.errors import CommandError

from ._common import add_server_options, expected_errors, open_sync, say


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "snapshot",
        help="write an anonymised copy of the account that reproduces its problems anywhere",
        description=(
            "Download the account and write a snapshot: every record id, the bookmark tree's shape, "
            "timestamps, sizes and the kind of every failure, with every string replaced consistently "
            "(same string, same replacement; URLs stay URLs Firefox accepts or rejects as before). No key, "
            "password, email or token is written. Load it with `synctools serve --snapshot FILE` (or "
            "LocalStack(snapshot=FILE)) and the doctor finds the same problems there. --from-aboutsync "
            "converts an about:sync export instead of reading an account."
        ),
        epilog="examples:\n  synctools snapshot -o account.json.gz\n"
        "  synctools snapshot --from-aboutsync aboutsync-export.json -o shared.json.gz\n"
        "  synctools serve --snapshot account.json.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write (gzip'd when it ends in .gz)")
    p.add_argument(
        "--from-aboutsync", metavar="EXPORT", help="anonymise an about:sync JSON export instead of an account"
    )
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_snapshot))


def run_snapshot(args: argparse.Namespace) -> int:
    from synctools.snapshots import from_aboutsync, snapshot, write

    out = Path(args.output)
    try:
        if args.from_aboutsync:
            data = from_aboutsync(args.from_aboutsync)
            write(data, out)
        else:
            with open_sync(args, progress=True) as sync:
                data = snapshot(sync, out)
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    counts = ", ".join(f"{c} {len(es)}" for c, es in sorted(data["collections"].items()))
    say(f"snapshot written to {out}: {counts}. Load it with: synctools serve --snapshot {out}")
    return 0
