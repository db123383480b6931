"""Smaller collections: clients, tabs, passwords, forms, prefs, addons, addresses, creditcards.

Shapes: mozilla-services docs ``objectformats.rst``; desktop Firefox's engines for the
fields it adds (``fxaDeviceId``, ``appPackage``, tab ``inactive``); application-services
autofill (``addresses`` and ``creditcards`` records wrap their fields in ``entry``, with
kebab-case names, ``version`` 1 for addresses and 3 for credit cards).
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass
from typing import Any

from ._common import (
    DAY_MS,
    EPOCH_MS,
    FIREFOX_APP_ID,
    YEAR_MS,
    braced_uuid,
    guid,
    hex_id,
    modified_after,
)
from ._history import make_page, pick_site
from ._vocab import (
    ADDONS,
    CITIES,
    FIRST_NAMES,
    FORM_FIELDS,
    LAST_NAMES,
    PASSWORD_FIELDS,
    PREFS,
    SITES,
    TOPICS,
    USERNAME_FIELDS,
)

HOUR_MS = 3_600_000
# TTLs (seconds) desktop Firefox sets on upload.
CLIENTS_TTL = 15_552_000  # 180 days
TABS_TTL = 31_622_400  # 366 days
OLD_TABS_TTL = 604_800  # 7 days: what old Firefox releases used for tabs
FORMS_TTL = 3 * 365 * 24 * 3600  # three years
#: Desktop's prefs record id: base64url (padded) of Firefox's application id.
PREFS_GUID = base64.urlsafe_b64encode(FIREFOX_APP_ID.encode()).decode()
STALE_DAYS = 141
#: The day the person unticked "Addresses" in Firefox's sync settings.
ADDRESSES_DECLINED_MS = EPOCH_MS - 90 * DAY_MS


@dataclass
class Row:
    """One cleartext record and its BSO envelope fields (modified in 1/100 s)."""

    cleartext: dict[str, Any]
    modified: int
    ttl: int | None = None
    sortindex: int | None = None


@dataclass
class Device:
    record_id: str
    name: str
    last_sync_ms: int
    tabs: int


def clients_and_tabs(rng: random.Random) -> tuple[list[Row], list[Row], list[Device]]:
    specs = [
        # name, type, os, version, appPackage, extra, last sync, tab count
        ("Ada's Firefox on ada-laptop", "desktop", "Linux", "153.0.1", FIREFOX_APP_ID, {}, EPOCH_MS, 24),
        (
            "Firefox on Pixel 8",
            "mobile",
            "Android",
            "153.0",
            "org.mozilla.firefox",
            {"device": "Pixel 8", "formfactor": "phone"},
            EPOCH_MS - 3 * HOUR_MS - 1_234_560,
            15,
        ),
        (
            "Ada's Firefox on work-mac",
            "desktop",
            "Darwin",
            "152.0.2",
            FIREFOX_APP_ID,
            {},
            EPOCH_MS - 2 * DAY_MS - 7_654_320,
            9,
        ),
        (
            "Ada's Firefox on old-thinkpad",
            "desktop",
            "WINNT",
            "102.15.1",
            FIREFOX_APP_ID,
            {},
            EPOCH_MS - STALE_DAYS * DAY_MS - 5_555_550,
            6,
        ),
    ]
    clients: list[Row] = []
    tabs: list[Row] = []
    devices: list[Device] = []
    for name, typ, os_name, version, package, extra, last, ntabs in specs:
        fxa_device_id = hex_id(rng)
        # application-services clients use the FxA device id as record id; desktop a GUID.
        rid = fxa_device_id if typ == "mobile" else guid(rng)
        if typ == "mobile":
            # application-services (Android): camelCase fields, empty commands omitted.
            rec: dict[str, Any] = {"id": rid, "name": name, "type": typ, "fxaDeviceId": fxa_device_id}
            rec.update(version=version, protocols=["1.5"], **extra)
            rec.update(os=os_name, appPackage=package, application="Firefox")
        else:
            # Desktop's ClientStore.createRecord, in its order.
            rec = {"id": rid, "fxaDeviceId": fxa_device_id, "name": name, "type": typ}
            rec.update(version=version, protocols=["1.5"], commands=[])
            rec.update(os=os_name, appPackage=package, application="Firefox")
        devices.append(Device(rid, name, last, ntabs))
        clients.append(Row(rec, last // 10, CLIENTS_TTL))
    # The laptop restored a bookmarks backup and asked every device to wipe its
    # bookmarks; the old ThinkPad never synced again, so the command still waits.
    clients[3].cleartext["commands"] = [
        {"command": "wipeEngine", "args": ["bookmarks"], "flowID": braced_uuid(rng)[1:-1]}
    ]
    for dev, row in zip(devices, clients):
        items: list[dict[str, Any]] = []
        for _ in range(dev.tabs):
            history = [make_page(rng, pick_site(rng)) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
            url, title = history[-1]
            host = url.split("/")[2]
            items.append(
                {
                    "title": title,
                    "urlHistory": [u for u, _ in reversed(history)],
                    "icon": f"https://{host}/favicon.ico" if rng.random() < 0.8 else None,
                    "lastUsed": (dev.last_sync_ms - int(rng.expovariate(1 / (2 * DAY_MS)))) // 1000,
                }
            )
        items.sort(key=lambda t: -t["lastUsed"])
        for t in items:
            # Like application-services, "inactive" is written only when true.
            if t["lastUsed"] < (dev.last_sync_ms - 14 * DAY_MS) // 1000:
                t["inactive"] = True
        old = dev.last_sync_ms < EPOCH_MS - 90 * DAY_MS
        tabs.append(
            Row(
                {"id": dev.record_id, "clientName": dev.name, "tabs": items},
                row.modified,
                OLD_TABS_TTL if old else TABS_TTL,
            )
        )
    return clients, tabs, devices


def _password(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_!.@#"
    return "".join(rng.choice(alphabet) for _ in range(rng.choice((10, 12, 15, 16, 20))))


def passwords(rng: random.Random, n: int = 200) -> list[Row]:
    rows: list[Row] = []
    hosts = [h for h, _n, k in SITES if k not in ("search",)]
    for i in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = EPOCH_MS - int(rng.random() ** 0.7 * 6 * YEAR_MS)
        changed = created if rng.random() < 0.7 else created + int(rng.random() * (EPOCH_MS - created))
        used = changed + int(rng.random() * (EPOCH_MS - changed))
        if i < 8:  # HTTP authentication logins: a realm, no form
            origin = f"https://intranet{i}.example.com"
            rec = {
                "hostname": origin,
                "formSubmitURL": None,
                "httpRealm": rng.choice(("Staff area", "Restricted", "Jenkins")),
                "usernameField": "",
                "passwordField": "",
            }
        else:
            origin = "https://" + (rng.choice(hosts) if rng.random() < 0.6 else hosts[i % len(hosts)])
            rec = {
                "hostname": origin,
                "formSubmitURL": origin if rng.random() < 0.85 else "",
                "httpRealm": None,
                "usernameField": rng.choice(USERNAME_FIELDS),
                "passwordField": rng.choice(PASSWORD_FIELDS),
            }
        username = rng.choice((f"{first}.{last}@example.com", f"{first}{rng.randrange(100)}", f"{first[0]}{last}", ""))
        cleartext = {
            "id": braced_uuid(rng),
            **{k: rec[k] for k in ("hostname", "formSubmitURL", "httpRealm")},
            "username": username,
            "password": _password(rng),
            "usernameField": rec["usernameField"],
            "passwordField": rec["passwordField"],
            "timeCreated": created,
            "timePasswordChanged": changed,
            "timeLastUsed": used,
            "timesUsed": 1 + int(rng.paretovariate(1.2)),
        }
        rows.append(Row(cleartext, modified_after(used)))
    return rows


def _form_value(rng: random.Random, name: str) -> str:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if name in ("searchbar-history", "q", "query", "search"):
        return " ".join(rng.sample(TOPICS, rng.randint(1, 3)))
    if name == "email":
        return f"{first}.{last}@example.com"
    if name == "name":
        return f"{first.capitalize()} {last.capitalize()}"
    if name == "first_name":
        return first.capitalize()
    if name == "last_name":
        return last.capitalize()
    if name == "city":
        return rng.choice(CITIES)
    if name in ("zip", "postal_code"):
        return f"{rng.randrange(10000, 99999)}"
    if name == "phone":
        return f"+1 555 01{rng.randrange(10, 99)}"
    if name == "company":
        return rng.choice(("Example Corp", "ACME", "Initech", "Globex"))
    return f"{first}{rng.randrange(1000)}"


def forms(rng: random.Random, n: int = 400) -> list[Row]:
    rows: list[Row] = []
    seen: set[tuple[str, str]] = set()
    weights = [40 if f == "searchbar-history" else 4 for f in FORM_FIELDS]
    while len(rows) < n:
        name = rng.choices(FORM_FIELDS, weights)[0]
        value = _form_value(rng, name)
        if (name, value) in seen:
            continue
        seen.add((name, value))
        first_used = EPOCH_MS - int(rng.random() * 2 * YEAR_MS)
        rows.append(Row({"id": guid(rng), "name": name, "value": value}, modified_after(first_used), FORMS_TTL))
    return rows


def prefs() -> list[Row]:
    return [Row({"id": PREFS_GUID, "value": dict(PREFS)}, modified_after(EPOCH_MS - 20 * DAY_MS))]


def addons(rng: random.Random) -> list[Row]:
    rows = []
    for addon_id, enabled in ADDONS:
        installed = EPOCH_MS - int(rng.random() * 3 * YEAR_MS)
        rec = {
            "id": guid(rng),
            "addonID": addon_id,
            "applicationID": FIREFOX_APP_ID,
            "enabled": enabled,
            "source": "amo",
        }
        rows.append(Row(rec, modified_after(installed)))
    return rows


def _meta(rng: random.Random, latest: int) -> dict[str, int]:
    created = latest - int(rng.random() * 3 * YEAR_MS)
    used = created + int(rng.random() * (latest - created))
    return {
        "timeCreated": created,
        "timeLastUsed": used,
        "timeLastModified": created,
        "timesUsed": rng.randint(1, 40),
    }


def addresses(rng: random.Random) -> list[Row]:
    people = [
        (
            "Ada Lovelace",
            "Analytical Engines Ltd",
            "12 St James's Square",
            "London",
            "",
            "SW1Y 4JH",
            "GB",
            "+44 20 7946 0000",
        ),
        ("Ada Lovelace", "", "4 Rue de l'Exemple", "Lyon", "", "69002", "FR", "+33 4 00 00 00 00"),
        ("Charles Babbage", "", "1 Example Street", "Portland", "OR", "97201", "US", "+1 503 555 0100"),
    ]
    rows = []
    for name, org, street, city, region, postal, country, tel in people:
        given, family = name.split(" ", 1)
        meta = _meta(rng, ADDRESSES_DECLINED_MS - DAY_MS)
        entry = {
            "name": name,
            "given-name": given,
            "additional-name": "",
            "family-name": family,
            "organization": org,
            "street-address": street,
            "address-level3": "",
            "address-level2": city,
            "address-level1": region,
            "postal-code": postal,
            "country": country,
            "tel": tel,
            "email": f"{given.lower()}.{family.lower()}@example.com",
            **meta,
            "version": 1,
        }
        rows.append(Row({"id": guid(rng), "entry": entry}, modified_after(meta["timeLastUsed"])))
    return rows


def creditcards(rng: random.Random) -> list[Row]:
    # Published test card numbers: they pass the Luhn check and can never be charged.
    cards = [("Ada Lovelace", "4111111111111111", "visa"), ("A. Lovelace", "5555555555554444", "mastercard")]
    rows = []
    for name, number, kind in cards:
        meta = _meta(rng, EPOCH_MS - 5 * DAY_MS)
        entry = {
            "cc-name": name,
            "cc-number": number,
            "cc-exp-month": rng.randint(1, 12),
            "cc-exp-year": rng.randint(2027, 2031),
            "cc-type": kind,
            **meta,
            "version": 3,
        }
        rows.append(Row({"id": guid(rng), "entry": entry}, modified_after(meta["timeLastUsed"])))
    return rows
