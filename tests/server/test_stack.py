"""LocalStack lifecycle and the admin Python API that other parts of synctools use."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from synctools.protocol.bso import ServerTime
from synctools.server import AccountInfo, LocalStack

from .client import StorageClient, get_token, key_id, login_session, new_user, oauth_token


def test_urls_share_one_port(stack: LocalStack) -> None:
    assert stack.url.startswith("http://127.0.0.1:")
    assert stack.auth_url == stack.url + "/v1"
    assert stack.oauth_url == stack.url + "/v1"
    assert stack.profile_url == stack.url + "/profile/v1"
    assert stack.token_url == stack.url + "/token/1.0/sync/1.5"
    assert stack.token_server_url == stack.url + "/token"
    assert stack.nodes == [stack.url + "/storage", stack.url + "/storage2"]
    assert stack.secret not in repr(stack)


def test_create_account_returns_where_it_lives(stack: LocalStack) -> None:
    info = stack.admin.create_account("where@example.com", "pw")
    assert isinstance(info, AccountInfo)
    assert info.email == "where@example.com"
    assert len(info.uid) == 32 and int(info.uid, 16) >= 0
    assert isinstance(info.storage_uid, int)
    assert info.node in stack.nodes
    assert stack.admin.account("where@example.com") == info
    with pytest.raises(ValueError, match="already exists"):
        stack.admin.create_account("where@example.com", "pw")
    with pytest.raises(LookupError, match="no account"):
        stack.admin.account("nobody@example.com")


def test_create_account_rejects_bad_input(stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        stack.admin.create_account("k@example.com", "pw", kb=b"short")
    with pytest.raises(ValueError, match="verification"):
        stack.admin.create_account("k@example.com", "pw", verification="sms")
    with pytest.raises(ValueError, match="base32"):
        stack.admin.create_account("k@example.com", "pw", totp_secret="not base32!")


def test_accounts_spread_over_two_nodes(stack: LocalStack) -> None:
    nodes = {stack.admin.create_account(f"spread{i}@example.com", "pw").node for i in range(4)}
    assert nodes == set(stack.nodes)


def test_put_records_visible_over_http(stack: LocalStack) -> None:
    user = new_user(stack)
    ts = stack.admin.put_records(
        user.email,
        "forms",
        [
            {"id": "a", "payload": "pa", "sortindex": 5},
            {"id": "b", "payload": "pb"},
        ],
    )
    assert isinstance(ts, ServerTime)
    r = user.client.get("/storage/forms", params={"full": 1, "sort": "oldest"})
    assert r.status_code == 200
    assert r.headers["X-Last-Modified"] == str(ts)
    assert {b["id"]: b["payload"] for b in r.json()} == {"a": "pa", "b": "pb"}
    assert r.json()[0]["modified"] == ts.to_json()


def test_put_records_with_old_modified_and_small_ttl_is_expired(stack: LocalStack) -> None:
    user = new_user(stack)
    old = ServerTime.parse("1600000000.00")
    ts = stack.admin.put_records(
        user.email,
        "tabs",
        [
            {"id": "gone", "payload": "x", "ttl": 60},
            {"id": "kept", "payload": "y"},
        ],
        modified=old,
    )
    assert ts == old
    r = user.client.get("/storage/tabs")
    assert r.json() == ["kept"]


def test_put_records_rejects_invalid_records(stack: LocalStack) -> None:
    user = new_user(stack)
    with pytest.raises(ValueError, match="record #1"):
        stack.admin.put_records(user.email, "forms", [{"id": "ok", "payload": ""}, {"id": "x", "bogus": 1}])
    with pytest.raises(ValueError, match="collection"):
        stack.admin.put_records(user.email, "bad/name", [])


def test_delete_storage(stack: LocalStack) -> None:
    user = new_user(stack)
    stack.admin.put_records(user.email, "forms", [{"id": "a", "payload": "p"}])
    stack.admin.delete_storage(user.email)
    assert user.client.get("/info/collections").json() == {}


def test_reassign_moves_user_and_old_token_fails(stack: LocalStack) -> None:
    user = new_user(stack)
    stack.admin.put_records(user.email, "forms", [{"id": "a", "payload": "p"}])
    old_node = stack.admin.account(user.email).node
    new_node = stack.admin.reassign(user.email)
    assert new_node != old_node and new_node in stack.nodes
    assert user.client.get("/info/collections").status_code == 401
    r = get_token(stack, user.access_token, key_id(user.kb, user.keys_changed_at))
    token = r.json()
    assert token["api_endpoint"].startswith(new_node + "/1.5/")
    fresh = StorageClient(token)
    assert fresh.get("/info/collections").json() == {}  # data is not copied


def test_expire_tokens(stack: LocalStack) -> None:
    user = new_user(stack)
    other = new_user(stack)
    stack.admin.expire_tokens(user.email)
    assert user.client.get("/storage/forms").status_code == 401
    # expired tokens still read info/collections, as on Mozilla's servers
    assert user.client.get("/info/collections").status_code == 200
    assert other.client.get("/storage/forms").status_code == 200
    stack.admin.expire_tokens()
    assert other.client.get("/storage/forms").status_code == 401


def test_set_config_changes_info_configuration(stack: LocalStack, user) -> None:
    stack.admin.set_config(max_post_records=3)
    assert user.client.get("/info/configuration").json()["max_post_records"] == 3
    with pytest.raises(ValueError, match="unknown limit"):
        stack.admin.set_config(max_posts=1)


def test_requests_log(stack: LocalStack, user) -> None:
    user.client.get("/info/collections", headers={"X-If-Unmodified-Since": "1.00"})
    last = stack.admin.requests()[-1]
    assert last["method"] == "GET"
    assert last["path"].endswith("/info/collections")
    assert last["status"] == 200
    assert last["headers"]["x-if-unmodified-since"] == "1.00"
    assert last["headers"]["authorization"] == "Hawk …"  # never the credentials


def test_stop_frees_port_and_threads(tmp_path) -> None:
    before = threading.active_count()
    with LocalStack(data_dir=tmp_path) as s:
        port = int(s.url.rsplit(":", 1)[1])
        assert requests.get(s.url + "/nothing", timeout=5).status_code == 404
    assert threading.active_count() == before
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again


def test_data_dir_persists_accounts_and_records(tmp_path) -> None:
    with LocalStack(data_dir=tmp_path) as s:
        s.admin.create_account("keep@example.com", "pw")
        s.admin.put_records("keep@example.com", "forms", [{"id": "a", "payload": "p"}])
    with LocalStack(data_dir=tmp_path) as s:
        info = s.admin.account("keep@example.com")
        assert info.node.startswith(s.url)
        session = login_session(s, "keep@example.com", "pw")
        assert session["verified"] is True
        access = oauth_token(s, session["sessionToken"])
        assert access


def test_binds_loopback_by_default() -> None:
    with LocalStack() as s:
        assert s.url.startswith("http://127.0.0.1:")


def test_idle_keep_alive_connections_never_lock_clients_out() -> None:
    """A notebook that makes a Sync per cell leaves idle keep-alive connections behind;
    waitress' default limit (100) then stopped accepting and every later client hung (the
    CI doctor fuzzer hit it). 150 idle connections later, a whole sync still runs."""
    import socket
    from urllib.parse import urlsplit

    from synctools import Sync

    with LocalStack(demo=True) as s:
        where = urlsplit(s.url)
        idle = []
        try:
            for _ in range(150):
                sock = socket.create_connection((where.hostname, where.port), timeout=10)
                sock.sendall(f"GET /1.0/sync/1.5 HTTP/1.1\r\nHost: {where.netloc}\r\n\r\n".encode())
                assert sock.recv(12).startswith(b"HTTP/1.1 "), "each idle connection was served once"
                idle.append(sock)
            sync = Sync.local(s, progress=False)
            sync.run("fetch_crypto_keys")
            assert sync.collection_keys is not None
        finally:
            for sock in idle:
                sock.close()
