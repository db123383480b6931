"""The bookmark tree's structure, judged as Firefox judges it.

Every problem kind of Firefox's bookmark validator (services/sync's
``bookmark_validator``: the names in about:sync's validation tab) has a check named
``bookmarks.`` + the kind in kebab case; the dogear kinds that the validator lacks
(misparented roots) too. Fixes do what dogear, the merger Firefox uses, does when it
builds the same tree (``Tree::try_from`` and ``ResolveParent`` in dogear's tree.rs):

- a folder's ``children`` beats a child's ``parentid``;
- an item listed by several folders lives in the youngest (most recently modified) one;
- an item listed by no folder lives in its ``parentid`` when that is a folder, else in
  "Other Bookmarks" (``unfiled``): Firefox reparents orphans there;
- the four user roots belong to the Places root, whatever their records say;
- a folder's children that do not exist (or were deleted) are dropped from it.

Each fix writes that outcome down, so the server says what every device will believe.
A move touches three records (the item, its old folder, its new folder): the fix names
them as one :class:`Link`, which a review must accept or reject whole.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from . import urls
from .context import Context
from .model import Finding, Fix, Link, Op, register

ROOTS = ("menu", "toolbar", "unfiled", "mobile")
PLACES = "places"
UNFILED = "unfiled"
ROOT_TITLES = {"menu": "menu", "toolbar": "toolbar", "unfiled": "unfiled", "mobile": "mobile"}
C = "bookmarks"
GUID_RE = re.compile(r"[A-Za-z0-9_-]{12}\Z")
FORBIDDEN_IDS = ("pinned", "readinglist")  # the bookmarks engine deletes these remotely


def valid_id(rid: Any) -> bool:
    """Places GUIDs are 12 base64url characters; the roots go by their names on the server."""
    return isinstance(rid, str) and (rid in ROOTS or rid == PLACES or GUID_RE.match(rid) is not None)


ROOT_MISSING = register(
    "bookmarks.root-missing", "warning", "one of the four bookmark roots (menu, toolbar, unfiled, mobile) has no record"
)
ROOT_ON_SERVER = register(
    "bookmarks.root-on-server",
    "warning",
    "the Places root itself (places) is on the server; Firefox deletes it (validator: rootOnServer)",
)
MISPARENTED_ROOT = register(
    "bookmarks.misparented-root",
    "warning",
    "a user root (menu, toolbar, unfiled, mobile) names a parent other than places, "
    "or sits in a folder's children (dogear: MisparentedRoot)",
)
PARENT_CHILD = register(
    "bookmarks.parent-child-mismatches",
    "warning",
    "an item's parentid and the folders' children lists disagree (validator: parentChildMismatches)",
)
MULTIPLE_PARENTS = register(
    "bookmarks.multiple-parents",
    "warning",
    "an item is in the children of several folders (validator: multipleParents)",
)
ORPHANS = register(
    "bookmarks.orphans",
    "warning",
    "an item (and the subtree below it) whose parent does not exist and that no folder lists (validator: orphans)",
)
DELETED_PARENTS = register(
    "bookmarks.deleted-parents", "warning", "an item whose parent was deleted (validator: deletedParents)"
)
PARENT_NOT_FOLDER = register(
    "bookmarks.parent-not-folder",
    "warning",
    "an item whose parentid is a bookmark, separator, query or livemark, not a folder (validator: parentNotFolder)",
)
MISSING_CHILDREN = register(
    "bookmarks.missing-children", "warning", "a folder lists children that have no record (validator: missingChildren)"
)
DELETED_CHILDREN = register(
    "bookmarks.deleted-children", "warning", "a folder lists children that were deleted (validator: deletedChildren)"
)
DUPLICATE_CHILDREN = register(
    "bookmarks.duplicate-children",
    "warning",
    "a folder lists the same child more than once (validator: duplicateChildren)",
)
CHILDREN_ON_NON_FOLDER = register(
    "bookmarks.children-on-non-folder",
    "warning",
    "a bookmark, query, separator or livemark carries a children list (validator: childrenOnNonFolder)",
)
CYCLES = register(
    "bookmarks.cycles",
    "error",
    "folders that are each other's ancestors, never reaching a root: Firefox's merger stops (validator: cycles)",
)


class Tree:
    """The server's bookmark tree, with each item's parent resolved as dogear does."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.recs = ctx.records(C)
        self.gone = ctx.tombstones(C)
        self.failed = ctx.failed_ids(C)
        self.listers: dict[str, list[str]] = defaultdict(list)
        for fid, rec in self.recs.items():
            kids = rec.get("children")
            if fid == PLACES or rec.get("type") != "folder" or not isinstance(kids, list):
                continue  # Firefox reads structure only from folders' children arrays
            seen: set[str] = set()
            for kid in kids:
                if isinstance(kid, str) and kid not in seen and kid != fid:
                    seen.add(kid)
                    self.listers[kid].append(fid)
        self.parent: dict[str, str] = {rid: self._resolve(rid) for rid in self.recs if rid != PLACES}

    # ----------------------------------------------------------------- facts
    def mod(self, rid: str) -> float:
        return self.ctx.modified(C, rid) or 0.0

    def is_folder(self, rid: Any) -> bool:
        return isinstance(rid, str) and rid != PLACES and self.recs.get(rid, {}).get("type") == "folder"

    def exists(self, rid: Any) -> bool:
        """A folder a fix can move items into: a live folder, or a root (added if missing)."""
        return self.is_folder(rid) or rid in ROOTS

    def parentid(self, rid: str) -> Any:
        return self.recs.get(rid, {}).get("parentid")

    def title(self, rid: str) -> str:
        title = self.recs.get(rid, {}).get("title")
        return title if isinstance(title, str) else ROOT_TITLES.get(rid, "")

    def kind(self, rid: str) -> str:
        kind = self.recs.get(rid, {}).get("type")
        return kind if isinstance(kind, str) else "item"

    def youngest(self, folders: list[str]) -> str:
        """dogear keeps an item in the folder with the smallest age: the newest record."""
        return max(folders, key=lambda f: (self.mod(f), f))

    def _resolve(self, rid: str) -> str:
        if rid in ROOTS:
            return PLACES
        listed = self.listers.get(rid)
        if listed:
            return self.youngest(listed) if len(listed) > 1 else listed[0]
        parent = self.parentid(rid)
        if parent == PLACES or self.is_folder(parent) or (parent in ROOTS and parent not in self.recs):
            return parent  # type: ignore[no-any-return]
        return UNFILED

    @cached_property
    def doomed(self) -> set[str]:
        """Items whose fixes delete them (a URL Firefox rejects, a pinned or reading-list
        item): no other fix may edit them, or the edit would bring them back."""
        out = set()
        for rid, rec in self.recs.items():
            if rid in FORBIDDEN_IDS or rec.get("parentid") in FORBIDDEN_IDS:
                out.add(rid)
            elif rec.get("type") in ("bookmark", "query") and urls.problem(rec.get("bmkUri")):
                out.add(rid)
        return out

    @cached_property
    def below(self) -> dict[str, list[str]]:
        """Resolved parent → the items in it (in no particular order)."""
        out: dict[str, list[str]] = defaultdict(list)
        for rid, parent in self.parent.items():
            out[parent].append(rid)
        return out

    def children(self, fid: str) -> list[str]:
        """The items that live in ``fid``, in its children order, reparented ones last."""
        kids = self.recs.get(fid, {}).get("children")
        listed = [
            k for k in (kids if isinstance(kids, list) else []) if isinstance(k, str) and self.parent.get(k) == fid
        ]
        ordered = list(dict.fromkeys(listed))
        placed = set(ordered)
        return ordered + sorted(r for r in self.below.get(fid, []) if r not in placed)

    def descendants(self, fid: str) -> list[str]:
        below = self.below
        out: list[str] = []
        stack, seen = [fid], {fid}
        while stack:
            for kid in below.get(stack.pop(), []):
                if kid not in seen:
                    seen.add(kid)
                    out.append(kid)
                    stack.append(kid)
        return out

    def cycles(self) -> list[list[str]]:
        """Loops in the resolved parents (dogear refuses to merge a tree that has one)."""
        state: dict[str, int] = {}
        loops = []
        for start in sorted(self.parent):
            path: list[str] = []
            node = start
            while node in self.parent and state.get(node) is None:
                state[node] = 1
                path.append(node)
                node = self.parent[node]
            if state.get(node) == 1:
                loops.append(path[path.index(node) :])
            for n in path:
                state[n] = 2
        return loops

    # ----------------------------------------------------------------- fixes
    def move(self, child: str, target: str, why: str) -> tuple[list[Op], Link]:
        """The edits that make ``child`` live in ``target`` and nowhere else."""
        ops: list[Op] = []
        if self.parentid(child) != target:
            ops.append(Op("edit", C, child, {"parentid": target, "parentName": self.title(target)}))
        others = [f for f in self.listers.get(child, []) if f != target]
        ops += [Op("edit", C, f, remove=(child,)) for f in others]
        kids = self.recs.get(target, {}).get("children")
        if target in self.recs and not (isinstance(kids, list) and child in kids):
            ops.append(Op("edit", C, target, append=(child,)))
        touched = dict.fromkeys([child, target, *others])
        return ops, Link(why, tuple((C, r) for r in touched))


