"""Accounts for the doctor's tests: a clean one with healthy records of every kind,
seeded straight into the embedded server with the protocol core's encryption (not the
code under test), and helpers to break it one way at a time."""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from synctools import Sync
from synctools.protocol.crypto import CollectionKeys, KeyBundle
from synctools.protocol.keys import derive_sync_keys
from synctools.protocol.metaglobal import MetaGlobal
from synctools.server import LocalStack

_n = itertools.count(1)
KRT = 1_700_000_000_000
NOW_MS = int(time.time() * 1000)
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def stack():
    with LocalStack(demo=False) as s:
        yield s


@pytest.fixture(scope="module")
def demo_stack():
    with LocalStack(demo=True) as s:
        yield s


def gid(prefix: str, i: int = 0) -> str:
    """A 12-character Places-style id."""
    return (prefix + "_" * 12)[: 12 - len(str(i))] + str(i)


def healthy_records() -> dict[str, list[dict[str, Any]]]:
    """One small account where nothing is wrong: every kind of record Firefox writes."""
    laptop, phone = gid("laptop"), gid("phone")
    folder = gid("folder")
    bm = [gid("bm", i) for i in range(4)]
    sep, query = gid("sep"), gid("query")
    roots = {
        "menu": [folder, sep, query],
        "toolbar": [bm[0]],
        "unfiled": [bm[1]],
        "mobile": [],
    }
    bookmarks: list[dict[str, Any]] = [
        {"id": r, "type": "folder", "parentid": "places", "parentName": "", "title": r, "children": kids,
         "dateAdded": NOW_MS - 900 * DAY_MS}
        for r, kids in roots.items()
    ]  # fmt: skip
    bookmarks += [
        {"id": folder, "type": "folder", "parentid": "menu", "parentName": "menu", "title": "Recipes",
         "children": [bm[2], bm[3]], "dateAdded": NOW_MS - 100 * DAY_MS},
        {"id": sep, "type": "separator", "parentid": "menu", "parentName": "menu", "pos": 1},
        {"id": query, "type": "query", "parentid": "menu", "parentName": "menu", "title": "Most Visited",
         "bmkUri": "place:sort=8&maxResults=10"},
        {"id": bm[0], "type": "bookmark", "parentid": "toolbar", "parentName": "toolbar", "title": "Kernel archives",
         "bmkUri": "https://kernel.example.org/archives", "tags": ["linux"]},
        {"id": bm[1], "type": "bookmark", "parentid": "unfiled", "parentName": "unfiled", "title": "Tide tables",
         "bmkUri": "https://tides.example.net/brest"},
        {"id": bm[2], "type": "bookmark", "parentid": folder, "parentName": "Recipes", "title": "Sourdough starter",
         "bmkUri": "https://bread.example.com/starter", "keyword": "sd"},
        {"id": bm[3], "type": "bookmark", "parentid": folder, "parentName": "Recipes", "title": "Sourdough starter",
         "bmkUri": "https://bread.example.com/starter-v2"},
    ]  # fmt: skip
    now_us = NOW_MS * 1000
    history = [
        {
            "id": gid("hist", i),
            "histUri": f"https://pages{i}.example.org/read/{i}",
            "title": f"Long read number {i}",
            "visits": [
                {"date": now_us - (i + 1) * 3_600_000_000, "type": 1},
                {"date": now_us - 50 * DAY_MS * 1000, "type": 2},
            ],
        }
        for i in range(5)
    ]
    passwords = [
        {"id": "{" + f"0000000{i}-1111-4222-8333-444444444444" + "}", "hostname": f"https://login{i}.example.com",
         "formSubmitURL": f"https://login{i}.example.com", "httpRealm": None, "username": f"ada.user{i}",
         "password": f"Sup3r-secret-{i}-pw", "usernameField": "user", "passwordField": "pass",
         "timeCreated": NOW_MS - DAY_MS, "timePasswordChanged": NOW_MS - DAY_MS, "timeLastUsed": NOW_MS, "timesUsed": 3}
        for i in range(3)
    ]  # fmt: skip
    clients = [
        {
            "id": laptop,
            "fxaDeviceId": os.urandom(16).hex(),
            "name": "Ada's laptop",
            "type": "desktop",
            "version": "153.0",
            "protocols": ["1.5"],
            "commands": [],
            "os": "Linux",
            "application": "Firefox",
        },
        {
            "id": phone,
            "fxaDeviceId": os.urandom(16).hex(),
            "name": "Ada's phone",
            "type": "mobile",
            "version": "153.0",
            "protocols": ["1.5"],
            "os": "Android",
            "application": "Firefox",
        },
    ]
    tabs = [
        {"id": laptop, "clientName": "Ada's laptop", "tabs": [{"title": "Weather in Brest", "urlHistory": ["https://weather.example.org/brest"],
                                                              "icon": None, "lastUsed": NOW_MS // 1000 - 60}]},
        {"id": phone, "clientName": "Ada's phone", "tabs": []},
    ]  # fmt: skip
    forms = [{"id": gid("form", i), "name": "q", "value": f"search words {i}"} for i in range(3)]
    prefs = [{"id": "e2VjODAzMGY3LWMyMGEtNDY0Zi05YjBlLTEzYTNhOWU5NzM4NH0=", "value": {"browser.startup.page": 3}}]
    meta = {
        "timeCreated": NOW_MS - 9 * DAY_MS,
        "timeLastUsed": NOW_MS - DAY_MS,
        "timeLastModified": NOW_MS - 9 * DAY_MS,
        "timesUsed": 4,
    }
    addons = [
        {
            "id": gid("addon"),
            "addonID": "uBlock0@raymondhill.net",
            "applicationID": "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}",
            "enabled": True,
            "source": "amo",
        }
    ]
    addresses = [
        {
            "id": gid("addr"),
            "entry": {
                "name": "Ada Lovelace",
                "given-name": "Ada",
                "family-name": "Lovelace",
                "street-address": "12 Example Square",
                "address-level2": "London",
                "postal-code": "SW1Y 4JH",
                "country": "GB",
                "tel": "+44 20 7946 0000",
                "email": "ada@example.com",
                **meta,
                "version": 1,
            },
        }
    ]
    creditcards = [
        {
            "id": gid("card"),
            "entry": {
                "cc-name": "Ada Lovelace",
                "cc-number": "4111111111111111",
                "cc-type": "visa",
                "cc-exp-month": 4,
                "cc-exp-year": 2030,
                **meta,
                "version": 3,
            },
        }
    ]
    return {"bookmarks": bookmarks, "history": history, "passwords": passwords, "clients": clients,
            "tabs": tabs, "forms": forms, "prefs": prefs, "addons": addons, "addresses": addresses,
            "creditcards": creditcards}  # fmt: skip


@dataclass
class Account:
    stack: Any
    email: str
    password: str
    kb: bytes
    keys: CollectionKeys
    meta: MetaGlobal
    cleartext: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def ksync(self) -> KeyBundle:
        return derive_sync_keys(self.kb, KRT).bundle

    def put(self, collection: str, records: list[dict[str, Any]], *, bundle: KeyBundle | None = None,
            age_days: float = 0, ttl: int | None = None) -> None:  # fmt: skip
        """Upload cleartext records encrypted with the collection's key (or ``bundle``)."""
        b = bundle or self.keys.bundle_for(collection)
        bsos = []
        for r in records:
            bso: dict[str, Any] = {"id": r["id"], "payload": json.dumps(b.encrypt(r))}
            if ttl is not None:
                bso["ttl"] = ttl
            bsos.append(bso)
        modified = None
        if age_days:
            from synctools.protocol.bso import ServerTime

            modified = ServerTime(int((time.time() - age_days * 86_400) * 100))
        self.stack.admin.put_records(self.email, collection, bsos, modified=modified)

    def put_raw(self, collection: str, bsos: list[dict[str, Any]]) -> None:
        self.stack.admin.put_records(self.email, collection, bsos)

    def put_meta(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.stack.admin.put_records(self.email, "meta", [{"id": "global", "payload": text}])

    def sync(self, **kw: Any) -> Sync:
        return Sync.local(self.stack, email=self.email, password=self.password, **kw)


def make_account(stack: Any, *, records: dict[str, list[dict[str, Any]]] | None = None,
                 own_keys: tuple[str, ...] = ("passwords",)) -> Account:  # fmt: skip
    email = f"doctor{next(_n)}-{os.getpid()}@example.com"
    kb = os.urandom(32)
    stack.admin.create_account(email, "a long doctor password", kb=kb, key_rotation_timestamp=KRT)
    acct = Account(stack, email, "a long doctor password", kb, CollectionKeys.generate(own_keys), MetaGlobal.fresh())
    acct.put_meta(acct.meta.to_payload())
    stack.admin.put_records(
        email, "crypto", [{"id": "keys", "payload": json.dumps(acct.ksync.encrypt(acct.keys.to_cleartext()))}]
    )
    acct.cleartext = healthy_records() if records is None else records
    for coll, recs in acct.cleartext.items():
        acct.put(coll, recs, ttl=15_552_000 if coll == "clients" else None)
    for client in acct.cleartext.get("clients", []):  # each device signed in, as Firefox does
        if isinstance(client.get("fxaDeviceId"), str):
            stack.admin.register_device(
                email, {"id": client["fxaDeviceId"], "name": client.get("name"), "type": client.get("type")}
            )
    return acct


@pytest.fixture
def healthy(stack) -> Account:
    return make_account(stack)
