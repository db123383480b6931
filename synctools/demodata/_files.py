"""The committed, human-readable form of the demo account (``data/demo-account/``).

- ``<collection>.jsonl.gz``: the cleartext records, one JSON object per line (all
  collections but ``crypto``, whose cleartext is key material);
- ``account.json``: email, epoch, key id, key fingerprints, meta/global, counts and a
  SHA-256 of every collection's BSOs (so the encrypted bytes are pinned too);
- ``planted.json``: the planted problems.

Gzip output is written with ``mtime=0`` so the files do not change from run to run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from synctools.protocol._util import fingerprint

from ._account import DemoAccount, Planted

FORMAT = 1


def _line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _digest(items: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(json.dumps(item, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def account_summary(account: DemoAccount) -> dict[str, Any]:
    """What ``account.json`` holds. Secrets appear only as fingerprints."""
    return {
        "format": FORMAT,
        "seed": account.seed,
        "email": account.email,
        "epoch_ms": account.epoch_ms,
        "key_rotation_timestamp": account.key_rotation_timestamp,
        "kid": account.kid,
        "kb_fingerprint": fingerprint(account.kb),
        "collection_key_fingerprints": account.collection_keys.fingerprints(),
        "meta_global": account.meta_global.to_payload(),
        "counts": {c: len(v) for c, v in account.bsos.items()},
        "bso_sha256": {c: _digest(v) for c, v in account.bsos.items()},
        "cleartext_sha256": {c: _digest(v) for c, v in account.cleartext.items()},
    }


def write_demo_files(account: DemoAccount, directory: str | Path) -> list[Path]:
    """Write the committed form of ``account`` into ``directory``; return the files."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for coll, records in account.cleartext.items():
        if coll == "crypto":
            continue
        path = out / f"{coll}.jsonl.gz"
        data = "".join(_line(r) + "\n" for r in records).encode("utf-8")
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        written.append(path)
    for name, obj in (
        ("account.json", account_summary(account)),
        ("planted.json", [p.to_json() for p in account.planted]),
    ):
        path = out / name
        path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
    return written


def load_demo_files(directory: str | Path) -> dict[str, Any]:
    """Read the committed form back: ``{"account", "planted", "cleartext"}``."""
    src = Path(directory)
    if not (src / "account.json").is_file():
        raise FileNotFoundError(f"{src} holds no account.json: run data/generate_demo.py to write it")
    cleartext = {}
    for path in sorted(src.glob("*.jsonl.gz")):
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
        cleartext[path.name.removesuffix(".jsonl.gz")] = [json.loads(line) for line in text.splitlines() if line]
    return {
        "account": json.loads((src / "account.json").read_text("utf-8")),
        "planted": [Planted.from_json(p) for p in json.loads((src / "planted.json").read_text("utf-8"))],
        "cleartext": cleartext,
    }
