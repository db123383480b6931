"""Bookmark tree checks, after Firefox's bookmark validator (services/sync/modules/
bookmark_validator.sys.mjs) and dogear: roots, orphans, parent/children agreement,
cycles, duplicates and malformed items.

Fixes follow what Firefox does when it meets the same problem on download: an orphan
goes to "Other Bookmarks" (``unfiled``) unless a folder lists it; a disagreement between
a folder's ``children`` and a child's ``parentid`` is settled by the newer record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from .context import Context
from .model import Finding, Fix, Op, register

ROOTS = ("menu", "toolbar", "unfiled", "mobile")
PLACES = "places"
ROOT_TITLES = {"menu": "menu", "toolbar": "toolbar", "unfiled": "unfiled", "mobile": "mobile"}
TYPES = ("bookmark", "folder", "separator", "query", "livemark", "microsummary", "item")

ROOT_MISSING = register("bookmarks.root-missing", "error", "one of the four bookmark roots (menu, toolbar, unfiled, mobile) has no record")
ROOT_DUPLICATE = register("bookmarks.root-duplicate", "warning", "a record claims to be a root: the Places root itself, or a folder whose parent is the Places root")
ORPHAN = register("bookmarks.orphan", "warning", "an item whose parent folder does not exist")
MISMATCH = register("bookmarks.children-mismatch", "warning", "a folder's children list and a child's parentid disagree")
MISSING_CHILD = register("bookmarks.missing-child", "warning", "a folder lists a child that has no record (or was deleted)")
CYCLE = register("bookmarks.cycle", "error", "folders whose parent chain loops back on itself, never reaching a root")
DUPLICATE = register("bookmarks.duplicate", "info", "bookmarks with the same url and title in the same folder")
MALFORMED = register("bookmarks.malformed", "warning", "an item whose fields do not fit its type (separator, query, livemark, bookmark, folder)")


def _mod(ctx: Context, rid: str) -> float:
    return ctx.modified("bookmarks", rid) or 0.0


def _title(recs: dict[str, dict[str, Any]], fid: str) -> str:
    return str(recs.get(fid, {}).get("title") or "")


def _move(recs: dict[str, dict[str, Any]], child: str, new_parent: str, old_listers: list[str]) -> list[Op]:
    """Edits that make ``child`` live in ``new_parent`` and nowhere else."""
    ops = [Op("edit", "bookmarks", child, {"parentid": new_parent, "parentName": _title(recs, new_parent)})]
    ops += [Op("edit", "bookmarks", f, remove=(child,)) for f in old_listers if f != new_parent]
    if child not in (recs.get(new_parent, {}).get("children") or []):
        ops.append(Op("edit", "bookmarks", new_parent, append=(child,)))
    return ops


def check_bookmarks(ctx: Context) -> Iterator[Finding]:
    if "bookmarks" not in ctx.downloaded or not ctx.engine_enabled("bookmarks"):
        return
    recs = ctx.records("bookmarks")
    if not recs:
        return
    gone = ctx.tombstones("bookmarks")
    listers: dict[str, list[str]] = defaultdict(list)
    for fid, rec in recs.items():
        kids = rec.get("children")
        if isinstance(kids, list):
            for kid in kids:
                if isinstance(kid, str):
                    listers[kid].append(fid)
    yield from _roots(ctx, recs, listers)
    yield from _structure(ctx, recs, listers, gone)
    yield from _cycles(ctx, recs, listers)
    yield from _duplicates(ctx, recs)
    yield from _malformed(recs)


def _roots(ctx: Context, recs: dict[str, dict[str, Any]], listers: dict[str, list[str]]) -> Iterator[Finding]:
    for root in ROOTS:
        if root in recs:
            continue
        kids = sorted((rid for rid, r in recs.items() if r.get("parentid") == root),
                      key=lambda rid: (recs[rid].get("dateAdded") or 0, rid))  # fmt: skip
        record = {"id": root, "type": "folder", "parentid": PLACES, "parentName": "", "title": ROOT_TITLES[root],
                  "children": kids}  # fmt: skip
        yield Finding(ROOT_MISSING, "error", "bookmarks", [root, *kids[:20]],
                      f"The {root} root has no record, so the {len(kids)} item(s) that name it as parent hang from "
                      "nothing; Firefox reports this as a structural error and may refuse to merge the tree.",
                      Fix(f"upload a {root} root folder listing the {len(kids)} item(s) that name it",
                          (Op("add", "bookmarks", root, record=record),)),
                      facts={"root": root, "children": len(kids)})  # fmt: skip
    if PLACES in recs:
        yield Finding(ROOT_DUPLICATE, "warning", "bookmarks", [PLACES],
                      "The Places root itself is on the server; Firefox never uploads it (its validator calls this "
                      "rootOnServer). Clients ignore it, but it should not be there.")  # fmt: skip
    for rid, rec in sorted(recs.items()):
        if rid not in ROOTS and rid != PLACES and rec.get("parentid") == PLACES:
            yield Finding(ROOT_DUPLICATE, "warning", "bookmarks", [rid],
                          f"{rid} names the Places root as its parent, as only the four roots may: a second root that "
                          "Firefox will not show. Moving it into Other Bookmarks (unfiled) keeps its contents.",
                          Fix(f"move {rid} into unfiled", tuple(_move(recs, rid, "unfiled", listers.get(rid, [])))),
                          facts={"type": rec.get("type")})  # fmt: skip


def _structure(ctx: Context, recs: dict[str, dict[str, Any]], listers: dict[str, list[str]],
               gone: set[str]) -> Iterator[Finding]:  # fmt: skip
    for rid, rec in sorted(recs.items()):
        if rid in ROOTS or rid == PLACES:
            continue
        parent = rec.get("parentid")
        listed_by = listers.get(rid, [])
        if not isinstance(parent, str) or parent not in recs and parent != PLACES:
            if listed_by:  # a folder claims it: believe the folder
                new = max(listed_by, key=lambda f: (_mod(ctx, f), f))
                fix = Fix(f"set {rid}'s parentid to {new}, the folder that lists it", tuple(_move(recs, rid, new, listed_by)))
                why = f"folder {new} lists it, so the fix makes that its parent"
            else:
                fix = Fix(f"move {rid} into unfiled (Other Bookmarks), as Firefox does with orphans",
                          tuple(_move(recs, rid, "unfiled", [])))  # fmt: skip
                why = "no folder lists it, so Firefox shows it in Other Bookmarks (unfiled); the fix records that"
            state = "was deleted" if parent in gone else "does not exist on the server"
            yield Finding(ORPHAN, "warning", "bookmarks", [rid, *listed_by],
                          f"{rec.get('type', 'item')} {rid} has parentid {parent!r}, a folder that {state}: {why}.",
                          fix, facts={"missing_parent": parent, "listed_by": len(listed_by)})  # fmt: skip
            continue
        if parent == PLACES or listed_by == [parent]:
            continue
        if not listed_by:
            yield Finding(MISMATCH, "warning", "bookmarks", [parent, rid],
                          f"{rec.get('type', 'item')} {rid} names {parent} as its parent, but that folder's children "
                          "list does not include it, so devices disagree on where it lives.",
                          Fix(f"add {rid} to {parent}'s children", (Op("edit", "bookmarks", parent, append=(rid,)),)),
                          facts={"case": "unlisted"})  # fmt: skip
            continue
        # listed by other folder(s): the newer record says where the item really is
        newest_lister = max(listed_by, key=lambda f: (_mod(ctx, f), f))
        if parent in listed_by or _mod(ctx, rid) >= _mod(ctx, newest_lister):
            target, who = parent, f"{rid}'s own record (parentid) is newer"
        else:
            target, who = newest_lister, f"folder {newest_lister}'s record is newer"
        if parent in listed_by:
            who = f"{rid}'s parentid and {parent}'s children agree"
        others = [f for f in listed_by if f != target]
        yield Finding(MISMATCH, "warning", "bookmarks", sorted({*listed_by, rid, parent}),
                      f"{rec.get('type', 'item')} {rid} has parentid {parent}, but it is listed in the children of "
                      f"{', '.join(listed_by)}: it was moved on one device and only part of the move reached the "
                      f"server. {who}, so the fix keeps it in {target} and takes it out of the other list(s).",
                      Fix(f"keep {rid} in {target} only", tuple(_move(recs, rid, target, others + ([parent] if parent != target else [])))),
                      facts={"case": "listed-elsewhere", "listers": len(listed_by)})  # fmt: skip
    for fid, rec in sorted(recs.items()):
        kids = rec.get("children")
        if not isinstance(kids, list):
            continue
        missing = [k for k in kids if isinstance(k, str) and k not in recs]
        if missing:
            deleted = [k for k in missing if k in gone]
            yield Finding(MISSING_CHILD, "warning", "bookmarks", [fid, *missing],
                          f"Folder {fid} lists {len(missing)} child(ren) with no record on the server"
                          f"{f' ({len(deleted)} deleted)' if deleted else ''}: {', '.join(missing[:5])}. Firefox "
                          "skips them; removing them from the list makes the folder agree with the server.",
                          Fix(f"remove {len(missing)} missing id(s) from {fid}'s children",
                              (Op("edit", "bookmarks", fid, remove=tuple(missing)),)),
                          facts={"missing": len(missing), "deleted": len(deleted)})  # fmt: skip


def _cycles(ctx: Context, recs: dict[str, dict[str, Any]], listers: dict[str, list[str]]) -> Iterator[Finding]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(recs):
        path: list[str] = []
        node: Any = start
        while isinstance(node, str) and node in recs and node not in ROOTS and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = recs[node].get("parentid")
        if isinstance(node, str) and state.get(node) == 1:
            loop = path[path.index(node):]
            breaker = max(loop, key=lambda r: (_mod(ctx, r), r))
            yield Finding(CYCLE, "error", "bookmarks", sorted(loop),
                          f"{len(loop)} item(s) are each other's ancestors ({' → '.join(loop)} → {node}): the chain of "
                          "parents never reaches a root, so Firefox cannot place them. Moving the most recently "
                          f"changed one ({breaker}) into unfiled breaks the loop.",
                          Fix(f"move {breaker} into unfiled", tuple(_move(recs, breaker, "unfiled", listers.get(breaker, [])))),
                          facts={"length": len(loop)})  # fmt: skip
        for n in path:
            state[n] = 2


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ignore = {"id", "dateAdded"}
    return {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}


def _duplicates(ctx: Context, recs: dict[str, dict[str, Any]]) -> Iterator[Finding]:
    groups: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for rid, rec in recs.items():
        if rec.get("type") == "bookmark" and isinstance(rec.get("bmkUri"), str):
            groups[(rec["bmkUri"], rec.get("title"), rec.get("parentid"))].append(rid)
    for (_url, _name, parent), ids in sorted(groups.items(), key=lambda kv: sorted(kv[1])):
        if len(ids) < 2:
            continue
        ids.sort(key=lambda r: (recs[r].get("dateAdded") or 0, r))
        keep, extra = ids[0], ids[1:]
        fix = None
        if all(_same(recs[keep], recs[r]) for r in extra):
            ops = [Op("delete", "bookmarks", r) for r in extra]
            if isinstance(parent, str) and parent in recs:
                ops.append(Op("edit", "bookmarks", parent, remove=tuple(extra)))
            fix = Fix(f"keep the oldest ({keep}); delete {len(extra)} identical copy(ies)", tuple(ops))
        yield Finding(DUPLICATE, "info", "bookmarks", ids,
                      f"{len(ids)} bookmarks in folder {parent} have the same url and title"
                      + ("" if fix else " but differ in tags, keyword or other fields (merge them by hand)") + ".",
                      fix, facts={"copies": len(ids)})  # fmt: skip


def _bad_url(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return True
    parts = urlsplit(value)
    return not parts.scheme or (parts.scheme in ("http", "https", "ftp") and not parts.netloc)


def _malformed(recs: dict[str, dict[str, Any]]) -> Iterator[Finding]:
    for rid, rec in sorted(recs.items()):
        kind = rec.get("type")
        problems = []
        if kind not in TYPES:
            problems.append(f"unknown type {kind!r}")
        elif kind == "folder" and not isinstance(rec.get("children", []), list):
            problems.append("its children is not a list")
        elif kind == "bookmark" and _bad_url(rec.get("bmkUri")):
            problems.append("its bmkUri is missing or not a URL")
        elif kind == "query":
            uri = rec.get("bmkUri")
            if not isinstance(uri, str) or not uri.startswith("place:"):
                problems.append("a query's bmkUri must be a place: URL")
            elif "folderName" in rec and not isinstance(rec["folderName"], str):
                problems.append("folderName is not a string")
        elif kind == "separator" and ("bmkUri" in rec or "children" in rec):
            problems.append("a separator carries a url or children")
        elif kind == "livemark" and _bad_url(rec.get("feedUri")):
            problems.append("a livemark needs a feedUri")
        if rid not in ROOTS and not isinstance(rec.get("parentid"), str):
            problems.append("parentid is missing")
        if problems:
            yield Finding(MALFORMED, "warning", "bookmarks", [rid],
                          f"{kind or 'item'} {rid}: {'; '.join(problems)}. Firefox's validator flags such items and "
                          "clients may skip them; fix the item on a device (or edit it here) so it fits its type.",
                          facts={"type": str(kind), "problems": problems})  # fmt: skip
