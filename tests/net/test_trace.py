"""The trace: what it records, how it reads as a table, and that it never holds a secret."""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

import pytest

from synctools.net import (
    FxaClient,
    PreconditionFailed,
    StorageClient,
    TokenServerClient,
    Trace,
)
from synctools.net.http import fp, redact_authorization
from synctools.protocol import onepw
from synctools.protocol.crypto import CollectionKeys, KeyBundle
from synctools.protocol.metaglobal import MetaGlobal

from .conftest import DEFAULT_LIMITS, PASSWORD, new_email


def test_authorization_headers_keep_their_scheme_but_not_their_credentials() -> None:
    hawk = 'Hawk id="tok-id-123456", ts="1700000000", nonce="abc", mac="c2VjcmV0bWFj"'
    shown = redact_authorization(hawk)
    assert shown.startswith("Hawk id=<fp ") and "ts=1700000000" in shown
    assert "tok-id-123456" not in shown and "c2VjcmV0bWFj" not in shown
    assert redact_authorization("Bearer fxs_" + "ab" * 32) == "Bearer fxs_" + fp("ab" * 32)
    assert redact_authorization("Bearer opaque-access-token") == "Bearer " + fp("opaque-access-token")


def test_registered_secrets_are_scrubbed_from_anything_recorded() -> None:
    trace = Trace()
    trace.add_secret("s3cr3t-value-1234")
    trace.add_secret(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    text = trace.scrub("a s3cr3t-value-1234 and 0102030405060708")
    assert "s3cr3t" not in text and "0102030405060708" not in text
    assert fp("s3cr3t-value-1234") in text
    headers = trace.redact_headers({"X-Thing": "s3cr3t-value-1234", "Cookie": "sid=1"})
    assert headers == {"X-Thing": fp("s3cr3t-value-1234"), "Cookie": fp("sid=1")}


def test_a_pickled_trace_keeps_its_rows_but_not_the_secrets_it_scrubs_with() -> None:
    trace = Trace()
    trace.add_secret("s3cr3t-value-1234")
    blob = pickle.dumps(trace)
    assert b"s3cr3t" not in blob
    assert len(pickle.loads(blob)) == 0


def test_an_empty_trace_reads_as_an_empty_table() -> None:
    trace = Trace()
    df = trace.frame()
    assert len(df) == 0 and "status" in df.columns and "elapsed_ms" in df.columns
    assert trace  # truthy even when empty, so `trace or Trace()` keeps it


def _forms(secret: str | bytes) -> list[str]:
    """Every way a secret could be written out."""
    if isinstance(secret, str):
        return [secret]
    return [
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]


def test_a_whole_sync_leaves_no_secret_in_the_trace(stack: Any) -> None:
    email = new_email("trace")
    kb = bytes(range(100, 132))
    totp_secret = "JBSWY3DPEHPK3PXP"
    stack.admin.create_account(email, PASSWORD, kb=kb, totp_secret=totp_secret, verification="totp")
    stack.admin.set_config(**{**DEFAULT_LIMITS, "max_post_records": 7})
    trace = Trace()

    # Log in, verify, keys, OAuth token, storage token.
    fxa = FxaClient(stack.auth_url, stack.oauth_url, trace=trace)
    session = fxa.login(email, PASSWORD)
    key_fetch_token = session._key_fetch_token
    session.verify_totp(stack.admin.totp_code(email))
    keys = session.fetch_keys()
    access = session.oauth_token().access_token
    tokens = TokenServerClient(stack.token_url, trace=trace)
    token = tokens.exchange(access, keys)
    storage = StorageClient(token, trace=trace, token_provider=session.token_provider(tokens))

    # The stages of a first sync: config, collections, meta/global, crypto/keys, records.
    storage.info_configuration()
    storage.info_collections()
    meta = MetaGlobal.fresh()
    storage.put_record("meta", {"id": "global", "payload": json.dumps(meta.to_payload())}, if_unmodified_since=0)
    ckeys = CollectionKeys.generate(["bookmarks"])
    payload = keys.bundle.encrypt({"id": "keys", "collection": "crypto", **ckeys.to_cleartext()})
    storage.put_record("crypto", {"id": "keys", "payload": json.dumps(payload)}, if_unmodified_since=0)
    bundle = ckeys.bundle_for("history")
    records = [
        {
            "id": f"h{i:04d}",
            "payload": json.dumps(
                bundle.encrypt({"id": f"h{i:04d}", "histUri": f"https://example.com/{i}", "visits": []})
            ),
        }
        for i in range(30)
    ]
    result = storage.upload("history", records, if_unmodified_since=0)
    assert result.ok and result.posts == 5
    got = storage.get_collection("history", limit=8)
    assert bundle.decrypt(got[0].payload, got[0].id)["histUri"].startswith("https://")
    # Error paths record responses too: a stale write and an expired token.
    with pytest.raises(PreconditionFailed) as stale:
        storage.upload("history", records[:1], if_unmodified_since=1)
    stack.admin.expire_tokens(email)
    storage.info_configuration()  # (info/collections would still accept the expired token)
    assert storage.token is not token

    stretched = onepw.quick_stretch_v1(email, PASSWORD)
    secrets: list[str | bytes] = [
        PASSWORD,
        onepw.auth_pw(stretched).hex(),
        stretched,
        onepw.unwrap_b_key(stretched),
        session._session_token or "",
        key_fetch_token or "",
        kb,
        keys.ksync,
        keys.bundle.enc_key,
        keys.bundle.hmac_key,
        access,
        token.id,
        token.key,
        storage.token.id,
        storage.token.key,
        totp_secret,
        onepw.token_credentials(bytes.fromhex(session._session_token or ""), "sessionToken").hmac_key,
    ]
    for name in ["default", "bookmarks"]:
        b: KeyBundle = ckeys.default if name == "default" else ckeys.bundle_for(name)
        secrets += [b.enc_key, b.hmac_key]
    shown = "\n".join(
        [
            trace.dump_text(),
            trace.frame().to_string(),
            trace.signals_frame().to_string(),
            repr(session),
            repr(keys),
            repr(token),
            repr(storage.token),
            repr(fxa),
            repr(storage),
            str(stale.value),
            repr(stale.value.response),
            pickle.dumps(trace).decode("latin-1"),  # a trace saved with a notebook
        ]
    )
    assert len(trace) >= 15
    services = set(trace.frame()["service"])
    assert services == {"fxa", "tokenserver", "storage"}
    for secret in secrets:
        for form in _forms(secret):
            assert form not in shown, f"a secret ({fp(form)}) leaked into the trace"
    # ...while the trace still says who was asked what.
    mark = len(trace)
    storage.info_collections()
    assert list(trace.frame(since=mark)["url"]) == [storage.endpoint + "/info/collections"]
    df = trace.frame()
    assert (df["status"] == 412).sum() == 1 and (df["status"] == 401).sum() == 1
    auth = [e.request_headers.get("Authorization", "") for e in trace]
    assert any(a.startswith("Hawk id=<fp ") for a in auth)
    assert any(a.startswith("Bearer fxs_<fp ") for a in auth)
    assert any(a.startswith("Bearer <fp ") for a in auth)
