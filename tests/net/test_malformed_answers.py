"""A storage node that answers nonsense gets a clear StorageError carrying the response,
never a bare traceback from deep inside parsing (faults injected by the embedded stack)."""

from __future__ import annotations

import pytest

from synctools import net
from synctools.machine import Sync

from .conftest import new_email


@pytest.mark.parametrize(
    "path, body, call",
    [
        ("/info/collections", '{"bookmarks": null}', lambda s: s.info_collections()),
        ("/info/quota", "[]", lambda s: s.info_quota()),
        ("/info/configuration", '{"max_post_records": 0}', lambda s: s.info_configuration()),
        ("/storage/bookmarks", '{"id": "a", "modified": 1, "payload": "{}"}', lambda s: s.get_collection("bookmarks")),
        ("/storage/bookmarks", "[" * 50_000 + "]" * 50_000, lambda s: s.get_collection("bookmarks")),
        ("/info/collection_counts", '{"bookmarks": "12"}', lambda s: s.info_collection_counts()),
    ],
)
def test_malformed_answers_are_storage_errors(stack, path, body, call):
    email = new_email("malformed")
    stack.admin.create_account(email, "pw")
    sync = Sync.local(stack, email=email, password="pw")
    sync.run(until="exchange_token")
    stack.admin.inject_fault("status", path=path, status=200, body=body)
    with pytest.raises(net.StorageError, match="malformed|expected") as err:
        call(sync.storage)
    assert err.value.response is not None and err.value.response.status == 200
