"""Any other collection (extension-storage, future engines, unknown names).

Only the common columns are typed; every payload field goes to ``extra``, so nothing
is lost and nothing fails because its shape is unknown.
"""

from __future__ import annotations

from .base import Engine


class GenericEngine(Engine):
    name = "generic"
