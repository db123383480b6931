"""Screenshots of every synctools widget as JupyterLab draws it today.

    .venv/bin/python docs/img/make_screenshots.py        # rewrites docs/img/widget-*.png
    .venv/bin/python docs/img/make_screenshots.py widget-compare.png   # only the shots named

Starts JupyterLab and headless Chromium with the same harness as the browser test
(tests/browser/lab.py), runs a scratch notebook on the embedded demo stack with one cell
per widget, and saves each cell's rendered output. Needs .ci/install-browser.sh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab, LabPage, missing_browser  # noqa: E402

SETUP = """\
from synctools import LocalStack, Sync
from synctools.widgets import *
stack = LocalStack(demo=True).start()
sync = Sync.local(stack)
sync.run(until="download")
planted = {p.kind: p.record_id for p in stack.demo_account.planted}
orphan, folder = planted["orphan-bookmark"], planted["children-mismatch"]
sync.edit("bookmarks", orphan, {"parentid": "unfiled", "parentName": "Other Bookmarks"})
unfiled = sync.record("bookmarks", "unfiled")
sync.edit("bookmarks", "unfiled", {"children": unfiled["children"] + [orphan]})
sync.edit("bookmarks", folder, {"children": [c for c in sync.record("bookmarks", folder)["children"] if c != "Ki3gfc9d4ZHV"]})
sync.merge()
plan = sync.plan_upload()
import tempfile
from synctools.device.demo import write_demo_profile
profile_dir = tempfile.mkdtemp() + "/profile"
write_demo_profile(profile_dir, sync)
"""

#: (file name, cell source) — one screenshot per widget
SHOTS = [
    ("widget-stages.png", "StagesView(sync)"),
    ("widget-metaglobal.png", "MetaGlobalView(sync)"),
    ("widget-cryptokeys.png", "CryptoKeysView(sync)"),
    ("widget-browser.png", "b = CollectionBrowser(sync, 'bookmarks', page_size=8)\nb.show_record(orphan)\nb"),
    ("widget-diff.png", "DiffView(plan.change('bookmarks', orphan))"),
    ("widget-review.png", "review = UploadReview(sync, plan)\nreview.diffs[0].decide(True)\nreview.diffs[2].decide(False)\nreview"),
    ("widget-review-committed.png", "import ipywidgets\nreview.diffs[1].decide(True)\nreview.commit_button.click()\n"
     "ipywidgets.VBox([ipywidgets.HBox([review.commit_button, review.status]), review.result_box])"),
    ("widget-trace.png", "t = TraceView(sync, page_size=12)\nt.pick.value = t.pick.options[3]\nt"),
    ("widget-compare.png", "c = CompareView(sync, profile_dir, 'bookmarks', page_size=8)\nc.pick.value = c.pick.options[1][1]\nc"),
]


def main() -> int:
    reason = missing_browser()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    wanted = set(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="synctools-shots-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(src) for _, src in SHOTS]
        nb.cells.append(nbformat.v4.new_code_cell("stack.stop()"))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nbformat.write(nb, work / "shots.ipynb")
        with JupyterLab(work, {"SYNCTOOLS_REVIEW": "click"}) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            labpage = LabPage(page)
            labpage.open(lab.notebook_url("shots.ipynb"))
            page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            for i in range(len(SHOTS) + 1):
                # one cell at a time: the review is photographed before a later cell commits it
                labpage.run("notebook:run-cell", cell_index=i)
                errors = labpage.errors()
                if errors:
                    print("the scratch notebook failed:", *errors, sep="\n", file=sys.stderr)
                    return 1
                if i == 0:
                    continue
                name = SHOTS[i - 1][0]
                if wanted and name not in wanted:
                    continue
                out = cells.nth(i).locator(".jp-OutputArea-output .jupyter-widgets").first
                out.wait_for(state="visible")
                # the notebook scrolls inside the page: make the window taller than the widget
                box = out.bounding_box()
                page.set_viewport_size({"width": 1280, "height": max(900, int(box["height"] if box else 0) + 300)})
                out.scroll_into_view_if_needed()
                out.screenshot(path=str(HERE / name))
                print(f"wrote docs/img/{name}")
            labpage.run("notebook:run-cell", cell_index=len(SHOTS) + 1)  # stop the stack
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
