"""passwords: one record per saved login. The password column is masked unless revealed.

Times are client clocks in milliseconds (``timeCreated`` etc.) and may be far off.
"""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, integer, text


class PasswordsEngine(Engine):
    name = "passwords"
    version = 1
    columns = (
        Column("origin", "str", "site the login is for (hostname)"),
        Column("form_action", "str", "form submission origin (formSubmitURL); empty for HTTP auth"),
        Column("realm", "str", "HTTP auth realm (httpRealm); empty for form logins"),
        Column("username", "str", "user name"),
        Column("password", "str", "the password: masked unless reveal=True"),
        Column("username_field", "str", "HTML name of the username input"),
        Column("password_field", "str", "HTML name of the password input"),
        Column("time_created", "ms", "when the login was created (client clock)"),
        Column("time_password_changed", "ms", "when the password last changed (client clock)"),
        Column("time_last_used", "ms", "when the login was last used (client clock)"),
        Column("times_used", "int", "how many times it was used"),
    )
    fields = frozenset(
        {
            "hostname",
            "formSubmitURL",
            "httpRealm",
            "username",
            "password",
            "usernameField",
            "passwordField",
            "timeCreated",
            "timePasswordChanged",
            "timeLastUsed",
            "timesUsed",
        }
    )
    secrets = ("password",)
    secret_fields = frozenset({"password"})

    def parse(self, rec: dict[str, Any]) -> Row:
        return (
            text(rec, "hostname"),
            text(rec, "formSubmitURL"),
            text(rec, "httpRealm"),
            text(rec, "username"),
            text(rec, "password"),
            text(rec, "usernameField"),
            text(rec, "passwordField"),
            integer(rec, "timeCreated"),
            integer(rec, "timePasswordChanged"),
            integer(rec, "timeLastUsed"),
            integer(rec, "timesUsed"),
        )
