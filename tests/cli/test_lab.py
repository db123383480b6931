"""`synctools lab` with a real JupyterLab: a signal that stops the command stops
JupyterLab too (nothing keeps running, the port is free again), and as root it says
what to do instead of passing on Jupyter's bare refusal."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port, one_line_error, run_cli

pytest.importorskip("jupyterlab")

# a process started as from a terminal: SIGINT and SIGHUP at their defaults, whatever the
# test runner's own disposition (a background job may start with SIGINT ignored)
LAUNCH = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    " signal.signal(signal.SIGHUP, signal.SIG_DFL); from synctools.cli import main; sys.exit(main(sys.argv[1:]))"
)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def jupyter_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Jupyter's folders in the test's own tmp, so its runtime file (with its pid) is ours to read."""
    return {**env, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"),
            "JUPYTER_DATA_DIR": str(tmp_path / "jdata"), "JUPYTER_PLATFORM_DIRS": "1"}  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead, just not yet reaped by whoever started it
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_to_synctools_lab_stops_jupyterlab(env, tmp_path, sig):
    port = free_port()
    (tmp_path / "notebooks").mkdir()
    args = [
        "lab",
        "--no-browser",
        "--dir",
        str(tmp_path / "notebooks"),
        *(["--allow-root"] if IS_ROOT else []),
        "--",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
    ]
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *args], env=jupyter_env(env, tmp_path),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    jupyter_pid = None
    try:
        deadline = time.monotonic() + 240
        while jupyter_pid is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()
            for f in (tmp_path / "runtime").glob("jpserver-*.json"):
                jupyter_pid = json.loads(f.read_text())["pid"]
            time.sleep(0.5)
        assert jupyter_pid is not None, "JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:]
        assert jupyter_pid != proc.pid  # a child of synctools, not synctools itself
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=30) as r:  # noqa: S310 - our own local server
            assert "version" in json.loads(r.read())

        proc.send_signal(sig)
        code = proc.wait(timeout=120)  # synctools waits for JupyterLab to finish
        assert not alive(jupyter_pid), f"JupyterLab ({jupyter_pid}) still runs after {sig.name} to synctools lab"
        assert not listening(port)
        assert code in (0, 1, 128 + signal.SIGTERM, 128 + signal.SIGINT), code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if jupyter_pid is not None and alive(jupyter_pid):
            os.kill(jupyter_pid, signal.SIGKILL)
        log.close()


@pytest.mark.skipif(not IS_ROOT, reason="as root only")
def test_as_root_it_says_what_to_do(env):
    line = one_line_error(run_cli(["lab", "--no-browser"], env))
    assert "root" in line and "--allow-root" in line and "normal user" in line
