"""Payout details: the rules where a partner's money may go, applied by the services (``partner_create``,
``partner_update``) whatever the door — the API, the admin's partner and payout-details forms, a command.

``payout_currency`` is a currency the ledger knows (``core.currencies``); ``payout_method`` and ``payout_account``
are one line of text (``core.names.line_text_error``): they are copied onto payout lines, exports and bank files,
where a line break starts another record and an invisible direction override shows another account. The partner's
``name`` is held to the same one-line rule: it is copied onto payout lines as the bank file's ``partner_name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from core.currencies import currency_error
from core.names import line_text_error

PAYOUT_DETAIL_FIELDS = ("payout_currency", "payout_method", "payout_account")
# Everything of a partner a bank file repeats: the payout details and the name.
BANK_FILE_FIELDS = ("name", *PAYOUT_DETAIL_FIELDS)
# ZERO WIDTH NON-JOINER, ZERO WIDTH JOINER, SOFT HYPHEN: format characters a correctly spelled name may hold.
SPELLING_MARKS = dict.fromkeys(map(ord, "\u200c\u200d\u00ad"))


def payout_details_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field errors of whichever bank-file fields (payout details, name) ``values`` holds (others are ignored)."""
    errors: dict[str, list[str]] = {}
    if "payout_currency" in values:
        error = currency_error(values["payout_currency"])
        if error:
            errors["payout_currency"] = [error]
    for name in ("name", "payout_method", "payout_account"):
        if name in values:
            value = values[name]
            error = None
            if name == "name" and isinstance(value, str) and value:
                # Names keep the invisible characters spelling needs (Persian and Indic joiners, a soft hyphen)
                # inside a word; direction overrides, zero-width spaces and line breaks are still refused, and so is
                # a name that is, starts or ends with an invisible mark (a bank file would show nothing there).
                marks = "".join(map(chr, SPELLING_MARKS))
                if value != value.strip(marks):
                    error = "A name cannot start or end with an invisible character."
                value = value.translate(SPELLING_MARKS)
            error = error or line_text_error(value)
            if error:
                errors[name] = [error]
    return errors


def validate_payout_details(values: Mapping[str, Any]) -> None:
    """Raise the domain's ``ValidationError`` (field errors: a 400 at the API, form errors in the admin) unless the
    payout details in ``values`` are valid."""
    errors = payout_details_errors(values)
    if errors:
        raise ValidationError(errors)
