"""Trades paid nothing for want of set-up that arrived after their period was approved (DOMAIN.md 3, 4.0).

Set-up is not history: an account created late, an account's first IB and a partner's first plan hold since always
(``core.effective``), so they reach into periods already paid. The trades such a period posted at 0 for want of them
— reason ``no_ib`` (no account, or no IB at close time) or ``no_plan`` (a level without a plan at close time) — earn
something now. Each such trade whose set-up now exists gets a restated version (``versions``), so the adjustments
pay exactly the difference, once: the new version computed under the terms of its close time, minus what was posted
(a reversal of the superseded version where it posted anything, e.g. the upline that earned a level's share while
that level had no plan).

Only trades of approved periods are restated (an unapproved run is recomputed or approved), at two moments:
- when a commission run starts, before its snapshot, those closing before its period, so that its adjustments
  carry them;
- when a commission run is approved, inside its transaction, those of every approved period and of the run's own
  period (set-up that arrived after it read its data, which its approval warns about): what is pending after an
  approval is then always queued for the next adjustments, and shown as pending.
The search reads the approved runs' ``no_ib``/``no_plan`` lines through a partial index, so it grows with those
lines, not with the periods' size.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, transaction

from partners.models import AccountAttribution, ClientAccount
from runs.models import Run

from ..models import AttributionLine, PartnerPlan
from .versions import TRADES, trades_restate

KIND = "commissions"
# The reasons of a line paid 0 for want of set-up; the SQL spells them out so the lines' partial index applies.
UNPAID_FOR_SETUP = ("no_ib", "no_plan")
_END_OF_TIME = datetime(2999, 12, 31, tzinfo=UTC)

# Current versions posted by an approved run at 0 for want of set-up that exists now.
NEWLY_PAYABLE_SQL = f"""
SELECT DISTINCT t.id
  FROM {AttributionLine._meta.db_table} x
  JOIN {Run._meta.db_table} r ON r.id = x.run_id AND r.kind = %(kind)s AND (r.status = 'approved' OR r.id = %(run)s)
  JOIN {TRADES} t ON t.id = x.trade_id AND t.is_current
 WHERE x.reason IN ('no_ib', 'no_plan') AND t.close_time < %(before)s
   AND CASE WHEN x.reason = 'no_ib' THEN EXISTS (
            SELECT 1 FROM {ClientAccount._meta.db_table} a
              JOIN {AccountAttribution._meta.db_table} aa ON aa.account_id = a.id AND aa.partner_id IS NOT NULL
                   AND aa.valid_from <= t.close_time AND (aa.valid_to IS NULL OR t.close_time < aa.valid_to)
             WHERE a.server = t.server AND a.login = t.login)
       ELSE EXISTS (
            SELECT 1 FROM {PartnerPlan._meta.db_table} pp
             WHERE pp.partner_id = x.partner_id AND pp.valid_from <= t.close_time
               AND (pp.valid_to IS NULL OR t.close_time < pp.valid_to))
       END
"""


def trades_restate_newly_payable(*, before: datetime | None = None, approving: Run | None = None) -> int:
    """Restate every trade closing before ``before`` (any, without it) that an approved run — or ``approving``, the
    run being approved — posted at 0 for want of set-up which now exists (see the module docstring); the number of
    trades restated."""
    with transaction.atomic(), connection.cursor() as cursor:
        return trades_restate(
            cursor,
            source=NEWLY_PAYABLE_SQL,
            params={
                "kind": KIND,
                "before": before or _END_OF_TIME,
                "run": approving.pk if approving is not None else 0,
            },
        )
