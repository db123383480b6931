"""A deterministic, realistic demo Firefox Sync account, with problems planted in it.

>>> from synctools.demodata import build_demo_account, install_demo
>>> account = build_demo_account()          # pure; same seed, same bytes
>>> info = install_demo(admin)              # admin: the embedded server's admin API

What it holds (record shapes as Firefox writes them; see each module's docstring):

- ``bookmarks``: the four user roots, ~300 folders, 2,000 bookmarks (tags, keywords),
  40 separators, ``place:`` queries (tag queries carry ``folderName``), 4 livemarks;
- ``history``: 20,000 pages with up to 20 visits each over one year (µs dates, transition
  types 1–9 except 4, which Firefox never syncs);
- ``passwords`` (200), ``forms`` (400), ``prefs`` (1), ``addons`` (8), ``addresses`` (3),
  ``creditcards`` (2, published test numbers);
- ``clients`` (4 devices, one stale) and their ``tabs``;
- ``meta/global`` (storage version 5, every engine, ``addresses`` declined — its old
  records are still on the server, as desktop Firefox leaves them) and ``crypto/keys``
  (a default key and a per-collection key for ``passwords``).

Planted problems (``account.planted``, also ``data/demo-account/planted.json``):
see :class:`PlantedKind` — an orphaned bookmark, a folder whose ``children`` disagrees
with a child's ``parentid``, a record with a bad HMAC, a record encrypted with another
key, a stale client, and an expired record.

All times derive from the fixed :data:`EPOCH_MS` (the demo's "now"); IVs derive from
the seed, so the encrypted BSOs are identical byte for byte on every run.
"""

from ._account import (
    COLLECTIONS,
    DECLINED,
    DEFAULT_SEED,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    PER_COLLECTION_KEY,
    DemoAccount,
    Planted,
    PlantedKind,
    build_demo_account,
)
from ._common import EPOCH_MS
from ._files import account_summary, load_demo_files, write_demo_files
from ._install import DemoAccountInfo, install_demo

__all__ = [
    "COLLECTIONS",
    "DECLINED",
    "DEFAULT_SEED",
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "EPOCH_MS",
    "PER_COLLECTION_KEY",
    "DemoAccount",
    "DemoAccountInfo",
    "Planted",
    "PlantedKind",
    "account_summary",
    "build_demo_account",
    "install_demo",
    "load_demo_files",
    "write_demo_files",
]
