"""The ledger's own reconciliation checks: the trial balance nets to zero per currency, and every payable posting of
the period is reconciled by some registered check (a posting of a kind no check claims — a manual entry, a payout
before the payouts check exists — is flagged, never left unseen)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import connection

from ..models import JournalEntry, JournalTransaction, LedgerAccount
from ..selectors import currency_places, trial_balance, trial_balance_totals
from .labels import source_labels
from .payables import PAYABLES, shown
from .registry import (
    EVIDENCE_LIMIT,
    Evidence,
    EvidenceType,
    ReconciliationCheck,
    Row,
    Status,
    reconciled_journal_kinds,
)

_ENTRIES = JournalEntry._meta.db_table
_TRANSACTIONS = JournalTransaction._meta.db_table
_ACCOUNTS = LedgerAccount._meta.db_table


class TrialBalanceCheck(ReconciliationCheck):
    """Every account's posted legs up to the period's end, per currency: debits and credits net to zero."""

    name = "trial_balance"
    label = "Trial balance nets to zero (up to the period)"
    area = "ledger"
    order = 10

    def rows(self, *, period: str) -> list[Row]:
        accounts = trial_balance(period_to=period)
        totals = trial_balance_totals(accounts)
        debits: dict[str, Decimal] = defaultdict(Decimal)
        credits: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        for account in accounts:
            debits[account.currency] += account.debits
            credits[account.currency] += account.credits
            counts[account.currency] += 1
        rows = []
        for currency, net in sorted(totals.items()):
            status = Status.OK if net == 0 else Status.DIFFERENCE
            places = currency_places(currency)
            net = shown(net, places)
            evidence = _unbalanced_transactions(period=period, currency=currency) if net else ()
            rows.append(
                Row(
                    subject="net",
                    detail=f"debits {shown(debits[currency], 6)} credits {shown(credits[currency], 6)}",
                    currency=currency,
                    count=counts[currency],
                    expected=Decimal(0),
                    actual=net,
                    status=status,
                    evidence=tuple(evidence),
                    note="accounts with postings",
                )
            )
        return rows


def _unbalanced_transactions(*, period: str, currency: str) -> list[Evidence]:
    """Transactions up to the period whose legs do not sum to zero (PostgreSQL refuses them at commit: finding one
    means a trigger was bypassed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT t.id, t.source_key, COALESCE(SUM(e.amount), 0)
              FROM {_TRANSACTIONS} t LEFT JOIN {_ENTRIES} e ON e.transaction_id = t.id
             WHERE t.period <= %s AND t.currency = %s
             GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 ORDER BY t.id LIMIT %s
            """,
            [period, currency, EVIDENCE_LIMIT],
        )
        found = cursor.fetchall()
    named = source_labels(key for _, key, _ in found)
    return [Evidence(EvidenceType.TRANSACTION, pk, named[key], Decimal(total)) for pk, key, total in found]


class UnreconciledPostingsCheck(ReconciliationCheck):
    """The period's payable postings by journal kind: each kind is reconciled by a registered check, or flagged."""

    name = "unreconciled_postings"
    label = "Payable postings of the period reconciled by a check"
    area = "ledger"
    order = 90

    def rows(self, *, period: str) -> list[Row]:
        claimed = reconciled_journal_kinds()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT t.kind, t.currency, t.id, t.source_key, SUM(-e.amount)
                  FROM {_TRANSACTIONS} t
                  JOIN {_ENTRIES} e ON e.transaction_id = t.id
                  JOIN {_ACCOUNTS} a ON a.id = e.account_id
                 WHERE t.period = %s AND a.purpose = ANY(%s)
                 GROUP BY t.kind, t.currency, t.id, t.source_key
                 ORDER BY t.kind, t.currency, t.id
                """,
                [period, [str(p) for p in PAYABLES]],
            )
            found = cursor.fetchall()
        by_kind: dict[tuple[str, str], list[tuple[int, str, Decimal]]] = defaultdict(list)
        for kind, currency, pk, key, owed in found:
            by_kind[(kind, currency)].append((pk, key, Decimal(owed)))
        named = source_labels(
            key
            for (kind, _), transactions in by_kind.items()
            if kind not in claimed
            for _, key, _ in transactions[:EVIDENCE_LIMIT]
        )
        rows = []
        for (kind, currency), transactions in sorted(by_kind.items()):
            reconciled = kind in claimed
            places = currency_places(currency)
            transactions = [(pk, key, shown(owed, places)) for pk, key, owed in transactions]
            rows.append(
                Row(
                    subject="reconciled" if reconciled else "not reconciled by any check",
                    detail=kind,
                    currency=currency,
                    count=len(transactions),
                    actual=sum((owed for _, _, owed in transactions), Decimal(0)),
                    status=Status.OK if reconciled else Status.DIFFERENCE,
                    evidence=()
                    if reconciled
                    else tuple(
                        Evidence(EvidenceType.TRANSACTION, pk, named[key], owed)
                        for pk, key, owed in transactions[:EVIDENCE_LIMIT]
                    ),
                    evidence_total=None if reconciled else len(transactions),
                    note="payable postings (transactions) of the period, owed to their owners",
                )
            )
        return rows
