"""Add-on records Firefox can never install.

Firefox's add-ons engine (``AddonsStore.applyIncoming``) ignores a record whose
``applicationID`` is not its own, or whose ``source`` is not ``"amo"``; it never syncs
built-in, hidden or system add-ons (``isAddonSyncable``, ``AddonValidator``), so a
record for one of them can only have been written by a broken client.
"""

from __future__ import annotations

from collections.abc import Iterator

from .context import Context
from .model import Finding, Fix, Link, Op, register

A = "addons"
FIREFOX = "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"
#: other Mozilla applications that share add-on records' format
OTHER_APPS = {
    "{3550f703-e582-4d05-9a08-453d09bdfdc6}": "Thunderbird",
    "{92650c4d-4b8e-4d2a-b7eb-24ecf4f6b63a}": "SeaMonkey",
    "{aa3c5121-dab2-40e2-81ca-7ea25febc110}": "Firefox for Android (Fennec)",
}
#: add-ons built into Firefox (browser/omni.ja builtin-addons and builtin-themes of ESR 153)
BUILTIN = frozenset({
    "formautofill@mozilla.org", "webcompat@mozilla.org", "newtab@mozilla.org", "pictureinpicture@mozilla.org",
    "addons-search-detection@mozilla.com", "ipp-activator@mozilla.com", "screenshots@mozilla.org",
    "default-theme@mozilla.org", "firefox-compact-light@mozilla.org", "firefox-compact-dark@mozilla.org",
    "firefox-alpenglow@mozilla.org", "firefox-privatewindow@mozilla.org", "firefox-aiwindow@mozilla.org",
})  # fmt: skip

OTHER_APP = register(
    "addons.other-application", "info", "an add-on record for another application (or none): Firefox ignores it"
)
NOT_AMO = register(
    "addons.not-from-amo", "info", "an add-on record whose source is not addons.mozilla.org: Firefox ignores it"
)
BUILTIN_ADDON = register(
    "addons.builtin",
    "warning",
    "an add-on record for an add-on built into Firefox (hidden or system): no Firefox installs it from a record",
)


def _delete(rid: str) -> Fix:
    return Fix(f"delete add-on record {rid}", (Op("delete", A, rid),), links=(Link(f"delete {rid}", ((A, rid),)),))


def check_addons(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks(A):
        return
    yield from ctx.per_record(BUILTIN_ADDON, A, sorted(ctx.records(A).items()), _addon)


def _addon(rid: str, rec: dict) -> Iterator[Finding]:  # type: ignore[type-arg]
    app, source, addon = rec.get("applicationID"), rec.get("source"), rec.get("addonID")
    if app != FIREFOX:
        name = OTHER_APPS.get(app) if isinstance(app, str) else None
        yield Finding(OTHER_APP, "info", A, [rid],
                      f"Add-on record {rid} is for {name or 'an unknown application (' + repr(app)[:60] + ')'}, not "
                      "desktop Firefox, which ignores it." + ("" if name else " No application writes such records: "
                      "the fix deletes it."), None if name else _delete(rid),
                      facts={"application": name or "unknown"})  # fmt: skip
    elif source != "amo":
        yield Finding(NOT_AMO, "info", A, [rid],
                      f"Add-on record {rid} has source {source!r}: Firefox installs synced add-ons only from "
                      "addons.mozilla.org (source 'amo') and ignores this record.", facts={})  # fmt: skip
    elif isinstance(addon, str) and (addon in BUILTIN or addon.endswith("@search.mozilla.org")):
        yield Finding(BUILTIN_ADDON, "warning", A, [rid],
                      f"Add-on record {rid} names {addon}, which is built into Firefox (a hidden or system add-on). "
                      "Firefox never syncs those, and no device can install it from this record; a broken client "
                      "wrote it. The fix deletes it.", _delete(rid), facts={})  # fmt: skip
