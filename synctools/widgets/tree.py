"""``BookmarkTree``: the bookmarks as their folders hold them; problems marked; a click
opens the record.

The roots are the folders whose parent is ``places`` (menu, toolbar, unfiled, mobile).
Items no root reaches (orphans) are gathered under *Not reachable from a root*, records
that fail to decrypt under *Failed to decrypt*, and a child a folder lists but the
server does not have shows as a missing record. Each item with a problem carries a
mark: the doctor's findings for it (``synctools.doctor``, the bookmark and record
checks, unless a report is given) and what the tree itself sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as w
import traitlets as t

from . import _html as h
from ._source import View, html
from .browser import record_html

_HERE = Path(__file__).parent
ROOTS = ("menu", "toolbar", "unfiled", "mobile")
UNREACHABLE = "synctools:unreachable"
FAILED = "synctools:failed"


class TreeWidget(anywidget.AnyWidget):
    """The tree itself (browser side): ``nodes`` {id: {t, k, c, p, u}}, ``roots``, ``selected``."""

    _esm = _HERE / "tree.js"
    _css = _HERE / "tree.css"
    nodes = t.Dict().tag(sync=True)
    roots = t.List(t.Unicode()).tag(sync=True)
    expanded = t.List(t.Unicode()).tag(sync=True)
    selected = t.Unicode("").tag(sync=True)
    height = t.Int(420).tag(sync=True)


def doctor_problems(sync: Any) -> dict[str, list[str]]:
    """``{record id: ["severity check: explanation", ...]}`` from the doctor's bookmark checks."""
    from .. import doctor

    report = doctor.check(sync, only=["bookmarks.", "records."])
    return problems_of(report, "bookmarks")


def problems_of(report: Any, collection: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report:
        if f.collection not in (None, collection):
            continue
        for rid in f.record_ids:
            out.setdefault(rid, []).append(f"{f.severity} {f.check}: {f.explanation}")
    return out


def build(
    records: dict[str, dict[str, Any]], failed: list[str], problems: dict[str, list[str]]
) -> tuple[dict[str, Any], list[str]]:
    """``(nodes, roots)`` for the tree from the bookmark records (cleartexts by id)."""
    live = {rid: r for rid, r in records.items() if not r.get("deleted")}
    nodes: dict[str, Any] = {}
    for rid, r in live.items():
        kind = r.get("type") or "bookmark"
        children = [str(c) for c in r.get("children") or []] if kind == "folder" else []
        nodes[rid] = {
            "t": r.get("title") or (rid if kind == "folder" else r.get("bmkUri") or ""),
            "k": kind,
            "c": children,
            "p": list(problems.get(rid, [])),
        }
    roots = [r for r in ("places", *ROOTS) if r in live and (r == "places" or "places" not in live)]
    reached: set[str] = set()
    stack = list(roots)
    while stack:  # iterative walk: a cycle or a deep chain cannot overflow it
        rid = stack.pop()
        if rid in reached:
            continue
        reached.add(rid)
        node = nodes.get(rid)
        if node is None:  # listed by a folder, absent on the server
            nodes[rid] = {
                "t": f"missing record {rid}",
                "k": "missing",
                "c": [],
                "p": ["listed by its folder, but not on the server"],
            }
            continue
        stack.extend(node["c"])
    orphans = sorted(rid for rid in live if rid not in reached)
    for rid in orphans:
        parent = live[rid].get("parentid")
        nodes[rid]["p"].append(f"not reachable from a root (parentid {parent!r})")
    if orphans:
        nodes[UNREACHABLE] = {"t": f"Not reachable from a root ({len(orphans)})", "k": "folder", "c": orphans, "p": []}
        roots.append(UNREACHABLE)
    if failed:
        for rid in failed:
            nodes[rid] = {"t": rid, "k": "failed", "c": [], "p": ["fails to decrypt", *problems.get(rid, [])]}
        nodes[FAILED] = {"t": f"Failed to decrypt ({len(failed)})", "k": "folder", "c": list(failed), "p": []}
        roots.append(FAILED)
    _count_inside(nodes, roots)
    return nodes, roots


def _count_inside(nodes: dict[str, Any], roots: list[str]) -> None:
    """``d``: how many items with a problem each folder holds at any depth (so a
    collapsed folder still says where to look)."""
    order: list[str] = []
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        rid = stack.pop()
        if rid in seen or rid not in nodes:
            continue
        seen.add(rid)
        order.append(rid)
        stack.extend(nodes[rid]["c"])
    for rid in reversed(order):  # children before their folders
        node = nodes[rid]
        node["d"] = sum(
            nodes[c].get("d", 0) + (1 if nodes[c]["p"] else 0) for c in node["c"] if c in nodes and c in seen
        )


class BookmarkTree(View):
    """``BookmarkTree(sync, report=None)`` after ``sync.download()``: folders expand,
    problems are marked (hover for why), a click opens the record below."""

    def __init__(self, sync: Any, report: Any = None, *, height: int = 420, **kwargs: Any) -> None:
        self.sync = sync
        records = sync.records("bookmarks")
        failed = [str(i) for i in sync.errors("bookmarks")["id"]]
        if report is not None:
            self.problems = problems_of(report, "bookmarks")
        else:
            self.problems = doctor_problems(sync)
        nodes, roots = build(records, failed, self.problems)
        self.nodes = nodes
        marked = [rid for rid, n in nodes.items() if n["p"]]
        self.tree = TreeWidget(
            nodes=nodes, roots=roots, height=height, expanded=[UNREACHABLE] if UNREACHABLE in nodes else []
        )
        self.tree.observe(lambda change: self.show_record(change["new"]), names="selected")
        summary = f"{len(records):,} record(s), {len(marked)} with a problem"
        self.header = html(
            h.heading("Bookmarks", summary)
            + h.banner(
                "Click a folder to expand it, an item to open its record; marked items have a problem (hover for why).",
                "info",
            )
        )
        self.record_title = html("", "synctools-record-title")
        self.record_json = html("", "synctools-record-json")
        self.record_envelope = html("", "synctools-record-envelope")
        self.record_json.layout = w.Layout(flex="3 1 420px", min_width="0")
        self.record_envelope.layout = w.Layout(flex="2 1 320px", min_width="0")
        super().__init__(
            [self.header, self.tree, self.record_title,
             w.HBox([self.record_json, self.record_envelope], layout=w.Layout(flex_flow="row wrap", width="100%"))],
            **kwargs,
        )  # fmt: skip
        self.add_class("synctools-view")
        self.add_class("synctools-tree-view")

    @property
    def marked(self) -> dict[str, list[str]]:
        """``{id: problems}`` of every item the tree marks."""
        return {rid: n["p"] for rid, n in self.nodes.items() if n["p"]}

    def select(self, record_id: str) -> None:
        """What a click on an item does."""
        self.tree.selected = record_id

    def show_record(self, record_id: str) -> None:
        if not record_id or record_id in (UNREACHABLE, FAILED):
            self.record_title.value = self.record_json.value = self.record_envelope.value = ""
            return
        node = self.nodes.get(record_id, {})
        problems = "".join(h.banner(p, "bad" if p.startswith("error") else "warn") for p in node.get("p", []))
        self.record_title.value = h.heading(f"bookmarks/{record_id}", node.get("t", "")) + problems
        if node.get("k") == "missing":
            self.record_json.value, self.record_envelope.value = h.banner("no such record on the server", "bad"), ""
            return
        self.record_json.value, self.record_envelope.value = record_html(self.sync, "bookmarks", record_id)
        if self.tree.selected != record_id:
            self.tree.selected = record_id
