"""A whole sync, commit included, leaves no secret in its trace, its results, its
reprs, its errors or its store: only fingerprints."""

from __future__ import annotations

import base64
import pickle

from synctools.machine import Sync


def forms(secret: bytes | str) -> list[str]:
    if isinstance(secret, str):
        return [secret]
    return [secret.hex(), base64.b64encode(secret).decode(), base64.urlsafe_b64encode(secret).decode().rstrip("=")]


def test_whole_sync_leaks_no_secret(stack, account, tmp_path):
    path = tmp_path / "store.sqlite"
    s = Sync.local(stack, email=account.email, password=account.password, store=path)
    s.run(until="download")
    s.edit("bookmarks", "bookmark0001", {"title": "edited"})
    s.merge()
    plan = s.plan_upload()
    commit = s.commit(plan)
    secrets: list[str] = [account.password]
    for raw in (account.kb, s.keys.ksync, s.keys.bundle.enc_key, s.keys.bundle.hmac_key):
        secrets += forms(raw)
    for bundle in [s.collection_keys.default, *s.collection_keys.collections.values()]:
        secrets += forms(bundle.enc_key) + forms(bundle.hmac_key)
    secrets += [s.session._session_token, s.session.oauth_token().access_token, s.token.id, s.token.key]
    secrets = [x for x in secrets if x]
    texts = [
        s.trace.to_csv(),
        s.trace_log.dump_text(),
        repr(s),
        repr(s.keys),
        repr(s.session),
        repr(s.token),
        repr(s.collection_keys),
        repr(plan),
        plan._repr_html_(),
        repr(commit),
        commit._repr_html_(),
        *(repr(r) + r._repr_html_() for r in s.results.values()),
        s.errors().to_csv(),
        s.staged().to_csv(),
    ]
    blob = "\n".join(texts)
    store_bytes = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        store_bytes += wal.read_bytes()
    for secret in secrets:
        assert secret not in blob, "a secret appeared in a trace, result or repr"
        assert secret.encode() not in store_bytes, "a secret was stored in the local store"
    # the trace survives pickling without taking the secrets along
    assert all(x.encode() not in pickle.dumps(s.trace_log) for x in secrets)
    # and fingerprints are there to tell keys apart
    assert s.keys.fingerprint in repr(s.results["authenticate"])
