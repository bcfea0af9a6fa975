"""Payouts vs payable (``PAYOUTS_CHECK``): what payout batches say was paid equals what the journal posted, and no
open batch holds more than a partner is owed.

- ``paid`` per currency: the items of lines marked paid during the period (their amounts, in the payable's
  currency) against the payable debits of the period's ``payout`` transactions; a payout transaction no paid item
  names, or a paid item without its transaction, is a difference with the row behind it.
- ``held`` per currency: every payable account's hold by lines to pay of open batches against what it is owed now;
  a hold above what is owed (a reversal posted after the batch was made) is a difference naming the account: paying
  it would pay more than the partner earned.

Units: exact ``Decimal`` in the payable's currency (payable legs and payout items are at its minor unit).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection

from core.periods import server_period
from partners.models import Partner

from ..models import JournalEntry, JournalTransaction, LedgerAccount, PayoutItem, PayoutLine
from ..payout_selectors import PAYABLE_PURPOSES, payables
from ..selectors import PAYOUT_KIND
from .labels import source_labels
from .registry import EVIDENCE_LIMIT, PAYOUTS_CHECK, Evidence, EvidenceType, ReconciliationCheck, Row, Status

_ENTRIES = JournalEntry._meta.db_table
_TRANSACTIONS = JournalTransaction._meta.db_table
_ACCOUNTS = LedgerAccount._meta.db_table
_ITEMS = PayoutItem._meta.db_table
_LINES = PayoutLine._meta.db_table
_PARTNERS = Partner._meta.db_table


class PayoutsCheck(ReconciliationCheck):
    name = PAYOUTS_CHECK
    label = "Payouts vs payable: paid lines = payout postings; no batch holds more than is owed"
    area = "payouts"
    order = 60
    journal_kinds = frozenset({PAYOUT_KIND})

    def rows(self, *, period: str) -> list[Row]:
        return [*self._paid(period), *self._held()]

    def _paid(self, period: str) -> list[Row]:
        cut = server_period(period)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT i.currency, i.id, i.amount, i.transaction_id, l.batch_id, p.code
                  FROM {_ITEMS} i JOIN {_LINES} l ON l.id = i.line_id JOIN {_PARTNERS} p ON p.id = l.partner_id
                 WHERE l.status = 'paid' AND l.resolved_at >= %s AND l.resolved_at < %s
                """,
                [cut.start, cut.end],
            )
            items = cursor.fetchall()
            cursor.execute(
                f"""
                SELECT t.currency, t.id, t.source_key, e.amount
                  FROM {_TRANSACTIONS} t
                  JOIN {_ENTRIES} e ON e.transaction_id = t.id
                  JOIN {_ACCOUNTS} a ON a.id = e.account_id
                 WHERE t.kind = %s AND t.period = %s AND a.purpose = ANY(%s)
                """,
                [PAYOUT_KIND, period, PAYABLE_PURPOSES],
            )
            postings = cursor.fetchall()
        expected: dict[str, Decimal] = defaultdict(Decimal)
        actual: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        evidence: dict[str, list[Evidence]] = defaultdict(list)
        named = {transaction_id for _, _, _, transaction_id, _, _ in items if transaction_id}
        for currency, item_id, amount, transaction_id, batch_id, partner in items:
            expected[currency] += amount
            counts[currency] += 1
            if transaction_id is None:
                label = f"batch {batch_id} {partner}: paid item without a payout"  # the line's natural key
                evidence[currency].append(Evidence(EvidenceType.PAYOUT_ITEM, item_id, label, amount))
        labels = source_labels(key for _, transaction_id, key, _ in postings if transaction_id not in named)
        for currency, transaction_id, key, amount in postings:
            actual[currency] += amount  # a payout debits the payable: the amount paid
            if transaction_id not in named:
                evidence[currency].append(Evidence(EvidenceType.TRANSACTION, transaction_id, labels[key], amount))
        rows = []
        for currency in sorted(set(expected) | set(actual)):
            found = evidence[currency]
            differs = expected[currency] != actual[currency] or bool(found)
            rows.append(
                Row(
                    subject="paid",
                    detail="paid payout items vs payout postings of the period",
                    currency=currency,
                    count=counts[currency],
                    expected=expected[currency],
                    actual=actual[currency],
                    status=Status.DIFFERENCE if differs else Status.OK,
                    evidence=tuple(found[:EVIDENCE_LIMIT]),
                    evidence_total=len(found) or None,
                )
            )
        return rows

    def _held(self) -> list[Row]:
        held: dict[str, Decimal] = defaultdict(Decimal)
        owed: dict[str, Decimal] = defaultdict(Decimal)
        over: dict[str, list[Evidence]] = defaultdict(list)
        rows = payables()
        codes = dict(Partner.objects.filter(pk__in={p.partner_id for p in rows}).values_list("pk", "code"))
        for payable in rows:
            if payable.held == 0:
                continue
            held[payable.currency] += payable.held
            owed[payable.currency] += payable.owed
            if payable.held > payable.owed:
                partner = codes[payable.partner_id]
                label = f"partner {partner} {payable.purpose}: holds {payable.held}, owed {payable.owed}"
                over[payable.currency].append(Evidence(EvidenceType.ACCOUNT, payable.account_id, label, payable.held))
        return [
            Row(
                subject="held",
                detail="held by lines to pay of open batches vs owed on those accounts now",
                currency=currency,
                expected=owed[currency],
                actual=held[currency],
                status=Status.DIFFERENCE if over[currency] else Status.OK,
                evidence=tuple(over[currency][:EVIDENCE_LIMIT]),
                evidence_total=len(over[currency]) or None,
                note="a hold above what is owed would pay more than was earned",
            )
            for currency in sorted(held)
        ]
