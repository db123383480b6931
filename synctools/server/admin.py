"""The admin API: create accounts, load records, read codes, move users, inject faults.

Other parts of synctools (tests, the demo data, notebooks) code against these names and
signatures; the HTTP admin API under ``/__admin__/<method>`` calls the same methods.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol import onepw
from ..protocol.bso import BSOValidationError, ServerTime, valid_collection_name, validate_bso_fields
from . import totp
from .storage import DEFAULT_LIMITS, StorageNode
from .storage_db import Item

if TYPE_CHECKING:
    from .accounts import AccountsService
    from .faults import FaultTable
    from .misconfig import Misconfig
    from .tokenserver import TokenServer

VERIFICATIONS = ("none", "totp", "email")


@dataclass(frozen=True)
class AccountInfo:
    """Where an account lives: FxA uid (hex), storage uid on its node, the node's URL."""

    email: str
    uid: str
    storage_uid: int
    node: str


class RequestLog:
    """The last requests the stack answered (method, path, status), for tests."""

    def __init__(self, size: int = 50_000):
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Stack(Protocol):
    """What the admin API uses of its :class:`~synctools.server.LocalStack`, named by
    shape: the stack builds its Admin, so this module cannot import the stack's module."""

    storage_only: bool
    url: str
    limits: dict[str, int]
    faults: FaultTable
    misconfig: Misconfig
    request_log: RequestLog
    accounts: AccountsService
    tokenserver: TokenServer

    def node_by_url(self, url: str) -> StorageNode: ...


