"""Changes to trades of locked (approved) periods: reversals and adjustments in the next open period.

DOMAIN.md 3: a trade that arrives late for an approved period, or is changed or cancelled after it, never edits
posted money; it is paid once. The run of the first open period after the period concerned carries:

- **reversals**: for every posted version of a trade that a newer version has superseded (as of the run's
  snapshot) — a correction, a cancellation, a correction that moved the trade into another period — ``reversal``
  lines negating what that version was posted for, per beneficiary and level, on that version, naming its period
  in ``adjusts_period``. A version is reversed once: a live run's reversal lines for it settle it.
- **adjustments**: every current version that closes in a locked period and that period's approved run never saw
  (ingested after its snapshot: a late trade, a correction or cancellation; or, for a run approved before snapshots
  existed, a new version of a ticket it posted), computed with the chain and plans in force at its close time and
  that run's tier context (``adapters.final_tier_context``: the marginal volume before a version as the period's
  final versions give it — a corrected trade's old version is not volume before its new one; the retroactive band
  as the period was paid), with their usual kinds and ``adjusts_period`` set — and with the terms in force at its
  close time (plan content, program terms, partner statuses, account group and flag: ``adapters``). A symbol
  resolved after its trade was computed is such a new version too (``symbols.trades_resolve_unresolved``).
  Instrument attributes (contract size, pip size, digits) are read as they are now. A cancelled version earns
  nothing, so only the reversal remains. A current version that closes in an open period is simply computed by
  that period's own run — with the reversal of the version it replaced, the trade is paid once whichever period it
  moved to.

Paid once is also PostgreSQL's rule, whatever code approves a run: each commission run's lines are boxed into
posting claims when it is computed, and an exclusion constraint refuses the approval of a run that would post a
version another approved run posted, or reverse one already reversed (``models.claims``: a version is posted
once and reversed once, and a correction is a new version).

A change is pending while no live run holds lines for it (as of the run's snapshot). A queued or running run's lines
are not visible yet: they attach when it is computed. That leaves no gap: a pending change belongs to exactly one
period, the first open one after its locked period, and that period has at most one live run. Both searches start
from the changed rows (old versions, versions newer than a locked run's snapshot), so the work grows with the
corrections, not with the locked periods' size.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from django.db import connection

from ledger.selectors import locked_periods
from runs.models import LIVE_STATUSES, Run

from ..adapters import TRADES, UNBOUNDED, Snapshot, as_of_snapshot, compute_trades, load_trades
from ..models import AttributionLine, LateTradeVersion

KIND = "commissions"
_END_OF_TIME = datetime(2999, 12, 31, tzinfo=UTC)  # later than any locked period: "pending for any run"
LINES = AttributionLine._meta.db_table
LATE = LateTradeVersion._meta.db_table
RUNS = Run._meta.db_table

# A trade version is pending for a locked period when it closes in that period, the period's approved run never saw
# it (ingested after that run's snapshot: a late trade, a correction or a cancellation; or, for a run approved
# before snapshots existed, a new version of a ticket it posted), and no live run holds lines for it yet. The search
# starts from the queue of late versions (``LateTradeVersion``), never from the locked period's trades.
PENDING_SQL = f"""
SELECT t.id, l.id AS locked_run_id, l.period
  FROM {LATE} q
  JOIN {TRADES} t ON t.id = q.trade_id
  JOIN {RUNS} l ON l.kind = %(kind)s AND l.status = 'approved'
               AND t.close_time >= l.period_start AND t.close_time < l.period_end
 WHERE {as_of_snapshot("t")} AND t.close_time < %(start)s
   AND (t.id > COALESCE((l.snapshot ->> 'trade_max_id')::bigint, {UNBOUNDED})
        OR (t.version > 1 AND EXISTS (
            SELECT 1 FROM {TRADES} o
              JOIN {LINES} x ON x.trade_id = o.id
              JOIN {RUNS} r ON r.id = x.run_id AND r.status = 'approved'
             WHERE o.server = t.server AND o.ticket = t.ticket AND o.id <> t.id)))
   AND NOT EXISTS (
        SELECT 1 FROM {LINES} x JOIN {RUNS} r ON r.id = x.run_id
         WHERE x.trade_id = t.id AND r.status = ANY(%(live)s) AND r.id <> %(run)s)
 ORDER BY t.id
