"""The node refuses replays (issue 11), tells a client with a wrong clock the server time,
and our client adjusts to it as Firefox's hawkclient does."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import mohawk
import mohawk.util
import pytest
import requests

from synctools.net.storage import StorageClient as OurClient
from synctools.net.tokenserver import Token
from synctools.server import LocalStack
from synctools.server.hawk import SKEW, NonceCache

from .client import User


def _signed(user: User, method: str, path: str, body: str | None = None, *, skew: int = 0):
    """A request signed now + ``skew`` seconds, ready to send (and to send again)."""
    url = user.client.endpoint + path
    headers = {"Content-Type": "application/json"} if body is not None else {}
    sender = mohawk.Sender(
        {"id": user.token["id"], "key": user.token["key"], "algorithm": "sha256"},
        url,
        method,
        always_hash_content=False,
        _timestamp=int(time.time()) + skew,
    )
    headers["Authorization"] = sender.request_header
    return requests.Request(method, url, headers=headers, data=body).prepare()


def _send(prepared) -> requests.Response:
    with requests.Session() as s:
        return s.send(prepared, timeout=30)


def _node(stack: LocalStack, user: User):
    return stack.node_by_url(user.token["api_endpoint"].rsplit("/1.5/", 1)[0])


def test_a_replayed_put_is_refused_even_after_a_flood_of_other_requests(stack: LocalStack, user: User) -> None:
    c = user.client
    captured = _signed(user, "PUT", "/storage/prefs/p", '{"payload": "old"}')
    assert _send(captured).status_code == 200
    assert c.put("/storage/prefs/p", {"payload": "new"}).status_code == 200
    # Every authenticated request leaves its nonce with the node; 20,000 of them used to
    # push the oldest out. Here 25,000 other (id, nonce, ts) arrive, as that many
    # requests within the minute would leave them.
    nonces = _node(stack, user).nonces
    now = str(int(time.time()))
    for _ in range(25_000):
        assert nonces(user.token["id"], secrets.token_urlsafe(6), now) is False
    r = _send(captured)
    assert r.status_code == 401 and r.json() == 0
    assert c.get("/storage/prefs/p").json()["payload"] == "new"


def test_a_request_replayed_after_the_window_is_stale(stack: LocalStack, user: User) -> None:
    """A month later, the nonce is long forgotten: the timestamp refuses it."""
    c = user.client
    old = _signed(user, "PUT", "/storage/prefs/p", '{"payload": "old"}', skew=-(SKEW + 30))
    r = _send(old)
    assert r.status_code == 401 and "Stale timestamp" in r.headers["WWW-Authenticate"]
    assert c.get("/storage/prefs/p").status_code == 404
    month = _signed(user, "PUT", "/storage/prefs/p", '{"payload": "old"}', skew=-30 * 24 * 3600)
    assert _send(month).status_code == 401


@pytest.mark.parametrize("skew", [-120, 120, -3600, 10**6])
def test_a_skewed_request_is_told_the_server_time(user: User, skew: int) -> None:
    r = _send(_signed(user, "GET", "/info/collections", skew=skew))
    assert r.status_code == 401 and r.json() == 0
    www = r.headers["WWW-Authenticate"]
    assert www.startswith("Hawk ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', www))
    assert fields["error"] == "Stale timestamp"
    assert abs(int(fields["ts"]) - time.time()) < 5
    creds = {"id": user.token["id"], "key": user.token["key"], "algorithm": "sha256"}
    assert fields["tsm"] == mohawk.util.calculate_ts_mac(int(fields["ts"]), creds).decode()
    assert abs(float(r.headers["X-Weave-Timestamp"]) - int(fields["ts"])) < 2


def test_a_request_inside_the_window_passes(user: User) -> None:
    for skew in (-(SKEW - 10), SKEW - 10):
        assert _send(_signed(user, "GET", "/info/collections", skew=skew)).status_code == 200


def test_a_forged_signature_learns_nothing(user: User) -> None:
    """The server time goes only to a request whose MAC verified."""
    bad = _signed(user, "GET", "/info/collections", skew=-120)
    bad.headers["Authorization"] = re.sub(r'mac="[^"]*"', 'mac="AAAA"', bad.headers["Authorization"])
    r = _send(bad)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Hawk"


def _client(user: User, clock_error: float) -> OurClient:
    token = Token(
        id=user.token["id"],
        key=user.token["key"],
        uid=user.token["uid"],
        api_endpoint=user.token["api_endpoint"],
        duration=user.token["duration"],
        expires_at=datetime.now(UTC) + timedelta(seconds=user.token["duration"]),
    )
    client = OurClient(token)
    client.hawk.clock = lambda: time.time() + clock_error  # this machine's clock is wrong
    return client


@pytest.mark.parametrize("clock_error", [-120, 120, -86400 * 3])
def test_our_client_adjusts_its_clock_and_retries_once(user: User, clock_error: float) -> None:
    client = _client(user, clock_error)
    assert client.info_collections() == {}
    statuses = [e.status for e in client.trace.exchanges]
    assert statuses == [401, 200]
    assert client.hawk.offset == pytest.approx(-clock_error, abs=3)
    # from now on, first time right
    client.put_record("prefs", {"id": "p", "payload": "x"}, if_unmodified_since=None)
    assert [e.status for e in client.trace.exchanges][2:] == [200]


def test_our_client_does_not_retry_forever(stack: LocalStack, user: User) -> None:
    """A server that keeps saying "stale" gets one retry, then the 401 is the caller's."""
    from synctools.net.errors import StorageUnauthorized

    client = _client(user, 0)
    creds = {"id": user.token["id"], "key": user.token["key"], "algorithm": "sha256"}
    ts = int(time.time())
    tsm = mohawk.util.calculate_ts_mac(ts, creds).decode()
    stack.admin.inject_fault(
        "status", count=5, path="/info/collections",
        status=401, body="0", headers={"WWW-Authenticate": f'Hawk ts="{ts}", tsm="{tsm}", error="Stale timestamp"'},
    )  # fmt: skip
    with pytest.raises(StorageUnauthorized):
        client.info_collections()
    assert [e.status for e in client.trace.exchanges] == [401, 401]