def tree(ctx: Context) -> Tree | None:
    if not ctx.checks(C) or not ctx.records(C):
        return None
    if "bookmarks.tree" not in ctx.cache:
        ctx.cache["bookmarks.tree"] = Tree(ctx)
    return ctx.cache["bookmarks.tree"]  # type: ignore[no-any-return]


def _moved(t: Tree, check: str, rid: str, target: str, what: str, why: str, **facts: Any) -> Finding:
    ops, link = t.move(rid, target, f"move {rid} into {target}")
    where = "Other Bookmarks (unfiled)" if target == UNFILED else target
    fix = Fix(f"put {rid} in {where}, where Firefox's merger puts it", tuple(ops), links=(link,)) if ops else None
    records = [rid, *[r for _, r in link.records if r != rid]]
    return Finding(check, "warning", C, records, f"{t.kind(rid)} {rid} {what}. {why}", fix,
                   facts={"target": "default-folder" if target == UNFILED else "folder", **facts})  # fmt: skip


# --------------------------------------------------------------------- roots


def check_roots(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    for root in ROOTS:
        if root in t.recs:
            continue
        kids = sorted(
            (r for r, p in t.parent.items() if p == root),
            key=lambda r: (t.recs[r].get("dateAdded") if isinstance(t.recs[r].get("dateAdded"), int) else 0, r),
        )
        record = {"id": root, "type": "folder", "parentid": PLACES, "parentName": "", "title": ROOT_TITLES[root],
                  "children": kids}  # fmt: skip
        yield Finding(ROOT_MISSING, "warning", C, [root, *kids[:20]],
                      f"The {root} root has no record on the server. Firefox keeps the roots locally and would "
                      f"upload it on its next sync; other clients see the {len(kids)} item(s) that belong in it "
                      "as orphans until then.",
                      Fix(f"upload a {root} root folder listing the {len(kids)} item(s) that belong in it",
                          (Op("add", C, root, record=record),), links=(Link(f"add the {root} root", ((C, root),)),)),
                      facts={"root": root, "children": len(kids)})  # fmt: skip


def check_root_on_server(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None or PLACES not in t.recs:
        return
    yield Finding(ROOT_ON_SERVER, "warning", C, [PLACES],
                  "The Places root (places) is on the server. Firefox never uploads it, and removes it with a "
                  "DELETE request when it meets it (FORBIDDEN_INCOMING_IDS in the bookmarks engine); the validator "
                  "calls this rootOnServer. Clients ignore it meanwhile. There is no proposed fix: a tombstone would "
                  "leave a deleted root, which the validator then reports as the deleted parent of the four roots, "
                  "and upload plans cannot send a DELETE yet. Let Firefox sync once, and it is gone.",
                  facts={"outcome": "deleted-by-merger"})  # fmt: skip


def check_misparented_roots(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    for root in ROOTS:
        if root not in t.recs:
            continue
        listed, parent = t.listers.get(root, []), t.parentid(root)
        if parent == PLACES and not listed:
            continue
        ops = [Op("edit", C, root, {"parentid": PLACES, "parentName": ""})] if parent != PLACES else []
        ops += [Op("edit", C, f, remove=(root,)) for f in listed]
        link = Link(f"put {root} back under places", tuple((C, r) for r in dict.fromkeys([root, *listed])))
        where = (
            f"its parentid is {parent!r}" + (f" and it is listed in {', '.join(listed)}" if listed else "")
            if parent != PLACES
            else f"it is listed in {', '.join(listed)}"
        )
        yield Finding(MISPARENTED_ROOT, "warning", C, [root, *listed],
                      f"The {root} root must be a child of the Places root, but {where}. Firefox's merger moves it "
                      "back under places (dogear: MisparentedRoot) and uploads the folders again; the fix does "
                      "the same.", Fix(f"make {root} a child of places again", tuple(ops), links=(link,)),
                      facts={"root": root, "listed_by": len(listed)})  # fmt: skip


# --------------------------------------------------------------------- parents


def _explain_target(t: Tree, target: str, listed: list[str]) -> str:
    if len(listed) > 1:
        return (f"Firefox keeps it in the most recently changed of those folders ({target}) and takes it out of "
                "the others (dogear picks the youngest parent).")  # fmt: skip
    if listed:
        return f"Firefox trusts the folder's children over an item's parentid, so it keeps it in {target}."
    if target == UNFILED:
        return "No folder lists it, so Firefox puts it in Other Bookmarks (unfiled)."
    return f"Firefox keeps it in {target} and adds it at the end of that folder's children."


def check_parents(ctx: Context) -> Iterator[Finding]:
    """One structural finding per item: the first of multiple-parents, parent-not-folder,
    deleted-parents, orphans, parent-child-mismatches that applies (so fixes never fight)."""
    t = tree(ctx)
    if t is None:
        return
    in_cycle = {r for loop in t.cycles() for r in loop}
    yield from ctx.per_record(
        "bookmarks.parents", C, sorted(t.recs.items()), lambda rid, rec: _parent(t, rid, in_cycle)
    )


def _parent(t: Tree, rid: str, in_cycle: set[str]) -> Iterator[Finding]:
    if rid in ROOTS or rid == PLACES or rid in in_cycle or rid in t.doomed or not valid_id(rid):
        return  # roots, cycles, doomed items and new ids have findings of their own
    listed = t.listers.get(rid, [])
    parent = t.parentid(rid)
    target = t.parent[rid]
    if parent in t.failed:
        return  # its parent exists but did not decrypt: the records.* findings come first
    if len(listed) == 1 and parent == listed[0]:
        return
    if not listed and (parent == PLACES or (parent in ROOTS and parent not in t.recs)):
        return  # bookmarks.non-syncable / bookmarks.root-missing
    why = _explain_target(t, target, listed)
    shown = repr(parent) if not isinstance(parent, str) else parent
    if len(listed) > 1:
        yield _moved(
            t,
            MULTIPLE_PARENTS,
            rid,
            target,
            f"is in the children of {len(listed)} folders ({', '.join(listed)})",
            why,
            folders=len(listed),
        )
    elif parent in t.gone:
        yield _moved(t, DELETED_PARENTS, rid, target, f"names {shown} as its parent, a folder that was deleted", why)
    elif isinstance(parent, str) and parent in t.recs and not t.is_folder(parent):
        yield _moved(t, PARENT_NOT_FOLDER, rid, target, f"names {shown} as its parent, which is a {t.kind(parent)}, "
                     "not a folder", why, parent_type=t.kind(parent))  # fmt: skip
    elif not (isinstance(parent, str) and (parent in t.recs or parent == PLACES)):
        what = "has no parentid" if parent is None else f"names {shown} as its parent, which does not exist"
        size = len(t.descendants(rid))
        below = f" (with the {size} item(s) below it)" if size else ""
        yield _moved(t, ORPHANS, rid, target, what + below, why, subtree=size)
    elif listed:
        yield _moved(
            t,
            PARENT_CHILD,
            rid,
            target,
            f"has parentid {parent}, but it is in the children of {listed[0]}",
            why,
            case="listed-elsewhere",
        )
    else:
        yield _moved(t, PARENT_CHILD, rid, target, f"names {parent} as its parent, but that folder's children do not "
                     "list it", why, case="unlisted")  # fmt: skip


# --------------------------------------------------------------------- children


def check_children(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    yield from ctx.per_record("bookmarks.children", C, sorted(t.recs.items()), lambda fid, rec: _children(t, fid, rec))


def _children(t: Tree, fid: str, rec: dict[str, Any]) -> Iterator[Finding]:
    kids = rec.get("children")
    if fid in t.doomed:
        return
    if rec.get("type") != "folder" or fid == PLACES:
        if isinstance(kids, list) and kids or (kids and not isinstance(kids, list)):
            yield Finding(
                CHILDREN_ON_NON_FOLDER,
                "warning",
                C,
                [fid],
                f"{t.kind(fid)} {fid} carries a children list of {len(kids) if isinstance(kids, list) else 1} "
                "id(s). Only folders have children: Firefox ignores the list (and keeps sending it back "
                "as an unknown field), other clients may not. The fix removes the field.",
                Fix(
                    f"remove children from {t.kind(fid)} {fid}",
                    (Op("edit", C, fid, drop=("children",)),),
                    links=(Link(f"drop {fid}'s children", ((C, fid),)),),
                ),
                facts={"type": t.kind(fid)},
            )
        return
    if not isinstance(kids, list):
        return  # bookmarks.malformed
    keys = [k if isinstance(k, str) else repr(k) for k in kids]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        yield Finding(DUPLICATE_CHILDREN, "warning", C, [fid, *twice],
                      f"Folder {fid} lists {', '.join(twice[:5])} more than once. Firefox's merger counts each extra "
                      "mention as another parent, keeps one, and uploads the folder again; the fix keeps each "
                      "child once, in its first place.",
                      Fix(f"list each child of {fid} once", (Op("edit", C, fid, unique=True),),
                          links=(Link(f"dedupe {fid}'s children", ((C, fid),)),)),
                      facts={"repeated": len(twice)})  # fmt: skip
    gone = [k for k in dict.fromkeys(kids) if isinstance(k, str) and k in t.gone and k not in t.recs]
    missing = [k for k in dict.fromkeys(keys) if k not in t.recs and k not in t.gone and k not in t.failed]
    for check, ids, what in ((DELETED_CHILDREN, gone, "were deleted (tombstones)"),
                             (MISSING_CHILDREN, missing, "have no record on the server")):  # fmt: skip
        if not ids:
            continue
        raw = tuple(k for k in kids if (k if isinstance(k, str) else repr(k)) in set(ids))
        yield Finding(check, "warning", C, [fid, *ids],
                      f"Folder {fid} lists {len(ids)} child(ren) that {what}: {', '.join(ids[:5])}. Firefox skips "
                      "them and uploads the folder without them; the fix does the same.",
                      Fix(f"remove {len(ids)} id(s) from {fid}'s children", (Op("edit", C, fid, remove=raw),),
                          links=(Link(f"drop gone children of {fid}", ((C, fid),)),)),
                      facts={"children": len(ids)})  # fmt: skip


def check_cycles(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    for loop in t.cycles():
        breaker = max(loop, key=lambda r: (t.mod(r), r))
        ops, link = t.move(breaker, UNFILED, f"move {breaker} into unfiled")
        chain = " → ".join([*loop, loop[0]])
        yield Finding(CYCLES, "error", C, sorted(loop),
                      f"{len(loop)} folder(s) are each other's ancestors ({chain}): the chain of parents never "
                      "reaches a root. Firefox's merger refuses such a tree and stops syncing bookmarks "
                      f"(dogear: Cycle). Moving the most recently changed one ({breaker}) into Other Bookmarks "
                      "(unfiled) breaks the loop.", Fix(f"move {breaker} into unfiled", tuple(ops), links=(link,)),
                      facts={"length": len(loop)})  # fmt: skip


CHECKS = [check_roots, check_root_on_server, check_misparented_roots, check_parents, check_children, check_cycles]
