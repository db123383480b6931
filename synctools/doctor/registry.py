"""The doctor's checks by id: each check module registers its ids here, once, when imported.

On its own (it imports nothing) so that the report model and what reads the registry
(the anonymiser, the server checks, the docs test) depend on it, not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class CheckInfo:
    """One check: a stable id, its usual severity and what it looks for (no account data)."""

    id: str
    severity: str
    summary: str


#: every check the doctor runs, by id (filled by the modules that define them)
CHECKS: dict[str, CheckInfo] = {}


def register(check_id: str, severity: str, summary: str) -> str:
    """Register a check id (a module does it at import, once per id it may report)."""
    if severity not in SEVERITIES:
        raise ValueError(f"check {check_id}: severity must be one of {SEVERITIES}, not {severity!r}")
    CHECKS[check_id] = CheckInfo(check_id, severity, summary)
    return check_id
