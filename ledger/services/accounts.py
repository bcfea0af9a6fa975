"""Ledger accounts: found or created by what they are for (purpose, currency, owner), never chosen by id."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import LedgerAccount
from ..postings import AccountRef
from ..vocabulary import PURPOSE_NATURE, Purpose
from .currencies import currencies_ensure


def ledger_accounts_ensure(*, refs: Iterable[AccountRef]) -> dict[AccountRef, LedgerAccount]:
    """The accounts ``refs`` name, creating the missing ones; their nature follows from their purpose."""
    refs = set(refs)
    if not refs:
        return {}
    currencies_ensure(codes={ref.currency for ref in refs})
    by_key = {ref.key(): ref for ref in refs}

    def fetch(keys) -> dict[AccountRef, LedgerAccount]:
        purposes = {k[0] for k in keys}
        codes = {k[1] for k in keys}
        found = {}
        for account in LedgerAccount.objects.filter(purpose__in=purposes, currency__in=codes):
            key = (account.purpose, account.currency_id, account.partner_id, account.client_account_id)
            if key in by_key:
                found[by_key[key]] = account
        return found

    found = fetch(by_key)
    missing = [ref for ref in refs if ref not in found]
    if missing:
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    purpose=str(ref.purpose),
                    nature=str(PURPOSE_NATURE[Purpose(ref.purpose)]),
                    currency_id=ref.currency,
                    partner_id=ref.partner_id,
                    client_account_id=ref.client_account_id,
                    name=ref.default_name(),
                )
                for ref in missing
            ],
            ignore_conflicts=True,
        )
        found.update(fetch({ref.key(): ref for ref in missing}))
    return found
