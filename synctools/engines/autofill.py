"""addresses and creditcards: Firefox's form-autofill records.

Unlike other collections, the fields sit in an ``entry`` object, kebab-case
(``street-address``, ``cc-number``), with camelCase metadata (``timeCreated`` ms).
Unknown entry fields go to ``extra`` as ``"entry.<name>"``. Card numbers are masked to
their last four digits unless revealed.
"""

from __future__ import annotations

from typing import Any

from .base import Column, Engine, Row, integer, loose_int, mapping, text

_META = (
    Column("time_created", "ms", "when the entry was created (client clock)"),
    Column("time_last_used", "ms", "when it was last used to fill a form"),
    Column("time_last_modified", "ms", "when it was last edited"),
    Column("times_used", "int", "how many times it filled a form"),
    Column("entry_version", "int", "record format version (addresses 1, credit cards 3)"),
)
_META_FIELDS = ("timeCreated", "timeLastUsed", "timeLastModified", "timesUsed", "version")


class _AutofillEngine(Engine):
    version = 1
    fields = frozenset({"entry"})
    entry_fields: tuple[str, ...] = ()

    def _entry(self, rec: dict[str, Any]) -> dict[str, Any]:
        return mapping(rec, "entry") or {}

    def unknown_fields(self, rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
        out = {k: v for k, v in rec.items() if k not in known}
        entry = rec.get("entry")
        if isinstance(entry, dict):
            own = set(self.entry_fields) | set(_META_FIELDS)
            out.update({f"entry.{k}": v for k, v in entry.items() if k not in own})
        return out or None

    def parse(self, rec: dict[str, Any]) -> Row:
        entry = self._entry(rec)
        values = [text(entry, f) for f in self.entry_fields]
        meta = [integer(entry, f) for f in _META_FIELDS[:4]]
        return (*values, *meta, integer(entry, "version"))


class AddressesEngine(_AutofillEngine):
    name = "addresses"
    entry_fields = (
        "name",
        "given-name",
        "additional-name",
        "family-name",
        "organization",
        "street-address",
        "address-level3",
        "address-level2",
        "address-level1",
        "postal-code",
        "country",
        "tel",
        "email",
    )
    columns = (
        Column("name", "str", "full name"),
        Column("given_name", "str", "given name"),
        Column("additional_name", "str", "middle name(s)"),
        Column("family_name", "str", "family name"),
        Column("organization", "str", "company"),
        Column("street_address", "str", "street lines, newline separated"),
        Column("address_level3", "str", "suburb / sublocality"),
        Column("address_level2", "str", "city / town"),
        Column("address_level1", "str", "state / province / region"),
        Column("postal_code", "str", "postal code"),
        Column("country", "str", "ISO 3166 country code"),
        Column("tel", "str", "telephone"),
        Column("email", "str", "email address"),
        *_META,
    )


def mask_card(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    return "**** " + "".join(digits[-4:]) if len(digits) >= 12 else "****"


class CreditCardsEngine(_AutofillEngine):
    name = "creditcards"
    entry_fields = ("cc-name", "cc-number", "cc-type")
    columns = (
        Column("cc_name", "str", "name on the card"),
        Column("cc_number", "str", "card number: masked to its last 4 digits unless reveal=True"),
        Column("cc_type", "str", "network: visa, mastercard, amex..."),
        Column("cc_exp_month", "int", "expiry month 1-12"),
        Column("cc_exp_year", "int", "expiry year"),
        *_META,
    )
    secrets = ("cc_number",)
    masks = {"cc_number": mask_card}

    def unknown_fields(self, rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
        out = super().unknown_fields(rec, known) or {}
        out.pop("entry.cc-exp-month", None)
        out.pop("entry.cc-exp-year", None)
        return out or None

    def parse(self, rec: dict[str, Any]) -> Row:
        entry = self._entry(rec)
        name, number, kind = (text(entry, f) for f in self.entry_fields)
        meta = [integer(entry, f) for f in _META_FIELDS[:4]]
        return (
            name,
            number,
            kind,
            loose_int(entry, "cc-exp-month"),
            loose_int(entry, "cc-exp-year"),
            *meta,
            integer(entry, "version"),
        )
