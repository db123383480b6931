"""``synctools discard`` and ``restore``: staged changes and snapshots in the local store.

``discard`` drops staged changes (``Sync.discard``) after showing them; it never talks
to the server. ``restore`` lists the snapshots every commit keeps, or plans putting one
back (``Sync.restore``) and shows the plan; like every write, it commits only with
``--commit`` and a confirmation (or ``--yes``). Neither leaves behind anything staged
that a later plan could carry unseen.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from synctools.errors import CommandError

from ._common import (
    add_server_options,
    commit_plan,
    confirm,
    expected_errors,
    open_sync,
    out,
    ready,
    refuse_if_staged,
    say,
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "discard",
        help="drop changes staged in the local store (one record, a collection, or all)",
        description=(
            "Show the staged changes chosen (edits, additions, deletions and restores waiting in the local "
            "store for a plan) and drop them after you confirm. Nothing on the server changes: staged "
            "changes were never written. Only the ids and kinds are shown, so this works even when a "
            "staged record no longer decrypts."
        ),
        epilog="examples:\n  synctools discard --all\n  synctools discard bookmarks\n"
        "  synctools discard bookmarks WPu_yEqOeNf5 --yes\n"
        "  synctools discard --yes bookmarks -- -1AXGV7cT8IR   # an id starting with '-' goes after --",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("collection", metavar="COLLECTION", nargs="?", help="the collection whose staged changes to drop")
    p.add_argument("record_id", metavar="ID", nargs="?", help="only this record's staged change")
    p.add_argument("--all", action="store_true", help="every staged change, of every collection")
    p.add_argument("--yes", action="store_true", help="drop without asking")
    add_server_options(p, local=False)
    p.set_defaults(func=expected_errors(run_discard))

    p = subparsers.add_parser(
        "restore",
        help="list snapshots, or plan putting one back (commit with --commit)",
        description=(
            "Every commit first keeps a snapshot of the server records it replaces. Without SNAPSHOT, list "
            "them. With SNAPSHOT, download the collections it touches, stage the old versions (a record "
            "that did not exist gets a tombstone), and show the upload plan, guarded by "
            "X-If-Unmodified-Since like any other. Nothing is written unless you add --commit and confirm "
            "(or --yes); nothing stays staged afterwards."
        ),
        epilog="examples:\n  synctools restore\n  synctools restore 3            # the plan only\n"
        "  synctools restore 3 --commit   # the plan, then commit after you confirm",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("snapshot", metavar="SNAPSHOT", nargs="?", type=int, help="the snapshot to put back (see the list)")
    p.add_argument("--commit", action="store_true", help="commit the plan after you confirm it")
    p.add_argument("--yes", action="store_true", help="with --commit: commit without asking")
    add_server_options(p, local=False)
    p.set_defaults(func=expected_errors(run_restore))


def run_discard(args: argparse.Namespace) -> int:
    if args.all and args.collection:
        raise CommandError("give COLLECTION [ID] or --all, not both")
    with open_sync(args) as sync:
        sync.authenticate()  # a saved session with keys: no network, just the keys and the store
        staged = sync.store.staged_index()
        if not args.all and not args.collection:
            counts = _counts(staged)
            raise CommandError("say what to discard: COLLECTION [ID], or --all"
                               + (f" (staged now: {counts})" if staged else " (nothing is staged)"))  # fmt: skip
        chosen = [
            (c, rid, kind) for c, rid, kind in staged
            if args.all or (c == args.collection and args.record_id in (None, rid))
        ]  # fmt: skip
        if not chosen:
            if args.all:
                out("nothing is staged")
                return 0
            what = args.collection + (f"/{args.record_id}" if args.record_id else "")
            raise CommandError(
                f"nothing is staged for {what}" + (f" (staged now: {_counts(staged)})" if staged else "")
            )
        for c, rid, kind in chosen:
            out(f"  {kind:7s} {c}/{rid}")
        if not confirm(f"Drop these {len(chosen)} staged change(s)?", yes=args.yes, flag="discard"):
            say("nothing dropped")
            return 0
        dropped = sum(sync.discard(c, rid) for c, rid, _ in chosen)
        out(f"dropped {dropped} staged change(s); the server was not touched")
    return 0


def _counts(staged: list[tuple[str, str, str]]) -> str:
    counts: dict[str, int] = {}
    for c, _, _ in staged:
        counts[c] = counts.get(c, 0) + 1
    return ", ".join(f"{c} ({n})" for c, n in sorted(counts.items()))


def run_restore(args: argparse.Namespace) -> int:
    if args.snapshot is None and (args.commit or args.yes):
        raise CommandError("--commit and --yes need a SNAPSHOT: run `synctools restore` to list them")
    if args.yes and not args.commit:
        raise CommandError("--yes goes with --commit (it commits without asking)")
    if args.commit and not args.yes and not sys.stdin.isatty():
        raise CommandError("--commit asks before it writes: run it in a terminal, or add --yes")
    with open_sync(args) as sync:
        sync.authenticate()  # the list needs only the store: no network with a saved session
        snapshots = sync.store.snapshots()
        if args.snapshot is None:
            _list(snapshots)
            return 0
        if args.snapshot not in {s.snapshot for s in snapshots}:
            have = ", ".join(str(s.snapshot) for s in snapshots) or "none yet (each commit makes one)"
            raise CommandError(f"no snapshot {args.snapshot} in the local store; there are: {have}")
        refuse_if_staged(sync, "restore")
        records = sync.store.snapshot_records(args.snapshot)
        collections = sorted({r.collection for r in records})
        ready(sync)
        sync.download(collections)  # the plan is guarded by what is on the server now
        try:
            plan = sync.restore(args.snapshot)
            out(repr(plan))
            if not args.commit:
                say("not committed (a plan only): add --commit to write it")
                return 0
            if not confirm(f"Put snapshot #{args.snapshot} back on the server?", yes=args.yes, flag="--commit"):
                say("not committed; nothing was written")
                return 0
            commit_plan(sync, plan)
        finally:  # what this command staged and did not write must not ride along with a later plan
            for r in records:
                sync.store.unstage(r.collection, r.id)
    return 0


def _list(snapshots: list[Any]) -> None:
    if not snapshots:
        out("no snapshots yet: each commit keeps one of the records it replaces")
        return
    out(f"{'snapshot':>8}  {'taken (UTC)':16}  {'records':>7}  label / node")
    for s in snapshots:
        when = datetime.fromtimestamp(s.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        out(f"{s.snapshot:>8}  {when:16}  {s.records:>7}  {s.label}" + (f" ({s.node})" if s.node else ""))
    out("`synctools restore SNAPSHOT` shows the plan that puts one back; --commit writes it")
