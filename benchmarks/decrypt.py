"""Benchmark: bulk decryption of 100,000 history-like records (issue 2).

Times, in one run and on the same data:
  (a) the naive loop: per record one cipher object, one ``hmac.new``, one ``json.loads``;
  (b) the library's bulk path, ``synctools.protocol.crypto.decrypt_many``;
  (c) the floor: one SHA-256 pass plus one AES-CBC pass over all the ciphertext bytes.
Prints records/s for each and the ratios b/a (goal ≥ 4) and c/b (goal ≤ 3).

    python benchmarks/decrypt.py [--n 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from synctools.protocol import _bulk
from synctools.protocol.crypto import CryptoError, KeyBundle, decrypt_many


def history_record(rng: random.Random, i: int) -> dict:
    """About 530 bytes of JSON, like a real history record with a few visits."""
    host = f"www.{rng.choice(['example', 'mozilla', 'news', 'shop', 'wiki'])}{rng.randint(1, 999)}.org"
    path = "/".join(rng.choice(["docs", "a", "article", "2026", "search", "item"]) for _ in range(4))
    base = 1_760_000_000_000_000 + rng.randint(0, 30_000_000_000_000)
    return {
        "id": f"{i:012d}",
        "histUri": f"https://{host}/{path}?q={rng.getrandbits(48):x}",
        "title": " ".join(rng.choice(["The", "Firefox", "Sync", "news", "guide", "how", "to"]) for _ in range(8)),
        "visits": [{"date": base - k * 86_400_000_000, "type": rng.choice([1, 2, 5, 6])} for k in range(10)],
    }


def build(n: int) -> tuple[KeyBundle, list[str], list[str], int]:
    rng = random.Random(1)
    bundle = KeyBundle.random()
    ids, payloads, ct_bytes = [], [], 0
    for i in range(n):
        rec = history_record(rng, i)
        p = bundle.encrypt(rec)
        ct_bytes += len(base64.b64decode(p["ciphertext"]))
        ids.append(rec["id"])
        payloads.append(json.dumps(p))
    return bundle, ids, payloads, ct_bytes


def naive(bundle: KeyBundle, ids: list[str], payloads: list[str]) -> list:
    out = []
    for _rid, text in zip(ids, payloads):
        p = json.loads(text)
        mac = hmac.new(bundle.hmac_key, p["ciphertext"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, p["hmac"]):
            out.append(None)
            continue
        dec = Cipher(algorithms.AES(bundle.enc_key), modes.CBC(base64.b64decode(p["IV"]))).decryptor()
        padded = dec.update(base64.b64decode(p["ciphertext"])) + dec.finalize()
        unpad = padding.PKCS7(128).unpadder()
        out.append(json.loads(unpad.update(padded) + unpad.finalize()))
    return out


def floor(bundle: KeyBundle, blob: bytes) -> None:
    hashlib.sha256(blob).digest()
    dec = Cipher(algorithms.AES(bundle.enc_key), modes.CBC(bytes(16))).decryptor()
    dec.update(blob)
    dec.finalize()


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"building {args.n:,} records …", flush=True)
    bundle, ids, payloads, ct_bytes = build(args.n)
    blob = os.urandom(ct_bytes - ct_bytes % 16)
    print(f"ciphertext: {ct_bytes / args.n:.0f} bytes/record on average, {ct_bytes / 1e6:.1f} MB in all")

    # correctness first: both paths agree, nothing failed
    bulk_out = decrypt_many(bundle, payloads, ids)
    assert not any(isinstance(r, CryptoError) for r in bulk_out)
    assert bulk_out[:200] == naive(bundle, ids[:200], payloads[:200])

    t_a = best_of(args.repeat, lambda: naive(bundle, ids, payloads))
    t_b = best_of(args.repeat, lambda: decrypt_many(bundle, payloads, ids))
    t_raw = best_of(args.repeat, lambda: decrypt_many(bundle, payloads, ids, raw=True))
    t_c = best_of(args.repeat, lambda: floor(bundle, blob))
    native, _bulk._native = _bulk._native, None  # the pure-Python steps alone, for comparison
    try:
        assert decrypt_many(bundle, payloads[:200], ids[:200]) == bulk_out[:200]
        t_py = best_of(args.repeat, lambda: decrypt_many(bundle, payloads, ids, raw=True))
    finally:
        _bulk._native = native
    n = args.n
    print(f"(a) naive loop : {n / t_a:>12,.0f} records/s  ({t_a:.3f} s)")
    print(f"(b) bulk path  : {n / t_b:>12,.0f} records/s  ({t_b:.3f} s)")
    print(f"(b') bulk, raw : {n / t_raw:>12,.0f} records/s  ({t_raw:.3f} s)  verified cleartext bytes, no JSON")
    print(f"(b'') Python   : {n / t_py:>12,.0f} records/s  ({t_py:.3f} s)  raw, without the compiled loop"
          f"{'' if native is not None else ' (it is not built here: both lines are the Python steps)'}")  # fmt: skip
    print(f"(c) floor      : {n / t_c:>12,.0f} records/s  ({t_c:.3f} s)  SHA-256 + AES-CBC over all bytes")
    print(f"b/a speed-up   : {t_a / t_b:.2f}x   (goal >= 4)")
    print(f"b vs floor     : {t_b / t_c:.2f}x slower than (c)   (goal <= 3)")
    print(f"b' vs floor    : {t_raw / t_c:.2f}x slower than (c)   (decryption alone, JSON parsing excluded)")
    print(f"b''/b'         : {t_py / t_raw:.2f}x   (the compiled loop's speed-up of the raw path)")


if __name__ == "__main__":
    main()
