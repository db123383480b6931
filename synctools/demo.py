"""``synctools demo``: the main job, end to end, on the embedded demo stack.

Starts the local stack with the demo account, runs every stage of one sync, prints
per collection what was downloaded and what failed and why, stages one small edit,
prints the plan and its diff, commits it, and checks that the server holds it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import pandas as pd


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run one whole sync on the embedded demo stack (offline, about ten seconds)",
        description=(
            "Start the embedded sync stack with its demo account, run every stage of a sync, "
            "show what failed to decrypt and why, stage one edit, review it, commit it and "
            "verify the server has it. Nothing leaves this machine."
        ),
    )
    p.add_argument("--quiet", action="store_true", help="print only the summary lines")
    p.set_defaults(func=lambda args: run_demo(out=sys.stdout, quiet=args.quiet))


def _say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


def run_demo(out: TextIO = sys.stdout, quiet: bool = False) -> int:
    from synctools import LocalStack, Sync
    from synctools.results import MetaGlobalResult

    t0 = time.perf_counter()
    with LocalStack(demo=True) as stack:
        acct = stack.demo_account
        _say(out, f"embedded stack at {stack.url} — demo account {acct.email}")
        sync = Sync.local(stack)
        for result in sync.run(until="fetch_crypto_keys"):  # setup: the stages the table walks to READY
            _say(out, f"  {result.stage:18s} → {result.state:12s} ({len(result.requests)} request(s))")
            for w in result.warnings:
                _say(out, f"      ! {w}")
        mg = sync.results["fetch_meta_global"]
        assert isinstance(mg, MetaGlobalResult) and mg.meta_global is not None
        _say(out, f"  meta/global: storage version {mg.meta_global.storage_version}, declined: "
                  f"{', '.join(sorted(mg.meta_global.declined)) or 'none'}")  # fmt: skip
        download = sync.download()
        _say(out, "\nDownloaded, per collection:")
        table = pd.DataFrame(download.collections)[["collection", "downloaded", "failed", "pages", "errors"]]
        _say(out, table.to_string(index=False))
        errors = sync.errors()
        if len(errors):
            _say(out, f"\n{len(errors)} record(s) failed to decrypt or validate (shown, never hidden):")
            for row in errors.itertuples():
                _say(out, f"  {row.collection}/{row.id}: {row.reason} — {row.error if not quiet else ''}".rstrip(" —"))
        sync.merge()
        bookmarks = sync.records("bookmarks")
        target = next(
            rid for rid, rec in sorted(bookmarks.items())
            if rec.get("type") == "bookmark" and rec.get("title") and not rec.get("deleted")
        )  # fmt: skip
        old_title = bookmarks[target]["title"]
        new_title = f"{old_title} (edited by synctools)"
        sync.edit("bookmarks", target, {"title": new_title})
        sync.merge()
        plan = sync.plan_upload()
        _say(out, "\nStaged one edit. The plan (nothing written yet):")
        _say(out, repr(plan))
        _say(out, "Diff of bookmarks/" + target + ":")
        _say(out, plan.diff("bookmarks", target).to_string(index=False))
        commit = sync.commit(plan)
        _say(out, f"\nCommitted: {commit.status}; snapshot #{commit.snapshot} can restore the old version.")
        # verify with a second, independent sync: what any other device would now read
        check = Sync.local(stack)
        check.run(until="download")
        got = check.records("bookmarks").get(target, {}).get("title")
        ok = got == new_title
        _say(out, f"Verified on the server: bookmarks/{target} title = {got!r} → {'OK' if ok else 'MISMATCH'}")
        _say(out, f"\ndemo finished in {time.perf_counter() - t0:.1f}s; "
                  f"{len(sync.trace_log.exchanges)} HTTP exchanges traced (see Sync.trace).")  # fmt: skip
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run_demo(quiet="--quiet" in sys.argv))
