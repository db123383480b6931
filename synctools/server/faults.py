"""Faults injected into the next N matching requests, so clients can be tested against
everything a real server may do to them: 503s, backoff, 401s, concurrent writes, alerts,
dropped connections and slow answers."""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "503", "backoff", "401", "412", "alert", "drop", "slow", "quota")

PARAMS: dict[str, set[str]] = {
    "status": {"status", "body", "headers"},
    "503": {"retry_after", "body"},
    "backoff": {"seconds"},
    "401": {"body"},
    "412": set(),
    "alert": {"text"},
    "drop": set(),
    "slow": {"delay"},
    "quota": {"remaining", "exceeded"},
}


@dataclass
class Fault:
    id: str
    kind: str
    count: int
    method: str | None
    path: re.Pattern[str] | None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


class FaultTable:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(self, kind: str, count: int = 1, method: str | None = None, path: str | None = None, **params: Any) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}")
        unknown = set(params) - PARAMS[kind]
        if unknown:
            raise ValueError(f"fault {kind!r} takes {sorted(PARAMS[kind]) or 'no parameters'}, not {sorted(unknown)}")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if kind == "status" and not isinstance(params.get("status"), int):
            raise ValueError('fault "status" needs status=<int HTTP status>')
        try:
            pattern = re.compile(path) if path is not None else None
        except re.error as exc:
            raise ValueError(f"path must be a regular expression: {exc}") from None
        fault = Fault(f"fault-{next(self._ids)}", kind, count, method.upper() if method else None, pattern, params)
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that fire for this request (each use counts down its budget)."""
        fired = []
        with self._lock:
            for fault in list(self._faults):
                if fault.matches(method, path):
                    fault.count -= 1
                    fired.append(fault)
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return fired

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "id": f.id,
                    "kind": f.kind,
                    "count": f.count,
                    "method": f.method,
                    "path": f.path.pattern if f.path else None,
                    **f.params,
                }
                for f in self._faults
            ]
