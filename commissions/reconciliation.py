"""The commission checks of a period's reconciliation (registered in ``apps``; ``ledger.reconciliation``).

**Trades vs lines** (``commission_trades``), from the period's run of record (the approved commission run, else the
computed one): the trade versions it read — closing in the period, as of its snapshot — each classed once:
``attributed`` (at least one paying line, i.e. a line without a reason), ``excluded`` by the reason of its first
line (lowest level, then kind: ``no_ib``, ``no_plan``, ``account_not_earning``, ``min_hold``, ``min_points``,
``no_rule``, ``cancelled``, ``unresolved_symbol``, ``suspended``, ``no_spread``), or ``no line`` (a difference: the
run read the trade and wrote nothing for it). Lines of the run for trades it did not read are a difference too.
Trades ingested after the run read the period (late) are counted apart, as adjusted by a later run or pending: they
are paid by the next open period's adjustments (DOMAIN.md 3), not by this run. A period with trades and no run is a
difference.

**Lines vs postings** (``commission_postings``): the lines of the period's approved commission runs, per
(beneficiary, kind, currency) — the partner, or for a client rebate the client account — summed and rounded as the
approval posts them (``ledger.reconciliation.payables``), against every payable leg of the period's transactions of
the commission kinds.

Set-based SQL throughout; tables named through ``_meta.db_table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import connection

from core.periods import server_period
from core.vocabulary import LineKind
from ledger.reconciliation.payables import ExpectedPosting, Key, payables_vs_lines
from ledger.reconciliation.registry import (
    EVIDENCE_LIMIT,
    Evidence,
    EvidenceType,
    ReconciliationCheck,
    Row,
    Status,
)
from ledger.vocabulary import Purpose
from runs.models import Run
from runs.selectors import approved_run_ids, runs_of_record

from .adapters import Snapshot, as_of_snapshot
from .models import AttributionLine, Trade

KIND = "commissions"
# What commission runs post (the fee kinds are the MAM fee check's).
COMMISSION_KINDS = frozenset(
    {
        LineKind.VOLUME,
        LineKind.SPREAD,
        LineKind.OVERRIDE,
        LineKind.REBATE,
        LineKind.REBATE_FUNDING,
        LineKind.ADJUSTMENT,
        LineKind.REVERSAL,
    }
)
TRADES = Trade._meta.db_table
LINES = AttributionLine._meta.db_table
RUNS = Run._meta.db_table

ATTRIBUTED, EXCLUDED, NO_LINE, NO_TRADE = "attributed", "excluded", "no line", "lines without a trade it read"

# The trade versions a run read: closing in its period, the newest version of their ticket as of its snapshot
# (current versions and old ones read apart, each through its own partial close-time index).
_READ = f"""
    SELECT t.id, t.lots FROM {TRADES} t
     WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND t.is_current AND t.id <= %(trade_max)s
    UNION ALL
    SELECT t.id, t.lots FROM {TRADES} t
     WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND NOT t.is_current AND {as_of_snapshot("t")}
"""
# Each trade the run has lines for: whether one pays, the reason of its first line, how many lines.
_PER_TRADE = f"""
    SELECT l.trade_id, bool_or(l.reason = '') AS paying, (array_agg(l.reason ORDER BY l.level, l.kind))[1] AS reason,
           COUNT(*) AS lines
      FROM {LINES} l WHERE l.run_id = %(run)s AND l.adjusts_period = ''
     GROUP BY l.trade_id
"""
_CLASSES = f"""
    WITH r AS MATERIALIZED ({_READ}), p AS MATERIALIZED ({_PER_TRADE})
    SELECT CASE WHEN r.id IS NULL THEN '{NO_TRADE}' WHEN p.trade_id IS NULL THEN '{NO_LINE}'
                WHEN p.paying THEN '{ATTRIBUTED}' ELSE '{EXCLUDED}' END AS class,
           CASE WHEN r.id IS NOT NULL AND p.trade_id IS NOT NULL AND NOT p.paying THEN p.reason ELSE '' END AS reason,
           COUNT(r.id), SUM(r.lots), COALESCE(SUM(p.lines), 0)
      FROM r FULL JOIN p ON p.trade_id = r.id
     GROUP BY 1, 2 ORDER BY 1, 2
