"""Bookmark items as Firefox reads them: ids, URLs, queries, what it deletes, duplicates.

Firefox's mirror (SyncedBookmarksMirror ``store*``) grades each incoming item as dogear's
``Validity``: **valid**; **reupload** (it rewrites the item and uploads it again: legacy
tag queries, ``folder=`` queries); **replace** (the item is unusable: a bookmark or query
whose URL the WHATWG parser rejects; Firefox uploads its own valid copy, or a tombstone
when it has none). Items with ids that are not 12 base64url characters get a new id.
Livemarks and items outside the four roots are not syncable: Firefox deletes them from
the server. Each check says which of these Firefox will do, and its fix does it now.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import can_ada

from synctools.protocol.crypto import CryptoError

from . import urls
from .bookmarks import FORBIDDEN_IDS, PLACES, ROOTS, UNFILED, C, Tree, tree, valid_id
from .context import Context
from .model import Finding, Fix, Link, Op, register

INVALID_ID = register(
    "bookmarks.invalid-id",
    "warning",
    "an item whose id is not 12 base64url characters (nor a root's name): Firefox gives it a new id",
)
INVALID_URL = register(
    "bookmarks.invalid-url",
    "warning",
    "a bookmark or query whose URL Firefox cannot parse (WHATWG URL) or that is over 65,536 characters: "
    "dogear grades it replace, so Firefox deletes it unless a device has a valid copy",
)
LEGACY_TAG_QUERY = register(
    "bookmarks.legacy-tag-query",
    "info",
    "a tag query in the old form (place:type=7&folder=N): "
    "Firefox rewrites it to place:tag=NAME and uploads it again (dogear: reupload)",
)
FOLDER_QUERY = register(
    "bookmarks.folder-query",
    "info",
    "a query on a folder= id without excludeItems: Firefox adds excludeItems=1 and uploads it again (dogear: reupload)",
)
NON_SYNCABLE = register(
    "bookmarks.non-syncable",
    "warning",
    "an item Firefox deletes from the server when it merges: "
    "a livemark, an item outside the four roots, a pinned or reading-list item",
)
MALFORMED = register(
    "bookmarks.malformed",
    "warning",
    "an item of a type Firefox does not know (it ignores it), or a folder whose children is not a list",
)
MISSING_IDS = register(
    "bookmarks.missing-ids",
    "warning",
    "a record whose payload has no id (validator: missingIDs): no client can read it",
)
DUPLICATES = register(
    "bookmarks.duplicates", "warning", "a record whose payload claims the id of another record (validator: duplicates)"
)
DUPLICATE_CONTENT = register(
    "bookmarks.duplicate-content", "info", "bookmarks with the same URL and title, in one folder or several"
)
DUPLICATE_SUBTREE = register(
    "bookmarks.duplicate-subtree",
    "warning",
    "a folder whose whole subtree (titles, URLs, order) repeats another folder's: "
    "a duplicated import or a sync gone wrong",
)

TYPES = ("bookmark", "folder", "separator", "query", "livemark")
RESULTS_AS_TAG_CONTENTS = 7
MAX_TAG_LENGTH = 100


def new_id(old: str, taken: set[str]) -> str:
    """A valid id derived from the old one, so the same finding always proposes the same id."""
    n = 0
    while True:
        digest = hashlib.sha256(f"{old}#{n}".encode("utf-8", "surrogatepass")).digest()[:9]
        cand = base64.urlsafe_b64encode(digest).decode()
        if cand not in taken:
            return cand
        n += 1


def _delete(t: Tree, rid: str, why: str) -> tuple[list[Op], Link]:
    listed = t.listers.get(rid, [])
    ops = [Op("delete", C, rid), *(Op("edit", C, f, remove=(rid,)) for f in listed)]
    return ops, Link(why, tuple((C, r) for r in dict.fromkeys([rid, *listed])))


# --------------------------------------------------------------------- ids


def check_ids(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    taken = set(t.recs) | t.gone | t.failed
    for rid in sorted(r for r in t.recs if not valid_id(r) and r not in t.doomed):
        ctx.current = (C, rid)
        new = new_id(rid, taken)
        taken.add(new)
        rec = t.recs[rid]
        target = t.parent.get(rid, UNFILED)
        listed = t.listers.get(rid, [])
        record = {**rec, "id": new}
        if target != PLACES and rid not in ROOTS:
            record.update(parentid=target, parentName=t.title(target))
        ops = [Op("add", C, new, record=record), Op("delete", C, rid)]
        ops += [
            Op("edit", C, f, replace=((rid, new),)) if f == target else Op("edit", C, f, remove=(rid,)) for f in listed
        ]
        if target not in listed and target in t.recs:
            ops.append(Op("edit", C, target, append=(new,)))
        kids = [k for k, p in t.parent.items() if p == rid]
        ops += [Op("edit", C, k, {"parentid": new, "parentName": t.title(rid)}) for k in sorted(kids)]
        touched = dict.fromkeys([rid, new, *listed, *([target] if target in t.recs else []), *sorted(kids)])
        yield Finding(INVALID_ID, "warning", C, [rid, *listed],
                      f"{t.kind(rid)} {rid!r} has an id that is not 12 base64url characters. Firefox's merger gives "
                      "it a new valid id, uploads it under that id and deletes the old one (older and other "
                      f"clients may refuse it meanwhile). The fix does the same, with the new id {new}"
                      + (f", and points its {len(kids)} child(ren) at it" if kids else "") + ".",
                      Fix(f"re-create {rid!r} as {new}", tuple(ops),
                          links=(Link(f"give {rid!r} the id {new}", tuple((C, r) for r in touched)),)),
                      facts={"new_id": new, "children": len(kids)})  # fmt: skip
    ctx.current = None


# --------------------------------------------------------------------- URLs and queries


def _query_params(url: can_ada.URL) -> can_ada.URLSearchParams:
    return can_ada.URLSearchParams(url.href[len(url.protocol) :])


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None and value.strip() else (0.0 if value is not None else None)
    except ValueError:
        return None


def _tag(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    tag = value.strip()
    return tag if tag and len(tag) <= MAX_TAG_LENGTH else None


def check_urls(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    yield from ctx.per_record(INVALID_URL, C, sorted(t.recs.items()), lambda rid, rec: _url(t, rid, rec))


def _replace(t: Tree, rid: str, what: str, **facts: Any) -> Finding:
    ops, link = _delete(t, rid, f"delete {rid}")
    return Finding(INVALID_URL, "warning", C, [rid, *t.listers.get(rid, [])],
                   f"{t.kind(rid)} {rid}: {what}. Firefox grades it replace (dogear's Validity::Replace): a device "
                   "that has a valid copy uploads that, every other device deletes it from the server. The fix "
                   "deletes it and takes it out of its folder, as a device without a copy would; to keep it, "
                   "correct the URL instead (sync.edit('bookmarks', id, {'bmkUri': ...})).",
                   Fix(f"delete {t.kind(rid)} {rid}", tuple(ops), links=(link,),
                       caution="this deletes the bookmark everywhere: if the URL is only slightly wrong, reject "
                               "this and edit the URL instead"),
                   facts={"validity": "replace", **facts})  # fmt: skip


def _url(t: Tree, rid: str, rec: dict[str, Any]) -> Iterator[Finding]:
    kind = rec.get("type")
    if kind not in ("bookmark", "query"):
        return
    problem = urls.problem(rec.get("bmkUri"))
    if problem:
        yield _replace(t, rid, f"its URL {problem}", reason=problem.split(" ")[1] if " " in problem else problem)
        return
    if kind != "query":
        return
    url = urls.parse(rec["bmkUri"])
    assert url is not None
    params = _query_params(url)
    if _number(params.get("type")) == RESULTS_AS_TAG_CONTENTS:
        tag = _tag(rec.get("folderName"))
        rewritten = f"place:tag={tag}" if tag else None
        if rewritten is None or urls.parse(rewritten) is None:
            yield _replace(t, rid, "a legacy tag query (place:type=7) whose folderName is not a usable tag name",
                           reason="tag")  # fmt: skip
            return
        yield Finding(LEGACY_TAG_QUERY, "info", C, [rid],
                      f"Query {rid} is a tag query in the old form (place:type=7 with a folder number that only meant "
                      f"something on the device that wrote it). Firefox rewrites it to {rewritten!r} from its "
                      "folderName and uploads it again (dogear: reupload); the fix does that now.",
                      Fix(f"rewrite {rid} to place:tag=…", (Op("edit", C, rid, {"bmkUri": rewritten}),),
                          links=(Link(f"rewrite query {rid}", ((C, rid),)),)),
                      facts={"validity": "reupload"})  # fmt: skip
    elif params.get("folder") and not params.has("excludeItems"):
        rewritten = url.href + "&excludeItems=1"
        yield Finding(FOLDER_QUERY, "info", C, [rid],
                      f"Query {rid} names a folder by a number (folder=…) that means nothing on other devices; "
                      "there it would list every bookmark. Firefox adds excludeItems=1 and uploads it again "
                      "(dogear: reupload); the fix does that now.",
                      Fix(f"add excludeItems=1 to {rid}", (Op("edit", C, rid, {"bmkUri": rewritten}),),
                          links=(Link(f"rewrite query {rid}", ((C, rid),)),)),
                      facts={"validity": "reupload"})  # fmt: skip


# --------------------------------------------------------------------- what Firefox deletes


def check_non_syncable(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    for rid in sorted(t.recs):
        ctx.current = (C, rid)
        rec = t.recs[rid]
        if rid in FORBIDDEN_IDS or t.parentid(rid) in FORBIDDEN_IDS:
            ops, link = _delete(t, rid, f"delete {rid}")
            yield Finding(NON_SYNCABLE, "warning", C, [rid],
                          f"{t.kind(rid)} {rid} is a pinned-site or reading-list item (or inside one), which Firefox "
                          "stopped syncing long ago: the bookmarks engine deletes it from the server. The fix does.",
                          Fix(f"delete {rid}", tuple(ops), links=(link,)), facts={"why": "forbidden"})  # fmt: skip
        elif rec.get("type") == "livemark":
            delete, dlink = _delete(t, rid, f"delete livemark {rid}")
            site = rec.get("siteUri") if urls.parse(rec.get("siteUri")) else rec.get("feedUri")
            choices = [Fix(f"delete livemark {rid}, as Firefox will", tuple(delete), links=(dlink,))]
            if urls.parse(site) is not None:
                convert = Op(
                    "edit", C, rid, {"type": "bookmark", "bmkUri": site}, drop=("feedUri", "siteUri", "children")
                )
                choices.append(Fix(f"turn livemark {rid} into a bookmark of its site", (convert,),
                                   links=(Link(f"convert {rid}", ((C, rid),)),)))  # fmt: skip
            yield Finding(NON_SYNCABLE, "warning", C, [rid],
                          f"Livemark {rid} is a live feed folder, which Firefox dropped in version 64: its merger "
                          "treats livemarks as not syncable and deletes them from the server on its next sync "
                          "(dogear: Kind::Livemark). Choose: delete it now, or keep it as a plain bookmark.",
                          choices=choices, facts={"why": "livemark"})  # fmt: skip
        elif rid not in ROOTS and rid != PLACES and t.parent.get(rid) == PLACES:
            ops, link = t.move(rid, UNFILED, f"move {rid} into unfiled")
            size = len(t.descendants(rid))
            yield Finding(
                NON_SYNCABLE,
                "warning",
                C,
                [rid],
                f"{t.kind(rid)} {rid} hangs directly from the Places root, where only the four roots may "
                f"be: Firefox treats it{' and the ' + str(size) + ' item(s) below it' if size else ''} as not "
                "syncable and deletes them from the server. Moving it into Other Bookmarks (unfiled) keeps it.",
                Fix(f"move {rid} into unfiled", tuple(ops), links=(link,)),
                facts={"why": "outside-roots", "subtree": size},
            )
    ctx.current = None


def check_malformed(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    for rid in sorted(t.recs):
        rec = t.recs[rid]
        kind = rec.get("type")
        if kind not in TYPES and rid != PLACES:
            yield Finding(MALFORMED, "warning", C, [rid],
                          f"Item {rid} has type {kind!r}, which Firefox does not know: it ignores the record, so "
                          "devices disagree about it. Fix it on the device that wrote it, or delete it by hand.",
                          facts={"type": str(kind)[:20]})  # fmt: skip
        elif kind == "folder" and "children" in rec and not isinstance(rec["children"], list):
            yield Finding(MALFORMED, "warning", C, [rid],
                          f"Folder {rid}'s children is a {type(rec['children']).__name__}, not a list: Firefox "
                          "reads no children from it, and every item in it looks misplaced.",
                          facts={"type": "folder"})  # fmt: skip


# --------------------------------------------------------------------- records with a wrong id


def id_problems(ctx: Context) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """Bookmark records that failed only because the payload's id is not the BSO's:
    ``{bso id: ("missing" | "duplicate", cleartext)}``."""
    if "bookmarks.id-problems" in ctx.cache:
        return ctx.cache["bookmarks.id-problems"]  # type: ignore[no-any-return]
    out: dict[str, tuple[str, dict[str, Any] | None]] = {}
    keys = ctx.sync.collection_keys
    envs = ctx.envelopes(C) if keys is not None else {}
    for coll, rid, reason in ctx.failed:
        if coll != C or reason != "bad-cleartext" or keys is None or rid not in envs:
            continue
        try:
            clear = keys.bundle_for(C).decrypt(envs[rid].payload)
        except (CryptoError, ValueError, TypeError):
            continue
        claimed = clear.get("id")
        if not isinstance(claimed, str) or not claimed:
            out[rid] = ("missing", clear)
        elif claimed in envs and claimed != rid:
            out[rid] = ("duplicate", clear)
    ctx.cache["bookmarks.id-problems"] = out
    return out


def check_record_ids(ctx: Context) -> Iterator[Finding]:
    if not ctx.checks(C):
        return
    for rid, (kind, clear) in sorted(id_problems(ctx).items()):
        if kind == "missing":
            record = {**(clear or {}), "id": rid}
            yield Finding(MISSING_IDS, "warning", C, [rid],
                          f"Record {rid} decrypts, but its payload has no id, so Firefox refuses it (\"record id "
                          "mismatch\") and the validator counts it in missingIDs. The fix uploads the payload again "
                          "with its id.",
                          Fix(f"re-upload {rid} with its id", (Op("add", C, rid, record=record),),
                              caution="check the record in the plan: it is what the payload held, with the id added",
                              links=(Link(f"re-upload {rid}", ((C, rid),)),)))  # fmt: skip
        else:
            other = (clear or {}).get("id")
            yield Finding(DUPLICATES, "warning", C, [rid, str(other)],
                          f"Record {rid}'s payload says it is {other}, another record on the server: a copy stored "
                          "under the wrong id. Firefox refuses it; the validator counts the id twice (duplicates). "
                          "The fix deletes the stray copy.",
                          Fix(f"delete the stray copy {rid}", (Op("delete", C, rid),),
                              caution=f"compare it with {other} first (sync.frame('bookmarks')): if the copy is the "
                                      "newer one, copy its fields into that record by hand",
                              links=(Link(f"delete {rid}", ((C, rid),)),)))  # fmt: skip


# --------------------------------------------------------------------- duplicates


def _signatures(t: Tree) -> dict[str, str]:
    """A content hash per item: bookmarks by URL and title (dogear's Content), folders by
    title and their children's hashes in order."""
    sig: dict[str, str] = {}
    depth: dict[str, int] = {}
    for rid in t.parent:
        path: list[str] = []
        node: str | None = rid
        while node is not None and node not in depth and node in t.parent and len(path) <= len(t.parent):
            path.append(node)
            node = t.parent.get(node)
        base = depth.get(node, 0) if node is not None else 0
        for n, r in enumerate(reversed(path), 1):
            depth[r] = base + n
    order = sorted(t.parent, key=lambda r: -depth.get(r, 0))  # deepest first
    for rid in order:
        rec = t.recs[rid]
        kind = rec.get("type")
        if kind == "folder":
            kids = tuple(sig.get(k, k) for k in t.children(rid))
            body: Any = ("folder", rec.get("title"), kids)
        elif kind in ("bookmark", "query"):
            body = (kind, rec.get("bmkUri"), rec.get("title"))
        else:
            body = (str(kind), rid)  # separators and the rest match by position only: not content
        sig[rid] = hashlib.sha256(json.dumps(body, default=str).encode("utf-8", "surrogatepass")).hexdigest()
    return sig


def _ancestors(t: Tree, rid: str) -> list[str]:
    out, node, seen = [], t.parent.get(rid), {rid}
    while node is not None and node not in seen:
        seen.add(node)
        out.append(node)
        node = t.parent.get(node)
    return out


def _age(t: Tree, rid: str) -> tuple[Any, ...]:
    added = t.recs[rid].get("dateAdded")
    return (added if isinstance(added, int | float) and not isinstance(added, bool) else float("inf"), t.mod(rid), rid)


def check_duplicates(ctx: Context) -> Iterator[Finding]:
    t = tree(ctx)
    if t is None:
        return
    in_cycle = {r for loop in t.cycles() for r in loop}
    if in_cycle:
        return  # content has no meaning until bookmarks.cycles is fixed
    sig = _signatures(t)
    folders: dict[str, list[str]] = defaultdict(list)
    for rid in t.parent:
        if t.recs[rid].get("type") == "folder" and rid not in ROOTS and t.children(rid):
            folders[sig[rid]].append(rid)
    copies: set[str] = set()
    for ids in sorted(folders.values(), key=lambda v: sorted(v)):
        if len(ids) < 2 or any(a in copies for r in ids for a in _ancestors(t, r)):
            continue
        ids.sort(key=lambda r: _age(t, r))
        keep, extra = ids[0], ids[1:]
        ops: list[Op] = []
        links = []
        for copy in extra:
            below = t.descendants(copy)
            copies.update([copy, *below])
            dops, link = _delete(t, copy, f"delete the copy {copy} and the {len(below)} item(s) in it")
            ops += dops + [Op("delete", C, r) for r in below]
            links.append(Link(link.why, link.records + tuple((C, r) for r in below)))
        size = len(t.descendants(keep))
        yield Finding(
            DUPLICATE_SUBTREE,
            "warning",
            C,
            ids,
            f"Folder {keep} ({size} item(s)) appears {len(ids)} times with the same titles, URLs and order "
            f"({', '.join(ids)}): a duplicated import, or a sync that uploaded a whole folder twice. The "
            f"fix keeps the oldest ({keep}) and deletes the other copies with everything in them.",
            Fix(
                f"keep {keep}; delete {len(extra)} copy(ies) and their contents",
                tuple(ops),
                links=tuple(links),
                caution="check the plan's deletions: the copies are identical now, but a device that "
                "still edits a copy will bring it back",
            ),
            facts={"copies": len(ids), "items": size},
        )
    yield from _content(ctx, t, copies)


def _content(ctx: Context, t: Tree, copies: set[str]) -> Iterator[Finding]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rid in t.parent:
        rec = t.recs[rid]
        url, title = rec.get("bmkUri"), rec.get("title")
        if (
            rec.get("type") == "bookmark"
            and rid not in copies
            and isinstance(url, str)
            and isinstance(title, str)
            and urls.parse(url) is not None
        ):
            groups[(url, title)].append(rid)
    for ids in sorted((v for v in groups.values() if len(v) > 1), key=lambda v: sorted(v)):
        ctx.current = (C, ids[0])
        ids.sort(key=lambda r: _age(t, r))
        keep, extra = ids[0], ids[1:]
        where = {t.parent[r] for r in ids}
        ops: list[Op] = []
        links = []
        tags = [x for r in ids for x in (t.recs[r].get("tags") or []) if isinstance(x, str)]
        merged = list(dict.fromkeys(tags))
        keyword = next((t.recs[r].get("keyword") for r in ids if isinstance(t.recs[r].get("keyword"), str)), None)
        changes: dict[str, Any] = {}
        if merged != [x for x in (t.recs[keep].get("tags") or []) if isinstance(x, str)]:
            changes["tags"] = merged
        if keyword and not t.recs[keep].get("keyword"):
            changes["keyword"] = keyword
        if changes:
            ops.append(Op("edit", C, keep, changes))
        for copy in extra:
            dops, link = _delete(t, copy, f"delete the copy {copy}")
            ops += dops
            links.append(Link(link.why, ((C, keep), *link.records)))
        same = len(where) == 1
        yield Finding(DUPLICATE_CONTENT, "info", C, ids,
                      f"{len(ids)} bookmarks have the same URL and title "
                      + ("in one folder" if same else f"in {len(where)} folders ({', '.join(sorted(where)[:4])})")
                      + ". Firefox's merger matches new items by this content, in the same folder only; copies on "
                      f"the server stay. The fix keeps the oldest ({keep})"
                      + (", gives it the copies' tags and keyword" if changes else "") + " and deletes the others.",
                      Fix(f"merge {len(ids)} copies into {keep}", tuple(ops), links=tuple(links),
                          caution=None if same else "the copies are in different folders: if you keep the same "
                                  "bookmark in several folders on purpose, reject this fix"),
                      facts={"copies": len(ids), "folders": len(where)})  # fmt: skip
    ctx.current = None


CHECKS = [check_ids, check_urls, check_non_syncable, check_malformed, check_record_ids, check_duplicates]
