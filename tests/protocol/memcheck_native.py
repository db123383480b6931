"""Run by test_native_memcheck.py under valgrind: the compiled module on mutated input.

Good payloads, history cleartexts (escapes, non-ASCII, surrogate pairs, 5,000 visits) and
a page of BSOs, each cut, flipped and grown at random places, through every entry point. Prints what was
accepted; valgrind reports any read or write out of bounds and any use of an
uninitialised byte.
"""

from __future__ import annotations

import json
import random

from synctools.protocol import _native
from synctools.protocol.crypto import KeyBundle

ALPHABET = '{}[]:,"\\ \n\tabcdefIVhmacciphertext=+/0123456789u'


def mutants(text: bytes, rnd: random.Random, k: int) -> list[bytes]:
    out = []
    for _ in range(k):
        s = bytearray(text)
        pos = rnd.randrange(len(s))
        op = rnd.randrange(3)
        if op == 0:
            s = s[:pos]
        elif op == 1:
            s[pos] = ord(rnd.choice(ALPHABET + "\x00\xff\xc3"))
        else:
            s.insert(pos, ord(rnd.choice(ALPHABET)))
        out.append(bytes(s))
    return out


def main() -> None:
    rnd = random.Random(7)
    bundle = KeyBundle(bytes(range(32)), bytes(range(32, 64)))
    records = [{"id": f"r{i}", "histUri": "https://x.example/é", "title": 't"\\\n😀\u2028',
                "visits": [{"date": i, "type": 1}, {"date": None}]} for i in range(50)]  # fmt: skip
    good = [json.dumps(bundle.encrypt(r)).encode() for r in records]
    payloads = [p.decode("latin-1") for g in good for p in [g, *mutants(g, rnd, 40)]]
    got = _native.decrypt_payloads(bundle.hmac_key, bundle.enc_key, payloads)
    print("payloads accepted:", sum(g is not None for g in got), "of", len(payloads))
    texts = [json.dumps(r).encode() for r in records] + [json.dumps(r, ensure_ascii=False).encode() for r in records]
    ids = [r["id"] for r in records] * 2
    assert _native.history_columns(texts, ids) is not None
    accepted = sum(
        _native.history_columns([m], [rid]) is not None for text, rid in zip(texts, ids) for m in mutants(text, rnd, 30)
    )
    print("history texts accepted:", accepted, "of", 30 * len(texts))
    many = b'{"id":"a","visits":[' + b'{"date":1,"type":2},' * 5000 + b"{}]}"
    assert _native.history_columns([many], ["a"]) is not None
    page = ("[" + ",".join(
        f'{{"id":"r{i}","modified":1700000000.{i % 100:02d},"payload":{json.dumps(g.decode())}'
        + (f',"sortindex":{i}' if i % 2 else ',"ttl":null') + "}" for i, g in enumerate(good)
    ) + "]").encode()  # fmt: skip
    assert _native.page_columns(page, -1) is not None
    accepted = sum(_native.page_columns(m, 170000000050) is not None for m in mutants(page, rnd, 2000))
    print("pages accepted:", accepted, "of", 2000)


if __name__ == "__main__":
    main()
