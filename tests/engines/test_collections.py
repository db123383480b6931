"""Tabs, clients, prefs, addons, addresses, credit cards, passwords: the real shapes."""

from __future__ import annotations

import pandas as pd

from synctools import engines
from synctools.frames import frame_from_bsos

from .conftest import dtype_map, expected_dtypes, make_bsos

APP_ID = "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}"


def frame(name, recs, keys, **kw):
    df = frame_from_bsos(name, make_bsos(recs, keys.bundle_for(name)), keys, **kw)
    assert dtype_map(df) == expected_dtypes(engines.get(name).dtypes())
    return df


def test_tabs_one_row_per_tab_and_devices_without_tabs_stay(keys):
    recs = [
        {
            "id": "laptopClient",
            "clientName": "Ada's Firefox on laptop",
            "tabs": [
                {
                    "title": "Issue",
                    "urlHistory": ["https://bugzilla.mozilla.org/1", "https://bugzilla.mozilla.org/"],
                    "icon": "https://bugzilla.mozilla.org/favicon.ico",
                    "lastUsed": 1795197149,
                },
                {
                    "title": "Search",
                    "urlHistory": ["https://www.google.com/search?q=x"],
                    "icon": None,
                    "lastUsed": "1795194927",
                    "inactive": True,
                    "newTabField": 1,
                },
            ],
        },
        {"id": "phoneClient1", "clientName": "Firefox on Pixel", "tabs": []},
    ]
    df = frame("tabs", recs, keys)
    assert df["id"].tolist() == ["laptopClient", "laptopClient", "phoneClient1"]
    assert df["device"].tolist() == ["Ada's Firefox on laptop"] * 2 + ["Firefox on Pixel"]
    assert df["url"].iloc[0] == "https://bugzilla.mozilla.org/1"
    assert df["url_history"].iloc[0] == ["https://bugzilla.mozilla.org/1", "https://bugzilla.mozilla.org/"]
    assert df["last_used"].iloc[1] == pd.Timestamp(1795194927, unit="s", tz="UTC")  # from a string
    assert df["inactive"].iloc[1] == True  # noqa: E712
    assert df["tab_extra"].iloc[1] == {"newTabField": 1}
    assert pd.isna(df["tab_index"].iloc[2]) and pd.isna(df["url"].iloc[2])


def test_clients(keys):
    recs = [
        {
            "id": "vVPvl3fDWW9l",
            "fxaDeviceId": "270d6d9bb3e1607ece62c61c02f74d33",
            "name": "Ada's Firefox",
            "type": "desktop",
            "version": "153.0.1",
            "protocols": ["1.5"],
            "os": "Linux",
            "appPackage": APP_ID,
            "application": "Firefox",
            "commands": [{"command": "wipeEngine", "args": ["history"], "flowID": "f"}],
        }
    ]
    row = frame("clients", recs, keys).iloc[0]
    assert row["name"] == "Ada's Firefox" and row["type"] == "desktop" and row["os"] == "Linux"
    assert row["fxa_device_id"] == "270d6d9bb3e1607ece62c61c02f74d33" and row["app_package"] == APP_ID
    assert row["protocols"] == ["1.5"] and row["command_count"] == 1
    assert row["commands"][0]["command"] == "wipeEngine"


def test_prefs_one_row_per_preference_both_versions(keys):
    recs = [
        {
            "id": "prefsRecord1",
            "value": {
                "browser.startup.page": 3,
                "browser.formfill.enable": True,
                "browser.contentblocking.category": "strict",
                "reset.me": None,
            },
        },
        {"id": "oldPrefsRec1", "value": [{"name": "a.b", "type": "int", "value": 1}]},
    ]
    df = frame("prefs", recs, keys)
    assert df["name"].tolist() == [
        "browser.startup.page",
        "browser.formfill.enable",
        "browser.contentblocking.category",
        "reset.me",
        "a.b",
    ]
    assert df["value"].tolist() == [3, True, "strict", None, 1]
    assert df["value_type"].tolist() == ["int", "bool", "string", "null", "int"]


