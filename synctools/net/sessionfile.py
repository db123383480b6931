"""A saved accounts session: a JSON file only its owner can read.

It holds the session token and the current OAuth token (credentials, hence mode 0600,
written atomically); the sync keys -- as the kSync JWK, never kB -- only when the person
asks for them with ``include_keys=True``. :func:`load_session` refuses a file that other
users can read, and says how to fix it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from synctools.protocol.keys import OLDSYNC_SCOPE, SyncKeys

from ._private import write_private
from .fxa import FIREFOX_CLIENT_ID, SESSION_FORMAT, FxaClient, FxaSession, OAuthToken
from .http import Trace

__all__ = ["load_session", "save_session", "write_private"]


def save_session(
    session: FxaSession,
    path: str | os.PathLike[str],
    *,
    include_keys: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``session`` to a 0600 file (replaced atomically). See :func:`load_session`.

    ``extra`` adds fields of the caller's (say, the tokenserver URL) beside the session.
    """
    data = session.to_dict(include_keys=include_keys)
    if extra:
        data = {**dict(extra), **data}
    return write_private(path, data)


def load_session(
    path: str | os.PathLike[str], *, trace: Trace | None = None, client: FxaClient | None = None
) -> FxaSession:
    """Read a session saved by :func:`save_session`; refuses files others can read."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved session at {path}; log in and save one first") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); it holds "
            f"credentials: run `chmod 600 {path}` or log in again"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError:
        raise ValueError(f"{path} is not a saved synctools session (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise ValueError(f"{path} is not a saved synctools session")
    if data.get("version") != 1:
        raise ValueError(f"{path}: unsupported session file version {data.get('version')!r}")
    client = client or FxaClient(
        data["auth_url"], data["oauth_url"], trace=trace,
        client_id=data.get("client_id", FIREFOX_CLIENT_ID),
    )  # fmt: skip
    oauth = None
    if data.get("oauth"):
        o = data["oauth"]
        exp = datetime.fromisoformat(o["expires_at"]) if o.get("expires_at") else None
        oauth = OAuthToken(o["access_token"], exp, o.get("scope", OLDSYNC_SCOPE))
    keys = SyncKeys.from_jwk(data["keys"]) if data.get("keys") else None
    if keys is not None:
        client.trace.add_secret(keys.ksync)
    return FxaSession(
        client,
        email=data.get("email"),
        uid=data.get("uid"),
        session_token=data.get("session_token"),
        verified=bool(data.get("verified")),
        key_stretch_version=int(data.get("key_stretch_version", 1)),
        sync_keys=keys,
        oauth=oauth,
    )
