"""bookmarks (engine version 2): one record per bookmark, folder, separator, query, livemark.

Folders list their children's ids in order (``children``); every item names its
``parentid``. The roots are the records ``menu``, ``toolbar``, ``unfiled`` and ``mobile``,
whose parent is ``places`` (the root, never itself synced). The frame adds what a record
does not say alone: the folder path of its containing folder ("menu/Work/Projects"),
its position in the parent's ``children`` and the parent's title. ``Frames.tree`` is a
:class:`BookmarkTree` to walk. ``dateAdded`` is milliseconds (sometimes a string).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import (
    Batch,
    Column,
    Engine,
    Frames,
    Row,
    boolean,
    int_array,
    loose_int,
    str_array,
    str_list,
    text,
)

ROOTS = ("menu", "toolbar", "unfiled", "mobile")
PLACES = "places"


@dataclass(eq=False)
class BookmarkNode:
    """One item of the tree. ``children`` are in the parent's ``children`` order."""

    id: str
    type: str | None
    title: str | None
    url: str | None = None
    parent_id: str | None = None
    children: list[BookmarkNode] = field(default_factory=list)
    listed: bool = True  # the parent's `children` names this item

    def __repr__(self) -> str:
        what = self.url or f"{len(self.children)} children"
        return f"<{self.type or 'item'} {self.id!r} {self.title!r}: {what}>"


class BookmarkTree:
    """The bookmark tree as records describe it, with what does not fit it.

    - ``root``: the ``places`` node; ``nodes``: id -> node for every live record;
    - ``orphans``: nodes whose parent has no record (walked after the root's tree);
    - ``missing``: folder id -> child ids its ``children`` names that have no record;
    - ``unlisted``: nodes whose parent's ``children`` does not name them.
    """

    def __init__(self, items: dict[str, dict[str, Any]]):
        self.nodes: dict[str, BookmarkNode] = {}
        for rid, it in items.items():
            self.nodes[rid] = BookmarkNode(rid, it.get("type"), it.get("title"), it.get("url"), it.get("parent_id"))
        synthetic_root = PLACES not in self.nodes  # Firefox never uploads the places root
        if synthetic_root:
            self.nodes[PLACES] = BookmarkNode(PLACES, "folder", "", None, None)
        self.root = self.nodes[PLACES]
        self.missing: dict[str, list[str]] = {}
        self.unlisted: list[BookmarkNode] = []
        placed: set[str] = set()
        for rid, it in items.items():
            node = self.nodes[rid]
            for cid in it.get("children") or ():
                child = self.nodes.get(cid)
                if child is None:
                    self.missing.setdefault(rid, []).append(cid)
                elif child.parent_id == rid and cid not in placed:
                    node.children.append(child)
                    placed.add(cid)
        for rid, node in self.nodes.items():
            parent = self.nodes.get(node.parent_id or "")
            if rid in placed or parent is None or rid == PLACES:
                continue
            parent.children.append(node)
            if not (synthetic_root and parent is self.root):
                node.listed = False
                self.unlisted.append(node)
        self.orphans = [n for n in self.nodes.values() if n is not self.root and n.parent_id not in self.nodes]

    def __getitem__(self, rid: str) -> BookmarkNode:
        return self.nodes[rid]

    def __contains__(self, rid: object) -> bool:
        return rid in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def walk(self, start: str | BookmarkNode | None = None) -> Iterator[tuple[int, BookmarkNode]]:
        """Depth-first (depth, node) from ``start`` (default: the root, then the orphans)."""
        if start is None:
            starts = [self.root, *self.orphans]
        else:
            starts = [start if isinstance(start, BookmarkNode) else self.nodes[start]]
        seen: set[int] = set()
        for top in starts:
            stack = [(0, top)]
            while stack:
                depth, node = stack.pop()
                if id(node) in seen:  # a cycle in parentids
                    continue
                seen.add(id(node))
                yield depth, node
                stack.extend((depth + 1, c) for c in reversed(node.children))

    def to_text(self, start: str | None = None, max_items: int = 200) -> str:
        """An indented outline, for a quick look in a notebook or terminal."""
        lines = []
        for n, (depth, node) in enumerate(self.walk(start)):
            if n >= max_items:
                lines.append("...")
                break
            label = node.title or node.id
            if node.type == "separator":
                label = "-" * 10
            lines.append("  " * depth + (f"{label} <{node.url}>" if node.url else label))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<BookmarkTree {len(self.nodes)} nodes, {len(self.orphans)} orphans>"


