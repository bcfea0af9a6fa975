"""Reads for payouts: partners' payable balances (what is owed, what open batches hold, what is available), the
rates a batch converts at, batches and their lines. Posted rows only; set-based.

Units: balances are exact ``Decimal`` in the payable account's currency (payable legs are posted at its minor unit,
so the sums are exact at it). What is owed is the negated sum of a payable's legs (a credit is owed to the partner).

"Up to a period" counts the earnings of transactions of that period and earlier, and every payout ever posted
(whatever period it was posted in): a payout made in May for March's earnings must lower what a batch for March,
made again later, finds — never pay twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Count, QuerySet, Sum

from core.money import quantize
from partners.models import ClientAccount

from .models import ConversionRate, JournalEntry, JournalTransaction, LedgerAccount, PayoutBatch, PayoutItem, PayoutLine
from .selectors import PAYOUT_KIND, currency_places
from .vocabulary import PARTNER_OWNED, Purpose

_ENTRIES = JournalEntry._meta.db_table
_TRANSACTIONS = JournalTransaction._meta.db_table
_ACCOUNTS = LedgerAccount._meta.db_table
_ITEMS = PayoutItem._meta.db_table
_LINES = PayoutLine._meta.db_table
_BATCHES = PayoutBatch._meta.db_table
_CLIENT_ACCOUNTS = ClientAccount._meta.db_table
PAYABLE_PURPOSES = sorted(str(p) for p in PARTNER_OWNED)  # partner payable, manager payable


@dataclass(frozen=True)
class Payable:
    """One payable account of a partner: owed (approved, not yet paid), held by open batches, available."""

    account_id: int
    partner_id: int
    purpose: str
    currency: str
    owed: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.owed - self.held


def payables(*, period: str | None = None, partner_ids: Iterable[int] | None = None) -> list[Payable]:
    """Every partner-owned payable account with something owed or held, up to ``period`` (all periods: None),
    ordered by partner, purpose and currency."""
    params: dict = {
        "purposes": PAYABLE_PURPOSES,
        "payout": PAYOUT_KIND,
        "period": period,
        "open": [str(s) for s in PayoutBatch.OPEN],
        "to_pay": str(PayoutLine.Status.TO_PAY),
        "partners": None if partner_ids is None else list(partner_ids),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH owed AS (
                SELECT a.id AS account_id, SUM(-e.amount) AS owed
                  FROM {_ENTRIES} e
                  JOIN {_TRANSACTIONS} t ON t.id = e.transaction_id
                  JOIN {_ACCOUNTS} a ON a.id = e.account_id
                 WHERE a.purpose = ANY(%(purposes)s)
                   AND (%(partners)s::bigint[] IS NULL OR a.partner_id = ANY(%(partners)s::bigint[]))
                   AND (%(period)s::text IS NULL OR t.period <= %(period)s::text OR t.kind = %(payout)s)
                 GROUP BY a.id
            ), held AS (
                SELECT i.account_id, SUM(i.amount) AS held
                  FROM {_ITEMS} i
                  JOIN {_LINES} l ON l.id = i.line_id
                  JOIN {_BATCHES} b ON b.id = l.batch_id
                 WHERE l.status = %(to_pay)s AND b.status = ANY(%(open)s)
                   AND (%(partners)s::bigint[] IS NULL OR l.partner_id = ANY(%(partners)s::bigint[]))
                 GROUP BY i.account_id
            )
            SELECT a.id, a.partner_id, a.purpose, a.currency, COALESCE(o.owed, 0), COALESCE(h.held, 0)
              FROM owed o FULL JOIN held h ON h.account_id = o.account_id
              JOIN {_ACCOUNTS} a ON a.id = COALESCE(o.account_id, h.account_id)
             WHERE COALESCE(o.owed, 0) <> 0 OR COALESCE(h.held, 0) <> 0
             ORDER BY a.partner_id, a.purpose, a.currency
            """,
            params,
        )
        return [Payable(*row) for row in cursor.fetchall()]


