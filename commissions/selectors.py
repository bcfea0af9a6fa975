"""Reads over runs, lines and the journal. Statements come from posted (approved) journal rows only."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection

from core.money import round_line

PAYOUT_KIND = "payout"


def run_totals(*, run_id: int) -> dict[str, Decimal]:
    """Sum of a run's line amounts by kind (USD, 6 dp)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, SUM(amount) FROM commissions_attributionline WHERE run_id = %s GROUP BY kind ORDER BY kind",
            [run_id],
        )
        return {kind: round_line(Decimal(total)) for kind, total in cursor.fetchall()}


def partner_statement(*, partner, period: str, currency: str = "USD") -> dict:
    """Opening balance, posted totals by kind, payouts and closing balance of a partner for one period.

    Balances are what the broker owes the partner: the negated sum of the partner's payable legs. Periods compare
    as ``YYYY-MM`` text, which orders them correctly.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COALESCE(SUM(-e.amount) FILTER (WHERE t.period < %(period)s), 0),
                   COALESCE(SUM(-e.amount) FILTER (WHERE t.period = %(period)s AND t.kind = %(payout)s), 0)
              FROM commissions_journalentry e
              JOIN commissions_journaltransaction t ON t.id = e.transaction_id
              JOIN commissions_ledgeraccount a ON a.id = e.account_id
             WHERE a.type = 'partner_payable' AND a.partner_id = %(partner)s AND a.currency = %(currency)s
            """,
            {"period": period, "payout": PAYOUT_KIND, "partner": partner.pk, "currency": currency},
        )
        opening, payouts_signed = cursor.fetchone()
        cursor.execute(
            """
            SELECT t.kind, SUM(-e.amount)
              FROM commissions_journalentry e
              JOIN commissions_journaltransaction t ON t.id = e.transaction_id
              JOIN commissions_ledgeraccount a ON a.id = e.account_id
             WHERE a.type = 'partner_payable' AND a.partner_id = %(partner)s AND a.currency = %(currency)s
               AND t.period = %(period)s AND t.kind <> %(payout)s
             GROUP BY t.kind ORDER BY t.kind
            """,
            {"period": period, "payout": PAYOUT_KIND, "partner": partner.pk, "currency": currency},
        )
        totals = {kind: Decimal(amount) for kind, amount in cursor.fetchall()}
    earned = sum(totals.values(), Decimal(0))
    payouts = -Decimal(payouts_signed)  # a payout debits the payable: it lowers what is owed
    opening = Decimal(opening)
    return {
        "partner": partner.code,
        "period": period,
        "currency": currency,
        "opening_balance": opening,
        "totals": totals,
        "earned": earned,
        "payouts": payouts,
        "closing_balance": opening + earned - payouts,
    }
