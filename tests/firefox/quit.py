"""Quit Firefox as a person does (Services.startup.quit), through its Marionette server.

Firefox on Linux does not quit cleanly on a signal: SIGTERM and SIGINT end it at once (exit
status -15 / -2), so prefs.js keeps whatever was saved last (services.sync.lastSync may be
missing) and places.sqlite is left with its WAL. Marionette (``--marionette``, on 127.0.0.1
only) takes ``Marionette:Quit``, which runs Firefox's whole shutdown. The wire protocol is
``<length>:<json>``; a command is ``[0, id, name, params]``, its answer ``[1, id, error, result]``
(remote/marionette/message.sys.mjs).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

PORT_FILE = "MarionetteActivePort"  # Firefox writes the port it bound (marionette.port 0) here

# user.js: a free port, and none of Marionette's "recommended" automation prefs, which would
# override ours (remote/shared/RecommendedPreferences.sys.mjs sets FxA and remote-settings URLs).
MARIONETTE_PREFS: dict[str, Any] = {"marionette.port": 0, "remote.prefs.recommended": False}


class MarionetteError(Exception):
    pass


def _send(sock: socket.socket, obj: Any) -> None:
    data = json.dumps(obj).encode()
    sock.sendall(str(len(data)).encode() + b":" + data)


def _receive(sock: socket.socket) -> Any:
    head = b""
    while not head.endswith(b":"):
        chunk = sock.recv(1)
        if not chunk:
            raise MarionetteError("Marionette closed the connection")
        head += chunk
    size = int(head[:-1])
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            raise MarionetteError("Marionette closed the connection mid-message")
        body += chunk
    return json.loads(body)


def _command(sock: socket.socket, msg_id: int, name: str, params: dict[str, Any]) -> Any:
    _send(sock, [0, msg_id, name, params])
    kind, got_id, error, result = _receive(sock)
    if kind != 1 or got_id != msg_id or error:
        raise MarionetteError(f"{name} failed: {error}")
    return result


def marionette_port(profile: Path) -> int | None:
    try:
        return int((profile / PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def quit_firefox(profile: Path, timeout: float = 30) -> None:
    """Ask the Firefox running on ``profile`` to quit; returns once it accepted."""
    port = marionette_port(profile)
    if port is None:
        raise MarionetteError(f"no {PORT_FILE} in {profile}: Marionette is not listening")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        hello = _receive(sock)
        if not isinstance(hello, dict) or "marionetteProtocol" not in hello:
            raise MarionetteError(f"unexpected Marionette hello: {hello}")
        _command(sock, 1, "WebDriver:NewSession", {"capabilities": {}})
        _command(sock, 2, "Marionette:Quit", {"flags": ["eForceQuit"]})
