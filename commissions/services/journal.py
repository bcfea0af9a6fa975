"""Posting approved runs to the double-entry journal.

Approving a run posts, per (beneficiary, kind, currency), one balanced transaction: the expense leg carries the
exact 6-dp sum of the lines, the payable leg that sum rounded once, half-up, to the currency's minor unit
(``core.money.round_minor``), and the rounding leg the difference. PostgreSQL rejects any unbalanced transaction at
commit and any update or delete of a posted row (triggers on the journal tables).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.api.errors import Conflict
from core.money import round_minor

from ..models import JournalEntry, JournalTransaction, LedgerAccount, Run

T = LedgerAccount.Type


def _ledger_accounts(keys: set[tuple[str, str, int | None, int | None]]) -> dict[tuple, LedgerAccount]:
    """Fetch or create the ledger accounts named by (type, currency, partner_id, client_account_id)."""
    found: dict[tuple, LedgerAccount] = {}
    types = {k[0] for k in keys}
    for acc in LedgerAccount.objects.filter(type__in=types, currency__in={k[1] for k in keys}):
        found[(acc.type, acc.currency, acc.partner_id, acc.client_account_id)] = acc
    missing = [k for k in keys if k not in found]
    if missing:
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(
                    type=t,
                    currency=cur,
                    partner_id=partner_id,
                    client_account_id=account_id,
                    name=f"{T(t).label} {cur}"
                    + (f" partner {partner_id}" if partner_id else "")
                    + (f" account {account_id}" if account_id else ""),
                )
                for t, cur, partner_id, account_id in missing
            ],
            ignore_conflicts=True,
        )
        for acc in LedgerAccount.objects.filter(type__in=types, currency__in={k[1] for k in missing}):
            found[(acc.type, acc.currency, acc.partner_id, acc.client_account_id)] = acc
    return found


def run_approve(*, run_id: int, user=None) -> Run:
    """Post the run's lines to the journal and lock its period. Approving twice posts nothing more.

    The beneficiary is the partner, or for a client rebate the client account (a partner's rebate funding lines
    name the rebated account too, but the partner is who pays, so they post to the partner)."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status == Run.Status.APPROVED:
            return run
        if run.status != Run.Status.COMPUTED:
            raise Conflict(f"run {run.pk} is {run.status}; only a computed run can be approved")
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT partner_id, CASE WHEN partner_id IS NULL THEN beneficiary_account_id END AS client,
                       kind, currency, SUM(amount)
                  FROM commissions_attributionline
                 WHERE run_id = %s
                 GROUP BY partner_id, client, kind, currency
                HAVING SUM(amount) <> 0
                 ORDER BY partner_id NULLS LAST, client NULLS LAST, kind, currency
                """,
                [run.pk],
            )
            groups = cursor.fetchall()
        journal_post_groups(run=run, groups=groups, period=run.period, user=user)
        run.status = Run.Status.APPROVED
        run.approved_by = user if getattr(user, "is_authenticated", False) else None
        run.approved_at = timezone.now()
        run.save(update_fields=["status", "approved_by", "approved_at"])
    return run


def journal_post_groups(*, run: Run | None, groups: list[tuple], period: str, user=None) -> list[JournalTransaction]:
    """Post one balanced transaction per (partner_id, client_account_id, kind, currency, exact_sum) group."""
    keys: set[tuple] = set()
    for partner_id, account_id, _kind, currency, _total in groups:
        keys.add((T.COMMISSION_EXPENSE, currency, None, None))
        keys.add((T.ROUNDING, currency, None, None))
        if partner_id is not None:
            keys.add((T.PARTNER_PAYABLE, currency, partner_id, None))
        else:
            keys.add((T.CLIENT_PAYABLE, currency, None, account_id))
    accounts = _ledger_accounts(keys)
    posted_by = user if getattr(user, "is_authenticated", False) else None
    txs = JournalTransaction.objects.bulk_create(
        JournalTransaction(
            run=run,
            period=period,
            kind=kind,
            partner_id=partner_id,
            client_account_id=None if partner_id is not None else account_id,
            currency=currency,
            memo=f"{kind} {period}" + (f" run {run.pk}" if run else ""),
            posted_by=posted_by,
        )
        for partner_id, account_id, kind, currency, _total in groups
    )
    entries: list[JournalEntry] = []
    for tx, (partner_id, account_id, _kind, currency, total) in zip(txs, groups, strict=True):
        exact = Decimal(total)
        rounded = round_minor(exact, currency)
        payable = (
            accounts[(T.PARTNER_PAYABLE, currency, partner_id, None)]
            if partner_id is not None
            else accounts[(T.CLIENT_PAYABLE, currency, None, account_id)]
        )
        entries.append(
            JournalEntry(
                transaction=tx,
                account=accounts[(T.COMMISSION_EXPENSE, currency, None, None)],
                amount=exact,
                currency=currency,
            )
        )
        entries.append(JournalEntry(transaction=tx, account=payable, amount=-rounded, currency=currency))
        if rounded != exact:
            entries.append(
                JournalEntry(
                    transaction=tx,
                    account=accounts[(T.ROUNDING, currency, None, None)],
                    amount=rounded - exact,
                    currency=currency,
                )
            )
    JournalEntry.objects.bulk_create(entries)
    return txs