"""
_NO_LINE_SAMPLE = f"""
    WITH r AS MATERIALIZED ({_READ})
    SELECT t.id, t.server, t.ticket, t.version FROM r JOIN {TRADES} t ON t.id = r.id
     WHERE NOT EXISTS (SELECT 1 FROM {LINES} l WHERE l.run_id = %(run)s AND l.trade_id = r.id
                         AND l.adjusts_period = '')
     ORDER BY t.id LIMIT %(limit)s
"""
# A line's evidence names its trade version by natural key (server#ticket vN): a LEFT JOIN, as a line's trade id
# carries no database constraint.
_LINE_EVIDENCE_COLUMNS = "l.id, l.trade_id, t.server, t.ticket, t.version, l.kind, l.amount"
_NO_TRADE_SAMPLE = f"""
    WITH r AS MATERIALIZED ({_READ})
    SELECT {_LINE_EVIDENCE_COLUMNS} FROM {LINES} l LEFT JOIN {TRADES} t ON t.id = l.trade_id
     WHERE l.run_id = %(run)s AND l.adjusts_period = '' AND NOT EXISTS (SELECT 1 FROM r WHERE r.id = l.trade_id)
     ORDER BY l.id LIMIT %(limit)s
"""
# Versions closing in the period ingested after the run read it, and whether a later live run adjusted them.
_LATE = f"""
    SELECT EXISTS (SELECT 1 FROM {LINES} l JOIN {RUNS} x ON x.id = l.run_id
                    WHERE l.trade_id = t.id AND l.adjusts_period = %(period)s AND x.status = ANY(%(live)s)) AS adjusted,
           COUNT(*), SUM(t.lots)
      FROM {TRADES} t
     WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND t.is_current AND t.id > %(trade_max)s
     GROUP BY 1 ORDER BY 1
"""
_NO_RUN = f"""
    SELECT COUNT(*), SUM(t.lots)
      FROM {TRADES} t WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND t.is_current
"""
_NO_RUN_SAMPLE = f"""
    SELECT t.id, t.server, t.ticket, t.version
      FROM {TRADES} t WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND t.is_current
     ORDER BY t.id LIMIT %(limit)s
"""


def run_of_record(period: str) -> Run | None:
    """The period's approved commission run, else its computed one (the whole period: commissions take no scope)."""
    runs = runs_of_record(kind=KIND).filter(period=period, scope="")
    return runs.order_by("-approved_at", "-id").first()


class CommissionTradesCheck(ReconciliationCheck):
    name = "commission_trades"
    label = "Trades ingested vs attributed vs excluded"
    area = KIND
    order = 20

    def note(self, *, period: str) -> str:
        run = run_of_record(period)
        if run is None:
            return "no commission run of the period"
        return f"run {run.pk} ({run.status}): the trade versions it read, as of its snapshot"

    def rows(self, *, period: str) -> list[Row]:
        bounds = server_period(period)
        params: dict = {"start": bounds.start, "end": bounds.end, "period": period, "limit": EVIDENCE_LIMIT}
        run = run_of_record(period)
        if run is None:
            return _without_run(params)
        params.update(Snapshot.of(run).params(), run=run.pk, live=[Run.Status.COMPUTED, Run.Status.APPROVED])
        with connection.cursor() as cursor:
            cursor.execute(_CLASSES, params)
            classes = cursor.fetchall()
            cursor.execute(_LATE, params)
            late = cursor.fetchall()
        read_count = sum(count for cls, _, count, _, _ in classes if cls != NO_TRADE)
        read_lots = sum((lots for cls, _, _, lots, _ in classes if cls != NO_TRADE and lots), Decimal(0))
        rows = [Row(subject="ingested", detail=f"read by run {run.pk}", count=read_count, lots=read_lots)]
        for cls, reason, count, lots, lines in classes:
            if cls in (ATTRIBUTED, EXCLUDED):
                rows.append(Row(subject=cls, detail=reason, count=count, lots=lots or Decimal(0)))
            elif cls == NO_LINE:
                rows.append(
                    Row(
                        subject=cls,
                        count=count,
                        lots=lots,
                        status=Status.DIFFERENCE,
                        evidence=tuple(_sample(_NO_LINE_SAMPLE, params, _trade_evidence)),
                        evidence_total=count,
                        note=f"trade versions run {run.pk} read and wrote no line for",
                    )
                )
            else:
                rows.append(
                    Row(
                        subject=cls,
                        count=lines,
                        status=Status.DIFFERENCE,
                        evidence=tuple(_sample(_NO_TRADE_SAMPLE, params, _line_evidence)),
                        evidence_total=lines,
                        note=f"lines of run {run.pk} for {count or 'trade'} version(s) it did not read",
                    )
                )
        for adjusted, count, lots in late:
            rows.append(
                Row(
                    subject="late",
                    detail="adjusted by a later run" if adjusted else "pending adjustment",
                    count=count,
                    lots=lots,
                    note="ingested after the run read the period: paid by the next open period's adjustments",
                )
            )
        return rows


