"""Drive a real JupyterLab in headless Chromium: shared by the browser test and
``docs/img/make_screenshots.py``.

``JupyterLab(workdir, env)`` starts ``python -m jupyterlab`` from the project's .venv on
127.0.0.1 with a random token, in a throw-away config/data/runtime/settings home (so
nothing of the machine's own Jupyter set-up leaks in) and a ``python3`` kernelspec that
runs the same interpreter. ``LabPage`` wraps a Playwright page with the few steps a test
needs: open a notebook, wait for the kernel, run cells, find widget outputs.

Chromium is Debian's (/usr/bin/chromium); ``playwright install`` is never needed.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PYTHON = sys.executable  # the project's .venv python when run through .venv/bin/pytest


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (or run .ci/install-browser.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: .venv/bin/pip install playwright (or .ci/install-browser.sh)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    """A JupyterLab server in a subprocess; use as a context manager."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, *, startup_timeout: float = 90.0):
        self.workdir = Path(workdir)
        self.home = self.workdir.parent / f"{self.workdir.name}-jupyter-home"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.log_path = self.home / "jupyterlab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _prepare_home(self) -> dict[str, str]:
        dirs = {name: self.home / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        kernel = dirs["data"] / "kernels" / "python3"
        kernel.mkdir(parents=True, exist_ok=True)
        (kernel / "kernel.json").write_text(json.dumps({
            "argv": [PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python",
        }))  # fmt: skip
        # No news/update toast over the notebook: they could cover the buttons we click.
        notes = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notes.mkdir(parents=True, exist_ok=True)
        (notes / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        # Every cell stays in the DOM (no virtual scrolling): outputs far down can be found and measured.
        nbset = dirs["settings"] / "@jupyterlab" / "notebook-extension"
        nbset.mkdir(parents=True, exist_ok=True)
        (nbset / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            IPYTHONDIR=str(dirs["ipython"]),
            JUPYTER_PLATFORM_DIRS="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> JupyterLab:
        env = self._prepare_home()
        cmd = [
            PYTHON, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.workdir}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI lookups from the extension manager
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/api/status", params={"token": self.token}, timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LabPage:
    """A notebook open in JupyterLab (``window.jupyterapp`` is exposed by the server flag)."""

    def __init__(self, page: Any, timeout_ms: int = 180_000):
        self.page = page
        self.timeout = timeout_ms
        page.set_default_timeout(60_000)

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="domcontentloaded", timeout=self.timeout)
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext",
            timeout=self.timeout,
        )
        self.wait_idle()

    def wait_idle(self) -> None:
        """The notebook's kernel is started and idle (nothing queued)."""
        self.page.wait_for_function(
            "() => { const s = window.jupyterapp.shell.currentWidget.sessionContext;"
            " const k = s.session && s.session.kernel; return k && k.status === 'idle'; }",
            timeout=self.timeout,
            polling=250,
        )

    def cells(self) -> list[dict[str, Any]]:
        """Every cell as nbformat JSON, outputs included, as the frontend holds it."""
        return self.page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells.map(c => c.toJSON())"
        )

    def run(self, command: str, cell_index: int | None = None) -> None:
        """Run a notebook command (e.g. ``notebook:run-all-cells``) and wait until every
        code cell it ran has finished and the kernel is idle again."""
        if cell_index is not None:
            self.page.evaluate(
                f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {cell_index}; }}"
            )
        self.page.evaluate(f"() => window.jupyterapp.commands.execute({json.dumps(command)})")
        # a cell being run shows "[*]" as its prompt; wait until none does, then for idle
        self.page.wait_for_function(
            "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
            " return nb.widgets.every(c => c.model.type !== 'code' ||"
            " !((c.promptNode && c.promptNode.textContent) || '').includes('*')); }",
            timeout=self.timeout,
            polling=500,
        )
        self.wait_idle()

    def errors(self) -> list[str]:
        out = []
        for cell in self.cells():
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error":
                    out.append(f"{o.get('ename')}: {o.get('evalue')}")
        return out

    def index_of(self, text: str) -> int:
        """Index of the first cell whose source contains ``text``."""
        for i, cell in enumerate(self.cells()):
            src = cell.get("source", "")
            if text in ("".join(src) if isinstance(src, list) else src):
                return i
        raise LookupError(f"no cell contains {text!r}")
