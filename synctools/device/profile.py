"""``Profile``: a Firefox profile folder, read-only, as typed DataFrames.

>>> p = Profile("~/.mozilla/firefox/abcd1234.default-release")
>>> p.bookmarks()       # places.sqlite: sync ids, syncStatus, change counters, tombstones
>>> p.logins()          # logins.json, never the encrypted values
>>> p.syncs()           # one row per sync in weave/logs/*.txt
>>> p.sync_engines()    # one row per engine per sync: counts, status code, failed
>>> p.pings().engines   # per-engine counts from the sync pings

Nothing in the profile is ever written: databases are read from private copies
(``_sqlite.Snapshot``), files are only opened for reading. Each frame is read once and
cached; ``refresh()`` forgets them (and the copies) to read a running Firefox again.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from synctools.engines.base import Frames

from . import files, logs, pings, places
from ._sqlite import Snapshot, reading
from .errors import NotAProfileError, ProfileFileError

T = TypeVar("T")

#: files that make a folder a Firefox profile (any one of them)
MARKERS = ("prefs.js", "places.sqlite", "times.json", "compatibility.ini", "signedInUser.json")
HISTORY_LIMIT = 250_000  # pages (and visits) read by default; pass limit=None for all
OLDEST_MAJOR = 60  # the oldest Firefox whose profile layout this reads (Quantum, 2018)
NEWEST_TESTED = 153


class Profile:
    """A Firefox profile on disk (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise NotAProfileError(f"{self.path} does not exist: pass a Firefox profile folder "
                                   "(about:profiles shows where yours are)")  # fmt: skip
        if not self.path.is_dir():
            raise NotAProfileError(f"{self.path} is a file, not a folder: pass the profile folder that holds it")
        if not any((self.path / m).exists() for m in MARKERS):
            raise NotAProfileError(f"{self.path} is not a Firefox profile: it holds none of {', '.join(MARKERS)} "
                                   "(about:profiles shows where your profiles are)")  # fmt: skip
        self._snapshot = Snapshot()
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        v = self.firefox_version or "unknown Firefox"
        return f"<Profile {str(self.path)!r} ({v})>"

    def __enter__(self) -> Profile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the private copies of the databases (also done when the object is collected)."""
        self._snapshot.close()

    def __del__(self) -> None:
        snapshot = getattr(self, "_snapshot", None)
        if snapshot is not None:
            snapshot.close()

    def refresh(self) -> None:
        """Forget what was read, so the next call reads the profile again."""
        self._snapshot.close()
        self._cache.clear()
        self.__dict__.pop("firefox_version", None)

    # ----------------------------------------------------------------- version
    @cached_property
    def firefox_version(self) -> str | None:
        """The Firefox that last ran the profile (compatibility.ini ``LastVersion``)."""
        ini = self.path / "compatibility.ini"
        if not ini.exists():
            return None
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(ini.read_text("utf-8", errors="replace"))
        except (configparser.Error, OSError):
            return None
        last = parser.get("Compatibility", "LastVersion", fallback=None)
        return last.split("_", 1)[0] if last else None

    @property
    def notes(self) -> list[str]:
        """What a reader of these frames should know about this profile (its version, …)."""
        out = []
        v = self.firefox_version
        m = re.match(r"(\d+)", v or "")
        if m and int(m.group(1)) < OLDEST_MAJOR:
            out.append(f"Firefox {v} last ran this profile; synctools reads profiles of Firefox {OLDEST_MAJOR} "
                       "and later: columns an older Firefox did not have are empty")  # fmt: skip
        elif m and int(m.group(1)) > NEWEST_TESTED:
            out.append(f"Firefox {v} last ran this profile, newer than the {NEWEST_TESTED} synctools was tested "
                       "with: columns it renamed or added may be empty or missing")  # fmt: skip
        return out

    # ----------------------------------------------------------------- databases
    def _db(self, name: str) -> Any:
        path = self.path / name
        if not path.exists():
            return None, path
        return self._snapshot.connect(path), path

    def _cached(self, key: str, fn: Callable[[], T]) -> T:
        if key not in self._cache:
            self._cache[key] = fn()
        value: T = self._cache[key]  # what fn made for this key
        return value

    def _places(self, reader: Any, empty: list[tuple[str, str]], kind: str, **kwargs: Any) -> pd.DataFrame:
        con, path = self._db("places.sqlite")
        if con is None:
            from . import _frame

            return _frame.frame([], empty, source=str(path), kind=kind)
        try:
            with reading(path):
                version = places.schema_version(con)
            if version and version < places.MIN_SCHEMA:
                raise ProfileFileError(path, f"has Places schema {version}, from before Firefox 53 kept sync fields",
                                       "open the profile once with a current Firefox")  # fmt: skip
            return reader(con, path, **kwargs)
        finally:
            con.close()

    def bookmarks(self) -> pd.DataFrame:
        """Every bookmark, folder and separator of places.sqlite with its sync fields, and the
        tombstones of deletions not yet uploaded (``deleted``). ``id`` is the Sync record id."""
        return self._cached("bookmarks", lambda: self._places(places.read_bookmarks, places.BOOKMARK_SPEC, "bookmarks"))

    def bookmarks_mirror(self) -> pd.DataFrame:
        """weave/bookmarks.sqlite: the server's bookmarks as Firefox last merged them (empty
        when the profile never synced bookmarks)."""

        def read() -> pd.DataFrame:
            con, path = self._db("weave/bookmarks.sqlite")
            if con is None:
                from . import _frame

                return _frame.frame([], places.MIRROR_SPEC, source=str(path), kind="bookmarks")
            try:
                return places.read_mirror(con, path)
            finally:
                con.close()

        return self._cached("mirror", read)

    def history(self, *, limit: int | None = HISTORY_LIMIT, since: Any = None, until: Any = None,
                url: str | None = None, unvisited: bool = False) -> pd.DataFrame:  # fmt: skip
        """Pages (moz_places), the most recently visited first: at most ``limit`` (None: all),
        last visited in [``since``, ``until``), ``url`` containing a text; pages never visited
        (only bookmarked) with ``unvisited=True``. ``df.attrs['synctools']['truncated']``
        says whether the limit cut the list."""
        key = f"history:{limit}:{since}:{until}:{url}:{unvisited}"
        return self._cached(
            key,
            lambda: self._places(
                places.read_history,
                places.HISTORY_SPEC,
                "history",
                limit=limit,
                since=since,
                until=until,
                url=url,
                unvisited=unvisited,
            ),
        )

    def visits(self, *, limit: int | None = HISTORY_LIMIT, since: Any = None, until: Any = None,
               url: str | None = None) -> pd.DataFrame:  # fmt: skip
        """Visits (moz_historyvisits), newest first, with their page's ``id`` and url."""
        key = f"visits:{limit}:{since}:{until}:{url}"
        return self._cached(key, lambda: self._places(places.read_visits, places.VISIT_SPEC, "history", limit=limit,
                                                      since=since, until=until, url=url))  # fmt: skip

    def forms(self) -> pd.DataFrame:
        """Saved form entries (formhistory.sqlite) and deletions not yet uploaded."""

        def read() -> pd.DataFrame:
            con, path = self._db("formhistory.sqlite")
            if con is None:
                from . import _frame

                return _frame.frame([], places.FORM_SPEC, source=str(path), kind="forms")
            try:
                return places.read_forms(con, path)
            finally:
                con.close()

        return self._cached("forms", read)

    # ----------------------------------------------------------------- files
    def logins(self) -> pd.DataFrame:
        """Saved logins (logins.json): where they are for and their sync counters; whether a
        username and password are stored, never what they are."""
        return self._cached("logins", lambda: files.read_logins(self.path / "logins.json"))

    def account(self) -> pd.DataFrame:
        """The signed-in account (signedInUser.json): uid, email, verified, device id. No key,
        no token: ``fields`` names the other fields present. Empty when not signed in."""
        return self._cached("account", lambda: files.read_account(self.path / "signedInUser.json"))

    def prefs(self, *, everything: bool = False) -> pd.DataFrame:
        """Sync's prefs from prefs.js (``services.sync.*``, ``identity.*``; all with
        ``everything=True``), one row per pref; unreadable statements with their ``error``."""
        return self._cached(
            f"prefs:{everything}", lambda: files.read_prefs(self.path / "prefs.js", everything=everything)
        )

    @property
    def settings(self) -> files.SyncSettings:
        """What prefs.js says about Sync here: account, cluster, last sync, engines on/off,
        declined engines, this client's name and id."""
        return files.settings(self.prefs())

    # ----------------------------------------------------------------- logs and pings
    def log(self) -> pd.DataFrame:
        """Every message of weave/logs/*.txt in time order: time, logger, level, message,
        its recognised ``event``, and the ``file`` and ``line`` it came from."""
        return self._cached("log", lambda: logs.timeline(self.path / "weave" / "logs"))

    def syncs(self) -> pd.DataFrame:
        """One row per sync found in the logs: start, end, outcome, engines, records applied
        and failed, HTTP statuses, backoff, Retry-After, 401s, node changes, clock offset,
        record errors; ``id`` (file:line) cites where it starts."""
        return self._cached("syncs", lambda: logs.syncs(self.log()))

    def sync_engines(self) -> pd.DataFrame:
        """One row per engine per sync: its records applied and failed, what it uploaded,
        the status code Firefox gave it, whether it failed; ``id`` is the sync's."""
        return self._cached("sync_engines", lambda: logs.sync_engines(self.syncs()))

    def pings(self) -> Frames:
        """Sync pings (Glean pending, older archived): ``.main`` one row per sync,
        ``.engines`` one row per engine. Empty when there are none (the usual case)."""
        return self._cached("pings", lambda: pings.read_pings(self.path))

    # ----------------------------------------------------------------- all of it
    FRAMES = (
        "bookmarks",
        "bookmarks_mirror",
        "history",
        "visits",
        "logins",
        "forms",
        "prefs",
        "account",
        "log",
        "syncs",
        "sync_engines",
    )

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every frame by name (pings as ``pings`` and ``ping_engines``), for exports."""
        out = {name: getattr(self, name)() for name in self.FRAMES}
        p = self.pings()
        out["pings"], out["ping_engines"] = p.main, p.engines
        return out
