"""Changes to trades of locked (approved) periods: reversals and adjustments in the next open period.

DOMAIN.md: a trade changed or cancelled after its period was approved never edits posted money. The run of the
first open period after the locked one carries, for each such trade:
- ``reversal`` lines that negate what the last posted version earned (summed per beneficiary and level, on that
  old version, naming the locked period in ``adjusts_period``);
- the new version's lines, computed exactly as the locked period's run would have (its chain, plans and tier
  context at close time), with their usual kinds and ``adjusts_period`` set. A cancelled version earns nothing, so
  only the reversal remains.
A trade is pending while no live run holds lines for its current version (as of the run's snapshot). A queued or
running run's lines are not visible yet: they attach when it is computed. That leaves no gap: a pending change belongs
to exactly one period, the first open one after its locked period, and that period has at most one live run.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from django.db import connection

from ledger.selectors import locked_periods
from runs.models import LIVE_STATUSES, Run

from ..adapters import TRADES, Snapshot, as_of_snapshot, compute_trades, load_trades
from ..models import AttributionLine

KIND = "commissions"
LINES = AttributionLine._meta.db_table
RUNS = Run._meta.db_table

PENDING_SQL = f"""
SELECT t.id, l.id AS locked_run_id, l.period
  FROM {TRADES} t
  JOIN {RUNS} l ON l.kind = %(kind)s AND l.status = 'approved'
               AND t.close_time >= l.period_start AND t.close_time < l.period_end
 WHERE {as_of_snapshot("t")} AND t.version > 1 AND t.close_time < %(start)s
   AND NOT EXISTS (
        SELECT 1 FROM {LINES} x JOIN {RUNS} r ON r.id = x.run_id
         WHERE x.trade_id = t.id AND r.status = ANY(%(live)s) AND r.id <> %(run)s)
   AND EXISTS (
        SELECT 1 FROM {TRADES} o
          JOIN {LINES} x ON x.trade_id = o.id
          JOIN {RUNS} r ON r.id = x.run_id AND r.status = 'approved'
         WHERE o.server = t.server AND o.ticket = t.ticket AND o.id <> t.id)
 ORDER BY t.id
"""


def _next_open_period(period: str, locked: set[str]) -> str:
    year, month = int(period[:4]), int(period[5:])
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        label = f"{year:04d}-{month:02d}"
        if label not in locked:
            return label


def pending_adjustments(*, run: Run) -> dict[int, list[int]]:
    """Current trade versions (as of the run's snapshot) whose changes belong to ``run``: locked run id → trade
    ids."""
    params = {"kind": KIND, "start": run.period_start, "run": run.pk, "live": list(LIVE_STATUSES)}
    params.update(Snapshot.of(run).params())
    with connection.cursor() as cursor:
        cursor.execute(PENDING_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return {}
    locked = locked_periods(kind=KIND)
    pending: dict[int, list[int]] = defaultdict(list)
    for trade_id, locked_run_id, period in rows:
        if _next_open_period(period, locked) == run.period:
            pending[locked_run_id].append(trade_id)
    return dict(pending)


def _reversal_lines(*, run: Run, trade_ids: list[int], locked_period: str) -> pd.DataFrame:
    """Negate, per beneficiary and level, the lines of the last posted version of each trade."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH current AS (SELECT server, ticket FROM {TRADES} WHERE id = ANY(%(ids)s::bigint[])),
            posted AS (
                SELECT DISTINCT ON (o.server, o.ticket) o.id
                  FROM {TRADES} o JOIN current c ON c.server = o.server AND c.ticket = o.ticket
                  JOIN {LINES} x ON x.trade_id = o.id AND x.kind <> 'reversal'
                  JOIN {RUNS} r ON r.id = x.run_id AND r.status = 'approved'
                 ORDER BY o.server, o.ticket, o.version DESC)
            SELECT x.trade_id, x.account_id, x.partner_id, x.beneficiary_account_id, x.level,
                   -SUM(x.amount_micros), MIN(x.currency)
              FROM {LINES} x
              JOIN posted p ON p.id = x.trade_id
              JOIN {RUNS} r ON r.id = x.run_id AND r.status = 'approved'
             WHERE x.kind <> 'reversal'
             GROUP BY x.trade_id, x.account_id, x.partner_id, x.beneficiary_account_id, x.level
            HAVING SUM(x.amount_micros) <> 0
            """,
            {"ids": trade_ids},
        )
        rows = cursor.fetchall()
    columns = ["trade_id", "account_id", "partner_id", "beneficiary_account_id", "level", "amount_micros", "currency"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    if frame.empty:
        return frame
    return frame.assign(
        run_id=run.pk,
        period=run.period,
        kind="reversal",
        rule_id=pd.array([None] * len(frame), dtype="Int64"),
        base_micros=0,
        rate_micros=pd.array([None] * len(frame), dtype="Int64"),
        tier=pd.array([None] * len(frame), dtype="Int64"),
        multiplier_micros=pd.array([None] * len(frame), dtype="Int64"),
        reason="",
        adjusts_period=locked_period,
        account_id=frame["account_id"].astype("Int64"),
        partner_id=frame["partner_id"].astype("Int64"),
        beneficiary_account_id=frame["beneficiary_account_id"].astype("Int64"),
    )


def _recomputed_lines(*, run: Run, locked_run: Run, trade_ids: list[int]) -> pd.DataFrame:
    trades = load_trades(run=locked_run, trade_ids=trade_ids, snapshot=Snapshot.of(run))
    if trades.empty:
        return pd.DataFrame()
    shaped = compute_trades(run=run, trades=trades, context_run=locked_run)
    shaped["adjusts_period"] = locked_run.period
    return shaped


def adjustment_lines(*, run: Run) -> pd.DataFrame:
    """All reversal and adjustment lines that ``run`` carries for changes to locked periods."""
    frames = []
    for locked_run_id, trade_ids in sorted(pending_adjustments(run=run).items()):
        locked_run = Run.objects.get(pk=locked_run_id)
        frames.append(_reversal_lines(run=run, trade_ids=trade_ids, locked_period=locked_run.period))
        frames.append(_recomputed_lines(run=run, locked_run=locked_run, trade_ids=trade_ids))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def has_pending_adjustments(*, run: Run) -> bool:
    return bool(pending_adjustments(run=run))
