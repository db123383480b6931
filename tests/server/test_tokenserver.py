"""The tokenserver: OAuth bearer checks, X-KeyID rules, node assignment, token format."""

from __future__ import annotations

import secrets
import time

import requests
import tokenlib

from synctools.protocol import tokens
from synctools.server import LocalStack

from .client import User, get_token, key_id, login_session, new_user, oauth_token


def _errors(r: requests.Response) -> tuple[str, str]:
    body = r.json()
    assert set(body) == {"status", "errors"}
    err = body["errors"][0]
    assert set(err) == {"location", "name", "description"}
    return body["status"], err["name"]


def test_token_response_shape(stack: LocalStack, user: User) -> None:
    r = get_token(stack, user.access_token, key_id(user.kb, user.keys_changed_at))
    assert r.status_code == 200
    assert abs(int(r.headers["X-Timestamp"]) - time.time()) < 5
    body = r.json()
    assert set(body) == {
        "id",
        "key",
        "uid",
        "api_endpoint",
        "duration",
        "hashed_fxa_uid",
        "hashalg",
        "node_type",
    }
    info = stack.admin.account(user.email)
    assert body["uid"] == info.storage_uid
    assert body["api_endpoint"] == f"{info.node}/1.5/{info.storage_uid}"
    assert body["hashalg"] == "sha256" and body["duration"] == 3600
    data = tokens.parse_token(body["id"], stack.secret)
    assert data["uid"] == info.storage_uid and data["fxa_uid"] == info.uid
    assert data["node"] == info.node
    assert data["hashed_fxa_uid"] == body["hashed_fxa_uid"]
    assert set(data) >= {"expires", "fxa_kid", "hashed_device_id", "salt"}
    # exactly as Mozilla's tokenlib reads and derives it
    assert tokenlib.parse_token(body["id"], secret=stack.secret)["uid"] == body["uid"]
    assert tokenlib.get_derived_secret(body["id"], secret=stack.secret) == body["key"]


def test_fxa_kid_carries_keys_changed_at_and_client_state(stack: LocalStack, user: User) -> None:
    data = tokens.parse_token(user.token["id"], stack.secret)
    assert data["fxa_kid"] == f"{user.keys_changed_at:013d}-" + key_id(user.kb, 0).split("-", 1)[1]


def test_credentials_required(stack: LocalStack, user: User) -> None:
    kid = key_id(user.kb, user.keys_changed_at)
    r = requests.get(stack.token_url, headers={"X-KeyID": kid}, timeout=30)
    assert r.status_code == 401 and _errors(r) == ("invalid-credentials", "invalid-credentials")
    r = get_token(stack, "0" * 64, kid)
    assert r.status_code == 401 and _errors(r)[1] == "invalid-credentials"
    profile_only = oauth_token(stack, user.session_token, "profile")
    r = get_token(stack, profile_only, kid)
    assert r.status_code == 401 and _errors(r)[1] == "invalid-credentials"


def test_key_id_required_and_checked(stack: LocalStack, user: User) -> None:
    r = requests.get(stack.token_url, headers={"Authorization": f"Bearer {user.access_token}"}, timeout=30)
    assert r.status_code == 401 and _errors(r)[1] == "invalid-key-id"
    r = get_token(stack, user.access_token, "12345-tooshort")
    assert r.status_code == 401 and _errors(r)[1] == "invalid-key-id"


def test_keys_changed_at_may_not_go_backwards(stack: LocalStack, user: User) -> None:
    r = get_token(stack, user.access_token, key_id(user.kb, user.keys_changed_at - 1))
    assert r.status_code == 401 and _errors(r)[1] == "invalid-keysChangedAt"


def test_client_state_change_needs_newer_keys_changed_at(stack: LocalStack, user: User) -> None:
    new_kb = secrets.token_bytes(32)
    r = get_token(stack, user.access_token, key_id(new_kb, user.keys_changed_at))
    assert r.status_code == 401 and _errors(r)[1] == "invalid-keysChangedAt"
    later = user.keys_changed_at + 1000
    r = get_token(stack, user.access_token, key_id(new_kb, later))
    assert r.status_code == 200
    assert r.json()["uid"] != user.token["uid"]  # a new user record: old data abandoned
    # the old client state may not come back
    r = get_token(stack, user.access_token, key_id(user.kb, later + 1000))
    assert r.status_code == 401 and _errors(r) == ("invalid-client-state", "invalid-client-state")


def test_keys_changed_at_moves_forward_with_same_state(stack: LocalStack, user: User) -> None:
    later = user.keys_changed_at + 5
    r = get_token(stack, user.access_token, key_id(user.kb, later))
    assert r.status_code == 200 and r.json()["uid"] == user.token["uid"]
    r = get_token(stack, user.access_token, key_id(user.kb, user.keys_changed_at))
    assert r.status_code == 401


def test_first_state_recorded_for_api_created_accounts(stack: LocalStack) -> None:
    import fxa.core

    email = f"api-{secrets.token_hex(4)}@example.com"
    fxa.core.Client(server_url=stack.auth_url).create_account(email, "pw")
    access = oauth_token(stack, login_session(stack, email, "pw")["sessionToken"])
    kb = secrets.token_bytes(32)
    assert get_token(stack, access, key_id(kb, 1000)).status_code == 200
    assert get_token(stack, access, key_id(secrets.token_bytes(32), 1000)).status_code == 401


def test_unknown_application_and_method(stack: LocalStack, user: User) -> None:
    r = requests.get(stack.token_server_url + "/1.0/sync/1.1", timeout=30)
    assert r.status_code == 404 and _errors(r)[1] == "unsupported-application"
    r = requests.post(stack.token_url, timeout=30)
    assert r.status_code == 405


def test_expired_access_token(stack: LocalStack) -> None:
    user = new_user(stack)
    stack.accounts.expire_access_tokens(stack.admin.account(user.email).uid)
    r = get_token(stack, user.access_token, key_id(user.kb, user.keys_changed_at))
    assert r.status_code == 401
