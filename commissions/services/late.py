"""What arrived under a commission run after it read its data: counted when the run is approved.

A run reads the trades and accounts of its snapshot (``adapters.Snapshot``, taken when it starts). Whatever was
written later for its period is not in its figures: trades that closed in the period and arrived late, new versions
(corrections) and cancellations of its trades — including a correction that moves a trade out of the period —,
trades whose symbol was resolved since (an instrument, alias or suffix added: Ibex's own new version, the same but
for its instrument, counted apart from the platform's corrections), trades whose client account was created after
the run started, and dated changes (a back-dated move, IB, plan, rebate or rate, a first assignment) reaching into
the period, recorded since the run started (``core.models.DatedChange``). Approval shows each count
(``vocabulary.LateChangeCode``), so a period is never approved in the belief that it is complete; recomputing before
approving takes them in. Approved as it is, the run leaves the trades they alter pending for the next open period's
adjustments: late versions are queued (``adjustments.late_versions_settle``), trades priced on terms changed since
and trades whose set-up arrived since are restated (``stale``, ``late_setup``).
"""

from __future__ import annotations

from django.db import connection

from core.models import DatedChange
from runs.models import Run
from runs.registry import LateChange

from ..adapters import ACCOUNTS, TRADES, Snapshot, dated_after, dated_params
from ..vocabulary import LateChangeCode

_LATE_SQL = f"""
WITH late AS (
    SELECT t.version, t.status,
           -- Ibex's own version of an unresolved trade, the same but for the instrument: a symbol resolution
           -- (``symbols.trades_resolve_unresolved``), not something the platform sent.
           EXISTS (SELECT 1 FROM {TRADES} p
                    WHERE p.server = t.server AND p.ticket = t.ticket AND p.version = t.version - 1
                      AND p.instrument_id IS NULL AND t.instrument_id IS NOT NULL
                      AND p.content_hash = t.content_hash) AS resolution
      FROM {TRADES} t
     WHERE t.id > %(trade_max)s
       AND ((t.close_time >= %(start)s AND t.close_time < %(end)s)
            OR EXISTS (SELECT 1 FROM {TRADES} o
                        WHERE o.server = t.server AND o.ticket = t.ticket AND o.id <= %(trade_max)s
                          AND o.close_time >= %(start)s AND o.close_time < %(end)s))
)
SELECT (SELECT count(*) FROM late WHERE version = 1),
       (SELECT count(*) FROM late WHERE version > 1 AND status <> 'cancelled' AND NOT resolution),
       (SELECT count(*) FROM late WHERE version > 1 AND status = 'cancelled'),
       (SELECT count(*) FROM late WHERE version > 1 AND status <> 'cancelled' AND resolution),
       (SELECT count(*) FROM {TRADES} t JOIN {ACCOUNTS} a ON a.server = t.server AND a.login = t.login
         WHERE a.id > %(account_max)s AND t.id <= %(trade_max)s AND t.is_current
           AND t.close_time >= %(start)s AND t.close_time < %(end)s)
"""

_DATED_SQL = f"""
SELECT count(*) FROM {DatedChange._meta.db_table}
 WHERE {dated_after(DatedChange._meta.db_table)} AND since < %(end)s AND (until IS NULL OR until > %(start)s)
"""

# In the order the counts of ``_LATE_SQL`` come, then the dated changes.
_MESSAGES = {
    LateChangeCode.LATE_TRADES: "{n} trade(s) closed in {period} arrived after this run read its data",
    LateChangeCode.CORRECTIONS: "{n} correction(s) of {period}'s trades arrived after this run read its data",
    LateChangeCode.CANCELLATIONS: "{n} cancellation(s) of {period}'s trades arrived after this run read its data",
    LateChangeCode.SYMBOL_RESOLUTIONS: "{n} trade(s) of {period} had their symbol resolved (an instrument, alias or "
    "suffix added) after this run read its data",
    LateChangeCode.LATE_ACCOUNTS: "{n} trade(s) of {period} belong to client accounts created after this run read "
    "its data",
    LateChangeCode.DATED_CHANGES: "{n} change(s) of parents, plans, IBs, rebates or rates reaching into {period} "
    "were made after this run read its data",
}


def late_changes(*, run: Run) -> list[LateChange]:
    """Counts (only those > 0) of what ``run`` does not include because it arrived after its snapshot."""
    params = {"start": run.period_start, "end": run.period_end, **Snapshot.of(run).params()}
    with connection.cursor() as cursor:
        cursor.execute(_LATE_SQL, params)
        counts = dict(zip(_MESSAGES, cursor.fetchone(), strict=False))
        cursor.execute(
            _DATED_SQL,
            {**dated_params(run), "start": run.period_start, "end": run.period_end},
        )
        counts[LateChangeCode.DATED_CHANGES] = cursor.fetchone()[0]
    return [
        LateChange(
            code=str(code),
            count=int(count),
            message=f"{_MESSAGES[code].format(n=count, period=run.period)}: they are not in its figures; the "
            "trades they alter are adjusted in the next open period.",
        )
        for code, count in counts.items()
        if count
    ]
