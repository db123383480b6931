"""creditcards: saved payment cards for form autofill. Numbers are masked to their last
four digits unless revealed."""

from __future__ import annotations

from typing import Any

from ._autofill import META, META_FIELDS, AutofillEngine
from .base import Column, Row, integer, loose_int, text


def mask_card(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    return "**** " + "".join(digits[-4:]) if len(digits) >= 12 else "****"


class CreditCardsEngine(AutofillEngine):
    name = "creditcards"
    entry_fields = ("cc-name", "cc-number", "cc-type")
    columns = (
        Column("cc_name", "str", "name on the card"),
        Column("cc_number", "str", "card number: masked to its last 4 digits unless reveal=True"),
        Column("cc_type", "str", "network: visa, mastercard, amex..."),
        Column("cc_exp_month", "int", "expiry month 1-12"),
        Column("cc_exp_year", "int", "expiry year"),
        *META,
    )
    secrets = ("cc_number",)
    secret_fields = frozenset({"cc-number", "cc-number-enc", "number"})
    masks = {"cc_number": mask_card}
    field_masks = {"cc-number": mask_card, "number": mask_card}

    def unknown_fields(self, rec: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
        out = super().unknown_fields(rec, known) or {}
        out.pop("entry.cc-exp-month", None)
        out.pop("entry.cc-exp-year", None)
        return out or None

    def parse(self, rec: dict[str, Any]) -> Row:
        entry = self._entry(rec)
        name, number, kind = (text(entry, f) for f in self.entry_fields)
        meta = [integer(entry, f) for f in META_FIELDS[:4]]
        return (
            name,
            number,
            kind,
            loose_int(entry, "cc-exp-month"),
            loose_int(entry, "cc-exp-year"),
            *meta,
            integer(entry, "version"),
        )
