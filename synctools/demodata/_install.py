"""Load the demo account into the embedded server through its Python admin API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from synctools.protocol._util import fingerprint
from synctools.protocol.bso import ServerTime

from ._account import COLLECTIONS, DEFAULT_SEED, DemoAccount, Planted, build_demo_account


class AdminAPI(Protocol):
    """The part of the server's admin API the installer uses."""

    def create_account(
        self, email: str, password: str, *, kb: bytes | None = ..., key_rotation_timestamp: int | None = ...
    ) -> Any: ...

    def put_records(
        self, email: str, collection: str, records: list[dict[str, Any]], *, modified: ServerTime | None = ...
    ) -> Any: ...


@dataclass(repr=False)
class DemoAccountInfo:
    """What ``install_demo`` returns: the credentials to show, and the planted problems."""

    email: str
    password: str
    kb: bytes
    key_rotation_timestamp: int
    planted: list[Planted]
    account_info: Any = None  # what admin.create_account returned
    shift_centis: int = 0  # added to every generated ``modified`` when loading
    requests: int = 0  # put_records calls made
    records: int = 0
    loaded: bool = True  # False when the account already existed and was left alone

    def __repr__(self) -> str:
        kb = fingerprint(self.kb)
        return f"<DemoAccountInfo {self.email} kB={kb} planted={len(self.planted)} records={self.records}>"


def _existing_account(admin: Any, email: str) -> Any:
    lookup = getattr(admin, "account", None)
    if lookup is None:
        return None
    try:
        return lookup(email)
    except LookupError:
        return None


def install_demo(
    admin: AdminAPI,
    *,
    seed: int | str = DEFAULT_SEED,
    account: DemoAccount | None = None,
    email: str | None = None,
    password: str | None = None,
    now: float | None = None,
) -> DemoAccountInfo:
    """Create the demo account on the server and load every record.

    The generated timestamps are relative to a fixed epoch; here they are all shifted by
    the same amount so that the demo's last sync is "now" (``time.time()`` unless given):
    ages are kept (a stale client stays stale, an expired record stays expired, which
    needs the server to compute expiry as ``modified + ttl``). Records are loaded in the
    order they were written, oldest first, one ``put_records`` call per collection and
    timestamp. If the server already has an account with this email (a persistent data
    directory), nothing is written and ``loaded`` is False.
    """
    account = account if account is not None else build_demo_account(seed)
    email = email or account.email
    password = password or account.password
    existing = _existing_account(admin, email)
    if existing is not None:
        # A persistent data directory already holds the demo (and maybe the person's
        # edits to it): keep it as it is rather than fail or overwrite.
        return DemoAccountInfo(
            email=email,
            password=password,
            kb=account.kb,
            key_rotation_timestamp=account.key_rotation_timestamp,
            planted=list(account.planted),
            account_info=existing,
            loaded=False,
        )
    info = admin.create_account(email, password, kb=account.kb, key_rotation_timestamp=account.key_rotation_timestamp)
    now_centis = int((time.time() if now is None else now) * 100)
    shift = max(0, now_centis - account.epoch_ms // 10)
    order = {c: i for i, c in enumerate(COLLECTIONS)}
    items = []
    for coll, bsos in account.bsos.items():
        for bso in bsos:
            items.append((ServerTime.parse(bso["modified"]) + shift, order.get(coll, len(order)), coll, bso))
    items.sort(key=lambda t: (t[0], t[1]))
    calls = 0
    for (modified, _o, coll), group in groupby(items, key=lambda t: (t[0], t[1], t[2])):
        records = [{k: v for k, v in bso.items() if k != "modified"} for *_x, bso in group]
        admin.put_records(email, coll, records, modified=ServerTime(modified))
        calls += 1
    register = getattr(admin, "register_device", None)
    if register is not None:  # every demo device signed in, and none was disconnected
        for client in account.cleartext.get("clients", []):
            if isinstance(client.get("fxaDeviceId"), str):
                register(email, {"id": client["fxaDeviceId"], "name": client.get("name"), "type": client.get("type")})
    return DemoAccountInfo(
        email=email,
        password=password,
        kb=account.kb,
        key_rotation_timestamp=account.key_rotation_timestamp,
        planted=list(account.planted),
        account_info=info,
        shift_centis=shift,
        requests=calls,
        records=len(items),
    )
