"""Contract details found in review: bad values are 400s (never 500s), an expired item
written again starts afresh, and the user's timestamp never goes back."""

from __future__ import annotations

import base64
import json
import time

import pytest

from synctools.protocol.bso import ServerTime

from .client import User


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/storage/forms", {"X-If-Unmodified-Since": "1e999999999"}),
        ("/storage/forms?newer=1e999999999", {}),
        ("/storage/forms?limit=%C2%B2", {}),
        ("/storage/forms?limit=99999999999999999999999999", {}),
        ("/storage/forms?limit=1&offset=" + base64.urlsafe_b64encode(json.dumps([10**30, "a"]).encode()).decode(), {}),
    ],
)
def test_bad_values_are_400_not_500(user: User, path: str, headers: dict) -> None:
    r = user.client.get(path, headers=headers)
    assert r.status_code == 400 and "X-Weave-Timestamp" in r.headers


@pytest.mark.parametrize("batch", ["%C2%B2", "9" * 25])
def test_bad_batch_ids_are_400(user: User, batch: str) -> None:
    r = user.client.post(f"/storage/tabs?batch={batch}", [{"id": "a", "payload": "x"}])
    assert r.status_code == 400 and r.text == "0"


def test_bad_size_header_is_400(user: User) -> None:
    r = user.client.post("/storage/tabs", [{"id": "a", "payload": "x"}], headers={"X-Weave-Records": "²"})
    assert r.status_code == 400


def test_expired_item_written_again_keeps_nothing_of_the_old(user: User) -> None:
    c = user.client
    assert c.put("/storage/forms/f1", {"payload": "OLD-VALUE", "ttl": 1, "sortindex": 3}).status_code == 200
    time.sleep(1.2)
    assert c.get("/storage/forms/f1").status_code == 404
    assert c.put("/storage/forms/f1", {"sortindex": 5}).status_code == 200
    item = c.get("/storage/forms/f1").json()
    assert item["payload"] == "" and item["sortindex"] == 5


def test_user_timestamp_never_goes_back_after_deleting_the_newest_collection(user: User) -> None:
    c = user.client
    c.post("/storage/history", [{"id": "h", "payload": "x"}])
    c.post("/storage/bookmarks", [{"id": "b", "payload": "x"}])
    seen = ServerTime.parse(c.get("/info/collections").headers["X-Last-Modified"])
    deleted = ServerTime.parse(c.delete("/storage/bookmarks").headers["X-Last-Modified"])
    after = c.get("/info/collections")
    assert ServerTime.parse(after.headers["X-Last-Modified"]) == deleted > seen
    # a client that saw `seen` learns that something changed
    assert c.get("/info/collections", headers={"X-If-Modified-Since": str(seen)}).status_code == 200
