"""Builders for payout tests: partners with payout settings, and approved earnings posted as a run's approval posts
them (commission expense → the partner's payable), so a batch reads the ledger as it is after real approvals."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model

from ledger.postings import AccountRef, Leg, Posting
from ledger.services.posting import journal_post
from ledger.services.rates import rates_upsert
from ledger.vocabulary import Purpose
from partners.models import Partner, Program

_keys = itertools.count(1)


def user(name: str):
    """A finance clerk (the role that makes, approves, exports and pays batches)."""
    from core.roles import Role
    from tests.roles import with_roles

    existing = get_user_model().objects.filter(username=name).first()
    return existing or with_roles(get_user_model().objects.create_user(name, is_staff=True), Role.FINANCE)


def program(code: str = "std", *, minimum: str = "0", currency: str = "USD") -> Program:
    return Program.objects.get_or_create(
        code=code, defaults={"name": code, "min_payout": Decimal(minimum), "currency": currency}
    )[0]


def partner(code: str, *, prog: Program | None = None, currency: str = "USD", **fields) -> Partner:
    values = {"name": code.upper(), "payout_method": "bank", "payout_account": f"IBAN-{code}", **fields}
    return Partner.objects.create(code=code, program=prog or program(), payout_currency=currency, **values)


def earn(
    who: Partner,
    amount: str,
    *,
    period: str,
    currency: str = "USD",
    kind: str = "volume",
    purpose: Purpose = Purpose.PARTNER_PAYABLE,
) -> str:
    """Post ``amount`` (signed: a negative one is a reversal larger than earnings) owed to ``who`` in ``period``."""
    exact = Decimal(amount)
    key = f"test-run:{next(_keys)}:partner:{who.pk}:{kind}:{currency}"
    expense = Purpose.COMMISSION_EXPENSE if purpose == Purpose.PARTNER_PAYABLE else Purpose.INVESTOR_FEE_CHARGE
    owner = {} if purpose == Purpose.PARTNER_PAYABLE else {"client_account_id": _client_account().pk}
    journal_post(
        postings=[
            Posting(
                source_key=key,
                kind=kind,
                period=period,
                currency=currency,
                legs=(
                    Leg(AccountRef(expense, currency, **owner), exact, exact=True),
                    Leg(AccountRef(purpose, currency, partner_id=who.pk), -exact),
                ),
            )
        ]
    )
    return key


def _client_account():
    from partners.models import ClientAccount

    return ClientAccount.objects.get_or_create(server="live1", login=77001)[0]


def rates(day: str, **usd_rates: str) -> None:
    from datetime import date

    rates_upsert(
        rows=[{"currency": c, "day": date.fromisoformat(day), "usd_rate": Decimal(r)} for c, r in usd_rates.items()]
    )
