"""``synctools serve``: run the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run a local Firefox Sync stack (accounts, tokenserver, storage)",
        description=(
            "Run the embedded Firefox Sync stack: an accounts service, a tokenserver and "
            "two storage nodes on one port. With --storage-only, one storage node at the "
            "root that accepts tokens minted with --secret (as syncstorage-rs does)."
        ),
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1; the admin API answers loopback clients only)",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument(
        "--data-dir",
        default=None,
        help="keep data here (SQLite files); default: a temporary directory removed on exit",
    )
    p.add_argument("--demo", action="store_true", help="create the demo account and load its records")
    p.add_argument("--snapshot", metavar="FILE", help="load a snapshot (synctools snapshot -o FILE) or an about:sync "
                   "export into a new account, under fresh keys; its email and password are printed")  # fmt: skip
    p.add_argument(
        "--storage-only",
        action="store_true",
        help="serve one storage node at /1.5/{uid}/... (needs --secret)",
    )
    p.add_argument("--secret", default=None, help="tokenserver/node master secret (default: random)")
    p.add_argument(
        "--admin-secret",
        default=os.environ.get("SYNCTOOLS_ADMIN_SECRET"),
        help="X-Admin-Secret for /__admin__/ (default: $SYNCTOOLS_ADMIN_SECRET or random, printed)",
    )
    from synctools.server.misconfig import KINDS

    p.add_argument(
        "--misconfigure",
        action="append",
        default=[],
        metavar="KIND",
        choices=list(KINDS),
        help="reproduce a self-hosting mistake, for `synctools check-server` (repeatable): " + ", ".join(KINDS),
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from synctools.errors import CommandError
    from synctools.server.stack import LocalStack

    if args.storage_only and not args.secret:
        raise CommandError("--storage-only needs --secret S: the node checks tokens signed with that secret")
    if args.storage_only and args.demo:
        raise CommandError("--demo needs the full stack; drop --storage-only")
    if args.storage_only and args.snapshot:
        raise CommandError("--snapshot needs the full stack; drop --storage-only")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be 0..65535, got {args.port}")
    stack = LocalStack(
        demo=args.demo,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        secret=args.secret,
        storage_only=args.storage_only,
        admin_secret=args.admin_secret,
        snapshot=args.snapshot,
        misconfigure=args.misconfigure,
    )
    try:
        stack.start()
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    except ValueError as exc:  # SnapshotError (not a snapshot), or a misconfiguration this stack cannot take
        stack.stop()
        raise CommandError(str(exc)) from None
    stopped = threading.Event()
    try:
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    except ValueError:  # pragma: no cover - not the main thread
        pass
    try:
        print_banner(stack, show_admin_secret=args.admin_secret is None)
        sys.stdout.flush()
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("synctools: stack stopped", file=sys.stderr)
    return 0


def print_banner(stack: Any, show_admin_secret: bool) -> None:
    print(f"synctools local sync stack at {stack.url}")
    if stack.storage_only:
        print(f"  storage node  {stack.url}/1.5/{{uid}}  (tokens signed with the --secret given)")
    else:
        print(f"  accounts      {stack.auth_url}")
        print(f"  profile       {stack.profile_url}")
        print(f"  tokenserver   {stack.token_url}")
        for n, node in enumerate(stack.nodes, 1):
            print(f"  storage {n}     {node}/1.5/{{uid}}")
    print(f"  admin API     {stack.admin_url}/<method>  (POST JSON, header X-Admin-Secret)")
    if show_admin_secret:
        # A local, loopback-only development credential, like Jupyter's token: the person
        # needs it to use the admin API at all.
        print(f"  admin secret  {stack.admin_secret}")
    for kind, params in stack.misconfig.active().items():
        from synctools.server.misconfig import KINDS

        shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "limits")
        print(f"  MISCONFIGURED {kind}: {KINDS[kind].summary}" + (f" ({shown})" if shown else ""))
    snap = getattr(stack, "snapshot_account", None)
    if snap is not None:
        print(f"snapshot account ({snap.records} records, from {snap.source}):")
        print(f"  email     {snap.email}")
        print(f"  password  {snap.password}")
    demo = stack.demo_account
    if demo is not None:
        print("demo account:")
        print(f"  email     {demo.email}")
        print(f"  password  {demo.password}")
    print("Press Ctrl-C to stop.")
