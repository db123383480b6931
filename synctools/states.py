"""The states of a stepwise sync and the stages that move between them, as data.

Read :data:`TRANSITIONS` like application-services' ``SetupState`` and h11's
``_state.py``: a table you can check at a glance. ``synctools.machine`` re-exports all.
"""

from __future__ import annotations

import enum

from . import net
from .errors import SynctoolsError

SETUP_COLLECTIONS = ("meta", "crypto")


class State(enum.Enum):
    NEW = "new"
    AUTHENTICATED = "authenticated"
    TOKEN = "token"  # noqa: S105 - a state name
    INFO = "info"
    META_GLOBAL = "meta_global"
    READY = "ready"
    DOWNLOADED = "downloaded"
    MERGED = "merged"
    PLANNED = "planned"
    COMMITTED = "committed"
    FRESH_START_REQUIRED = "fresh_start_required"
    UPGRADE_REQUIRED = "upgrade_required"

    def __repr__(self) -> str:
        return f"State.{self.name}"


S = State
_ORDER = [
    S.NEW,
    S.AUTHENTICATED,
    S.TOKEN,
    S.INFO,
    S.META_GLOBAL,
    S.READY,
    S.DOWNLOADED,
    S.MERGED,
    S.PLANNED,
    S.COMMITTED,
]


def _from(state: State) -> frozenset[State]:
    """``state`` and every later state of the main line."""
    return frozenset(_ORDER[_ORDER.index(state) :])


#: stage -> (states it may run from, the stage to run first otherwise)
TRANSITIONS: dict[str, tuple[frozenset[State], str]] = {
    "authenticate": (frozenset(_ORDER), ""),
    "exchange_token": (_from(S.AUTHENTICATED) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "authenticate"),
    "fetch_info": (_from(S.TOKEN) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "exchange_token"),
    "fetch_meta_global": (_from(S.INFO) | {S.FRESH_START_REQUIRED, S.UPGRADE_REQUIRED}, "fetch_info"),
    "fetch_crypto_keys": (_from(S.META_GLOBAL), "fetch_meta_global"),
    "download": (_from(S.READY), "fetch_crypto_keys"),
    "merge": (_from(S.DOWNLOADED), "download"),
    "plan_upload": (frozenset({S.MERGED, S.PLANNED, S.COMMITTED}), "merge"),
    "commit": (frozenset({S.PLANNED}), "plan_upload"),
}

#: the stage sync.next() runs from each state
NEXT_STAGE: dict[State, str | None] = {
    S.NEW: "authenticate",
    S.AUTHENTICATED: "exchange_token",
    S.TOKEN: "fetch_info",
    S.INFO: "fetch_meta_global",
    S.META_GLOBAL: "fetch_crypto_keys",
    S.READY: "download",
    S.DOWNLOADED: "merge",
    S.MERGED: "plan_upload",
    S.PLANNED: None,  # only a person commits
    S.COMMITTED: None,
    S.FRESH_START_REQUIRED: None,  # only a person commits a fresh start
    S.UPGRADE_REQUIRED: None,
}

STAGES = list(TRANSITIONS)
_NETWORK_STAGES = {
    "exchange_token",
    "fetch_info",
    "fetch_meta_global",
    "fetch_crypto_keys",
    "download",
    "commit",
}


class SyncError(SynctoolsError):
    """An expected failure of a stage, with what to do about it."""


class StageOrderError(SyncError):
    """A stage was called before the stage it depends on."""


class StalePlanError(SyncError):
    """The plan no longer matches the staged changes or the server state."""


class BackoffActive(SyncError):
    """The server asked clients to wait; ``signal.until`` says until when."""

    def __init__(self, message: str, signal: net.ServerSignal):
        super().__init__(message)
        self.signal = signal


class UpgradeRequired(SyncError):
    """The server's data has a newer storage version than this client understands."""
