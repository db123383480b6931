"""Every notebook in notebooks/ runs top to bottom with nbclient, on the embedded demo stack
it starts itself, and fails the test on the first cell that raises.

The notebooks are also checked as files: saved without outputs, on the ``python3`` kernel,
with one parameters cell that reads the ``SYNCTOOLS_*`` environment variables, and no
secret of the demo account in anything they display.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from synctools.demodata import DEMO_PASSWORD, build_demo_account
from synctools.protocol.keys import derive_sync_keys
from synctools.server import LocalStack

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# what the notebooks' parameters cells read (notebook 03 also SYNCTOOLS_REVIEW, and decides
# who reviews from JPY_SESSION_NAME, which a Jupyter server sets)
ENV_VARS = ("SYNCTOOLS_SERVER", "SYNCTOOLS_EMAIL", "SYNCTOOLS_PASSWORD", "SYNCTOOLS_AUTH_URL",
            "SYNCTOOLS_TOKEN_URL", "SYNCTOOLS_REVIEW", "SYNCTOOLS_PROFILE", "JPY_SESSION_NAME")
# What a person must see in each notebook (so a section that silently stops doing its job
# fails the test, not only one that raises)
EXPECTED = {
    "01-life-of-a-sync": ["authenticate: authenticated", "exchange_token: token", "fetch_info: info",
                          "fetch_meta_global: meta_global", "fetch_crypto_keys: ready", "download: downloaded",
                          "merge: merged", "<UploadPlan", "status: committed", "records written: 1",
                          "Starting the embedded stack", "ready on http://127.0.0.1:", "synctools-timeline-svg"],
    "02-explore-your-data": ["pages,", "orphans: ['", "'revealed': False", "********"],
    "05-device-and-server": ["planted:", "missing_on_server", "missing_on_device", "deleted_on_one_side",
                             "device.never-uploaded", "device.sync-failing", "cited: error-sync-"],
    "04-when-sync-goes-wrong": ["declined", "verifies", "hmac-mismatch", "back off for 3s", "refused (503)",
                                "401", "status: conflict", "CONFLICT bookmarks/",
                                "title on the server: Theirs", "the storage node moved", "fresh_start_required",
                                "Proposed fix:", "Conflict (412 Precondition Failed)", "Nothing to upload",
                                "then writes a new meta/global and new crypto/keys", "synctools-timeline-svg", ">412</text>"],
}
PLOTS = {"02-explore-your-data": 5}
CELL_TIMEOUT = 120  # seconds per cell: generous for a loaded CI machine; the whole run takes ~1 minute


@pytest.fixture(autouse=True)
def embedded_stack_by_default(monkeypatch, tmp_path):
    """The kernel inherits this process's environment: make sure no SYNCTOOLS_* variable
    points a notebook away from the embedded stack, and that a local store a notebook
    keeps (Sync.login's default) goes to a temporary folder, not the user's data folder."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNCTOOLS_DATA_DIR", str(tmp_path / "synctools-data"))


@pytest.fixture(scope="module")
def demo_secrets() -> list[str]:
    """The demo account's password, kB and kSync in the forms they could leak in."""
    account = build_demo_account()
    ksync = derive_sync_keys(account.kb, account.key_rotation_timestamp).ksync
    out = [DEMO_PASSWORD]
    for raw in (account.kb, ksync, ksync[:32], ksync[32:]):
        out += [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    return out


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, startup_timeout=60, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )  # fmt: skip
    client.execute()  # raises CellExecutionError (with the cell's traceback) on the first error
    return nb


def output_text(nb: nbformat.NotebookNode) -> str:
    """Everything the executed notebook shows: streams, text, HTML, widget fallbacks."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    parts.append(value if isinstance(value, str) else str(value))
    return "\n".join(parts)


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    for expected in ("01-life-of-a-sync.ipynb", "02-explore-your-data.ipynb", "04-when-sync-goes-wrong.ipynb"):
        assert expected in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} were saved with outputs; clear them before committing"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    for name in ("SYNCTOOLS_SERVER", "SYNCTOOLS_EMAIL", "SYNCTOOLS_PASSWORD"):
        assert name in params[0].source, f"{path.name}: the parameters cell does not read ${name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_embedded_stack(path, tmp_path, demo_secrets):
    nb = execute(path, tmp_path)
    text = output_text(nb)
    missing = [phrase for phrase in EXPECTED.get(path.stem, []) if phrase not in text]
    assert not missing, f"{path.name} did not show {missing}"
    plots = sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))
    assert plots >= PLOTS.get(path.stem, 0), f"{path.name} drew {plots} plots"
    leaked = [i for i, secret in enumerate(demo_secrets) if secret in text]
    assert not leaked, f"{path.name} displays a secret of the demo account (secret #{leaked[0]})"
    assert not re.search(r"Traceback \(most recent call last\)", text)


@pytest.mark.parametrize("name", ["01-life-of-a-sync", "02-explore-your-data", "04-when-sync-goes-wrong"])
def test_parameters_point_a_notebook_at_another_server(name, tmp_path, monkeypatch):
    """With SYNCTOOLS_SERVER set, a notebook logs in to that server (here a stack started
    by the test, as `synctools serve --demo` would be) and, not being on a demo stack of
    its own, stages nothing and writes nothing."""
    with LocalStack(demo=True) as stack:
        monkeypatch.setenv("SYNCTOOLS_SERVER", stack.url)
        monkeypatch.setenv("SYNCTOOLS_EMAIL", stack.demo_account.email)
        monkeypatch.setenv("SYNCTOOLS_PASSWORD", stack.demo_account.password)
        nb = execute(NOTEBOOKS_DIR / f"{name}.ipynb", tmp_path)
        seen = stack.admin.requests()
    assert list((tmp_path / "synctools-data").glob("stores/*.sqlite"))  # its store went where we said
    assert any(r["path"].startswith("/v1/account/login") for r in seen)
    assert any("/storage/" in r["path"] and r["method"] == "GET" for r in seen)
    writes = [(r["method"], r["path"]) for r in seen if "/storage" in r["path"] and r["method"] != "GET"]
    assert writes == []
    assert stack.demo_account.password not in output_text(nb)
