"""The profile's JSON and text files: logins.json, signedInUser.json, prefs.js.

What is never read out: the encrypted username and password of a login (only whether
they are there), and every key and token of the signed-in account (only the names of
the fields present). Nothing is decrypted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from . import _frame, prefsjs
from .errors import ProfileFileError

FXA_CREDENTIALS = "chrome://FirefoxAccounts"  # the account's keys, kept as a login; never synced

LOGIN_SPEC = [
    ("id", "str"), ("origin", "str"), ("form_action", "str"), ("realm", "str"), ("username_field", "str"),
    ("password_field", "str"), ("has_username", "bool"), ("has_password", "bool"), ("time_created", "ms"),
    ("time_last_used", "ms"), ("time_password_changed", "ms"), ("times_used", "int"), ("sync_counter", "int"),
    ("ever_synced", "bool"), ("syncable", "bool"), ("deleted", "bool"), ("error", "str"),
]  # fmt: skip
ACCOUNT_SPEC = [("id", "str"), ("email", "str"), ("verified", "bool"), ("device_id", "str"),
                ("device_registered", "int"), ("fields", "object"), ("error", "str")]  # fmt: skip
PREF_SPEC = [("id", "str"), ("value", "object"), ("type", "category"), ("function", "category"),
             ("line", "int"), ("error", "str")]  # fmt: skip
SYNC_PREFIXES = ("services.sync.", "identity.")


def _json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProfileFileError(
            path,
            f"is not valid JSON ({exc})",
            "it may be truncated; Firefox keeps a backup beside it (*.corrupt or *.bak)",
        ) from None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62 else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_logins(path: Path) -> pd.DataFrame:
    """One row per saved login of logins.json (tombstones of synced deletions included)."""
    rows: list[tuple[Any, ...]] = []
    if path.exists():
        data = _json(path)
        logins = data.get("logins") if isinstance(data, dict) else None
        if not isinstance(logins, list):
            raise ProfileFileError(path, "has no 'logins' list: it is not Firefox's login store")
        for n, item in enumerate(logins):
            if not isinstance(item, dict):
                rows.append((None,) * 16 + (f"login #{n} is a JSON {type(item).__name__}, not an object",))
                continue
            guid = _str(item.get("guid"))
            origin = _str(item.get("hostname"))
            deleted = bool(item.get("deleted"))
            error = None if guid else f"login #{n} has no guid: Sync cannot upload it"
            if not deleted and not origin and error is None:
                error = "no origin (hostname): no site can use it"
            rows.append((
                guid, origin, _str(item.get("formSubmitURL")), _str(item.get("httpRealm")),
                _str(item.get("usernameField")), _str(item.get("passwordField")),
                bool(item.get("encryptedUsername")), bool(item.get("encryptedPassword")),
                _int(item.get("timeCreated")), _int(item.get("timeLastUsed")), _int(item.get("timePasswordChanged")),
                _int(item.get("timesUsed")), _int(item.get("syncCounter")),
                bool(item.get("everSynced")) if "everSynced" in item else None,
                origin != FXA_CREDENTIALS, deleted, error,
            ))  # fmt: skip
    return _frame.frame(rows, LOGIN_SPEC, source=str(path), kind="passwords")


def read_account(path: Path) -> pd.DataFrame:
    """signedInUser.json: who the profile is signed in as. Keys and tokens are never read
    out; ``fields`` lists the names of the other fields present (sessionToken, …)."""
    rows: list[tuple[Any, ...]] = []
    if path.exists():
        data = _json(path)
        acct = data.get("accountData") if isinstance(data, dict) else None
        if not isinstance(acct, dict):
            raise ProfileFileError(path, "has no 'accountData' object: it is not Firefox's signed-in account")
        device: dict[str, Any] = acct["device"] if isinstance(acct.get("device"), dict) else {}
        shown = {"uid", "email", "verified", "device"}
        uid = _str(acct.get("uid"))
        rows.append(
            (
                uid,
                _str(acct.get("email")),
                acct.get("verified") if isinstance(acct.get("verified"), bool) else None,
                _str(device.get("id")),
                _int(device.get("registrationVersion")),
                sorted(k for k in acct if k not in shown),
                None if uid else "no uid",
            )
        )
    return _frame.frame(rows, ACCOUNT_SPEC, source=str(path), kind="account")


def _type(value: Any) -> str:
    return (
        "bool"
        if isinstance(value, bool)
        else "int"
        if isinstance(value, int)
        else "string"
        if isinstance(value, str)
        else "none"
    )


def read_prefs(path: Path, *, everything: bool = False) -> pd.DataFrame:
    """Sync's prefs (``services.sync.*``, ``identity.*``) or every pref of prefs.js."""
    rows: list[tuple[Any, ...]] = []
    if path.exists():
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError as exc:
            raise ProfileFileError(path, f"cannot be read ({exc.strerror or exc})") from None
        for p in prefsjs.parse(text):
            if p.error is None and not everything and not (p.name or "").startswith(SYNC_PREFIXES):
                continue
            rows.append((p.name, p.value, None if p.error else _type(p.value), p.function, p.line, p.error))
    return _frame.frame(rows, PREF_SPEC, source=str(path), kind="prefs")


