"""The accounts service: onepw login, keys, verification, OAuth, devices, profile."""

from __future__ import annotations

import secrets

import fxa.core
import fxa.errors
import fxa.oauth
import mohawk
import pytest
import requests

from synctools.protocol import onepw
from synctools.server import LocalStack

from .client import FIREFOX, OLDSYNC, login_session, oauth_token, session_auth


def _email() -> str:
    return f"acct-{secrets.token_hex(4)}@example.com"


def _post(stack: LocalStack, path: str, body: dict, **kw) -> requests.Response:
    return requests.post(stack.auth_url + path, json=body, timeout=30, **kw)


def test_pyfxa_logs_in_and_fetches_kb(stack: LocalStack) -> None:
    email, kb = _email(), secrets.token_bytes(32)
    stack.admin.create_account(email, "hunter2", kb=kb)
    client = fxa.core.Client(server_url=stack.auth_url)
    session = client.login(email, "hunter2", keys=True)
    assert session.verified
    assert session.uid == stack.admin.account(email).uid
    _ka, got_kb = session.fetch_keys()
    assert got_kb == kb
    session.check_session_status()


def test_pyfxa_oauth_code_flow_and_verify(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    session = fxa.core.Client(server_url=stack.auth_url).login(email, "pw")
    oauth = fxa.oauth.Client(FIREFOX, server_url=stack.oauth_url)
    token = oauth.authorize_token(session, scope=f"profile {OLDSYNC}")
    info = oauth.verify_token(token, scope=OLDSYNC)
    assert info["user"] == session.uid
    assert OLDSYNC in info["scope"]
    profile = requests.get(
        stack.profile_url + "/profile", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).json()
    assert profile["uid"] == session.uid and profile["email"] == email


def test_login_errors_like_fxa(stack: LocalStack) -> None:
    email = "Mixed.Case@Example.com"
    stack.admin.create_account(email, "pw")
    stretched = onepw.quick_stretch_v1(email.lower(), "pw")
    r = _post(stack, "/account/login", {"email": email.lower(), "authPW": onepw.auth_pw(stretched).hex()})
    assert r.status_code == 400
    body = r.json()
    assert body["errno"] == 120 and body["email"] == email
    assert set(body) >= {"code", "errno", "error", "message"}
    r = _post(stack, "/account/login", {"email": email, "authPW": "00" * 32})
    assert r.status_code == 400 and r.json()["errno"] == 103
    r = _post(stack, "/account/login", {"email": "nobody@example.com", "authPW": "00" * 32})
    assert r.status_code == 400 and r.json()["errno"] == 102
    r = _post(stack, "/account/login", {"email": email, "authPW": "zz"})
    assert r.status_code == 400 and r.json()["errno"] == 107
    r = requests.post(stack.auth_url + "/account/login", data="{not json", timeout=30)
    assert r.status_code == 400 and r.json()["errno"] == 106


def test_pyfxa_retries_wrong_email_case(stack: LocalStack) -> None:
    email = _email().replace("acct", "Acct")
    stack.admin.create_account(email, "pw")
    with pytest.raises(fxa.errors.ClientError) as exc:
        fxa.core.Client(server_url=stack.auth_url).login(email.lower(), "pw")
    assert exc.value.errno == 120 and exc.value.details["email"] == email


def test_totp_session_must_verify_before_keys(stack: LocalStack) -> None:
    email, kb = _email(), secrets.token_bytes(32)
    stack.admin.create_account(email, "pw", kb=kb, verification="totp")
    session = fxa.core.Client(server_url=stack.auth_url).login(email, "pw", keys=True)
    assert not session.verified
    assert session.verificationMethod == "totp-2fa"
    with pytest.raises(fxa.errors.ClientError) as exc:
        session.fetch_keys()
    assert exc.value.errno == 104
    assert session.totp_verify("000000" if stack.admin.totp_code(email) != "000000" else "111111") is False
    assert session.totp_verify(stack.admin.totp_code(email)) is True
    # an unverified session's keyFetchToken fails without being used up
    _ka, got = session.fetch_keys()
    assert got == kb


def test_totp_secret_given(stack: LocalStack) -> None:
    from synctools.server import totp

    secret = totp.new_secret()
    email = _email()
    stack.admin.create_account(email, "pw", totp_secret=secret, verification="totp")
    assert stack.admin.totp_code(email) == totp.code_at(secret)


def test_email_code_verification(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw", verification="email")
    assert stack.admin.verification_code(email) is None
    session = login_session(stack, email, "pw")
    assert session["verified"] is False and session["verificationMethod"] == "email-otp"
    code = stack.admin.verification_code(email)
    assert code is not None and len(code) == 6
    auth = session_auth(session["sessionToken"])
    r = requests.get(stack.auth_url + "/session/status", headers=auth, timeout=30)
    assert r.json()["state"] == "unverified"
    r = _post(
        stack,
        "/oauth/token",
        {"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": OLDSYNC},
        headers=auth,
    )
    assert r.status_code == 400 and r.json()["errno"] == 138
    wrong = "000000" if code != "000000" else "111111"
    r = _post(stack, "/session/verify_code", {"code": wrong}, headers=auth)
    assert r.status_code == 400 and r.json()["errno"] == 183
    r = _post(stack, "/session/verify_code", {"code": code}, headers=auth)
    assert r.status_code == 200
    r = requests.get(stack.auth_url + "/session/status", headers=auth, timeout=30)
    assert r.json() == {**r.json(), "state": "verified", "uid": stack.admin.account(email).uid}
    assert oauth_token(stack, session["sessionToken"])


def test_hawk_session_requests_are_checked(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    token = login_session(stack, email, "pw")["sessionToken"]
    creds = onepw.token_credentials(bytes.fromhex(token), "sessionToken")
    url = stack.auth_url + "/session/status"

    def hawk(key: bytes) -> dict[str, str]:
        sender = mohawk.Sender(
            {"id": creds.token_id, "key": key, "algorithm": "sha256"}, url, "GET", content="", content_type=""
        )
        return {"Authorization": sender.request_header}

    assert requests.get(url, headers=hawk(creds.hmac_key), timeout=30).status_code == 200
    r = requests.get(url, headers=hawk(b"\x00" * 32), timeout=30)
    assert r.status_code == 401 and r.json()["errno"] == 109
    r = requests.get(url, headers={"Authorization": "Bearer fxs_" + "0" * 64}, timeout=30)
    assert r.status_code == 401 and r.json()["errno"] == 110
    r = requests.get(url, timeout=30)
    assert r.status_code == 401


def test_keys_are_single_use(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    client = fxa.core.Client(server_url=stack.auth_url)
    session = client.login(email, "pw", keys=True)
    kft = session._key_fetch_token
    stretched = onepw.quick_stretch_v1(email, "pw")
    client.fetch_keys(kft, stretched)
    with pytest.raises(fxa.errors.ClientError) as exc:
        client.fetch_keys(kft, stretched)
    assert exc.value.errno == 110


def test_oauth_scopes_and_clients(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    auth = session_auth(login_session(stack, email, "pw")["sessionToken"])
    r = _post(
        stack,
        "/oauth/token",
        {"client_id": "deadbeefdeadbeef", "grant_type": "fxa-credentials", "scope": OLDSYNC},
        headers=auth,
    )
    assert r.status_code == 400 and r.json()["errno"] == 162
    r = _post(
        stack,
        "/oauth/token",
        {"client_id": FIREFOX, "grant_type": "fxa-credentials", "scope": "https://example.com/other"},
        headers=auth,
    )
    assert r.status_code == 400 and r.json()["errno"] == 163
    r = _post(
        stack,
        "/oauth/token",
        {
            "client_id": FIREFOX,
            "grant_type": "fxa-credentials",
            "scope": OLDSYNC,
            "ttl": 21600,
            "access_type": "offline",
        },
        headers=auth,
    )
    body = r.json()
    assert r.status_code == 200 and body["scope"] == OLDSYNC and body["expires_in"] == 21600
    assert body["token_type"] == "bearer"
    r = _post(
        stack,
        "/oauth/token",
        {"client_id": FIREFOX, "grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
    )
    assert r.status_code == 200 and r.json()["access_token"] != body["access_token"]


def test_scoped_key_data(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw", key_rotation_timestamp=1_650_000_000_123)
    auth = session_auth(login_session(stack, email, "pw")["sessionToken"])
    r = _post(stack, "/account/scoped-key-data", {"client_id": FIREFOX, "scope": OLDSYNC}, headers=auth)
    assert r.json() == {
        OLDSYNC: {
            "identifier": OLDSYNC,
            "keyRotationSecret": "0" * 64,
            "keyRotationTimestamp": 1_650_000_000_123,
        }
    }


def test_credentials_status(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    r = _post(stack, "/account/credentials/status", {"email": email})
    assert r.json()["currentVersion"] == "v1"
    # PyFxA asks this before a v2 login; a v1 account must not be upgraded by us.
    assert fxa.core.Client(server_url=stack.auth_url).get_key_stretch_version(email)[0] == 1


def test_firefox_sign_in_calls(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    auth = session_auth(login_session(stack, email, "pw")["sessionToken"])
    r = _post(stack, "/account/device", {"name": "Firefox on test", "type": "desktop"}, headers=auth)
    device = r.json()
    assert r.status_code == 200 and device["name"] == "Firefox on test" and device["id"]
    r = requests.get(
        stack.auth_url + "/account/devices",
        params={"filterIdleDevicesTimestamp": 1},
        headers=auth,
        timeout=30,
    )
    assert [d["id"] for d in r.json()] == [device["id"]]
    assert r.json()[0]["isCurrentDevice"] is True
    r = requests.get(stack.auth_url + "/account/attached_clients", headers=auth, timeout=30)
    assert any(c["isCurrentSession"] and c["deviceId"] == device["id"] for c in r.json())
    r = _post(stack, "/account/devices/notify", {"to": "all", "payload": {}}, headers=auth)
    assert r.status_code == 200
    token = oauth_token(stack, login_session(stack, email, "pw")["sessionToken"], "profile")
    r = requests.get(stack.profile_url + "/profile", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.json()["uid"] == stack.admin.account(email).uid
    r = requests.get(stack.profile_url + "/profile", timeout=30)
    assert r.status_code == 401


def test_account_create_over_api(stack: LocalStack) -> None:
    email = _email()
    session = fxa.core.Client(server_url=stack.auth_url).create_account(email, "pw", keys=True)
    ka, kb = session.fetch_keys()
    assert len(kb) == 32
    again = fxa.core.Client(server_url=stack.auth_url).login(email, "pw", keys=True)
    assert again.fetch_keys()[1] == kb


def test_unknown_route(stack: LocalStack) -> None:
    r = requests.get(stack.auth_url + "/nope", timeout=30)
    assert r.status_code == 404 and r.json()["code"] == 404


def test_key_stretching_v2_account(stack: LocalStack) -> None:
    email, kb = _email(), secrets.token_bytes(32)
    stack.admin.create_account(email, "pw2", kb=kb, key_stretch_version=2)
    r = _post(stack, "/account/credentials/status", {"email": email})
    status = r.json()
    assert status["currentVersion"] == "v2"
    assert status["clientSalt"].startswith("identity.mozilla.com/picl/v1/quickStretchV2:")
    # PyFxA with v2 stretching: no upgrade needed, keys from keyFetchTokenVersion2
    session = fxa.core.Client(server_url=stack.auth_url, key_stretch_version=2).login(email, "pw2", keys=True)
    assert session.fetch_keys()[1] == kb
    # the v1 credentials still work, as FxA keeps them for older clients
    v1 = fxa.core.Client(server_url=stack.auth_url).login(email, "pw2", keys=True)
    assert v1.fetch_keys()[1] == kb
    # a client sending both gets a keyFetchToken for each
    s1 = onepw.quick_stretch_v1(email, "pw2")
    s2 = onepw.stretch_v2("pw2", status["clientSalt"])
    body = _post(
        stack,
        "/account/login?keys=true",
        {"email": email, "authPW": onepw.auth_pw(s1).hex(), "authPWVersion2": onepw.auth_pw(s2).hex()},
    ).json()
    assert "keyFetchToken" in body and "keyFetchTokenVersion2" in body
    bad = _post(
        stack,
        "/account/login",
        {"email": email, "authPW": onepw.auth_pw(s1).hex(), "authPWVersion2": "00" * 32},
    )
    assert bad.status_code == 400 and bad.json()["errno"] == 103


def test_pyfxa_v2_client_does_not_upgrade_v1_account(stack: LocalStack) -> None:
    email, kb = _email(), secrets.token_bytes(32)
    stack.admin.create_account(email, "pw", kb=kb)
    session = fxa.core.Client(server_url=stack.auth_url, key_stretch_version=2).login(email, "pw", keys=True)
    assert session.fetch_keys()[1] == kb
    r = _post(stack, "/account/credentials/status", {"email": email})
    assert r.json()["currentVersion"] == "v1"  # the account was not changed


def test_code_flow_returns_keys_jwe_and_checks_pkce(stack: LocalStack) -> None:
    email = _email()
    stack.admin.create_account(email, "pw")
    auth = session_auth(login_session(stack, email, "pw")["sessionToken"])
    r = _post(
        stack,
        "/oauth/authorization",
        {
            "client_id": FIREFOX,
            "scope": OLDSYNC,
            "state": "s",
            "keys_jwe": "a.b.c.d.e",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
        headers=auth,
    )
    code = r.json()["code"]
    assert "state=s" in r.json()["redirect"]
    r = _post(stack, "/token", {"client_id": FIREFOX, "code": code, "code_verifier": "wrong"})
    assert r.status_code == 400
    # codes are single use, even after a failed exchange
    r = _post(stack, "/token", {"client_id": FIREFOX, "code": code})
    assert r.status_code == 400 and r.json()["errno"] == 110
    r = _post(
        stack,
        "/oauth/authorization",
        {"client_id": FIREFOX, "scope": OLDSYNC, "keys_jwe": "a.b.c.d.e"},
        headers=auth,
    )
    r = _post(
        stack,
        "/oauth/token",
        {"client_id": FIREFOX, "grant_type": "authorization_code", "code": r.json()["code"]},
    )
    assert r.status_code == 200 and r.json()["keys_jwe"] == "a.b.c.d.e"
