"""clients: one record per device signed in to Sync (its name, type, OS, pending commands)."""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, obj_list, str_list, text


class ClientsEngine(Engine):
    name = "clients"
    version = 1
    columns = (
        Column("name", "str", "device name the person sees"),
        Column("type", "str", "'desktop' or 'mobile'"),
        Column("os", "str", "operating system (WINNT, Darwin, Linux, Android, iOS)"),
        Column("application", "str", "human-readable application, e.g. Firefox, Nightly"),
        Column("version", "str", "application version, e.g. 153.7.0"),
        Column("app_package", "str", "application identifier (appPackage)"),
        Column("form_factor", "str", "phone, tablet, desktop, laptop, tv (formfactor)"),
        Column("device", "str", "hardware description (mostly Android)"),
        Column("fxa_device_id", "str", "the device's id in Firefox Accounts (fxaDeviceId)"),
        Column("protocols", "list", "Sync protocol versions it speaks, e.g. ['1.5']"),
        Column("commands", "list", "commands queued for it: [{command, args, flowID}]"),
        Column("command_count", "int", "number of queued commands"),
    )
    fields = frozenset(
        {
            "name",
            "type",
            "os",
            "application",
            "version",
            "appPackage",
            "formfactor",
            "device",
            "fxaDeviceId",
            "protocols",
            "commands",
        }
    )

    def parse(self, rec: dict[str, Any]) -> Row:
        commands = obj_list(rec, "commands")
        return (
            text(rec, "name"),
            text(rec, "type"),
            text(rec, "os"),
            text(rec, "application"),
            text(rec, "version"),
            text(rec, "appPackage"),
            text(rec, "formfactor"),
            text(rec, "device"),
            text(rec, "fxaDeviceId"),
            str_list(rec, "protocols"),
            commands,
            None if commands is None else len(commands),
        )