def test_addons_and_forms(keys):
    df = frame(
        "addons",
        [
            {
                "id": "4vAZwcxaRxgq",
                "addonID": "uBlock0@raymondhill.net",
                "applicationID": APP_ID,
                "enabled": False,
                "source": "amo",
            }
        ],
        keys,
    )
    assert df["addon_id"].iloc[0] == "uBlock0@raymondhill.net" and df["enabled"].iloc[0] == False  # noqa: E712
    df = frame("forms", [{"id": "ID7_yPzwJGuK", "name": "searchbar-history", "value": "yoga coffee"}], keys)
    assert df["name"].iloc[0] == "searchbar-history"


def test_addresses_read_the_entry_object(keys):
    recs = [
        {
            "id": "dcmQOQFv3oBG",
            "entry": {
                "name": "Ada Lovelace",
                "given-name": "Ada",
                "additional-name": "",
                "family-name": "Lovelace",
                "organization": "Analytical Engines Ltd",
                "street-address": "12 St James's Square",
                "address-level2": "London",
                "postal-code": "SW1Y 4JH",
                "country": "GB",
                "tel": "+44 20 7946 0000",
                "email": "ada@example.com",
                "timeCreated": 1780115509974,
                "timeLastUsed": 1783052326509,
                "timeLastModified": 1780115509974,
                "timesUsed": 23,
                "version": 1,
                "futureField": "x",
            },
        }
    ]
    row = frame("addresses", recs, keys).iloc[0]
    assert row["given_name"] == "Ada" and row["street_address"] == "12 St James's Square"
    assert row["address_level2"] == "London" and row["country"] == "GB" and row["times_used"] == 23
    assert row["time_created"] == pd.Timestamp(1780115509974, unit="ms", tz="UTC")
    assert row["entry_version"] == 1
    assert row["extra"] == {"entry.futureField": "x"}


CARD = {
    "id": "Kchi0l6RGjVf",
    "entry": {
        "cc-name": "Ada Lovelace",
        "cc-number": "4111111111111111",
        "cc-exp-month": 3,
        "cc-exp-year": 2030,
        "cc-type": "visa",
        "timeCreated": 1707296510626,
        "timesUsed": 33,
        "version": 3,
    },
}
LOGIN = {
    "id": "{e97acacd-220d-4248-b58b-aefa76cf84dc}",
    "hostname": "https://intranet.example.com",
    "formSubmitURL": None,
    "httpRealm": "Jenkins",
    "username": "ada",
    "password": "pQjbjmqdP3",
    "usernameField": "",
    "passwordField": "",
    "timeCreated": 1672119647909,
    "timePasswordChanged": 1788269361599,
    "timeLastUsed": 1791657022682,
    "timesUsed": 2,
}


def test_credit_cards_masked_to_last_four_unless_revealed(keys):
    row = frame("creditcards", [CARD], keys).iloc[0]
    assert row["cc_number"] == "**** 1111"
    assert row["cc_exp_month"] == 3 and row["cc_exp_year"] == 2030 and row["cc_type"] == "visa"
    assert "4111111111111111" not in frame("creditcards", [CARD], keys).to_csv()
    assert frame("creditcards", [CARD], keys, reveal=True)["cc_number"].iloc[0] == "4111111111111111"


def test_passwords_masked_unless_revealed(keys):
    df = frame("passwords", [LOGIN], keys)
    row = df.iloc[0]
    assert row["origin"] == "https://intranet.example.com" and row["realm"] == "Jenkins"
    assert pd.isna(row["form_action"]) and row["username"] == "ada" and row["times_used"] == 2
    assert row["time_last_used"] == pd.Timestamp(1791657022682, unit="ms", tz="UTC")
    assert row["password"] == "********"
    assert "pQjbjmqdP3" not in df.to_csv() + repr(df)
    assert frame("passwords", [LOGIN], keys, reveal=True)["password"].iloc[0] == "pQjbjmqdP3"
