"""Devices and device commands answer as fxa-auth-server does, where Firefox can tell.

Pinned from fxa-auth-server's lib/routes/devices-and-sessions.js, lib/pushbox/db.ts and
docs/device_registration.md; what Firefox does with each answer is in
services/fxaccounts/FxAccountsDevice.sys.mjs (docs/firefox.md has the line numbers).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from synctools.server import LocalStack

from .client import login_session, session_auth

SEND_TAB = "https://identity.mozilla.com/cmd/open-uri"
CLOSE_TAB = "https://identity.mozilla.com/cmd/close-uri/v1"


@dataclass
class Session:
    stack: LocalStack
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return session_auth(self.token)

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.stack.auth_url + path, json=body, headers=self.auth, timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.stack.auth_url + path, params=params, headers=self.auth, timeout=30)

    def register(self, **body: Any) -> dict[str, Any]:
        r = self.post("/account/device", {"name": "Firefox", "type": "desktop", **body})
        assert r.status_code == 200, r.text
        return r.json()

    def devices(self, **params: Any) -> list[dict[str, Any]]:
        r = self.get("/account/devices", **params)
        assert r.status_code == 200, r.text
        return r.json()


def _account(stack: LocalStack) -> tuple[str, str]:
    email, password = f"dev-{secrets.token_hex(4)}@example.com", "pw"
    stack.admin.create_account(email, password)
    return email, password


def _session(stack: LocalStack, account: tuple[str, str]) -> Session:
    return Session(stack, login_session(stack, *account)["sessionToken"])


@pytest.fixture
def two_devices(stack: LocalStack) -> tuple[Session, Session]:
    """One account, two sessions, each registered as a device (b advertises Send Tab)."""
    account = _account(stack)
    a, b = _session(stack, account), _session(stack, account)
    a.register(name="Laptop")
    b.register(name="Phone", type="mobile", availableCommands={SEND_TAB: "keys-b", CLOSE_TAB: "close-b"})
    return a, b


def _errno(r: requests.Response) -> tuple[int, int]:
    return r.status_code, r.json()["errno"]


def test_registration_allocates_the_id_and_answers_every_push_field(stack: LocalStack) -> None:
    s = _session(stack, _account(stack))
    device = s.register(availableCommands={SEND_TAB: "keys"})
    assert len(device["id"]) == 32 and int(device["id"], 16) >= 0
    # Firefox re-registers when pushCallback === null: the fields are there, as null
    assert {k: device[k] for k in ("pushCallback", "pushPublicKey", "pushAuthKey")} == dict.fromkeys(
        ("pushCallback", "pushPublicKey", "pushAuthKey")
    )
    assert device["pushEndpointExpired"] is False
    assert device["availableCommands"] == {SEND_TAB: "keys"}
    # a second registration without an id updates the session's device, never adds one
    again = s.register(name="Renamed")
    assert again["id"] == device["id"] and again["availableCommands"] == {SEND_TAB: "keys"}
    listed = s.devices()
    assert [(d["id"], d["name"], d["isCurrentDevice"]) for d in listed] == [(device["id"], "Renamed", True)]
    assert listed[0]["pushCallback"] is None and "pushCallback" in listed[0]


def test_push_subscription_is_stored_and_expiry_reset(stack: LocalStack) -> None:
    s = _session(stack, _account(stack))
    push = {
        "pushCallback": "https://push.example/abc",
        "pushPublicKey": "BPub_key-1",
        "pushAuthKey": "auth_1",
    }
    device = s.register(**push)
    assert {k: device[k] for k in push} == push and device["pushEndpointExpired"] is False
    assert {k: s.devices()[0][k] for k in push} == push


@pytest.mark.parametrize(
    "body, field",
    [
        ({"unknownField": 1}, "unknownField"),
        ({"pushCallback": "https://push.example/x"}, "pushCallback"),  # the three go together
        ({"pushCallback": "http://push.example/x", "pushPublicKey": "a", "pushAuthKey": "b"}, "pushCallback"),
        (
            {"pushCallback": "https://p.example/x", "pushPublicKey": "not base64!", "pushAuthKey": "b"},
            "pushPublicKey",
        ),
        ({"id": "not-hex"}, "id"),
        ({"name": 42}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"availableCommands": {SEND_TAB: 1}}, "availableCommands"),
        ({"capabilities": ["messages"]}, "capabilities"),
    ],
)
def test_registration_refuses_what_fxa_refuses(stack: LocalStack, body: dict[str, Any], field: str) -> None:
    s = _session(stack, _account(stack))
    r = s.post("/account/device", body)
    assert _errno(r) == (400, 107) and field in r.json()["message"]
    assert s.devices() == []  # nothing half-registered


def test_empty_capabilities_are_accepted_and_dropped(stack: LocalStack) -> None:
    device = _session(stack, _account(stack)).register(capabilities=[])
    assert "capabilities" not in device


def test_an_id_the_server_never_allocated_is_unknown(stack: LocalStack) -> None:
    """errno 123 makes Firefox forget its id and register afresh
    (FxAccountsDevice._recoverFromUnknownDevice): a stack that accepted any id would keep
    Firefox on an id no server gave it."""
    s = _session(stack, _account(stack))
    r = s.post("/account/device", {"id": secrets.token_hex(16), "name": "x"})
    assert _errno(r) == (400, 123)
    assert s.devices() == []


def test_another_accounts_device_cannot_be_rewritten(stack: LocalStack) -> None:
    victim = _session(stack, _account(stack))
    theirs = victim.register(name="Victim's laptop", availableCommands={SEND_TAB: "victim-keys"})
    attacker = _session(stack, _account(stack))
    r = attacker.post("/account/device", {"id": theirs["id"], "name": "pwned", "availableCommands": {}})
    assert _errno(r) == (400, 123)
    assert victim.devices()[0]["name"] == "Victim's laptop"
    assert victim.devices()[0]["availableCommands"] == {SEND_TAB: "victim-keys"}
    assert victim.devices()[0]["isCurrentDevice"] is True
    assert attacker.devices() == []


def test_a_session_owns_one_device(two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in b.devices() if d["isCurrentDevice"])
    r = a.post("/account/device", {"id": b_id, "name": "hijack"})
    assert _errno(r) == (400, 124)
    assert {d["name"] for d in a.devices()} == {"Laptop", "Phone"}


def test_idle_devices_are_filtered(stack: LocalStack) -> None:
    account = _account(stack)
    old, new = _session(stack, account), _session(stack, account)
    old_id = old.register(name="old")["id"]
    time.sleep(0.01)
    new.register(name="new")
    old_seen = next(d["lastAccessTime"] for d in new.devices() if d["id"] == old_id)
    # FxA keeps devices used strictly after the timestamp (Firefox sends now - 21 days)
    assert [d["name"] for d in new.devices(filterIdleDevicesTimestamp=old_seen)] == ["new"]
    assert {d["name"] for d in new.devices(filterIdleDevicesTimestamp=old_seen - 1)} == {"old", "new"}
    assert _errno(new.get("/account/devices", filterIdleDevicesTimestamp="yesterday")) == (400, 107)


def test_a_command_reaches_only_its_target(two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    a_id = next(d["id"] for d in a.devices() if d["isCurrentDevice"])
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    assert a.get("/account/device/commands").json() == {"index": 0, "last": True, "messages": []}
    r = a.post("/account/devices/invoke_command", {"target": b_id, "command": SEND_TAB, "payload": {"n": 1}})
    assert r.status_code == 200 and r.json()["enqueued"] is True
    got = b.get("/account/device/commands").json()
    assert got["last"] is True and len(got["messages"]) == 1
    message = got["messages"][0]
    assert message["data"] == {"command": SEND_TAB, "payload": {"n": 1}, "sender": a_id}
    assert got["index"] == message["index"]
    assert a.get("/account/device/commands").json()["messages"] == []  # not the sender's queue


def test_a_sender_without_a_device_is_not_named(stack: LocalStack) -> None:
    account = _account(stack)
    target, loose = _session(stack, account), _session(stack, account)
    target_id = target.register(availableCommands={SEND_TAB: "keys"})["id"]
    body = {"target": target_id, "command": SEND_TAB, "payload": {"url": "x"}}
    assert loose.post("/account/devices/invoke_command", body).status_code == 200
    [message] = target.get("/account/device/commands").json()["messages"]
    assert message["data"] == {"command": SEND_TAB, "payload": {"url": "x"}}


def test_commands_page_like_pushbox(two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    for n in range(3):
        body = {"target": b_id, "command": CLOSE_TAB, "payload": {"n": n}}
        assert a.post("/account/devices/invoke_command", body).status_code == 200
    first = b.get("/account/device/commands", limit=2).json()
    assert [m["data"]["payload"]["n"] for m in first["messages"]] == [0, 1] and first["last"] is False
    # Firefox asks from its last index + 1 (FxAccountsCommands.pollDeviceCommands)
    rest = b.get("/account/device/commands", index=first["index"] + 1, limit=2).json()
    assert [m["data"]["payload"]["n"] for m in rest["messages"]] == [2] and rest["last"] is True
    after = b.get("/account/device/commands", index=rest["index"] + 1).json()
    assert after == {"index": 0, "last": True, "messages": []}
    assert _errno(b.get("/account/device/commands", limit=101)) == (400, 107)
    assert _errno(b.get("/account/device/commands", index="x")) == (400, 107)


def test_an_expired_command_is_gone(two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    body = {"target": b_id, "command": SEND_TAB, "payload": {}, "ttl": 0}
    assert a.post("/account/devices/invoke_command", body).status_code == 200
    time.sleep(1.1)
    assert b.get("/account/device/commands").json()["messages"] == []


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"command": "https://example.com/cmd/unknown", "payload": {}}, (400, 157)),  # not advertised
        ({"command": SEND_TAB, "payload": "text"}, (400, 107)),
        ({"command": SEND_TAB, "payload": {}, "ttl": -1}, (400, 107)),
        ({"command": SEND_TAB, "payload": {}, "ttl": True}, (400, 107)),
        ({"command": "", "payload": {}}, (400, 107)),
    ],
)
def test_invoke_refuses_what_fxa_refuses(
    two_devices: tuple[Session, Session], body: dict[str, Any], expected: tuple[int, int]
) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    assert _errno(a.post("/account/devices/invoke_command", {"target": b_id, **body})) == expected
    assert b.get("/account/device/commands").json()["messages"] == []


def test_invoke_cannot_reach_another_account(stack: LocalStack, two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    stranger = _session(stack, _account(stack))
    stranger.register()
    body = {"target": b_id, "command": SEND_TAB, "payload": {"evil": True}}
    assert _errno(stranger.post("/account/devices/invoke_command", body)) == (400, 123)
    assert b.get("/account/device/commands").json()["messages"] == []
    body["target"] = secrets.token_hex(16)
    assert _errno(a.post("/account/devices/invoke_command", body)) == (400, 123)


def test_destroying_a_device_signs_its_session_out(stack: LocalStack, two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    b_id = next(d["id"] for d in a.devices() if not d["isCurrentDevice"])
    body = {"target": b_id, "command": SEND_TAB, "payload": {}}
    assert a.post("/account/devices/invoke_command", body).status_code == 200
    stranger = _session(stack, _account(stack))
    assert _errno(stranger.post("/account/device/destroy", {"id": b_id})) == (400, 123)
    assert len(a.devices()) == 2
    assert a.post("/account/device/destroy", {"id": b_id}).status_code == 200
    assert [d["name"] for d in a.devices()] == ["Laptop"]
    assert _errno(b.get("/account/devices")) == (401, 110)  # "Destroys a device record and its sessionToken"
    assert stack.accounts.db.conn().execute(
        "SELECT COUNT(*) FROM device_commands WHERE device_id=?", (b_id,)
    ).fetchone() == (0,)
    assert _errno(a.post("/account/device/destroy", {"id": b_id})) == (400, 123)


def test_a_destroyed_session_takes_its_device(two_devices: tuple[Session, Session]) -> None:
    a, b = two_devices
    assert b.post("/session/destroy", {}).status_code == 200
    assert [d["name"] for d in a.devices()] == ["Laptop"]


@pytest.mark.parametrize("body", [{"to": "everyone", "payload": {}}, {"to": ["nope"], "payload": {}}, {"to": "all"}])
def test_notify_validates_like_fxa(two_devices: tuple[Session, Session], body: dict[str, Any]) -> None:
    a, _ = two_devices
    assert _errno(a.post("/account/devices/notify", body)) == (400, 107)
    assert a.post("/account/devices/notify", {"to": "all", "payload": {}}).status_code == 200
