"""The display hook: in a kernel a result shows its widget, with HTML beside it;
outside a kernel nothing changes."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from synctools.results import StageResult
from synctools.widgets.display import mimebundle

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_outside_a_kernel_results_keep_their_html():
    assert mimebundle(StageResult("download", "downloaded")) is None
    assert StageResult("download", "downloaded")._repr_mimebundle_() is None


def test_in_a_kernel_results_and_plans_display_their_widget_with_an_html_fallback(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from synctools.results import CommitResult\nCommitResult('commit', 'committed')"),
        nbformat.v4.new_code_cell("from synctools.plan import UploadPlan\nUploadPlan()"),
        nbformat.v4.new_code_cell("import synctools.widgets as w\nw.ResultView(CommitResult('commit', 'x'))"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    bundles = [c.outputs[0]["data"] for c in nb.cells]
    for data in bundles:
        assert WIDGET in data and "text/html" in data
    assert bundles[0]["text/plain"].startswith("commit: committed")
    assert bundles[1]["text/plain"].startswith("<UploadPlan #") and "0 change(s)" in bundles[1]["text/plain"]
    assert "commit" in bundles[2]["text/html"]
    # the widget's state was sent to the frontend: the model exists in the notebook
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    assert bundles[0][WIDGET]["model_id"] in state


def test_an_auto_displayed_result_finds_its_sync_in_the_notebook_namespace(demo_sync):
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from synctools.widgets import MetaGlobalView
    from synctools.widgets.display import find_sync, view

    result = demo_sync.results["fetch_meta_global"]
    config = Config()
    config.HistoryManager.enabled = False  # no history database in the user's home
    hooks = sys.displayhook, sys.excepthook
    shell = InteractiveShell.instance(config=config)
    try:
        assert find_sync(result) is demo_sync  # the result's own (weak) reference
        result_alone = type(result)(**{f: getattr(result, f) for f in ("stage", "state")})
        assert find_sync(result_alone) is None  # no reference, not in any namespace
        shell.user_ns["sync"] = demo_sync
        assert find_sync(result) is demo_sync
        shown = view(result, sync=find_sync(result))
        assert isinstance(shown, MetaGlobalView)
        assert {r["engine"]: r["records"] for r in shown.rows}["bookmarks"] == 2360
    finally:
        InteractiveShell.clear_instance()
        sys.displayhook, sys.excepthook = hooks


def test_view_knows_doctor_reports_and_finds_a_results_own_sync(demo_sync):
    from synctools import doctor
    from synctools.widgets import DoctorView, ResultView
    from synctools.widgets.display import find_sync, view

    report = doctor.check(demo_sync, only=["bookmarks."])
    shown = view(report)
    assert isinstance(shown, DoctorView) and shown.sync is demo_sync
    download = demo_sync.results["download"]
    assert find_sync(download) is demo_sync  # from the result itself, no notebook namespace needed
    assert isinstance(view(download, sync=find_sync(download)), ResultView)