class Admin:
    def __init__(self, stack: Stack):
        self.__stack = stack

    @property
    def _stack(self) -> Stack:
        if self.__stack.storage_only:
            raise RuntimeError(
                "this stack runs storage-only: it has no accounts or tokenserver; mint tokens "
                "with the node's secret (e.g. tokenlib.make_token) instead"
            )
        if self.__stack.url == "":
            raise RuntimeError("the stack is not running: call start() or use `with`")
        return self.__stack

    # -- accounts -----------------------------------------------------------------
    def create_account(
        self,
        email: str,
        password: str,
        *,
        kb: bytes | None = None,
        totp_secret: str | None = None,
        verification: str = "none",
        key_rotation_timestamp: int | None = None,
        key_stretch_version: int = 1,
    ) -> AccountInfo:
        """Create an account. ``kb`` fixes kB (32 bytes) so published vectors reproduce;
        ``verification`` is what a new session needs: "none", "totp" or "email";
        ``key_stretch_version=2`` makes an account that signs in with key stretching v2
        (650,000 PBKDF2 rounds: slow on purpose)."""
        if not isinstance(email, str) or "@" not in email:
            raise ValueError(f"email must look like an address, got {email!r}")
        if not isinstance(password, str) or not password:
            raise ValueError("password must be a non-empty string")
        if verification not in VERIFICATIONS:
            raise ValueError(f"verification must be one of {VERIFICATIONS}, got {verification!r}")
        if kb is not None and (not isinstance(kb, bytes) or len(kb) != 32):
            raise ValueError("kb must be exactly 32 bytes")
        if verification == "totp" and totp_secret is None:
            totp_secret = totp.new_secret()
        if totp_secret is not None:
            totp.code_at(totp_secret)  # raises a clear error for a non-base32 secret
        if key_stretch_version not in (1, 2):
            raise ValueError("key_stretch_version must be 1 or 2")
        stretched = onepw.quick_stretch_v1(email, password)
        v2 = None
        if key_stretch_version == 2:
            kb = kb if kb is not None else secrets.token_bytes(32)
            client_salt = onepw.kw("quickStretchV2:" + secrets.token_hex(16)).decode()
            stretched2 = onepw.stretch_v2(password, client_salt)
            v2 = (onepw.auth_pw(stretched2), onepw.unwrap_b_key(stretched2), client_salt)
        self._stack.accounts.create(
            email,
            auth_pw=onepw.auth_pw(stretched),
            unwrap_bkey=onepw.unwrap_b_key(stretched),
            kb=kb,
            totp_secret=totp_secret,
            verification=verification,
            key_rotation_timestamp=key_rotation_timestamp,
            v2=v2,
        )
        return self.account(email)

    def account(self, email: str) -> AccountInfo:
        row = self._stack.accounts.account_by_email(email)
        if row is None:
            raise LookupError(f"no account with email {email!r}; create it first")
        ts = self._stack.tokenserver
        user = ts.assignment(row.uid)
        if user is None:  # pragma: no cover - every account gets a user record
            user = ts.allocate(row.uid, None, None)
        return AccountInfo(row.email, row.uid, user.storage_uid, ts.nodes[user.node])

    def register_device(self, email: str, device: dict[str, Any]) -> dict[str, Any]:
        """Put a device in the account's device list (``/account/devices``), as a Firefox
        that signed in registers itself: ``{"id", "name", "type", ...}``. For the demo and
        snapshots, whose client records name their devices."""
        info = self.account(email)
        device_id = device.get("id")
        if not isinstance(device_id, str) or not device_id:
            raise ValueError("a device needs a string 'id' (the fxaDeviceId client records carry)")
        row = self._stack.accounts.account_by_email(info.email)
        assert row is not None  # account() found it
        uid = row.uid
        record = {"pushEndpointExpired": False, **device, "id": device_id}
        with self._stack.accounts.db.write() as conn:
            conn.execute(
                "INSERT INTO devices(id, uid, session, record) VALUES(?,?,?,?) ON CONFLICT(id) "
                "DO UPDATE SET record=excluded.record",
                (device_id, uid, None, json.dumps(record)),
            )
        return record

    def _node_of(self, email: str) -> tuple[AccountInfo, StorageNode]:
        info = self.account(email)
        return info, self._stack.node_by_url(info.node)

    # -- storage ------------------------------------------------------------------
    def put_records(
        self,
        email: str,
        collection: str,
        records: list[dict[str, Any]],
        *,
        modified: ServerTime | None = None,
    ) -> ServerTime:
        """Write BSO dicts straight into the account's node (no HTTP, no limits but the
        record rules). Returns the collection's new timestamp."""
        if not valid_collection_name(collection):
            raise ValueError(f"invalid collection name {collection!r}: [a-zA-Z0-9._-]{{1,32}}")
        items = []
        for n, record in enumerate(records):
            try:
                validate_bso_fields(record)
            except BSOValidationError as exc:
                raise ValueError(f"record #{n} of {collection}: {exc}") from None
            items.append(Item.from_json(record))
        info, node = self._node_of(email)
        if modified is not None and not isinstance(modified, ServerTime):
            modified = ServerTime.parse(modified)
        return node.store.put_items(info.storage_uid, collection, items, modified=modified)

    def delete_storage(self, email: str) -> None:
        info, node = self._node_of(email)
        node.store.delete_user(info.storage_uid)

    # -- verification ---------------------------------------------------------------
    def verification_code(self, email: str) -> str | None:
        row = self._stack.accounts.account_by_email(email)
        if row is None:
            raise LookupError(f"no account with email {email!r}")
        return self._stack.accounts.latest_code(row.uid)

    def totp_code(self, email: str) -> str:
        row = self._stack.accounts.account_by_email(email)
        if row is None:
            raise LookupError(f"no account with email {email!r}")
        if not row.totp_secret:
            raise ValueError(f"account {email!r} has no TOTP secret")
        return totp.code_at(row.totp_secret)

    # -- tokens and nodes -----------------------------------------------------------
    def reassign(self, email: str, node: str | None = None) -> str:
        """Move the account to another node (its data is not copied); returns its URL."""
        info = self.account(email)
        user = self._stack.tokenserver.reassign(info.uid, node)
        return self._stack.tokenserver.nodes[user.node]

    def expire_tokens(self, email: str | None = None) -> None:
        uid = self.account(email).uid if email is not None else None
        self._stack.tokenserver.registry.revoke(uid)

    def set_config(self, **limits: int) -> None:
        for name, value in limits.items():
            if name not in DEFAULT_LIMITS:
                raise ValueError(f"unknown limit {name!r}; known: {', '.join(DEFAULT_LIMITS)}")
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer")
        self.__stack.limits.update(limits)

    def reset_config(self) -> None:
        self.__stack.limits.clear()
        self.__stack.limits.update(DEFAULT_LIMITS)

    # -- misconfigurations (synctools.server.misconfig) ------------------------------
    def misconfigure(self, kind: str, **params: Any) -> dict[str, Any]:
        """Reproduce a self-hosting mistake (a kind of ``misconfig.KINDS``); returns its parameters."""
        return self.__stack.misconfig.turn_on(kind, **params)

    def clear_misconfig(self, kind: str | None = None) -> None:
        self.__stack.misconfig.turn_off(kind)

    def misconfigurations(self) -> dict[str, dict[str, Any]]:
        return self.__stack.misconfig.active()

    # -- faults and the request log -------------------------------------------------
    def inject_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        **params: Any,
    ) -> str:
        return self.__stack.faults.add(kind, count, method, path, **params)

    def clear_faults(self) -> None:
        self.__stack.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self.__stack.faults.pending()

    def requests(self) -> list[dict[str, Any]]:
        return self.__stack.request_log.list()

    def clear_requests(self) -> None:
        self.__stack.request_log.clear()


def client_state_of(kb: bytes) -> str:
    """X-Client-State for kB: hex of SHA-256(kB)[:16]."""
    return hashlib.sha256(kb).digest()[:16].hex()