#: Sync's engines and whether each is on when its pref was never set (services/sync prefs)
DEFAULT_ENGINES = {"bookmarks": True, "history": True, "passwords": True, "tabs": True, "forms": True,
                   "addons": True, "prefs": True, "addresses": False, "creditcards": False}  # fmt: skip


@dataclass
class SyncSettings:
    """What prefs.js says about this device's Sync (see :meth:`Profile.settings`)."""

    username: str | None = None
    cluster_url: str | None = None
    token_server: str | None = None
    last_sync: pd.Timestamp | None = None
    next_sync: pd.Timestamp | None = None
    client_id: str | None = None
    client_name: str | None = None
    engines: dict[str, bool] = field(default_factory=dict)
    declined: list[str] = field(default_factory=list)
    engine_last_sync: dict[str, float] = field(default_factory=dict)
    backoff_until: pd.Timestamp | None = None
    last_sync_reassigned: bool | None = None
    configured: bool = False


_JSDATE = re.compile(r"^\w{3} (\w{3} \d{1,2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})")


def js_date(text: Any) -> pd.Timestamp | None:
    """Date.prototype.toString()'s text ("Mon Nov 30 2026 09:01:36 GMT+0000 (…)") as UTC."""
    if not isinstance(text, str):
        return None
    m = _JSDATE.match(text)
    if not m:
        return None
    try:
        dt = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%b %d %Y %H:%M:%S %z")
    except ValueError:
        return None
    return pd.Timestamp(dt).tz_convert(UTC)


def _epoch(value: Any) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(float(value), unit="s", tz="UTC") if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def settings(prefs: pd.DataFrame) -> SyncSettings:
    values = {r.id: r.value for r in prefs.itertuples() if not isinstance(r.error, str) and isinstance(r.id, str)}
    s = "services.sync."
    declined_text = values.get(s + "declinedEngines")
    declined = [e for e in declined_text.split(",") if e] if isinstance(declined_text, str) else []
    engines = {}
    for name, default in DEFAULT_ENGINES.items():
        if name in ("addresses", "creditcards"):
            default = bool(values.get(f"{s}engine.{name}.available", default))
        value = values.get(f"{s}engine.{name}", default)
        engines[name] = bool(value)
    last = {}
    for key, value in values.items():
        m = re.fullmatch(r"services\.sync\.([\w-]+)\.lastSync", key)
        if m and m.group(1) not in ("", "client"):
            try:
                last[m.group(1)] = float(value)
            except (TypeError, ValueError):
                pass
    return SyncSettings(
        username=_str(values.get(s + "username")),
        cluster_url=_str(values.get(s + "clusterURL")),
        token_server=_str(values.get("identity.sync.tokenserver.uri")),
        last_sync=js_date(values.get(s + "lastSync")),
        next_sync=_epoch(values.get(s + "nextSync")),
        client_id=_str(values.get(s + "client.GUID")),
        client_name=_str(values.get("identity.fxaccounts.account.device.name")) or _str(values.get(s + "client.name")),
        engines=engines,
        declined=declined,
        engine_last_sync=last,
        backoff_until=_epoch(values.get(s + "backoff.until")) if s + "backoff.until" in values else None,
        last_sync_reassigned=values.get(s + "lastSyncReassigned")
        if isinstance(values.get(s + "lastSyncReassigned"), bool)
        else None,
        configured=bool(values.get(s + "username")),
    )
