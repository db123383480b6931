"""Clients and tabs: against the account's device list, stale devices, duplicate names,
tabs without a device, devices without tabs.

Firefox's clients engine (``_fetchFxADevices``, ``_processIncoming``) hides a client
record whose ``fxaDeviceId`` is not in the account's device list (``/account/devices``:
the device was disconnected), and of two records with one ``fxaDeviceId`` the older.
The doctor reads the same list through the sync's session; without one (an OAuth-only
session) those checks are skipped and the report says so.

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
from .model import Finding, Fix, Link, Op, register

STALE_DAYS = 21
CLIENTS_TTL_DAYS = 180  # what Firefox sets on client records
OLD_TABS_TTL_DAYS = 7  # what older Firefox releases set on tabs records

STALE = register(
    "clients.stale", "warning", "a device's client record has not been rewritten for weeks: the device stopped syncing"
)
DUP_NAME = register("clients.duplicate-name", "info", "two or more devices share one name")
TABS_ORPHAN = register("tabs.orphan", "warning", "a tabs record for a device that has no client record")
TABS_MISSING = register(
    "tabs.missing",
    "warning",
    "a device in clients has no tabs record: it never uploaded one, or its record expired (ttl)",
)
NOT_IN_DEVICES = register(
    "clients.not-in-devices",
    "warning",
    "a client record whose fxaDeviceId is not in the account's device list: "
    "the device was disconnected, and Firefox hides it",
)
DUP_DEVICE = register(
    "clients.duplicate-device", "warning", "several client records with one fxaDeviceId: Firefox shows only the newest"
)
DEVICE_NO_CLIENT = register(
    "clients.device-without-record",
    "info",
    "a device in the account's device list that has no client record: it signed in but does not sync (or has not yet)",
)


def _remove(ctx: Context, rid: str) -> tuple[Op, ...]:
    ops = [Op("delete", "clients", rid)]
    if rid in ctx.records("tabs"):
        ops.append(Op("delete", "tabs", rid))
    return tuple(ops)


def _link(ops: tuple[Op, ...], why: str) -> tuple[Link, ...]:
    return (Link(why, tuple((op.collection, op.id) for op in ops)),)


def check_device_list(ctx: Context) -> Iterator[Finding]:
    if "clients" not in ctx.downloaded:
        return
    clients = ctx.records("clients")
    devices = ctx.devices
    if devices is None:
        ctx.skipped[NOT_IN_DEVICES] = ctx.cache.get("devices_why", "no device list")
        return
    known = {d.get("id"): d for d in devices if isinstance(d, dict) and isinstance(d.get("id"), str)}
    by_device: dict[str, list[str]] = defaultdict(list)
    for rid, rec in sorted(clients.items()):
        ctx.current = ("clients", rid)
        device = rec.get("fxaDeviceId")
        if not isinstance(device, str) or not device:
            continue  # iOS records carry none; Firefox exempts them too
        by_device[device].append(rid)
        if device not in known:
            ops = _remove(ctx, rid)
            yield Finding(NOT_IN_DEVICES, "warning", "clients", [rid],
                          f"Device {rid} ({rec.get('type', '?')}, {rec.get('os', '?')}) is not in the account's device "
                          "list: it was disconnected (signed out, or removed in the account settings) but its client "
                          "record stayed. Firefox hides it (in 'send tab' and synced tabs) yet other clients may not. "
                          "The fix deletes the record" + (" and its tabs." if len(ops) > 1 else "."),
                          Fix(f"delete client {rid}" + (" and its tabs" if len(ops) > 1 else ""), ops,
                              links=_link(ops, f"remove device {rid}")))  # fmt: skip
    for device, ids in sorted(by_device.items()):
        if len(ids) < 2 or device not in known:
            continue
        ids.sort(key=lambda r: (ctx.modified("clients", r) or 0.0, r), reverse=True)
        ops = tuple(op for r in ids[1:] for op in _remove(ctx, r))
        yield Finding(
            DUP_DEVICE,
            "warning",
            "clients",
            ids,
            f"{len(ids)} client records carry one device id: one device wrote a new record (after a reset, "
            f"say) and the old one stayed. Firefox shows only the newest ({ids[0]}); the fix deletes the "
            "others and their tabs.",
            Fix(f"keep {ids[0]}; delete {len(ids) - 1} older record(s)", ops, links=_link(ops, "remove old records")),
            facts={"records": len(ids)},
        )
    with_record = set(by_device)
    for device_id, device in sorted((k, v) for k, v in known.items() if isinstance(k, str)):
        if device_id in with_record or device.get("isCurrentDevice"):
            continue
        yield Finding(DEVICE_NO_CLIENT, "info", "clients", [],
                      f"The account's device list has a {device.get('type') or 'device'} ({device_id[:12]}…) with no "
                      "client record: it signed in but does not sync, or has not synced yet. Nothing to fix on the "
                      "sync server; disconnect it in the account settings if it is gone.",
                      facts={"device_type": str(device.get("type"))[:20]})  # fmt: skip
    ctx.current = None


def check_devices(ctx: Context) -> Iterator[Finding]:
    if "clients" not in ctx.downloaded:
        return
    clients = ctx.records("clients")
    devices = ctx.devices
    known = {d.get("id") for d in devices or [] if isinstance(d, dict)}
    stale: set[str] = set()
    for rid, rec in sorted(clients.items()):
        ctx.current = ("clients", rid)
        age = ctx.age_days("clients", rid)
        if age is None or age < STALE_DAYS:
            continue
        if devices is not None and isinstance(rec.get("fxaDeviceId"), str) and rec.get("fxaDeviceId") not in known:
            continue  # clients.not-in-devices says more
        stale.add(rid)
        raw = rec.get("commands")
        commands: list[Any] = raw if isinstance(raw, list) else []
        pending = f" It still has {len(commands)} pending command(s) that will never run." if commands else ""
        ops = [Op("delete", "clients", rid)]
        if rid in ctx.records("tabs"):
            ops.append(Op("delete", "tabs", rid))
        left = CLIENTS_TTL_DAYS - age
        expiry = (
            f" Left alone, the server drops the record about {left:.0f} day(s) from now "
            f"(Firefox's {CLIENTS_TTL_DAYS}-day ttl on client records)."
            if left > 0
            else ""
        )
        yield Finding(
            STALE,
            "warning",
            "clients",
            [rid],
            f"Device {rid} ({rec.get('type', '?')}, {rec.get('os', '?')}, Firefox {rec.get('version', '?')}) "
            f"last wrote its client record {age:.0f} days ago; Firefox rewrites it at least weekly, so the "
            f"device stopped syncing.{pending} Other devices still list it (e.g. in 'send tab').{expiry} "
            "If the device is gone, remove its record (and disconnect it in the account settings); if it "
            "comes back, it uploads a new one.",
            Fix(
                f"delete the client record of device {rid}" + (" and its tabs" if len(ops) > 1 else ""),
                tuple(ops),
                links=_link(tuple(ops), f"remove device {rid}"),
            ),
            facts={"days_since_write": round(age), "pending_commands": len(commands)},
        )
    names: dict[str, list[str]] = defaultdict(list)
    for rid, rec in clients.items():
        if isinstance(rec.get("name"), str):
            names[rec["name"]].append(rid)
    for _name, ids in sorted(names.items(), key=lambda kv: sorted(kv[1])):
        if len(ids) > 1:
            yield Finding(
                DUP_NAME,
                "info",
                "clients",
                sorted(ids),
                f"{len(ids)} devices ({', '.join(sorted(ids))}) share one name, so menus such as 'send tab' "
                "cannot tell them apart; often one of them is an old install of the same device. Rename one "
                "in its Firefox settings (names are written by the device itself).",
                facts={"devices": len(ids)},
            )
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
            why = (
                f"Its device last synced {age:.0f} days ago, so its tabs record most likely expired: "
                f"tabs records carry a ttl (older Firefox releases used {OLD_TABS_TTL_DAYS} days) "
                "and the server hides expired records. "
                "Only that device can upload its tabs again; if it is gone, see clients.stale."
            )
            severity = "warning"
        else:
            why = (
                "The device synced recently, so it has not uploaded tabs yet (first sync in progress), or it "
                "does not sync tabs."
            )
            severity = "info"
        yield Finding(TABS_MISSING, severity, "tabs", [rid],
                      f"Device {rid} is in clients but has no tabs record on the server. {why}",
                      facts={"days_since_client_write": round(age), "stale": rid in stale})  # fmt: skip


CHECKS = [check_device_list, check_devices]