def _without_run(params: dict) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(_NO_RUN, params)
        count, lots = cursor.fetchone()
    if not count:
        return [Row(subject="ingested", detail="no commission run of the period", count=0, lots=Decimal(0))]
    return [
        Row(
            subject="ingested",
            detail="no commission run of the period",
            count=count,
            lots=lots,
            status=Status.DIFFERENCE,
            evidence=tuple(_sample(_NO_RUN_SAMPLE, params, _trade_evidence)),
            evidence_total=count,
            note="trades of the period no commission run has attributed",
        )
    ]


def _sample(sql: str, params: dict, make) -> list[Evidence]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [make(*row) for row in cursor.fetchall()]


def _trade_evidence(pk: int, server: str, ticket: int, version: int) -> Evidence:
    return Evidence(EvidenceType.TRADE, pk, f"{server}#{ticket} v{version}")


def _line_evidence(pk: int, trade_id: int, server, ticket, version, kind: str, amount) -> Evidence:
    trade = f"trade {trade_id}" if server is None else f"{server}#{ticket} v{version}"
    return Evidence(EvidenceType.COMMISSION_LINE, pk, f"{trade} {kind}", Decimal(amount))


_EXPECTED = f"""
    SELECT run_id, partner_id, CASE WHEN partner_id IS NULL THEN beneficiary_account_id END AS client,
           kind, currency, COUNT(*), SUM(amount)
      FROM {LINES} WHERE run_id = ANY(%s)
     GROUP BY run_id, partner_id, client, kind, currency
"""
_GROUP_LINES = f"""
    SELECT {_LINE_EVIDENCE_COLUMNS} FROM {LINES} l LEFT JOIN {TRADES} t ON t.id = l.trade_id
     WHERE l.run_id = ANY(%(runs)s) AND l.kind = %(kind)s AND l.currency = %(currency)s
       AND (CASE WHEN %(client)s THEN l.partner_id IS NULL AND l.beneficiary_account_id = %(owner)s::bigint
                 ELSE l.partner_id IS NOT DISTINCT FROM %(owner)s::bigint
                      AND (%(owner)s::bigint IS NOT NULL OR l.beneficiary_account_id IS NULL) END)
     ORDER BY l.id LIMIT %(limit)s
"""


class CommissionPostingsCheck(ReconciliationCheck):
    name = "commission_postings"
    label = "Commission lines vs journal postings per (beneficiary, kind, currency)"
    area = KIND
    order = 30
    journal_kinds = frozenset(str(k) for k in COMMISSION_KINDS)

    def note(self, *, period: str) -> str:
        runs = approved_run_ids(kind=KIND, period=period)
        return f"approved run(s) {', '.join(map(str, runs))}" if runs else "no approved commission run of the period"

    def rows(self, *, period: str) -> list[Row]:
        runs = approved_run_ids(kind=KIND, period=period)
        expected: list[ExpectedPosting] = []
        if runs:
            with connection.cursor() as cursor:
                cursor.execute(_EXPECTED, [runs])
                for run_id, partner_id, client_id, kind, currency, lines, total in cursor.fetchall():
                    expected.append(
                        ExpectedPosting(
                            run_id=run_id,
                            purpose=Purpose.PARTNER_PAYABLE if client_id is None else Purpose.CLIENT_PAYABLE,
                            owner_id=partner_id if client_id is None else client_id,
                            kind=kind,
                            currency=currency,
                            lines=lines,
                            owed=Decimal(total),
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
        "client": purpose == Purpose.CLIENT_PAYABLE,
        "owner": owner,
        "limit": EVIDENCE_LIMIT,
    }
    return _sample(_GROUP_LINES, params, _line_evidence)
