"""Reads of the ledger: period locks, balances, statements and the trial balance. Posted rows only.

Sign conventions: entries are signed (debit > 0, credit < 0). What the broker owes an owner (a payable's balance) is
the negated sum of the payable's legs; an account's ``balance`` here is the raw signed sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from core.money import quantize

from .models import Currency, JournalEntry, JournalTransaction, LedgerAccount, PeriodLock
from .models.currencies import minor_unit_for
from .vocabulary import Purpose

PAYOUT_KIND = "payout"

_ENTRIES = JournalEntry._meta.db_table
_TRANSACTIONS = JournalTransaction._meta.db_table
_ACCOUNTS = LedgerAccount._meta.db_table


def period_is_locked(*, kind: str, period: str, scope: str = "") -> bool:
    """Whether (kind, period, scope) is locked: by a lock of that scope, or of the whole period (scope ""), or — for
    the whole period — by a lock of any of its scopes."""
    locks = PeriodLock.objects.filter(kind=kind, period=period)
    return (locks.filter(scope__in={scope, ""}) if scope else locks).exists()


def locked_periods(*, kind: str, scope: str = "") -> set[str]:
    return set(PeriodLock.objects.filter(kind=kind, scope=scope).values_list("period", flat=True))


def partner_statement(*, partner, period: str, currency: str = "USD") -> dict:
    """Opening balance, posted totals by kind, payouts and closing balance of a partner for one period.

    Balances are what the broker owes the partner: the negated sum of the partner's payable legs. Periods compare
    as ``YYYY-MM`` text, which orders them correctly.
    """
    params = {
        "period": period,
        "payout": PAYOUT_KIND,
        "partner": partner.pk,
        "currency": currency,
        "purpose": Purpose.PARTNER_PAYABLE.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(SUM(-e.amount) FILTER (WHERE t.period < %(period)s), 0),
                   COALESCE(SUM(-e.amount) FILTER (WHERE t.period = %(period)s AND t.kind = %(payout)s), 0)
              FROM {_ENTRIES} e
              JOIN {_TRANSACTIONS} t ON t.id = e.transaction_id
              JOIN {_ACCOUNTS} a ON a.id = e.account_id
             WHERE a.purpose = %(purpose)s AND a.partner_id = %(partner)s AND a.currency = %(currency)s
            """,
            params,
        )
        opening, payouts_signed = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT t.kind, SUM(-e.amount)
              FROM {_ENTRIES} e
              JOIN {_TRANSACTIONS} t ON t.id = e.transaction_id
              JOIN {_ACCOUNTS} a ON a.id = e.account_id
             WHERE a.purpose = %(purpose)s AND a.partner_id = %(partner)s AND a.currency = %(currency)s
               AND t.period = %(period)s AND t.kind <> %(payout)s
             GROUP BY t.kind ORDER BY t.kind
            """,
            params,
        )
        totals = {kind: Decimal(amount) for kind, amount in cursor.fetchall()}
    # Payable legs are posted at the currency's minor unit, so these sums are exact at it: shown at it (KWD 3
    # places, JPY none, BTC 8), never at a fixed two.
    # earned is the sum of the totals as shown, and the closing balance adds up from the figures shown, by
    # construction.
    places = currency_places(currency)
    shown = {kind: quantize(amount, places) for kind, amount in totals.items()}
    earned = sum(shown.values(), quantize(Decimal(0), places))
    payouts = quantize(-Decimal(payouts_signed), places)  # a payout debits the payable: it lowers what is owed
    opening = quantize(Decimal(opening), places)
    return {
        "partner": partner.code,
        "period": period,
        "currency": currency,
        "opening_balance": opening,
        "totals": shown,
        "earned": earned,
        "payouts": payouts,
        "closing_balance": opening + earned - payouts,
    }


def currency_places(code: str) -> int:
    """The minor unit the ledger rounds ``code`` to: its ``Currency`` row's, or the one it would get at its first
    posting."""
    stored = Currency.objects.filter(code=code).values_list("minor_unit", flat=True).first()
    return stored if stored is not None else minor_unit_for(code)


@dataclass(frozen=True)
class TrialBalanceRow:
    account_id: int
    name: str
    purpose: str
    nature: str
    currency: str
    debits: Decimal
    credits: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debits + self.credits


def trial_balance(*, currency: str | None = None, period_to: str | None = None) -> list[TrialBalanceRow]:
    """Every account's posted debits and credits (credits negative), optionally for one currency and up to a
    period. Per currency, the balances sum to zero: every transaction balances."""
    where, params = [], []
    if currency is not None:
        where.append("a.currency = %s")
        params.append(currency)
    if period_to is not None:
        where.append("t.period <= %s")
        params.append(period_to)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.id, a.name, a.purpose, a.nature, a.currency,
                   COALESCE(SUM(e.amount) FILTER (WHERE e.amount > 0), 0),
                   COALESCE(SUM(e.amount) FILTER (WHERE e.amount < 0), 0)
              FROM {_ENTRIES} e
              JOIN {_TRANSACTIONS} t ON t.id = e.transaction_id
              JOIN {_ACCOUNTS} a ON a.id = e.account_id
              {clause}
             GROUP BY a.id ORDER BY a.currency, a.purpose, a.id
            """,
            params,
        )
        return [TrialBalanceRow(*row) for row in cursor.fetchall()]


def trial_balance_totals(rows: list[TrialBalanceRow]) -> dict[str, Decimal]:
    """Net of every account per currency: zero in a sound ledger."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.balance
    return totals


def owner_balances(*, purpose: Purpose, currency: str | None = None) -> dict[int, Decimal]:
    """What the broker owes each owner of accounts of ``purpose`` (partner or client account id → amount)."""
    owner = "partner_id" if purpose in (Purpose.PARTNER_PAYABLE, Purpose.MANAGER_PAYABLE) else "client_account_id"
    params: list = [purpose.value]
    extra = ""
    if currency is not None:
        extra = "AND a.currency = %s"
        params.append(currency)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.{owner}, SUM(-e.amount) FROM {_ENTRIES} e JOIN {_ACCOUNTS} a ON a.id = e.account_id
             WHERE a.purpose = %s {extra} GROUP BY a.{owner}
            """,
            params,
        )
        return {owner_id: Decimal(amount) for owner_id, amount in cursor.fetchall()}
