"""The ``bookmarks`` collection: a tree as desktop Firefox uploads it (engine version 2).

Record shapes follow Firefox's ``SyncedBookmarksMirror.fetchLocalChangeRecords`` and
application-services ``bookmark_sync/record.rs``: every record has ``id, type,
parentid, hasDupe (always true from desktop), parentName, dateAdded (ms)``; folders add
``title, children``; bookmarks ``bmkUri, title`` and optional ``keyword, tags``; queries
``bmkUri`` (a ``place:`` URL) and ``folderName`` for tag queries; livemarks ``feedUri,
siteUri``; separators ``pos``. The four user roots (``menu``, ``toolbar``, ``unfiled``,
``mobile``) are folders whose ``parentid`` is ``places``. The Places root itself is never
uploaded (Firefox's bookmark validator reports a ``places`` record as ``rootOnServer``).

Two tree problems are planted here (see :mod:`synctools.demodata`): an orphan whose
parent folder does not exist, and a folder whose ``children`` disagrees with a child's
``parentid``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ._common import DAY_MS, EPOCH_MS, YEAR_MS, guid, modified_after, weighted_index
from ._history import make_page, pick_site
from ._vocab import FEEDS, FOLDER_NAMES, KEYWORDS, TAGS, TOPICS

ROOTS = ("menu", "toolbar", "unfiled", "mobile")
N_FOLDERS = 300
N_BOOKMARKS = 2000  # including keyword bookmarks and the planted orphan
N_SEPARATORS = 40
PROFILE_CREATED_MS = EPOCH_MS - 6 * YEAR_MS
FOLDER_SORTINDEX = 1_000_000  # desktop gives folders a high sortindex so they download first


@dataclass
class BookmarkTree:
    records: list[dict[str, Any]]
    modified: list[int]  # 1/100 s, parallel to records
    orphan_id: str
    missing_parent_id: str
    mismatch_folder_id: str
    mismatch_child_id: str
    mismatch_claimed_parent_id: str


class _Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.nodes: dict[str, dict[str, Any]] = {}
        self.kids: dict[str, list[str]] = {}
        self.depth: dict[str, int] = {}
        self.user_folders: list[str] = []
        self.capacity: dict[str, float] = {}
        for root in ROOTS:
            self.nodes[root] = {"id": root, "type": "folder", "title": root, "dateAdded": PROFILE_CREATED_MS}
            self.kids[root] = []
            self.depth[root] = 0

    def _date_under(self, parent: str, skew: float = 1.0) -> int:
        lo: int = self.nodes[parent]["dateAdded"]
        hi = EPOCH_MS - 2 * 3_600_000
        return lo + int((hi - lo) * self.rng.random() ** skew)

    def add(self, parent: str, node: dict[str, Any], skew: float = 1.0) -> str:
        node.setdefault("id", guid(self.rng))
        node.setdefault("dateAdded", self._date_under(parent, skew))
        node["_parent"] = parent
        self.nodes[node["id"]] = node
        self.kids[parent].append(node["id"])
        if node["type"] == "folder":
            self.kids[node["id"]] = []
            self.depth[node["id"]] = self.depth[parent] + 1
        node_id: str = node["id"]
        return node_id

    def folder(self, parent: str, title: str) -> str:
        fid = self.add(parent, {"type": "folder", "title": title}, skew=1.8)
        self.user_folders.append(fid)
        self.capacity[fid] = min(40.0, self.rng.paretovariate(1.1))
        return fid


def _folder_title(rng: random.Random) -> str:
    if rng.random() < 0.75:
        return rng.choice(FOLDER_NAMES)
    return rng.choice(TOPICS).capitalize() + rng.choice(("", "", " notes", " links", " 2026"))


def build_bookmarks(rng: random.Random, pages: list[tuple[str, str, int]]) -> BookmarkTree:
    b = _Builder(rng)
    # -- folders: a few top-level ones per root, then a tree that thins out with depth
    for root, count in (("menu", 12), ("toolbar", 5), ("unfiled", 3), ("mobile", 2)):
        for _ in range(count):
            b.folder(root, _folder_title(rng))
    search_folder = b.folder("menu", "Search")
    feeds_folder = b.folder("toolbar", "News feeds")
    while len(b.user_folders) < N_FOLDERS:
        candidates = [f for f in b.user_folders if b.depth[f] < 6]
        weights = [1.0 / b.depth[f] ** 1.5 for f in candidates]
        parent = rng.choices(candidates, weights)[0]
        b.folder(parent, _folder_title(rng))

    # -- bookmarks: popular pages from history, plus some never visited
    used: set[str] = set()

    def page() -> tuple[str, str]:
        while True:
            if rng.random() < 0.75:
                url, title, _site = rng.choice(pages)
            else:
                url, title = make_page(rng, pick_site(rng))
            if url not in used or rng.random() < 0.02:  # a few real-life duplicates
                used.add(url)
                return url, title

    def bookmark(parent: str, **extra: Any) -> str:
        url, title = page()
        node: dict[str, Any] = {"type": "bookmark", "bmkUri": url, "title": title}
        if rng.random() < 0.25:
            node["tags"] = sorted(
                set(rng.choices(TAGS[:15], k=rng.randint(1, 3)) + rng.choices(TAGS, k=rng.randint(0, 1)))
            )
        node.update(extra)
        return b.add(parent, node, skew=0.7)

    for kw, url, title in KEYWORDS:
        parent = search_folder if rng.random() < 0.75 else rng.choice(b.user_folders)
        node = {"type": "bookmark", "bmkUri": url, "title": title, "keyword": kw}
        b.add(parent, node, skew=0.7)
        used.add(url)
    placed = len(KEYWORDS) + 1  # the orphan comes last
    for root, count in (("toolbar", 12), ("mobile", 90), ("unfiled", 280), ("menu", 30)):
        for _ in range(count):
            bookmark(root)
        placed += count
    folder_list = list(b.user_folders)
    cum: list[float] = []
    acc = 0.0
    for f in folder_list:
        acc += b.capacity[f]
        cum.append(acc)
    while placed < N_BOOKMARKS:
        bookmark(folder_list[weighted_index(rng, cum)])
        placed += 1

    # -- queries and livemarks
    b.add("toolbar", {"type": "query", "bmkUri": "place:sort=8&maxResults=10", "title": "Most Visited"})
    b.add("menu", {"type": "query", "bmkUri": "place:type=6&sort=14&maxResults=10", "title": "Recent Tags"})
    for tag in rng.sample(TAGS, 10):
        parent = rng.choice(("menu", "toolbar", rng.choice(folder_list)))
        b.add(parent, {"type": "query", "bmkUri": f"place:tag={tag}", "title": tag, "folderName": tag})
    for title, feed, site in FEEDS:
        b.add(feeds_folder, {"type": "livemark", "title": title, "feedUri": feed, "siteUri": site})

    # -- order: mostly as added, some folders rearranged by hand; then separators
    for kids in b.kids.values():
        kids.sort(key=lambda k: (b.nodes[k]["dateAdded"], k))
        if rng.random() < 0.15:
            rng.shuffle(kids)
    roomy = [f for f in (*ROOTS, *folder_list) if len(b.kids[f]) >= 4 and f != "mobile"]
    for _ in range(N_SEPARATORS):
        parent = rng.choice(roomy)
        sid = guid(rng)
        b.nodes[sid] = {"id": sid, "type": "separator", "dateAdded": b._date_under(parent), "_parent": parent}
        b.kids[parent].insert(rng.randrange(1, len(b.kids[parent])), sid)

    # -- planted: a folder whose children list disagrees with a child's parentid
    full = [f for f in folder_list if sum(b.nodes[k]["type"] == "bookmark" for k in b.kids[f]) >= 3]
    mismatch_folder = rng.choice(full)
    other = rng.choice(
        [f for f in folder_list if f != mismatch_folder and b.nodes[f]["title"] != b.nodes[mismatch_folder]["title"]]
    )
    moved = rng.choice([k for k in b.kids[mismatch_folder] if b.nodes[k]["type"] == "bookmark"])

    # -- planted: an orphan whose parent folder was deleted without a tombstone
    missing_parent = guid(rng)
    url, title = page()
    orphan_id = guid(rng)
    orphan_date = EPOCH_MS - 200 * DAY_MS - rng.randrange(DAY_MS)

    records: list[dict[str, Any]] = []
    modified: list[int] = []

    def emit(nid: str) -> None:
        node = b.nodes[nid]
        parent = "places" if nid in ROOTS else node["_parent"]
        rec: dict[str, Any] = {
            "id": nid,
            "type": node["type"],
            "parentid": parent,
            "hasDupe": True,
            "parentName": "" if parent == "places" else b.nodes[parent]["title"],
            "dateAdded": node["dateAdded"],
        }
        last_change = node["dateAdded"]
        kind = node["type"]
        if kind == "folder":
            rec["title"] = node["title"]
            rec["children"] = list(b.kids[nid])
            if b.kids[nid]:
                last_change = max(last_change, max(b.nodes[k]["dateAdded"] for k in b.kids[nid]))
        elif kind in ("bookmark", "query"):
            rec["bmkUri"] = node["bmkUri"]
            rec["title"] = node["title"]
            for key in ("keyword", "tags", "folderName"):
                if key in node:
                    rec[key] = node[key]
        elif kind == "livemark":
            rec.update(title=node["title"], feedUri=node["feedUri"], siteUri=node["siteUri"])
        elif kind == "separator":
            rec["pos"] = b.kids[parent].index(nid)
        if nid == moved:
            # Moved on another device to `other`; the upload of both folders was lost.
            rec["parentid"] = other
            rec["parentName"] = b.nodes[other]["title"]
            last_change = EPOCH_MS - 9 * DAY_MS - rng.randrange(DAY_MS)
        records.append(rec)
        modified.append(modified_after(last_change))

    order = list(ROOTS) + [n for n in b.nodes if n not in ROOTS]
    for nid in order:
        emit(nid)
    records.append(
        {
            "id": orphan_id,
            "type": "bookmark",
            "parentid": missing_parent,
            "hasDupe": True,
            "parentName": "Old projects",
            "dateAdded": orphan_date,
            "bmkUri": url,
            "title": title,
        }
    )
    modified.append(modified_after(orphan_date))
    return BookmarkTree(records, modified, orphan_id, missing_parent, mismatch_folder, moved, other)
