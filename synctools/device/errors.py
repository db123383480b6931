"""What goes wrong when reading a Firefox profile: each a :class:`DeviceError`.

Every message names the file and says what to do. Nothing here is raised for data
inside a readable file that is odd or damaged row by row: such rows carry an ``error``
instead, and the rest of the frame still loads.
"""

from __future__ import annotations

from synctools.errors import SynctoolsError


class DeviceError(SynctoolsError):
    """Base of the errors of :mod:`synctools.device`."""


class NotAProfileError(DeviceError, ValueError):
    """The folder is not a Firefox profile (or does not exist)."""


class ProfileFileError(DeviceError):
    """A file of the profile cannot be read: damaged, truncated, not the format it should be,
    or written by a Firefox too old or too new for this reader."""

    def __init__(self, path: object, problem: str, hint: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        self.hint = hint
        super().__init__(f"{self.path}: {problem}" + (f". {hint}" if hint else ""))
