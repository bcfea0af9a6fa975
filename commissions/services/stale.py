"""Trades a run priced on terms that changed before it was approved: restated at its approval (DOMAIN.md 3, 4.0).

A change may be back-dated into a period while no run of it is approved (``core.history``): the broker corrects a
mistake before approving. A run computed before the change priced the period's trades with the terms as they were;
its approval warns about the change (``late``), and if the broker approves all the same, the dated records and the
posted money disagree for the trades the change reaches — with nothing left to repair them, since the period is
then locked and no trade version changed. So the approval restates them (``versions.trades_restate``: a new
version, the same but for its ``ingested_at``), inside its own transaction: the period's first open successor
reverses what was posted for them and pays each again under the terms of its close time — the adjustment is
exactly the difference, usually zero for a trade the change did not alter after all.

Which trades a change reaches is what it recorded (``core.history.Reach``), within ``[since, until)`` and the
run's period: those of its accounts; those whose lines in this run name one of its partners (a partner's parent,
plan, status, program or rebate, a plan's or a program's terms act only where the partner takes part in the chain,
and every participating level has a line); and, for a change that names nobody (a rate), every trade of the window.
Only versions the run read (within its snapshot) and still current are restated: a later version is queued already.
The work grows with the trades the late changes reach, not with the period's size.
"""

from __future__ import annotations

from django.db import connection

from core.models import DatedChange
from partners.models import ClientAccount
from runs.models import Run

from ..adapters import Snapshot, dated_after, dated_params
from ..models import AttributionLine
from .versions import TRADES, trades_restate

CHANGES = DatedChange._meta.db_table
LINES = AttributionLine._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table

# The current versions ``run`` read whose pricing a dated change it did not see (not committed in its snapshot)
# may alter.
REACHED_SQL = f"""
WITH changed AS (
    SELECT greatest(c.since, %(start)s) AS since, least(coalesce(c.until, %(end)s), %(end)s) AS until,
           c.partner_ids, c.account_ids
      FROM {CHANGES} c
     WHERE {dated_after("c")} AND c.since < %(end)s AND (c.until IS NULL OR c.until > %(start)s)
)
SELECT t.id
  FROM changed c
  JOIN {TRADES} t ON t.close_time >= c.since AND t.close_time < c.until
 WHERE cardinality(c.partner_ids) = 0 AND cardinality(c.account_ids) = 0 AND t.is_current AND t.id <= %(trade_max)s
UNION
SELECT t.id
  FROM changed c
  JOIN {LINES} x ON x.run_id = %(run)s AND x.partner_id = ANY(c.partner_ids)
  JOIN {TRADES} t ON t.id = x.trade_id AND t.is_current AND t.close_time >= c.since AND t.close_time < c.until
UNION
SELECT t.id
  FROM changed c
  JOIN {ACCOUNTS} a ON a.id = ANY(c.account_ids)
  JOIN {TRADES} t ON t.server = a.server AND t.login = a.login AND t.is_current AND t.id <= %(trade_max)s
       AND t.close_time >= c.since AND t.close_time < c.until
"""


def trades_restate_changed_under(*, run: Run) -> int:
    """Inside ``run``'s approval: restate the trades of its period that dated changes it did not see (committed
    after its snapshot, wherever their insert's clock stood) reach (see the module docstring); the number
    restated. Their new versions close in the period being locked, so the approval queues them for adjustment
    (``adjustments.late_versions_settle``)."""
    params = {
        "run": run.pk,
        "start": run.period_start,
        "end": run.period_end,
        **dated_params(run),
        **Snapshot.of(run).params(),
    }
    with connection.cursor() as cursor:
        return trades_restate(cursor, source=REACHED_SQL, params=params)
