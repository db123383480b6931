"""The device half of Firefox Sync: a Firefox profile, its sync logs and pings, and how
they compare with the server.

>>> from synctools.device import Profile
>>> profile = Profile("~/.mozilla/firefox/abcd1234.default-release")   # read-only
>>> profile.bookmarks(); profile.logins(); profile.syncs(); profile.pings().main
>>> sync.compare(profile, "bookmarks")      # what about:sync's validators report

See docs/device.md. Imports point down: this package reads files and uses the engines
and frames; it never imports widgets, the doctor or the command line.
"""

from __future__ import annotations

from .compare import PROBLEMS, compare, compare_with_sync
from .errors import DeviceError, NotAProfileError, ProfileFileError
from .files import SyncSettings
from .profile import Profile

__all__ = [
    "PROBLEMS",
    "DeviceError",
    "NotAProfileError",
    "Profile",
    "ProfileFileError",
    "SyncSettings",
    "compare",
    "compare_with_sync",
]
