"""``synctools device PATH``: what a Firefox profile holds for Sync, and its frames exported.

The profile is only read (copies of its databases, never the files themselves), so this
is safe on the profile of a running Firefox.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from synctools.errors import CommandError

from ._common import out, say

FORMATS = ("csv", "json", "parquet")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "device",
        help="summarise a Firefox profile's sync state (data, prefs, logs, pings); export its frames",
        description=(
            "Read a Firefox profile folder (about:profiles shows yours) without changing it: the "
            "signed-in account, Sync's prefs, bookmarks (with how many Firefox has not uploaded yet), "
            "logins (never their usernames or passwords), form history, history, the syncs in "
            "weave/logs and the sync pings. --export writes every frame to a folder."
        ),
        epilog="examples:\n  synctools device ~/.mozilla/firefox/abcd1234.default-release\n"
        "  synctools device PROFILE --json                 # the summary as JSON\n"
        "  synctools device PROFILE --export out/ --format parquet\n"
        "  synctools doctor --profile PROFILE              # the account and this device, checked together",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="the Firefox profile folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--export", metavar="DIR", help="write every frame (bookmarks, history, visits, logins, forms, "
                   "prefs, account, log, syncs, pings, …) into DIR")  # fmt: skip
    p.add_argument("--format", choices=FORMATS, default="csv", help="with --export: file format (default: csv)")
    p.add_argument(
        "--syncs", type=int, default=10, metavar="N", help="how many of the latest syncs to list (default: 10)"
    )
    p.set_defaults(func=run_device)


def open_profile(path: str) -> Any:
    from synctools.device import DeviceError, Profile

    try:
        return Profile(path)
    except DeviceError as exc:
        raise CommandError(str(exc)) from None


def summary(profile: Any, n_syncs: int = 10) -> dict[str, Any]:
    """The facts the command prints, as plain data (also its --json)."""
    acct = profile.account()
    bm = profile.bookmarks()
    live = bm[(bm["deleted"] == False) & (bm["syncable"] == True)]  # noqa: E712
    logins = profile.logins()
    ls = logins[logins["syncable"] == True]  # noqa: E712
    s = profile.settings
    syncs = profile.syncs()
    pings = profile.pings()
    last = syncs.tail(n_syncs)
    return {
        "profile": str(profile.path),
        "firefox": profile.firefox_version,
        "notes": profile.notes,
        "account": None
        if acct.empty
        else {
            "email": acct["email"].iloc[0],
            "uid": acct["id"].iloc[0],
            "verified": bool(acct["verified"].iloc[0]) if pd.notna(acct["verified"].iloc[0]) else None,
            "device_id": acct["device_id"].iloc[0],
        },
        "sync": {
            "configured": s.configured,
            "username": s.username,
            "device": s.client_name,
            "client_id": s.client_id,
            "last_sync": None if s.last_sync is None else s.last_sync.isoformat(),
            "engines_on": sorted(k for k, v in s.engines.items() if v),
            "engines_off": sorted(k for k, v in s.engines.items() if not v),
            "declined": s.declined,
        },
        "bookmarks": {
            "items": len(live),
            "never_uploaded": int((live["sync_status"] == "new").sum()),
            "changed_since_upload": int((live["sync_change_counter"].fillna(0) > 0).sum()),
            "tombstones": int(bm["deleted"].sum()),
            "errors": int(bm["error"].notna().sum()),
        },
        "logins": {
            "saved": int((ls["deleted"] == False).sum()),  # noqa: E712
            "waiting_upload": int((ls["sync_counter"].fillna(0) > 0).sum()),
            "tombstones": int(ls["deleted"].sum()),
        },
        "forms": int((profile.forms()["deleted"] == False).sum()),  # noqa: E712
        "history_pages": len(profile.history(limit=None)),
        "syncs": [
            {
                "id": r.id,
                "start": r.start.isoformat(),
                "outcome": r.outcome,
                "status": r.status if isinstance(r.status, str) else None,
                "errors": (r.http_errors or []) + (r.record_errors or []),
            }
            for r in last.itertuples()
        ],
        "syncs_in_logs": len(syncs),
        "pings": len(pings.main),
    }


def _text(s: dict[str, Any]) -> str:
    a = s["account"]
    lines = [f"profile: {s['profile']} (Firefox {s['firefox'] or 'unknown'})"]
    lines += [f"note: {n}" for n in s["notes"]]
    lines.append(f"account: {a['email']} (uid {a['uid']}, device {a['device_id']})" if a else "account: not signed in")
    y = s["sync"]
    if y["configured"]:
        lines.append(f"sync: as {y['username']}, device {y['device']!r} ({y['client_id']}), last sync {y['last_sync']}")
        lines.append(f"engines on: {', '.join(y['engines_on'])}; off: {', '.join(y['engines_off']) or 'none'}; "
                     f"declined: {', '.join(y['declined']) or 'none'}")  # fmt: skip
    else:
        lines.append("sync: not set up in this profile (no services.sync.username)")
    b, lg = s["bookmarks"], s["logins"]
    lines.append(
        f"bookmarks: {b['items']} items, {b['never_uploaded']} never uploaded, {b['changed_since_upload']} "
        f"changed since the last upload, {b['tombstones']} deletions to upload, {b['errors']} with errors"
    )
    lines.append(
        f"logins: {lg['saved']} saved, {lg['waiting_upload']} waiting to be uploaded, {lg['tombstones']} deletions"
    )
    lines.append(f"forms: {s['forms']} entries; history: {s['history_pages']} pages; sync pings: {s['pings']}")
    lines.append(f"syncs in the logs: {s['syncs_in_logs']}" + (f" (the last {len(s['syncs'])}):" if s["syncs"] else ""))
    for r in s["syncs"]:
        lines.append(f"  {r['start'][:19]}  {r['outcome']:<10} {r['status'] or '':<40} {r['id']}")
        lines += [f"      {e[:150]}" for e in r["errors"][:3]]
    return "\n".join(lines)


def run_device(args: argparse.Namespace) -> int:
    from synctools import frames as fr

    profile = open_profile(args.path)
    from synctools.device import DeviceError

    try:
        facts = summary(profile, args.syncs)
        if args.json:
            out(json.dumps(facts, indent=2, default=str))
        else:
            out(_text(facts))
        if args.export:
            folder = Path(args.export)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CommandError(f"cannot create {folder}: {exc.strerror or exc}") from None
            for name, df in profile.frames().items():
                target = folder / f"{name}.{args.format}"
                try:
                    if args.format == "parquet":
                        fr.to_parquet(df, target)
                    elif args.format == "csv":
                        fr.to_csv(df, target)
                    else:
                        fr.to_json(df, target)
                except ImportError as exc:
                    raise CommandError(str(exc)) from None
                except OSError as exc:
                    raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
                say(f"{len(df):,} row(s) of {name} written to {target}")
    except DeviceError as exc:
        raise CommandError(str(exc)) from None
    finally:
        profile.close()
    sys.stdout.flush()
    return 0