class BookmarksEngine(Engine):
    name = "bookmarks"

    def linked(self, changes: Sequence[tuple[str, Any, Any]]) -> list[set[str]]:
        """A change to an item goes with the changes to the folders it leaves and joins:
        moving a bookmark touches three records (it, and both folders' ``children``);
        adding or deleting one touches two. Written half, the tree is broken (an item whose
        folder does not list it, or a folder listing an item elsewhere)."""
        ids = {rid for rid, _b, _a in changes}
        parent: dict[str, str] = {rid: rid for rid in ids}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def folder_of(version: Any) -> str | None:
            """The folder a version sits in (None: absent, or a tombstone)."""
            if not isinstance(version, dict) or version.get("deleted"):
                return None
            folder = version.get("parentid")
            return folder if isinstance(folder, str) else None

        for rid, before, after in changes:
            old, new = folder_of(before), folder_of(after)
            if old == new:  # edited in place, or a folder's children reordered: it stands alone
                continue
            for folder in (old, new):  # moved (both), added (the new one), deleted (the old one)
                if folder is not None and folder in ids and folder != rid:
                    parent[find(rid)] = find(folder)
        groups: dict[str, set[str]] = {}
        for rid in ids:
            groups.setdefault(find(rid), set()).add(rid)
        return [g for g in groups.values() if len(g) > 1]

    version = 2
    columns = (
        Column("type", "category", "bookmark, folder, separator, query, livemark (or what else it says)"),
        Column("title", "str", "title"),
        Column("url", "str", "the bookmarked url (bmkUri); place: urls for queries"),
        Column("parent_id", "str", "id of the containing folder (parentid)"),
        Column("parent_name", "str", "parent title as the record states it (parentName)"),
        Column("tags", "list", "tags of a bookmark"),
        Column("keyword", "str", "keyword to open it from the address bar"),
        Column("date_added", "ms", "best lower bound of the creation date (dateAdded)"),
        Column("children", "list", "ids of a folder's children, in order"),
        Column("children_count", "int", "len(children) for folders"),
        Column("description", "str", "description (old clients)"),
        Column("load_in_sidebar", "bool", "open in the sidebar (old clients)"),
        Column("folder_name", "str", "tag or folder a query shows (folderName)"),
        Column("query_id", "str", "smart bookmark id of a query (queryId)"),
        Column("feed_url", "str", "livemark feed (feedUri)"),
        Column("site_url", "str", "livemark site (siteUri)"),
        Column("separator_pos", "int", "position a separator states (pos, old clients)"),
        Column("has_dupe", "bool", "hasDupe flag"),
    )
    derived = (
        Column("parent_title", "str", "title of the parent record (root id for roots)"),
        Column("path", "str", "folder path of the containing folder, e.g. menu/Work/Projects"),
        Column("position", "int", "index in the parent's children list"),
    )
    fields = frozenset(
        {
            "type",
            "title",
            "bmkUri",
            "parentid",
            "parentName",
            "tags",
            "keyword",
            "dateAdded",
            "children",
            "description",
            "loadInSidebar",
            "folderName",
            "queryId",
            "feedUri",
            "siteUri",
            "pos",
            "hasDupe",
        }
    )

    def dtypes(self) -> dict[str, str]:
        out = super().dtypes()
        extra = out.pop("extra")
        out.update({c.name: c.dtype for c in self.derived})
        out["extra"] = extra
        return out

    def parse(self, rec: dict[str, Any]) -> Row:
        children = str_list(rec, "children")
        return (
            text(rec, "type"),
            text(rec, "title"),
            text(rec, "bmkUri"),
            text(rec, "parentid"),
            text(rec, "parentName"),
            str_list(rec, "tags"),
            text(rec, "keyword"),
            loose_int(rec, "dateAdded"),
            children,
            None if children is None else len(children),
            text(rec, "description"),
            boolean(rec, "loadInSidebar"),
            text(rec, "folderName"),
            text(rec, "queryId"),
            text(rec, "feedUri"),
            text(rec, "siteUri"),
            loose_int(rec, "pos"),
            boolean(rec, "hasDupe"),
        )

    def finish(self, frames: Frames, batch: Batch, *, reveal: bool) -> Frames:
        df = frames.main
        live = (df["deleted"] == False).to_numpy(dtype=bool, na_value=False)  # noqa: E712
        items: dict[str, dict[str, Any]] = {}
        cols = [df[c].to_numpy(dtype=object) for c in ("id", "type", "title", "url", "parent_id", "children")]
        for rid, typ, title, url, parent, children, ok in zip(*cols, live):
            if ok and isinstance(rid, str):
                items[rid] = {
                    "type": None if typ is None or typ != typ else typ,
                    "title": title if isinstance(title, str) else None,
                    "url": url if isinstance(url, str) else None,
                    "parent_id": parent if isinstance(parent, str) else None,
                    "children": children if isinstance(children, list) else None,
                }
        positions: dict[str, int] = {}
        for pid, it in items.items():
            for n, cid in enumerate(it["children"] or ()):
                if items.get(cid, {}).get("parent_id") == pid:
                    positions.setdefault(cid, n)
        paths: dict[str, str | None] = {PLACES: ""}

        def folder_path(fid: str) -> str | None:
            chain: list[str] = []
            cur: str | None = fid
            while cur is not None and cur not in paths:
                if cur in chain or cur not in items:  # a cycle, or a missing ancestor
                    for c in chain:
                        paths[c] = None
                    return paths.get(fid)
                chain.append(cur)
                cur = items[cur]["parent_id"]
            base = paths.get(cur) if cur is not None else None
            for c in reversed(chain):
                if base is None:
                    paths[c] = None
                    continue
                seg = c if c in ROOTS else (items[c]["title"] or c)
                base = f"{base}/{seg}" if base else seg
                paths[c] = base
            return paths[fid]

        ptitle: list[str | None] = []
        path: list[str | None] = []
        pos: list[int | None] = []
        for rid, parent, ok in zip(cols[0], cols[4], live):
            if not ok or not isinstance(parent, str):
                ptitle.append(None)
                path.append(None)
                pos.append(None)
                continue
            p = items.get(parent)
            ptitle.append(parent if parent in ROOTS or parent == PLACES else (p or {}).get("title"))
            path.append(folder_path(parent))
            pos.append(positions.get(rid))
        at = len(self.columns) + 6  # after the engine's columns, before `extra`
        df.insert(at, "parent_title", str_array(ptitle))
        df.insert(at + 1, "path", str_array(path))
        df.insert(at + 2, "position", int_array(pos))
        frames.tree = BookmarkTree(items)
        return frames
