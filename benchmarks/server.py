"""Benchmark the embedded stack: write 100,000 records of one collection in batches, then
read them back page by page, with a plain client (requests + mohawk).

    .venv/bin/python benchmarks/server.py [--records N] [--page-size N]

Prints records/s both ways and the number of requests made. Goal: reading back at least
50,000 records/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import time

import mohawk
import requests
from mohawk.base import EmptyValue

from synctools.protocol import onepw
from synctools.protocol._util import b64url_nopad
from synctools.server import LocalStack


def fake_payload(n: int) -> str:
    """A payload the size and shape of an encrypted history record."""
    return json.dumps(
        {
            "ciphertext": base64.b64encode(os.urandom(240)).decode(),
            "IV": base64.b64encode(os.urandom(16)).decode(),
            "hmac": hashlib.sha256(str(n).encode()).hexdigest(),
        }
    )


def sign_in(stack: LocalStack) -> dict:
    email, password, kb = "bench@example.com", "bench", secrets.token_bytes(32)
    stack.admin.create_account(email, password, kb=kb, key_rotation_timestamp=1_700_000_000_000)
    stretched = onepw.quick_stretch_v1(email, password)
    session = requests.post(
        stack.auth_url + "/account/login",
        json={"email": email, "authPW": onepw.auth_pw(stretched).hex()},
        timeout=30,
    ).json()
    token_id = onepw.token_credentials(bytes.fromhex(session["sessionToken"]), "sessionToken").token_id
    access = requests.post(
        stack.auth_url + "/oauth/token",
        json={
            "client_id": "5882386c6d801776",
            "grant_type": "fxa-credentials",
            "scope": "https://identity.mozilla.com/apps/oldsync",
        },
        headers={"Authorization": f"Bearer fxs_{token_id}"},
        timeout=30,
    ).json()["access_token"]
    kid = f"1700000000000-{b64url_nopad(hashlib.sha256(kb).digest()[:16])}"
    return requests.get(
        stack.token_url, headers={"Authorization": f"Bearer {access}", "X-KeyID": kid}, timeout=30
    ).json()


class Client:
    def __init__(self, token: dict):
        self.token = token
        self.http = requests.Session()
        self.count = 0

    def send(self, method: str, url: str, data: str | None = None, headers: dict | None = None) -> requests.Response:
        headers = dict(headers or {})
        if data is not None:
            headers["Content-Type"] = "application/json"
        sender = mohawk.Sender(
            {"id": self.token["id"], "key": self.token["key"], "algorithm": "sha256"},
            url,
            method,
            content=EmptyValue,
            content_type=EmptyValue,
            always_hash_content=False,
        )
        headers["Authorization"] = sender.request_header
        self.count += 1
        r = self.http.request(method, url, data=data, headers=headers, timeout=120)
        r.raise_for_status()
        return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=5000, help="limit= per GET (Firefox uses 1000; try both)")
    args = ap.parse_args()
    with LocalStack() as stack:
        token = sign_in(stack)
        client = Client(token)
        base = token["api_endpoint"] + "/storage/history"
        config = client.send("GET", token["api_endpoint"] + "/info/configuration").json()
        per_post, per_batch = config["max_post_records"], config["max_total_records"]
        records = [
            {"id": f"rec{n:07d}", "payload": fake_payload(n), "sortindex": n % 1000} for n in range(args.records)
        ]

        client.count = 0
        started = time.perf_counter()
        since = "0"
        for start in range(0, len(records), per_batch):
            chunk = records[start : start + per_batch]
            batch = "true"
            for i in range(0, len(chunk), per_post):
                last = i + per_post >= len(chunk)
                url = f"{base}?batch={batch}" + ("&commit=true" if last else "")
                r = client.send("POST", url, json.dumps(chunk[i : i + per_post]), {"X-If-Unmodified-Since": since})
                if batch == "true" and not last:
                    batch = r.json()["batch"]
                if last:
                    since = r.headers["X-Last-Modified"]
        write_s = time.perf_counter() - started
        writes = client.count

        client.count = 0
        started = time.perf_counter()
        got, offset = 0, None
        while True:
            url = f"{base}?full=1&sort=oldest&limit={args.page_size}"
            if offset:
                url += f"&offset={offset}"
            r = client.send("GET", url, headers={"X-If-Unmodified-Since": since})
            got += len(r.json())
            offset = r.headers.get("X-Weave-Next-Offset")
            if not offset:
                break
        read_s = time.perf_counter() - started
        assert got == args.records, (got, args.records)
        print(
            f"write: {args.records} records in {write_s:.2f}s = "
            f"{args.records / write_s:,.0f} records/s, {writes} requests"
        )
        print(
            f"read:  {got} records in {read_s:.2f}s = {got / read_s:,.0f} records/s, "
            f"{client.count} requests (limit={args.page_size}, client JSON parse included)"
        )


if __name__ == "__main__":
    main()
