"""addresses: saved postal addresses for form autofill (fields in an ``entry`` object)."""

from __future__ import annotations

from ._autofill import META, AutofillEngine
from .base import Column


class AddressesEngine(AutofillEngine):
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
        *META,
    )
