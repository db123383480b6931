"""The compiled module under valgrind's memcheck: hostile input never makes it read or
write outside its buffers, nor use a byte it did not set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synctools.protocol import _bulk

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(_bulk._native is None, reason="the compiled extension is not built here")
def test_mutated_input_never_touches_memory_it_should_not(tmp_path):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        if os.environ.get("SYNCTOOLS_REQUIRE_NATIVE") == "1":
            pytest.fail("valgrind is not installed (.ci/install-build.sh installs it)")
        pytest.skip("valgrind is not installed")
    log = tmp_path / "memcheck.log"
    env = {**os.environ, "PYTHONMALLOC": "malloc", "PYTHONPATH": str(HERE.parents[1])}
    run = subprocess.run(
        [valgrind, "--tool=memcheck", f"--log-file={log}", sys.executable, str(HERE / "memcheck_native.py")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert all(f"{what} accepted:" in run.stdout for what in ("payloads", "history texts", "pages"))
    # valgrind also reports the dynamic loader and OpenSSL's own start-up (known false
    # positives); an error is ours when a frame of its stack is in the compiled module
    lines = [line.split("== ", 1)[-1] if line.startswith("==") else line for line in log.read_text().splitlines()]
    reports = "\n".join(lines).split("\n\n")  # valgrind ends each report with an empty line
    ours = [r for r in reports if "_native" in r and ("Invalid" in r or "uninitialised" in r)]
    assert not ours, "\n".join(ours[:3])
