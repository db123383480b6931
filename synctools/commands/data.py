"""``synctools pull``, ``export``, ``doctor`` and ``trace``: the account's records."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd

from synctools.errors import CommandError

from ._common import (
    add_offline_option,
    add_server_options,
    check_writable,
    commit_plan,
    confirm,
    expected_errors,
    open_sync,
    out,
    ready,
    ready_or_offline,
    refuse_if_staged,
    say,
)

FORMATS = ("parquet", "csv", "json")
STAGES = ("authenticate", "exchange_token", "fetch_info", "fetch_meta_global", "fetch_crypto_keys", "download")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pull",
        help="download every collection into the local store (with progress)",
        description=(
            "Run a sync up to its download stage: read what changed on the server since the "
            "last pull (everything the first time), decrypt it and keep it in the local store, "
            "so export, doctor and notebooks start from there. Records that fail to decrypt are "
            "kept and counted, never dropped. Nothing is written to the server."
        ),
    )
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_pull))

    p = subparsers.add_parser(
        "export",
        help="write one collection as Parquet, CSV or JSON (secrets masked unless --reveal)",
        description=(
            "Download COLLECTION (only what changed since the last pull) and write it as a table: "
            "one row per record (history: per page; --part visits for one row per visit; tabs: "
            "per tab), typed columns, an 'error' column for records that did not decrypt. "
            "Passwords and card numbers are masked unless you pass --reveal."
        ),
        epilog="examples:\n  synctools export bookmarks --format csv -o bookmarks.csv\n"
        "  synctools export history --part visits --format parquet\n"
        "  synctools export passwords --format json -o - --reveal   # to stdout, passwords shown",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("collection", metavar="COLLECTION", help="bookmarks, history, passwords, tabs, clients, forms, ...")
    p.add_argument("--format", choices=FORMATS, default="csv", help="file format (default: csv)")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: COLLECTION[-PART].FORMAT; '-' = stdout for csv/json)",
    )
    p.add_argument(
        "--part",
        default="main",
        help="which frame: main (default), or a companion such as visits for history (see docs/dataframes.md)",
    )
    p.add_argument("--reveal", action="store_true", help="write passwords and card numbers in clear (the file "
                   "then holds secrets, and is made readable by you alone: mode 0600)")  # fmt: skip
    add_offline_option(p)
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_export))

    p = subparsers.add_parser(
        "doctor",
        help="check the account for problems and explain them (optionally fix them)",
        description=(
            "Download the account and run every check of synctools.doctor: meta/global and keys, "
            "records that do not decrypt (wrong key or altered), sizes, the bookmark tree (orphans, "
            "cycles, parents and children that disagree, roots, duplicates), stale devices and "
            "their tabs, history urls and visits, logins. Each finding says what is wrong and "
            "why; where a fix is safe it is proposed as edits. --fix stages them, shows the upload "
            "plan and commits it after you confirm."
        ),
    )
    p.add_argument("--share", metavar="FILE", help="also write an anonymized report (JSON) you can attach to a bug: "
                   "findings and record shapes, no urls, titles, names or keys")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the findings as JSON lines instead of text")
    p.add_argument(
        "--fix", action="store_true", help="stage every proposed fix, show the plan, commit after confirmation"
    )
    p.add_argument("--yes", action="store_true", help="with --fix: commit without asking")
    p.add_argument("--profile", metavar="PATH", help="also check this Firefox profile (read-only): records it never "
                   "uploaded, engines, storage node, failing syncs, backoff, 401s, clock, refused records")  # fmt: skip
    p.add_argument(
        "--fail-on",
        choices=("error", "warning", "info"),
        help="exit with status 3 when a finding is this severe or worse (for scripts and monitoring)",
    )
    add_offline_option(p)
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_doctor))

    p = subparsers.add_parser(
        "trace",
        help="run the sync stages and print every HTTP exchange (secrets redacted)",
        description=(
            "Run a sync up to --until and print the trace: one line per request with its service, "
            "method, URL, status, time and the server's signals (backoff, alerts, quota). Tokens, "
            "keys and passwords appear only as short fingerprints. --csv writes every column."
        ),
    )
    p.add_argument(
        "--until", choices=STAGES, default="fetch_crypto_keys", help="last stage to run (default: fetch_crypto_keys)"
    )
    p.add_argument("--csv", metavar="FILE", help="write the full trace (headers included) as CSV")
    add_server_options(p)
    p.set_defaults(func=expected_errors(run_trace))


def run_pull(args: argparse.Namespace) -> int:
    with open_sync(args, progress=True) as sync:
        ready(sync)
        result = sync.download()
        table = pd.DataFrame(result.collections)
        cols = [c for c in ("collection", "downloaded", "failed", "total", "pages", "errors") if c in table.columns]
        out(table[cols].to_string(index=False) if not table.empty else "the server holds no collections")
        for w in result.warnings:
            say(f"warning: {w}")
        failed = int(table["failed"].sum()) if "failed" in table else 0
        if failed:
            say(f"{failed} record(s) did not decrypt: `synctools doctor` explains why")
        if sync.store is not None and sync.store.path is not None:
            say(f"local store: {sync.store.path}")
        changed = [r["collection"] for r in result.collections if r.get("errors") == "changed during read"]
        if changed:
            raise CommandError(f"{', '.join(changed)} changed on the server while being read and"
                               " were not stored: run `synctools pull` again")  # fmt: skip
    return 0


def run_export(args: argparse.Namespace) -> int:
    from synctools import frames

    if args.output == "-" and args.format == "parquet":
        raise CommandError("Parquet cannot go to stdout: give -o FILE")
    check_writable(args.output, "-o")
    with open_sync(args) as sync:

        def online() -> None:
            ready(sync)
            if args.collection not in sync.info_collections:
                have = ", ".join(sorted(c for c in sync.info_collections if c not in ("meta", "crypto"))) or "none"
                raise CommandError(f"the server has no {args.collection!r} collection; it has: {have}")
            sync.download([args.collection])

        if ready_or_offline(sync, args, online, collections=[args.collection]):
            _offline_collection(sync, args.collection)
        parts = sync.collection_frames(args.collection, reveal=args.reveal)
        if args.part not in parts.names():
            raise CommandError(f"{args.collection} has no part {args.part!r}; it has: {', '.join(parts.names())}")
        df = parts[args.part]
        suffix = "" if args.part == "main" else f"-{args.part}"
        target = args.output or f"{args.collection}{suffix}.{args.format}"
        stdout = target == "-"
        try:
            if stdout:
                text = (frames.to_csv if args.format == "csv" else frames.to_json)(df, None, reveal=args.reveal)
                sys.stdout.write((text or "") + ("\n" if text and not text.endswith("\n") else ""))
            else:
                with _output(target, private=args.reveal, binary=args.format == "parquet") as fh:
                    dest: Any = fh  # pandas writes to an open file as well as to a path
                    if args.format == "parquet":
                        frames.to_parquet(df, dest, reveal=args.reveal)
                    elif args.format == "csv":
                        frames.to_csv(df, dest, reveal=args.reveal)
                    else:
                        frames.to_json(df, dest, reveal=args.reveal)
        except ImportError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
        where = "stdout" if stdout else target
        say(f"{len(df):,} row(s) of {args.collection}{suffix} written to {where} ({args.format})"
            + ("; secrets are REVEALED in it" if args.reveal else ""))  # fmt: skip
    return 0


def _offline_collection(sync: Any, collection: str) -> None:
    """Offline, the collection must be in the local store; say how old it is."""
    from synctools.protocol.bso import ServerTime

    if sync.state.value != "downloaded":
        ready(sync)  # says why records cannot be read (fresh start, upgrade)
    have = {c: n for c, n in sync.store.mirror_collections().items() if c not in ("meta", "crypto")}
    if collection not in have:
        listed = ", ".join(sorted(have)) or "nothing"
        raise CommandError(f"the local store holds no {collection!r} (it holds: {listed}): export it when"
                           " the server answers, or `synctools pull` it then")  # fmt: skip
    last = sync.store.last_sync(collection)
    if last:
        when = datetime.fromtimestamp(int(ServerTime(last)) / 100, UTC).strftime("%Y-%m-%d %H:%M UTC")
        say(f"{collection}: as downloaded last, with the server's changes up to {when}")


def _output(target: str, *, private: bool, binary: bool) -> IO[Any]:
    """The export's file. A file with secrets in clear (``--reveal``) is made as the
    session file is (``write_private``: a new 0600 file in place of whatever was there,
    however wide its mode), then filled; others get the usual umask."""
    if private:
        from synctools.net.sessionfile import write_private

        write_private(target, {})
        fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
        return os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
    return open(target, "wb") if binary else open(target, "w", encoding="utf-8", newline="")  # noqa: SIM115


def run_doctor(args: argparse.Namespace) -> int:
    from synctools import doctor

    check_writable(args.share, "--share")
    if args.yes and not args.fix:
        raise CommandError("--yes goes with --fix (it commits the fixes without asking)")
    if args.fix and not args.yes and not sys.stdin.isatty():
        raise CommandError("--fix asks before it writes: run it in a terminal, or add --yes")
    profile = None
    if args.profile:
        from .device import open_profile

        profile = open_profile(args.profile)  # a folder that is not a profile stops here, before any login
    with open_sync(args, progress=False) as sync:
        if args.fix:
            if args.offline:
                raise CommandError("--fix commits to the server: it cannot work --offline")
            sync.authenticate()
            refuse_if_staged(sync, "doctor --fix")
        offline = ready_or_offline(sync, args, lambda: _setup_and_download(sync))
        if offline and args.fix:
            raise CommandError("the fixes need the server, which did not answer: run `synctools doctor --fix`"
                               " again when it does (`synctools doctor` works offline)")  # fmt: skip
        report = doctor.check(sync, profile=profile)
        if args.json:
            for row in report.frame.to_dict(orient="records"):
                out(json.dumps(row, default=str))
        else:
            out(str(report))
        if args.share:
            path = Path(args.share)
            try:
                path.write_text(json.dumps(report.anonymized(), indent=2), "utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
            say(f"anonymized report written to {path} (no urls, titles, names or keys: check it before sharing)")
        if args.fix:
            report = _fix(sync, report, args.yes)
    if args.fail_on:
        worst = doctor.SEVERITIES[: doctor.SEVERITIES.index(args.fail_on) + 1]
        if any(f.severity in worst for f in report):
            return 3
    return 0


def _setup_and_download(sync: Any) -> None:
    sync.run(until="download")  # the doctor reports fresh-start and upgrade states itself


def _fix(sync: Any, report: Any, yes: bool) -> Any:
    """Stage, show, confirm, commit; returns the report that now holds."""
    from synctools import doctor

    if not report.fixable:
        say("no finding has a proposed fix: nothing to do")
        return report
    report.stage_fixes(sync)
    try:
        for f in report.fixable:
            if f.fix.caution:
                say(f"caution ({f.check}, {f.collection}): {f.fix.caution}")
        merged = sync.merge()
        plan = sync.plan_upload()
        out()
        out(repr(plan))
        if merged.conflicts:
            say(f"{len(merged.conflicts)} record(s) changed on the server meanwhile and are left out; run doctor again")
        if not confirm("Commit this plan to the server?", yes=yes, flag="--fix"):
            say("not committed; nothing was written and nothing is left staged")
            return report
        commit_plan(sync, plan)
    finally:  # what this command staged and did not write must not ride along with a later plan
        _discard_all(sync)
    after = doctor.check(sync, refresh=True)
    out()
    out("after the fixes: " + str(after))
    return after


def _discard_all(sync: Any) -> None:
    if sync.store is not None:
        for collection in sorted({c for c, _, _ in sync.store.staged_index()}):
            sync.discard(collection)


def run_trace(args: argparse.Namespace) -> int:
    check_writable(args.csv, "--csv")  # before any request: a typo in the path costs nothing
    unwritten: str | None = None
    with open_sync(args) as sync:
        try:
            sync.run(until=args.until)
        finally:
            frame = sync.trace
            if args.csv:
                try:
                    frame.to_csv(args.csv, index=False)
                    say(f"trace written to {args.csv}")
                except OSError as exc:  # reported, without hiding an error of the sync itself
                    unwritten = f"cannot write the trace to {args.csv}: {exc.strerror or exc}"
                    say(f"synctools: error: {unwritten}")
            cols = [c for c in ("service", "method", "url", "status", "elapsed_ms", "signals") if c in frame.columns]
            with pd.option_context("display.max_colwidth", 90, "display.width", 200):
                out(frame[cols].to_string(index=False) if not frame.empty else "no requests were made")
        out(f"state: {sync.state.value}")
    return 1 if unwritten else 0