def test_our_client_ignores_an_unsigned_server_time(stack: LocalStack, user: User) -> None:
    """Anyone on the path could send a stale answer: without our key's tsm it moves
    nothing and is not retried."""
    from synctools.net.errors import StorageUnauthorized

    client = _client(user, 0)
    stack.admin.inject_fault(
        "status", count=1, path="/info/collections",
        status=401, body="0", headers={"WWW-Authenticate": 'Hawk ts="1000", tsm="forged", error="Stale timestamp"'},
    )  # fmt: skip
    with pytest.raises(StorageUnauthorized):
        client.info_collections()
    assert len(client.trace.exchanges) == 1
    assert abs(client.hawk.offset) < 5


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_nonce_store_forgets_by_time_and_stays_bounded() -> None:
    clock = _Clock(1_800_000_000.0)
    cache = NonceCache(clock=clock)
    peak = 0
    # ten minutes at 100 requests/second, timestamps spread over the accepted window
    for second in range(600):
        clock.now += 1
        for n in range(100):
            ts = int(clock.now) + (n % (2 * SKEW)) - SKEW
            assert cache("id", f"{second}-{n}", str(ts)) is False
        peak = max(peak, len(cache))
    # what a window can hold, not what ten minutes sent (60,000)
    assert peak <= 100 * (2 * SKEW + 6)
    clock.now += 2 * SKEW + 10
    assert len(cache) == 0


def test_the_nonce_store_remembers_while_acceptable_and_keeps_no_stale_ones() -> None:
    clock = _Clock(1_800_000_000.0)
    cache = NonceCache(clock=clock)
    ts = str(int(clock.now))
    assert cache("id", "n", ts) is False
    clock.now += SKEW  # the last second the timestamp is acceptable
    assert cache("id", "n", ts) is True
    assert cache("other id", "n", ts) is False  # nonces are per credentials
    # timestamps no server would accept are not stored: a flood of them costs nothing
    for n in range(1000):
        assert cache("id", f"f{n}", str(int(clock.now) + 10**6)) is False
        assert cache("id", f"p{n}", "0") is False
    assert len(cache) == 2
