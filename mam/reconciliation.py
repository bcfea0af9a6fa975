"""The MAM fee check of a period's reconciliation (registered in ``apps``; ``ledger.reconciliation``).

**Fee lines vs postings** (``fee_postings``): the fee lines of the period's approved fee runs (one per group scope,
or one for the whole period) as the approval posts them (``services.fee_run``): management and performance fees per
(manager, kind, currency) credit the manager's payable; a fee share per (IB, manager, currency) credits the IB's
partner payable and debits the manager's payable (``fee_share`` owed negative to the manager). Each posting's sum is
rounded once to the currency's minor unit and compared, per (payable, owner, kind, currency), with every payable leg
of the period's fee-kind transactions (``ledger.reconciliation.payables``). State rows carry no money and are left
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import connection

from ledger.reconciliation.payables import ExpectedPosting, Key, payables_vs_lines
from ledger.reconciliation.registry import EVIDENCE_LIMIT, Evidence, EvidenceType, ReconciliationCheck, Row
from ledger.vocabulary import Purpose
from partners.models import ClientAccount
from runs.selectors import approved_run_ids

from .models import FeeLine
from .vocabulary import FEE_KINDS, INVESTOR_FEE_KINDS, FeeLineKind

KIND = "fees"
LINES = FeeLine._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table

_INVESTOR = f"""
    SELECT run_id, partner_id, kind, currency, COUNT(*), SUM(amount)
      FROM {LINES} WHERE run_id = ANY(%s) AND kind = ANY(%s)
     GROUP BY run_id, partner_id, kind, currency
"""
_SHARES = f"""
    SELECT run_id, partner_id, manager_id, currency, COUNT(*), SUM(amount)
      FROM {LINES} WHERE run_id = ANY(%s) AND kind = %s
     GROUP BY run_id, partner_id, manager_id, currency
"""
# A fee line's evidence names its account by natural key (server:login).
_GROUP_LINES = f"""
    SELECT l.id, a.server, a.login, l.kind, l.amount FROM {LINES} l JOIN {ACCOUNTS} a ON a.id = l.account_id
     WHERE l.run_id = ANY(%(runs)s) AND l.kind = %(kind)s AND l.currency = %(currency)s
       AND (CASE WHEN %(by_manager)s THEN l.manager_id = %(owner)s::bigint
                 ELSE l.partner_id IS NOT DISTINCT FROM %(owner)s::bigint END)
     ORDER BY l.id LIMIT %(limit)s
"""


class FeePostingsCheck(ReconciliationCheck):
    name = "fee_postings"
    label = "MAM fee lines vs journal postings per (beneficiary, kind, currency)"
    area = KIND
    order = 40
    journal_kinds = frozenset(str(k) for k in FEE_KINDS)

    def note(self, *, period: str) -> str:
        runs = approved_run_ids(kind=KIND, period=period)
        return f"approved fee run(s) {', '.join(map(str, runs))}" if runs else "no approved fee run of the period"

    def rows(self, *, period: str) -> list[Row]:
        runs = approved_run_ids(kind=KIND, period=period)
        expected: list[ExpectedPosting] = []
        if runs:
            with connection.cursor() as cursor:
                cursor.execute(_INVESTOR, [runs, sorted(str(k) for k in INVESTOR_FEE_KINDS)])
                for run_id, manager_id, kind, currency, lines, total in cursor.fetchall():
                    expected.append(
                        ExpectedPosting(
                            run_id, Purpose.MANAGER_PAYABLE, manager_id, kind, currency, lines, Decimal(total)
                        )
                    )
                cursor.execute(_SHARES, [runs, str(FeeLineKind.FEE_SHARE)])
                share = str(FeeLineKind.FEE_SHARE)
                for run_id, ib_id, manager_id, currency, lines, total in cursor.fetchall():
                    # One posting per (IB, manager, currency): the IB is owed it, the manager gives it up.
                    expected.append(
                        ExpectedPosting(run_id, Purpose.PARTNER_PAYABLE, ib_id, share, currency, lines, Decimal(total))
                    )
                    expected.append(
                        ExpectedPosting(
                            run_id, Purpose.MANAGER_PAYABLE, manager_id, share, currency, lines, -Decimal(total)
                        )
                    )
        return payables_vs_lines(
            period=period, kinds=self.journal_kinds, expected=expected, line_evidence=_group_line_evidence
        )


def _group_line_evidence(key: Key, postings: Sequence[ExpectedPosting]) -> list[Evidence]:
    purpose, owner, kind, currency = key
    params = {
        "runs": sorted({p.run_id for p in postings}),
        "kind": kind,
        "currency": currency,
        # A manager's fee-share leg is the fee shares the manager gives up: its lines name it as manager.
        "by_manager": purpose == Purpose.MANAGER_PAYABLE and kind == FeeLineKind.FEE_SHARE,
        "owner": owner,
        "limit": EVIDENCE_LIMIT,
    }
    with connection.cursor() as cursor:
        cursor.execute(_GROUP_LINES, params)
        return [
            Evidence(EvidenceType.FEE_LINE, pk, f"{server}:{login} {kind}", Decimal(amount))
            for pk, server, login, kind, amount in cursor.fetchall()
        ]
