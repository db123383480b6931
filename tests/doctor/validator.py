"""Firefox's bookmark validator, ported line for line as the tests' judge.

A port of ``ServerRecordInspection`` (services/sync/modules/bookmark_validator, the
problem data about:sync's validation tab shows), written apart from synctools.doctor so
that a fix is judged by Firefox's rules, not by the code that proposed it. To it are added
the dogear rules the validator predates: misparented roots, item validity (a URL that
``URL.parse`` rejects) and what the merger deletes (livemarks, items under places).
"""

from __future__ import annotations

from typing import Any

import can_ada

ROOTS = ("menu", "toolbar", "unfiled", "mobile")


def inspect(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The validator's problem data for the server's records (tombstones included)."""
    p: dict[str, Any] = {k: [] for k in ("duplicates", "parentChildMismatches", "cycles", "orphans", "missingChildren",
                                         "deletedChildren", "multipleParents", "deletedParents", "childrenOnNonFolder",
                                         "duplicateChildren", "parentNotFolder")}  # fmt: skip
    p["missingIDs"] = 0
    p["rootOnServer"] = False
    by_id: dict[str, dict[str, Any]] = {}
    live, folders, root_children = [], [], []
    orphans: dict[str, Any] = {}
    parents_of: dict[str, list[str]] = {}
    for record in records:
        record = dict(record)
        if not record.get("id"):
            p["missingIDs"] += 1
            continue
        if record["id"] in by_id:
            p["duplicates"].append(record["id"])
            continue
        by_id[record["id"]] = record
        if not record.get("deleted"):
            live.append(record)
            if record.get("parentid") == "places":
                root_children.append(record)
        if not record.get("children"):
            continue
        if record.get("type") != "folder":
            if not len(record["children"]):
                continue
            p["childrenOnNonFolder"].append(record["id"])
        folders.append(record)
        if len(set(map(str, record["children"]))) != len(record["children"]):
            p["duplicateChildren"].append(record["id"])
        record["childGUIDs"] = record["children"]
        for cid in record["childGUIDs"]:
            parents_of.setdefault(cid, []).append(record["id"])
        record["children"] = []
    if "places" in by_id:
        root = by_id["places"]
        p["rootOnServer"] = True
    else:
        root = {"id": "places", "fake": True, "children": root_children, "childGUIDs": [r["id"] for r in root_children],
                "type": "folder"}  # fmt: skip
        live.append(root)
        by_id["places"] = root

    def mismatch(child: str, parent: str) -> None:
        if {"child": child, "parent": parent} not in p["parentChildMismatches"]:
            p["parentChildMismatches"].append({"child": child, "parent": parent})

    for rid, record in by_id.items():  # _linkParentIDs
        if record is root or record.get("deleted"):
            continue
        parent = by_id.get(record.get("parentid"))
        if not record.get("parentid") or parent is None:
            orphans[rid] = record.get("parentid")
            continue
        record["parent"] = parent
        if parent.get("deleted"):
            p["deletedParents"].append(rid)
            continue
        if parent.get("type") != "folder":
            p["parentNotFolder"].append(rid)
            continue
        if rid not in parent.get("childGUIDs", []):
            mismatch(rid, parent["id"])
    for folder in folders:  # _linkChildren
        seen: set[str] = set()
        for cid in folder["childGUIDs"]:
            child = by_id.get(cid) if isinstance(cid, str) else None
            if child is None:
                p["missingChildren"].append({"parent": folder["id"], "child": cid})
                continue
            if child.get("deleted"):
                p["deletedChildren"].append({"parent": folder["id"], "child": cid})
                continue
            if child.get("parentid") != folder["id"]:
                mismatch(cid, folder["id"])
                continue
            if cid in seen:
                continue
            seen.add(cid)
            folder["children"].append(child)
    # _findOrphans: walk from the root (Utils.walkTree follows `children`)
    seen_ids, stack, looped = {"places"}, list(root.get("children", [])), False
    while stack:
        node = stack.pop()
        if node["id"] in seen_ids:
            looped = True
            break
        seen_ids.add(node["id"])
        stack.extend(node.get("children", []) if isinstance(node.get("children"), list) else [])
    if not looped:
        for record in live:
            if record["id"] not in seen_ids:
                orphans.setdefault(record["id"], None)
        p["orphans"] = [{"id": k, "parent": v} for k, v in orphans.items()]
    p["cycles"] = _cycles(live)
    for child, parents in parents_of.items():
        if len(set(parents)) > 1:
            p["multipleParents"].append({"child": child, "parents": sorted(set(parents))})
    for key in ("duplicates", "deletedParents", "childrenOnNonFolder", "duplicateChildren", "parentNotFolder"):
        p[key] = list(dict.fromkeys(p[key]))
    return p


def _cycles(records: list[dict[str, Any]]) -> list[list[str]]:
    path: list[dict[str, Any]] = []
    on_path: set[int] = set()
    seen: set[int] = set()
    cycles: list[list[str]] = []

    def walk(node: dict[str, Any]) -> None:
        if id(node) in on_path:
            start = max(i for i, n in enumerate(path) if n is node)
            cycles.append([n["id"] for n in path[start:]])
            return
        if id(node) in seen:
            return
        seen.add(id(node))
        kids = node.get("children") if isinstance(node.get("children"), list) else []
        kids = [k for k in kids if isinstance(k, dict)]
        if kids:
            on_path.add(id(node))
            path.append(node)
            for kid in kids:
                walk(kid)
            path.pop()
            on_path.discard(id(node))

    for record in records:
        if id(record) not in seen:
            walk(record)
    return cycles


def problems(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every non-empty problem: the validator's, plus dogear's misparented roots, invalid
    items (validity replace) and items the merger deletes."""
    found = {k: v for k, v in inspect(records).items() if v}
    live = {r["id"]: r for r in records if r.get("id") and not r.get("deleted")}
    bad_roots = [r for r in ROOTS if r in live and live[r].get("parentid") != "places"]
    bad_roots += [
        r for r in ROOTS for f in live.values() if f.get("type") == "folder" and r in (f.get("children") or [])
    ]
    if bad_roots:
        found["misparentedRoots"] = sorted(set(bad_roots))
    invalid = []
    for rid, r in live.items():
        if r.get("type") in ("bookmark", "query"):
            url = r.get("bmkUri")
            try:
                ok = isinstance(url, str) and len(url) <= 65536 and can_ada.can_parse(url)
            except Exception:
                ok = False
            if not ok:
                invalid.append(rid)
    if invalid:
        found["invalidItems"] = sorted(invalid)
    doomed = [rid for rid, r in live.items() if r.get("type") == "livemark"
              or (rid not in ROOTS and r.get("parentid") == "places")]  # fmt: skip
    if doomed:
        found["nonSyncable"] = sorted(doomed)
    return found
