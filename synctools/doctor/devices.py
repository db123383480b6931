"""Clients and tabs: stale devices, duplicate names, tabs without a device, devices without tabs.

A client record's age says when its device last synced: Firefox rewrites its own record
at least once a week (``CLIENTS_TTL_REFRESH``), so one untouched for three weeks belongs
to a device that stopped syncing. Servers never return a record's ttl, but an expired
record still leaves a trace: its device's client record with no tabs record beside it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .context import Context
from .model import Finding, Fix, Op, register

STALE_DAYS = 21
CLIENTS_TTL_DAYS = 180  # what Firefox sets on client records
OLD_TABS_TTL_DAYS = 7  # what older Firefox releases set on tabs records

STALE = register("clients.stale", "warning", "a device's client record has not been rewritten for weeks: the device stopped syncing")
DUP_NAME = register("clients.duplicate-name", "info", "two or more devices share one name")
TABS_ORPHAN = register("tabs.orphan", "warning", "a tabs record for a device that has no client record")
TABS_MISSING = register("tabs.missing", "warning", "a device in clients has no tabs record: it never uploaded one, or its record expired (ttl)")


def check_devices(ctx: Context) -> Iterator[Finding]:
    if "clients" not in ctx.downloaded:
        return
    clients = ctx.records("clients")
    stale: set[str] = set()
    for rid, rec in sorted(clients.items()):
        age = ctx.age_days("clients", rid)
        if age is None or age < STALE_DAYS:
            continue
        stale.add(rid)
        raw = rec.get("commands")
        commands: list[Any] = raw if isinstance(raw, list) else []
        pending = f" It still has {len(commands)} pending command(s) that will never run." if commands else ""
        ops = [Op("delete", "clients", rid)]
        if rid in ctx.records("tabs"):
            ops.append(Op("delete", "tabs", rid))
        left = CLIENTS_TTL_DAYS - age
        expiry = (f" Left alone, the server drops the record about {left:.0f} day(s) from now (Firefox's {CLIENTS_TTL_DAYS}-day "
                  "ttl on client records)." if left > 0 else "")  # fmt: skip
        yield Finding(STALE, "warning", "clients", [rid],
                      f"Device {rid} ({rec.get('type', '?')}, {rec.get('os', '?')}, Firefox {rec.get('version', '?')}) "
                      f"last wrote its client record {age:.0f} days ago; Firefox rewrites it at least weekly, so the "
                      f"device stopped syncing.{pending} Other devices still list it (e.g. in 'send tab').{expiry} "
                      "If the device is gone, remove its record (and disconnect it in the account settings); if it "
                      "comes back, it uploads a new one.",
                      Fix(f"delete the client record of device {rid}" + (" and its tabs" if len(ops) > 1 else ""), tuple(ops)),
                      facts={"days_since_write": round(age), "pending_commands": len(commands)})  # fmt: skip
    names: dict[str, list[str]] = defaultdict(list)
    for rid, rec in clients.items():
        if isinstance(rec.get("name"), str):
            names[rec["name"]].append(rid)
    for _name, ids in sorted(names.items(), key=lambda kv: sorted(kv[1])):
        if len(ids) > 1:
            yield Finding(DUP_NAME, "info", "clients", sorted(ids),
                          f"{len(ids)} devices ({', '.join(sorted(ids))}) share one name, so menus such as 'send tab' "
                          "cannot tell them apart; often one of them is an old install of the same device. Rename one "
                          "in its Firefox settings (names are written by the device itself).", facts={"devices": len(ids)})  # fmt: skip
    if not ctx.engine_enabled("tabs"):
        return
    tabs = ctx.records("tabs") if "tabs" in ctx.downloaded else {}
    for rid in sorted(set(tabs) - set(clients)):
        yield Finding(TABS_ORPHAN, "warning", "tabs", [rid],
                      f"Tabs record {rid} belongs to no device in clients: the device was removed but its tabs stayed, "
                      "so other devices may show tabs of a device that no longer exists.",
                      Fix(f"delete tabs record {rid}", (Op("delete", "tabs", rid),)))  # fmt: skip
    for rid in sorted(set(clients) - set(tabs)):
        age = ctx.age_days("clients", rid) or 0.0
        if age > OLD_TABS_TTL_DAYS:
            why = (f"Its device last synced {age:.0f} days ago, so its tabs record most likely expired: tabs records carry "
                   f"a ttl (older Firefox releases used {OLD_TABS_TTL_DAYS} days) and the server hides expired records. "
                   "Only that device can upload its tabs again; if it is gone, see clients.stale.")  # fmt: skip
            severity = "warning"
        else:
            why = ("The device synced recently, so it has not uploaded tabs yet (first sync in progress), or it "
                   "does not sync tabs.")
            severity = "info"
        yield Finding(TABS_MISSING, severity, "tabs", [rid],
                      f"Device {rid} is in clients but has no tabs record on the server. {why}",
                      facts={"days_since_client_write": round(age), "stale": rid in stale})  # fmt: skip
