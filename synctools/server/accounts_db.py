"""The accounts service's and tokenserver's SQLite store.

Only what FxA itself keeps: a verifier (``verifyHash`` with a random salt), never the
password or authPW; ``wrapKB`` (kB XOR unwrapBKey); tokens by their id.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    uid TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL UNIQUE,
    auth_salt BLOB NOT NULL,
    verify_hash BLOB NOT NULL,
    wrap_kb BLOB NOT NULL,
    verify_hash_v2 BLOB,
    wrap_kb_v2 BLOB,
    client_salt TEXT,
    ka BLOB NOT NULL,
    totp_secret TEXT,
    verification TEXT NOT NULL,
    key_rotation_timestamp INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,      -- hex, HKDF(token, type)[0:32]
    kind TEXT NOT NULL,             -- sessionToken | keyFetchToken
    uid TEXT NOT NULL,
    hawk_key BLOB NOT NULL,
    extra BLOB NOT NULL,            -- keyRequestKey for a keyFetchToken
    verified INTEGER NOT NULL,
    code TEXT,                      -- the emailed code of an unverified session
    parent TEXT,                    -- a keyFetchToken's session
    key_version INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth (
    token_hash TEXT PRIMARY KEY,    -- sha256 of the token: a leaked DB leaks no tokens
    kind TEXT NOT NULL,             -- access | refresh | code
    uid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires REAL NOT NULL,
    extra TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    session TEXT,
    record TEXT NOT NULL
);
-- a device's command queue (FxA's pushbox): idx is the account-wide message index
CREATE TABLE IF NOT EXISTS device_commands (
    idx INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    device_id TEXT NOT NULL,
    data TEXT NOT NULL,             -- {"command", "payload", "sender"}
    expires INTEGER NOT NULL        -- seconds
);
CREATE INDEX IF NOT EXISTS device_commands_device ON device_commands (uid, device_id, idx);
CREATE TABLE IF NOT EXISTS ts_users (
    storage_uid INTEGER PRIMARY KEY AUTOINCREMENT,
    fxa_uid TEXT NOT NULL,
    node TEXT NOT NULL,
    client_state TEXT,
    keys_changed_at INTEGER,
    replaced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ts_users_fxa ON ts_users (fxa_uid, replaced);
"""