"""


def _next_open_period(period: str, locked: set[str]) -> str:
    year, month = int(period[:4]), int(period[5:])
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        label = f"{year:04d}-{month:02d}"
        if label not in locked:
            return label


def _for_this_run(*, run: Run, sql: str) -> dict:
    """Run ``sql`` (rows of (id, key, period)) as of ``run``'s snapshot and keep the rows whose period's first open
    successor is ``run``'s period: key → ids."""
    params = {"kind": KIND, "start": run.period_start, "run": run.pk, "live": list(LIVE_STATUSES)}
    params.update(Snapshot.of(run).params())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return {}
    locked = locked_periods(kind=KIND)
    pending: dict = defaultdict(list)
    for row_id, key, period in rows:
        if _next_open_period(period, locked) == run.period:
            pending[key].append(row_id)
    return dict(pending)


def pending_adjustments(*, run: Run) -> dict[int, list[int]]:
    """Current trade versions (as of the run's snapshot) to compute for locked periods in ``run``: locked run id →
    trade ids."""
    return _for_this_run(run=run, sql=PENDING_SQL)


# Posted versions superseded within the snapshot and not reversed yet by a live run, with the period they were
# posted for (an adjustment names the trade's period in ``adjusts_period``).
SUPERSEDED_SQL = f"""
SELECT DISTINCT o.id, COALESCE(NULLIF(x.adjusts_period, ''), x.period) AS trade_period,
       COALESCE(NULLIF(x.adjusts_period, ''), x.period)
  FROM {TRADES} o
  JOIN {LINES} x ON x.trade_id = o.id AND x.kind <> 'reversal'
  JOIN {RUNS} r ON r.id = x.run_id AND r.kind = %(kind)s AND r.status = 'approved'
 WHERE NOT o.is_current AND o.close_time < %(start)s
   AND EXISTS (SELECT 1 FROM {TRADES} n
                WHERE n.server = o.server AND n.ticket = o.ticket AND n.version > o.version
                  AND n.id <= %(trade_max)s)
   AND NOT EXISTS (
        SELECT 1 FROM {LINES} y JOIN {RUNS} q ON q.id = y.run_id
         WHERE y.trade_id = o.id AND y.kind = 'reversal' AND q.status = ANY(%(live)s) AND q.id <> %(run)s)
   -- A version posted at 0 (no IB, unresolved, filtered out) has nothing to reverse: it is never pending.
   AND EXISTS (
        SELECT 1 FROM {LINES} z JOIN {RUNS} p ON p.id = z.run_id AND p.kind = %(kind)s AND p.status = 'approved'
         WHERE z.trade_id = o.id AND z.kind <> 'reversal'
         GROUP BY z.partner_id, z.beneficiary_account_id, z.level
        HAVING SUM(z.amount_micros) <> 0)
 ORDER BY o.id
"""


def pending_reversals(*, run: Run) -> dict[str, list[int]]:
    """Posted versions whose reversal belongs to ``run``: the trade's period → version ids."""
    return _for_this_run(run=run, sql=SUPERSEDED_SQL)


def _reversal_lines(*, run: Run, version_ids: list[int], period: str) -> pd.DataFrame:
    """Negate, per beneficiary and level, what the approved runs posted for each of ``version_ids``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT x.trade_id, x.account_id, x.partner_id, x.beneficiary_account_id, x.level,
                   -SUM(x.amount_micros), MIN(x.currency)
              FROM {LINES} x
              JOIN {RUNS} r ON r.id = x.run_id AND r.kind = %(kind)s AND r.status = 'approved'
             WHERE x.trade_id = ANY(%(ids)s::bigint[]) AND x.kind <> 'reversal'
             GROUP BY x.trade_id, x.account_id, x.partner_id, x.beneficiary_account_id, x.level
            HAVING SUM(x.amount_micros) <> 0
            """,
            {"ids": version_ids, "kind": KIND},
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
        adjusts_period=period,
        account_id=frame["account_id"].astype("Int64"),
        partner_id=frame["partner_id"].astype("Int64"),
        beneficiary_account_id=frame["beneficiary_account_id"].astype("Int64"),
    )


