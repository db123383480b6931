"""The embedded local Firefox Sync stack: accounts, tokenserver and storage nodes.

It imports :mod:`synctools.protocol` only, never the client layers, so each side checks
the other. Start it with ``with LocalStack() as stack:`` or ``synctools serve``.
"""

from .admin import AccountInfo, Admin
from .stack import LocalStack

__all__ = ["AccountInfo", "Admin", "LocalStack"]
