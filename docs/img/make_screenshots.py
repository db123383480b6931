"""Screenshots of every synctools widget as JupyterLab draws it, in Light and in Dark.

    .venv/bin/python docs/img/make_screenshots.py        # rewrites docs/img/widget-*-{light,dark}.png
    .venv/bin/python docs/img/make_screenshots.py tree compare   # only the shots named

Starts JupyterLab and headless Chromium with the same harness as the browser tests
(tests/browser/lab.py), runs the same scratch notebook as the theme test
(tests/browser/widget_cells.py: one cell per widget on the embedded demo stack), and
saves each cell's rendered output once per theme. Needs .ci/install-browser.sh.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab, LabPage, missing_browser  # noqa: E402
from widget_cells import CELLS, notebook, set_theme  # noqa: E402

THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
#: widgets of other pages (docs/device.md), shot in Light only under their own file name
EXTRA_SETUP = """\
import tempfile
from synctools.device.demo import write_demo_profile
profile_dir = tempfile.mkdtemp() + "/profile"
write_demo_profile(profile_dir, sync)
"""
EXTRA = [("compare", "widget-compare.png",
          "c = CompareView(sync, profile_dir, 'bookmarks', page_size=8)\nc.pick.value = c.pick.options[1][1]\nc")]
WIDTH = 1280


def main() -> int:
    reason = missing_browser()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="synctools-shots-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        nb = notebook()
        extra = [nbformat.v4.new_code_cell(EXTRA_SETUP + src) for _, _, src in EXTRA]
        nb.cells[len(CELLS) + 1 : len(CELLS) + 1] = extra  # before the cell that stops the stack
        nbformat.write(nb, work / "shots.ipynb")
        names = [n for n, _ in CELLS] + [n for n, _, _ in EXTRA]
        files = {n: f for n, f, _ in EXTRA}
        wanted = set(sys.argv[1:])
        with JupyterLab(work, {"SYNCTOOLS_REVIEW": "click"}) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": 900}, device_scale_factor=1)
            labpage = LabPage(page)
            labpage.open(lab.notebook_url("shots.ipynb"))
            page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            for i in range(len(names) + 1):
                # one cell at a time, both themes: the review is photographed before a later cell commits it
                labpage.run("notebook:run-cell", cell_index=i)
                errors = labpage.errors()
                if errors:
                    print("the scratch notebook failed:", *errors, sep="\n", file=sys.stderr)
                    return 1
                if i == 0:
                    continue
                name = names[i - 1]
                if wanted and name not in wanted:
                    continue
                out = cells.nth(i).locator(".jp-OutputArea-output .jupyter-widgets").first
                out.wait_for(state="visible")
                for suffix, theme in THEMES.items():
                    if name in files and suffix != "light":
                        continue
                    set_theme(page, theme)
                    # the notebook scrolls inside the page: make the window taller than the widget
                    box = out.bounding_box()
                    page.set_viewport_size({"width": WIDTH, "height": max(900, int(box["height"] if box else 0) + 300)})
                    out.scroll_into_view_if_needed()
                    path = HERE / files.get(name, f"widget-{name}-{suffix}.png")
                    out.screenshot(path=str(path))
                    print(f"wrote docs/img/{path.name}")
                set_theme(page, THEMES["light"])
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