def latest_usd_rates(*, codes: Iterable[str], on_or_before: date) -> dict[str, tuple[Decimal, date]]:
    """Each currency's latest ``usd_rate`` on or before the day, with its day; USD is 1 (no row needed). A
    currency without any such rate is missing from the answer."""
    found: dict[str, tuple[Decimal, date]] = {}
    others = sorted({c for c in codes if c != "USD"})
    if "USD" in set(codes):
        found["USD"] = (Decimal(1), on_or_before)
    if others:
        rows = (
            ConversionRate.objects.filter(currency__in=others, day__lte=on_or_before)
            .order_by("currency", "-day")
            .distinct("currency")
            .values_list("currency", "usd_rate", "day")
        )
        found.update({code: (rate, day) for code, rate, day in rows})
    return found


def payout_batch_list() -> QuerySet[PayoutBatch]:
    return PayoutBatch.objects.select_related("created_by", "approved_by", "exported_by", "closed_by").order_by("-id")


def payout_batch_get(*, batch_id: int) -> PayoutBatch | None:
    return payout_batch_list().filter(pk=batch_id).first()


def payout_lines(*, batch: PayoutBatch) -> QuerySet[PayoutLine]:
    return PayoutLine.objects.filter(batch=batch).select_related("partner").order_by("partner__code", "id")


def payout_batch_totals(*, batch: PayoutBatch) -> list[dict]:
    """Lines and amounts per (status, payout currency)."""
    return payout_batch_totals_of(batch_ids=[batch.pk]).get(batch.pk, [])


def payout_batch_totals_of(*, batch_ids: Iterable[int]) -> dict[int, list[dict]]:
    """``payout_batch_totals`` of several batches, in one query."""
    rows = (
        PayoutLine.objects.filter(batch_id__in=list(batch_ids))
        .values("batch_id", "status", "payout_currency")
        .annotate(lines=Count("id"), amount=Sum("amount"))
        .order_by("batch_id", "status", "payout_currency")
    )
    totals: dict[int, list[dict]] = {}
    for r in rows:
        totals.setdefault(r["batch_id"], []).append(
            {"status": r["status"], "currency": r["payout_currency"], "lines": r["lines"], "amount": r["amount"]}
        )
    return totals


BALANCE_OPERATION_HEADER = ("server", "login", "amount", "currency", "comment", "reference")


_REBATE_OPERATIONS = f"""
    SELECT c.server, c.login, SUM(-e.amount) AS amount, a.currency, t.kind, t.source_key
      FROM {_ENTRIES} e
      JOIN {_TRANSACTIONS} t ON t.id = e.transaction_id
      JOIN {_ACCOUNTS} a ON a.id = e.account_id
      JOIN {_CLIENT_ACCOUNTS} c ON c.id = a.client_account_id
     WHERE a.purpose = %s AND t.period = %s
     GROUP BY c.server, c.login, a.currency, t.kind, t.source_key
    HAVING SUM(e.amount) <> 0
"""


def client_rebate_totals(*, period: str) -> tuple[int, dict[str, Decimal]]:
    """How many rows ``client_rebate_operations`` exports for the period, and their sum per currency (at its minor
    unit) — the figures the download's audit record keeps, counted in the database."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.currency, COUNT(*), SUM(o.amount) FROM ({_REBATE_OPERATIONS}) o GROUP BY o.currency",
            [str(Purpose.CLIENT_PAYABLE), period],
        )
        found = cursor.fetchall()
    return sum(n for _, n, _ in found), {
        currency: quantize(Decimal(total), currency_places(currency)) for currency, _, total in found
    }


def client_rebate_operations(*, period: str) -> Iterator[tuple]:
    """The period's approved client rebates as platform balance operations (API.md): one per posted rebate
    transaction and client account — ``server, login, amount, currency, comment, reference`` — the amount credited
    to the client's trading account (negative when a later correction takes some back), at the currency's minor
    unit, the reference the transaction's source key (deterministic: an operation exported twice is refused by the
    platform, never credited twice). Streamed from a server-side cursor (constant memory), by server, login, key."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            _REBATE_OPERATIONS + " ORDER BY c.server, c.login, t.source_key", [str(Purpose.CLIENT_PAYABLE), period]
        )
        places: dict[str, int] = {}
        while rows := cursor.fetchmany(5000):
            for server, login, amount, currency, kind, key in rows:
                if currency not in places:
                    places[currency] = currency_places(currency)
                # Posted legs are at the minor unit already (stored at the journal's 8 places): this only drops the
                # trailing zeros a platform would read as more precision than the currency has.
                amount = quantize(Decimal(amount), places[currency])
                yield (server, login, amount, currency, f"IB client rebate {period} ({kind})", key)