def _recomputed_lines(*, run: Run, locked_run: Run, trade_ids: list[int]) -> pd.DataFrame:
    trades = load_trades(run=locked_run, trade_ids=trade_ids, snapshot=Snapshot.of(run))
    if trades.empty:
        return pd.DataFrame()
    shaped = compute_trades(run=run, trades=trades, context_run=locked_run, final_as_of=Snapshot.of(run))
    shaped["adjusts_period"] = locked_run.period
    return shaped


def adjustment_lines(*, run: Run) -> pd.DataFrame:
    """All reversal and adjustment lines that ``run`` carries for changes to locked periods."""
    frames = [
        _reversal_lines(run=run, version_ids=ids, period=period)
        for period, ids in sorted(pending_reversals(run=run).items())
    ]
    for locked_run_id, trade_ids in sorted(pending_adjustments(run=run).items()):
        locked_run = Run.objects.get(pk=locked_run_id)
        frames.append(_recomputed_lines(run=run, locked_run=locked_run, trade_ids=trade_ids))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def has_pending_adjustments(*, run: Run) -> bool:
    return bool(pending_reversals(run=run)) or bool(pending_adjustments(run=run))


@dataclass(frozen=True)
class PendingVersions:
    """What waits for the next open period's run, as of now: current trade versions to compute for a locked period
    (``to_compute``: version id → the locked period) and posted versions to reverse (``to_reverse``: version id →
    the period it was posted for)."""

    to_compute: dict[int, str]
    to_reverse: dict[int, str]


def pending_versions() -> PendingVersions:
    """Everything pending for adjustment, whatever run will carry it (a live run that holds it already makes it not
    pending): the ``PENDING_SQL`` and ``SUPERSEDED_SQL`` searches as of now, for every locked period."""
    params = {"kind": KIND, "start": _END_OF_TIME, "run": 0, "live": list(LIVE_STATUSES), **Snapshot().params()}
    with connection.cursor() as cursor:
        cursor.execute(PENDING_SQL, params)
        to_compute = {trade_id: period for trade_id, _run_id, period in cursor.fetchall()}
        cursor.execute(SUPERSEDED_SQL, params)
        to_reverse = {version_id: period for version_id, period, _ in cursor.fetchall()}
    return PendingVersions(to_compute=to_compute, to_reverse=to_reverse)


def pending_by_locked_period() -> dict[str, dict[str, int]]:
    """What is waiting, per locked commission period, for the next open period's run (``pending_versions``,
    counted): trade versions to compute (late trades, corrections, cancellations its approved run never saw) and
    posted versions to reverse."""
    pending = pending_versions()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"to_compute": 0, "to_reverse": 0})
    for period in pending.to_compute.values():
        counts[period]["to_compute"] += 1
    for period in pending.to_reverse.values():
        counts[period]["to_reverse"] += 1
    return dict(counts)


def late_versions_settle(*, run: Run) -> None:
    """At ``run``'s approval (its period now locked): queue the versions of its period it never read (ingested after
    its snapshot, before the lock), and drop the queued versions it adjusted (they are paid)."""
    snapshot = Snapshot.of(run)
    with connection.cursor() as cursor:
        if snapshot.trade_max_id != UNBOUNDED:
            cursor.execute(
                f"""
                INSERT INTO {LATE} (trade_id)
                SELECT t.id FROM {TRADES} t
                 WHERE t.id > %(after)s AND t.close_time >= %(start)s AND t.close_time < %(end)s
                ON CONFLICT DO NOTHING
                """,
                {"after": snapshot.trade_max_id, "start": run.period_start, "end": run.period_end},
            )
        cursor.execute(
            f"DELETE FROM {LATE} q USING {LINES} x WHERE x.run_id = %s AND x.trade_id = q.trade_id",
            [run.pk],
        )
        # A queued version superseded before it was paid is never paid as such: its newer version is queued (or
        # read by its own period's run), and reversals start from the posted versions, not from the queue.
        cursor.execute(f"DELETE FROM {LATE} q USING {TRADES} t WHERE t.id = q.trade_id AND NOT t.is_current")
