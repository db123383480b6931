"""End to end in a real browser: JupyterLab runs notebook 03 against a stack this test
started, the widgets render as widgets, a person's clicks decide the review and commit,
and the server then holds exactly the approved changes; the restore review puts them back.

Needs Debian's chromium and the playwright package (``.ci/install-browser.sh``); skipped
with the reason when either is missing. On failure a screenshot and the JupyterLab log
are left in the test's temporary directory (the path is in the failure message).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from synctools import Sync
from synctools.server import LocalStack

from .lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab, LabPage, missing_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03-review-and-commit.ipynb"
WIDGET_OUTPUT = ".jp-OutputArea-output .jupyter-widgets"


@pytest.fixture(scope="module")
def skip_without_browser():
    reason = missing_browser()
    if reason:
        if os.environ.get("SYNCTOOLS_REQUIRE_BROWSER"):  # CI installs the browser: never skip there
            pytest.fail(f"SYNCTOOLS_REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)


def server_bookmarks(stack: LocalStack) -> dict[str, dict]:
    sync = Sync.local(stack)
    sync.run(until="download")
    return sync.records("bookmarks")


def test_review_and_commit_by_clicking_in_jupyterlab(skip_without_browser, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded CI machine may take a while per comm round trip

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    with LocalStack(demo=True) as stack:
        demo = stack.demo_account
        planted = {p.kind: p for p in demo.planted}
        orphan = planted["orphan-bookmark"].record_id
        mislisted_folder = planted["children-mismatch"].record_id
        before = server_bookmarks(stack)
        env = {"SYNCTOOLS_SERVER": stack.url, "SYNCTOOLS_EMAIL": demo.email, "SYNCTOOLS_PASSWORD": demo.password,
               "SYNCTOOLS_REVIEW": "click"}  # fmt: skip
        with JupyterLab(work, env) as lab, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            nb = LabPage(page)
            try:
                nb.open(lab.notebook_url(NOTEBOOK.name))
                nb.run("notebook:run-all-cells")
                assert nb.errors() == []

                # the widgets rendered as widgets, not as their HTML fallback
                review = page.locator(f"{WIDGET_OUTPUT}.synctools-review")
                expect(review).to_have_count(1)
                for cls in ("synctools-stages", "synctools-browser"):
                    expect(page.locator(f"{WIDGET_OUTPUT}.{cls}")).to_have_count(1)
                assert page.locator(".synctools-fallback").count() == 0
                assert review.locator(".widget-button").count() >= 3

                # a person decides: fix the orphan (two records), reject the incomplete fix
                diffs = review.locator(".synctools-diff")
                expect(diffs).to_have_count(3)
                commit = review.locator(".synctools-commit")
                expect(commit).to_be_disabled()
                decisions = {orphan: True, "unfiled": True, mislisted_folder: False}
                for rid, accept in decisions.items():
                    diff = diffs.filter(has_text=f"bookmarks/{rid}")
                    diff.locator(".synctools-accept" if accept else ".synctools-reject").click()
                    expect(diff.locator(".synctools-decision")).to_have_text("accepted" if accept else "rejected")
                expect(commit).to_be_enabled()
                commit.click()
                expect(review.locator(".synctools-commit-result")).to_contain_text("Committed", timeout=60_000)
                expect(commit).to_be_disabled()

                after = server_bookmarks(stack)
                changed = {rid for rid in before.keys() | after.keys() if before.get(rid) != after.get(rid)}
                assert changed == {orphan, "unfiled"}
                assert after[orphan]["parentid"] == "unfiled"
                assert after["unfiled"]["children"] == before["unfiled"]["children"] + [orphan]
                assert after[mislisted_folder] == before[mislisted_folder]

                # the cells below verify on the server and offer the restore: click it through
                nb.run("notebook:run-all-below", cell_index=nb.index_of("def server_record"))
                assert nb.errors() == []
                restore = page.locator(f"{WIDGET_OUTPUT}.synctools-review").nth(1)
                restore.locator(".widget-button", has_text="Accept all").click()
                restore.locator(".synctools-commit").click()
                expect(restore.locator(".synctools-commit-result")).to_contain_text("Committed", timeout=60_000)
                assert server_bookmarks(stack) == before
            except BaseException:
                shot = tmp_path / "failure.png"
                page.screenshot(path=str(shot), full_page=True)
                (tmp_path / "jupyterlab.log").write_text(lab.log())
                print(f"screenshot: {shot}\nJupyterLab log: {tmp_path / 'jupyterlab.log'}")
                raise
            finally:
                browser.close()
