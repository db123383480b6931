"""Write (or check) the committed demo account in data/demo-account/.

    python data/generate_demo.py            # regenerate data/demo-account/
    python data/generate_demo.py --check    # exit 1 if the committed files are stale
    python data/generate_demo.py --seed 7 --out /tmp/demo7

The files are the cleartext of every collection (gzipped JSON lines), account.json
(key id, fingerprints, meta/global, counts, SHA-256 of the encrypted BSOs) and
planted.json (the planted problems). ``synctools.demodata.build_demo_account`` does
not need them: it regenerates the account in memory in about a second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from synctools.demodata import DEFAULT_SEED, build_demo_account, load_demo_files, write_demo_files

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "demo-account"


def _seed(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help="generator seed (int or text)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    account = build_demo_account(args.seed)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            write_demo_files(account, tmp)
            fresh, committed = load_demo_files(tmp), load_demo_files(args.out)
        stale = [k for k in ("account", "planted", "cleartext") if fresh[k] != committed[k]]
        if stale:
            print(f"{args.out} is stale ({', '.join(stale)} differ): run python data/generate_demo.py")
            return 1
        print(f"{args.out} matches seed {args.seed!r}")
        return 0
    for path in write_demo_files(account, args.out):
        print(f"{path.stat().st_size:>10,}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
