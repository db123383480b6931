"""A fake HTTP proxy on 127.0.0.1 that refuses every request and remembers what was asked.

Firefox's proxy prefs send it every connection not to 127.0.0.1 (tests/firefox/profile.py),
so the test both guarantees that nothing leaves the machine and can say what Firefox tried.
"""

from __future__ import annotations

import contextlib
import socket
import threading

REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Sinkhole:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._seen: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="firefox-sinkhole", daemon=True)

    @property
    def attempts(self) -> list[str]:
        """Request lines asked of the proxy, e.g. ``"CONNECT example.com:443 HTTP/1.1"``."""
        with self._lock:
            return list(self._seen)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                head = conn.recv(4096)
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                with self._lock:
                    self._seen.append(line)
                conn.sendall(REFUSAL)

    def __enter__(self) -> Sinkhole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()
