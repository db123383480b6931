"""One scratch notebook with every synctools widget, shared by the theme/grid browser
test and ``docs/img/make_screenshots.py``: one cell per widget on the demo stack."""

from __future__ import annotations

import nbformat

SETUP = """\
import pandas as pd
from synctools import LocalStack, Sync
from synctools.widgets import *
import synctools.doctor
line = StatusLine("Starting the embedded stack")
stack = LocalStack(demo=True).start(progress=line)
sync = Sync.local(stack)
sync.run(until="download")
planted = {p.kind: p.record_id for p in stack.demo_account.planted}
orphan, folder = planted["orphan-bookmark"], planted["children-mismatch"]
report = synctools.doctor.check(sync)
sync.merge()
empty = sync.plan_upload()  # nothing staged yet: an empty plan
sync.edit("bookmarks", orphan, {"parentid": "unfiled", "parentName": "Other Bookmarks"})
unfiled = sync.record("bookmarks", "unfiled")
sync.edit("bookmarks", "unfiled", {"children": unfiled["children"] + [orphan]})
kept = [c for c in sync.record("bookmarks", folder)["children"] if c != "Ki3gfc9d4ZHV"]
sync.edit("bookmarks", folder, {"children": kept})
sync.merge()
plan = sync.plan_upload()
"""

#: (name, cell source): the name is the screenshot's file stem and the test's label
CELLS = [
    ("progress", "line"),
    ("stages", "StagesView(sync)"),
    ("metaglobal", "MetaGlobalView(sync)"),
    ("cryptokeys", "CryptoKeysView(sync)"),
    ("browser", "b = CollectionBrowser(sync, 'bookmarks', height=260)\nb"),
    ("tree", "t = BookmarkTree(sync, report, height=300)\nt.select(orphan)\nt"),
    ("doctor", "d = DoctorView(report)\nd"),
    ("diff", "DiffView(plan.change('bookmarks', orphan))"),
    ("review-empty", "UploadReview(sync, empty)"),
    # the plan: the orphan's move (the bookmark and unfiled's children, linked) and an unrelated
    # folder edit. One Accept click decides the linked pair; the folder stays undecided, so the
    # shot shows two of three changes decided and Commit still waiting
    (
        "review",
        "review = UploadReview(sync, plan)\nreview.diffs[0].accept_button.click()\nreview",
    ),
    (
        "review-committed",
        "import ipywidgets\nreview.diffs[2].decide(False)\nreview.commit_button.click()\n"
        "ipywidgets.VBox([ipywidgets.HBox([review.commit_button, review.status]), review.result_box])",
    ),
    ("trace", "tr = TraceView(sync, height=240)\ntr.show_headers(int(tr.grid.rows[3]['key']))\ntr"),
    ("timeline", "TimelineView(sync)"),
]


def notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(src) for _, src in CELLS]
    nb.cells.append(nbformat.v4.new_code_cell("stack.stop()"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


#: Every text node inside synctools widgets: its colour (SVG: fill) against the
#: background actually behind it (ancestors' backgrounds composited, alpha included),
#: as WCAG 2 contrast. Disabled controls are exempt (WCAG 1.4.3), as is hidden text.
CONTRAST_JS = r"""
(roots) => {
  const out = {checked: 0, failures: [], unparsed: []};
  const canvas = document.createElement('canvas'); canvas.width = canvas.height = 1;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {  // any CSS colour Chromium resolves (color-mix, color(srgb ...)) as [r,g,b,a]
    ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = 'rgba(0,0,0,0)'; ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    if (d[3] === 0 && !/^(transparent|rgba\(0, 0, 0, 0\))$/.test(css)) out.unparsed.push(css);
    return [d[0], d[1], d[2], d[3] / 255];
  };
  const over = (top, under) => {
    const a = top[3]; return [0,1,2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = (el) => {  // composite every background from the page down to el
    const chain = []; for (let e = el; e && e.nodeType === 1; e = e.parentElement) chain.push(e);
    let bg = [255, 255, 255, 1];
    for (const e of chain.reverse()) {
      const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) bg = over(c, bg);
    }
    return bg;
  };
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const text = n.textContent.trim(); const el = n.parentElement;
      if (!text || !el || el.closest('button:disabled, [disabled], option, title, style, script')) continue;
      const rect = el.getBoundingClientRect(); const cs = getComputedStyle(el);
      if (!rect.width || !rect.height || cs.visibility === 'hidden' || cs.display === 'none') continue;
      if (el.closest('details:not([open])') && !el.closest('summary')) continue;
      const svg = el instanceof SVGElement;
      const bg = background(svg ? el.ownerSVGElement.parentElement : el);
      const fg = over(rgba(svg ? cs.fill : cs.color), bg);
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      out.checked += 1;
      if (ratio < 4.5) out.failures.push({text: text.slice(0, 60), ratio: Math.round(ratio * 100) / 100,
        fg: fg.slice(0, 3).map(Math.round).join(','), bg: bg.slice(0, 3).map(Math.round).join(','),
        widget: (root.className || '').toString().split(' ').filter(c => c.startsWith('synctools')).join(' ')});
    }
  }
  return out;
}
"""


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab's theme ("JupyterLab Light" / "JupyterLab Dark") and wait for it."""
    light = "true" if "Light" in theme else "false"
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=60_000)
    page.wait_for_timeout(800)  # the theme's stylesheet is applied after the attribute flips
