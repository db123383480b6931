"""A minimal Marionette client: run privileged JavaScript inside a running Firefox.

The tests need Firefox itself to add bookmarks, history, form entries and logins (so
places.sqlite, formhistory.sqlite and logins.json hold what Firefox writes, with its
triggers and sync fields) and to start a sync on demand. Marionette is Firefox's own
remote protocol, on in release builds when started with ``--marionette``: length-prefixed
JSON over TCP (``<len>:<json>``), commands ``[0, id, name, params]``, answers
``[1, id, error, result]``. With ``marionette.port`` 0 Firefox picks a free port and
writes it to ``<profile>/MarionetteActivePort`` (remote/components/Marionette.sys.mjs).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

PORT_FILE = "MarionetteActivePort"
# user.js: a free port, and none of Marionette's "recommended" automation prefs, which would
# override the test's own (remote/shared/RecommendedPreferences.sys.mjs sets FxA and
# remote-settings URLs, among others).
PREFS = {"marionette.port": 0, "remote.prefs.recommended": False}
# Marionette on, and allowed into the chrome context (remote/components/RemoteAgent.sys.mjs,
# Marionette.sys.mjs): the environment does what --marionette --remote-allow-system-access do
ENV = {"MOZ_MARIONETTE": "1", "MOZ_REMOTE_ALLOW_SYSTEM_ACCESS": "1"}


class MarionetteError(RuntimeError):
    pass


class Marionette:
    def __init__(self, profile: Path, timeout: float = 60.0, *, chrome: bool = True) -> None:
        """Connect to the Firefox running on ``profile`` and open a session; ``chrome``:
        switch to the chrome context (needs MOZ_REMOTE_ALLOW_SYSTEM_ACCESS, see ENV)."""
        port_file = profile / PORT_FILE
        deadline = time.monotonic() + timeout
        while True:
            try:
                port = int(port_file.read_text().strip())
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise MarionetteError(f"Marionette did not start (no port in {port_file})") from None
                time.sleep(0.2)
        self._buf = b""
        self._id = 0
        self._read()  # the server's hello: {"applicationType": "gecko", "marionetteProtocol": 3}
        self.call("WebDriver:NewSession", {"capabilities": {}})
        if chrome:
            self.call("Marionette:SetContext", {"value": "chrome"})

    def _read(self) -> Any:
        while b":" not in self._buf:
            self._recv()
        size, _, rest = self._buf.partition(b":")
        n = int(size)
        self._buf = rest
        while len(self._buf) < n:
            self._recv()
        body, self._buf = self._buf[:n], self._buf[n:]
        return json.loads(body)

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise MarionetteError("Marionette closed the connection")
        self._buf += chunk

    def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        self._id += 1
        body = json.dumps([0, self._id, name, params or {}]).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body)
        while True:
            msg = self._read()
            if msg[0] == 1 and msg[1] == self._id:
                if msg[2]:
                    raise MarionetteError(f"{name}: {msg[2]}")
                return msg[3]

    def run(self, script: str, *args: Any, timeout_ms: int = 60_000) -> Any:
        """Run ``script`` (an async function body: ``await`` allowed, ``return`` a JSON
        value, ``args`` as ``args``) in Firefox's chrome context."""
        wrapped = (
            "const [args, resolve] = [Array.from(arguments).slice(0, -1), arguments[arguments.length - 1]];"
            f"(async () => {{ {script} }})().then(v => resolve({{ok: v === undefined ? null : v}}),"
            " e => resolve({error: String(e) + '\\n' + (e && e.stack || '')}));"
        )
        self.call("WebDriver:SetTimeouts", {"script": timeout_ms})
        out = self.call("WebDriver:ExecuteAsyncScript", {"script": wrapped, "args": list(args)})
        value = out.get("value") if isinstance(out, dict) else out
        if isinstance(value, dict) and "error" in value:
            raise MarionetteError(value["error"])
        return value["ok"] if isinstance(value, dict) else value

    def quit(self) -> None:
        """Quit Firefox as a person does (Services.startup.quit): its whole shutdown runs,
        prefs.js is saved. A signal would not do: on Linux SIGTERM and SIGINT end Firefox
        at once (exit status -15 / -2)."""
        self.call("Marionette:Quit", {"flags": ["eForceQuit"]})
        self.sock.close()

    def close(self) -> None:
        try:
            self.call("WebDriver:DeleteSession")
        except (MarionetteError, OSError):
            pass
        self.sock.close()
