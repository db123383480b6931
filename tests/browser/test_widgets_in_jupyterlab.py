"""Every synctools widget in a real JupyterLab, in the Light and the Dark theme: all
their text has a contrast of at least 4.5:1 (from computed styles, backgrounds
composited as drawn); the grid sorts, searches as you type, scrolls inside itself and
opens the record of a clicked row; the tree opens the record of a clicked item.

Needs Debian's chromium and the playwright package (``.ci/install-browser.sh``).
"""

from __future__ import annotations

import nbformat
import pytest

from .lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab, LabPage
from .test_review_in_jupyterlab import skip_without_browser  # noqa: F401 - the shared fixture
from .widget_cells import CELLS, CONTRAST_JS, notebook, set_theme

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]
OUTPUT = ".jp-OutputArea-output"
ROOTS = ".synctools-view, .synctools-grid, .synctools-tree"


def test_every_widget_reads_in_light_and_dark_and_the_grid_and_tree_work(skip_without_browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    work = tmp_path / "work"
    work.mkdir()
    nbformat.write(notebook(), work / "widgets.ipynb")
    with JupyterLab(work, {"SYNCTOOLS_REVIEW": "click"}) as lab, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        nb = LabPage(page)
        try:
            nb.open(lab.notebook_url("widgets.ipynb"))
            nb.run("notebook:run-all-cells")
            assert nb.errors() == []
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            for i in range(1, len(CELLS) + 1):  # each rendered as a widget, not its fallback
                expect(cells.nth(i).locator(f"{OUTPUT} .jupyter-widgets").first).to_be_visible()
            assert page.locator(".synctools-fallback").count() == 0

            for theme in ("JupyterLab Light", "JupyterLab Dark"):
                set_theme(page, theme)
                seen = page.evaluate(f"(sel) => ({CONTRAST_JS})(Array.from(document.querySelectorAll(sel)))", ROOTS)
                assert seen["unparsed"] == [], theme
                assert seen["checked"] > 300, theme
                assert seen["failures"] == [], f"{theme}: text under 4.5:1: {seen['failures'][:10]}"

            grid = cells.nth(1 + [n for n, _ in CELLS].index("browser")).locator(".synctools-grid")
            scroller = grid.locator(".st-grid-scroll")
            # the rows scroll inside the grid, not the page or the widget: bounded height, overflow inside
            scroller.scroll_into_view_if_needed()
            page.wait_for_function("(e) => e.scrollHeight > 2360 * 20", arg=scroller.element_handle(), timeout=30_000)
            box = scroller.evaluate("(e) => [e.clientHeight, e.scrollHeight, e.clientWidth, e.scrollWidth]")
            assert box[0] <= 270 and box[1] > 2360 * 20 and box[3] > box[2]
            assert grid.locator(".st-grid-tr").count() < 300  # a window of rows, not 2,360
            scroller.scroll_into_view_if_needed()
            scroller.evaluate("(e) => { e.scrollTop = e.scrollHeight; }")
            # after a scroll to the end the kernel sends the last rows: the box shows rows, not a blank
            page.wait_for_function(
                """(e) => { const r = e.getBoundingClientRect();
                   return [...e.querySelectorAll('.st-grid-tr')].filter(t => { const b = t.getBoundingClientRect();
                     return b.top >= r.top && b.bottom <= r.bottom; }).length >= 5; }""",
                arg=scroller.element_handle(),
                timeout=30_000,
            )
            # sort by title: the header says so and the rows follow
            grid.locator(".st-grid-th[data-column='title']").click()
            expect(grid.locator(".st-grid-th[data-column='title']")).to_have_attribute("aria-sort", "ascending")
            # the kernel answers with the first rows in title order (the grid scrolls back to the top)
            page.wait_for_function(
                """(grid) => { const heads = [...grid.querySelectorAll('.st-grid-th')];
                   const col = heads.findIndex(h => h.dataset.column === 'title');
                   const rows = [...grid.querySelectorAll('.st-grid-tr')];
                   if (grid.querySelector('.st-grid-scroll').scrollTop !== 0 || rows.length < 30) return false;
                   const t = rows.slice(0, 30).map(r => r.children[col].textContent).filter(x => x);
                   return t.length > 10 && t.every((x, i) => i === 0 || t[i - 1] <= x); }""",
                arg=grid.element_handle(),
                timeout=30_000,
            )
            # search as you type: no Enter
            grid.locator(".st-grid-search").press_sequentially("BDfHCPfxKgRa", delay=20)
            expect(grid.locator(".st-grid-tr")).to_have_count(1)
            expect(grid.locator(".st-grid-count")).to_have_text("1 of 2,360 rows")
            # a click on the row opens the record: cleartext next to its envelope
            grid.locator(".st-grid-tr").first.click()
            view = cells.nth(1 + [n for n, _ in CELLS].index("browser"))
            expect(view.locator(".synctools-record-json")).to_contain_text("webassembly kubernetes")
            expect(view.locator(".synctools-record-envelope")).to_contain_text("BSO envelope")
            expect(grid.locator(".st-grid-tr.st-selected")).to_have_count(1)

            # the tree: the orphan sits under "Not reachable"; a click opens its record
            tree = cells.nth(1 + [n for n, _ in CELLS].index("tree"))
            orphan = (
                tree.locator(".st-tree-row[data-problem='yes']", has_text="(no title)")
                .or_(tree.locator(".st-tree-children .st-tree-row[data-problem='yes']"))
                .first
            )
            orphan.click()
            rid = orphan.get_attribute("data-id")
            expect(tree.locator(".synctools-record-title")).to_contain_text(f"bookmarks/{rid}")
            expect(tree.locator(".synctools-record-json")).to_contain_text("cleartext")
        except BaseException:
            shot = tmp_path / "failure.png"
            page.screenshot(path=str(shot), full_page=True)
            (tmp_path / "jupyterlab.log").write_text(lab.log())
            print(f"screenshot: {shot}\nJupyterLab log: {tmp_path / 'jupyterlab.log'}")
            raise
        finally:
            browser.close()
