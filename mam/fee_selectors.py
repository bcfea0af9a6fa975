"""Reads of fee runs: the run of record of a group's period, its fee report, and approved fees as platform balance
operations. No writes here.

Units: amounts in each member account's currency; report amounts at the lines' 6 places, export amounts at the
currency's minor unit (fee lines of investors are charged at it, so it is exact: nothing is rounded here).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from core.csv_export import csv_lines
from core.money import quantize
from ledger.models import PeriodLock
from ledger.selectors import currency_places
from partners.models import ClientAccount
from runs.models import Run
from runs.selectors import runs_of_record

from .models import FeeLine, MamGroup, Member
from .vocabulary import FeeLineKind

FEES_KIND = "fees"
_ZERO = Decimal(0)


def fee_approved_periods(*, group: MamGroup) -> list[str]:
    """The periods (``YYYY-MM``, ascending) whose fees are approved for ``group``: a lock of its scope or of the
    whole period. The caller holds the fee approvals off first when it acts on the answer."""
    locks = PeriodLock.objects.filter(kind=FEES_KIND, scope__in=[group.code, ""])
    return sorted(set(locks.values_list("period", flat=True)))


def fee_locked_days(*, keys: Sequence[tuple[int, date]]) -> dict[int, tuple[str, str]]:
    """For each ``(account id, server day)`` of ``keys`` (by position) that falls in an approved fee period of a
    group the account was a member of that day: ``(group code, period)``. A membership covers ``[since, left]``,
    the leaving day included (a member leaving crystallises on it), ``since`` rather than the joining day (a
    missing ``joined`` is the first snapshot on or after ``since``, so an earlier snapshot would move it). A period
    is approved for a group by a lock of the group's scope or of the whole period. The caller holds the fee
    approvals off (``ledger.services.locks.approvals_hold``) first, so no approval commits after this read."""
    if not keys:
        return {}
    sql = f"""
        SELECT DISTINCT ON (k.i) k.i, g.code, p.period
          FROM unnest(%s::int[], %s::bigint[], %s::date[]) AS k(i, account_id, day)
          JOIN {Member._meta.db_table} m
            ON m.account_id = k.account_id AND m.since <= k.day AND (m.left IS NULL OR k.day <= m.left)
          JOIN {MamGroup._meta.db_table} g ON g.id = m.group_id
          JOIN {PeriodLock._meta.db_table} p
            ON p.kind = %s AND p.period = to_char(k.day, 'YYYY-MM') AND p.scope IN (g.code, '')
         ORDER BY k.i, g.code
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [list(range(len(keys))), [k[0] for k in keys], [k[1] for k in keys], FEES_KIND],
        )
        return {i: (code, period) for i, code, period in cursor.fetchall()}


def fee_runs_of_record(*, group: MamGroup, period: str | None = None) -> QuerySet[Run]:
    """The fee runs whose lines are the group's fees (of ``period``, or of every period): per period, the approved
    run covering the group (the whole period's or the group's own), else the computed one; never a superseded or
    failed run. Runs of a period never overlap, so there is at most one per period."""
    runs = runs_of_record(kind=FEES_KIND).filter(scope__in=["", group.code])
    return runs.filter(period=period) if period is not None else runs


def group_fee_report(*, group: MamGroup, runs: QuerySet[Run]) -> QuerySet:
    """One row per crystallisation of each member of ``group`` in ``runs``: the period and run, the account, the
    day and reason, the management and performance fees charged, the IB's share (0 when none), and the figures
    they came from (the HWM before and after, the equity before the fee, the hurdle, days accrued); latest period
    first, then by account and time."""
    lines = FeeLine.objects.filter(run__in=runs, group=group).exclude(kind=FeeLineKind.STATE)
    return (
        lines.values(
            "period",
            "run_id",
            "account__server",
            "account__login",
            "member_id",
            "day",
            "reason",
            "cash_flow_id",
            "currency",
        )
        .annotate(
            management_fee=Coalesce(Sum("amount", filter=Q(kind=FeeLineKind.MANAGEMENT_FEE)), _ZERO),
            performance_fee=Coalesce(Sum("amount", filter=Q(kind=FeeLineKind.PERFORMANCE_FEE)), _ZERO),
            fee_share=Coalesce(Sum("amount", filter=Q(kind=FeeLineKind.FEE_SHARE)), _ZERO),
            hwm_before=Max("hwm_before"),
            hwm_after=Max("hwm_after"),
            equity_before_fee=Max("equity_before_fee"),
            hurdle=Max("hurdle"),
            days_accrued=Max("days_accrued"),
        )
        .order_by("-period", "account__server", "account__login", "member_id", "day", "reason", "cash_flow_id")
    )


@dataclass(frozen=True)
class BalanceOperation:
    """One platform balance operation: a debit (negative) of an investor's account by one kind of fee of one run."""

    server: str
    login: int
    amount: Decimal
    currency: str
    comment: str
    reference: str


LINES = FeeLine._meta.db_table
_EXPORT_SQL = f"""
SELECT l.run_id, a.server, a.login, l.kind, l.currency, g.code, SUM(l.amount)
  FROM {LINES} l
  JOIN {ClientAccount._meta.db_table} a ON a.id = l.account_id
  JOIN {MamGroup._meta.db_table} g ON g.id = l.group_id
 WHERE l.run_id = ANY(%(runs)s::bigint[]) AND l.kind = ANY(%(kinds)s) {{group}}
 GROUP BY l.run_id, a.server, a.login, l.kind, l.currency, g.code
HAVING SUM(l.amount) <> 0
 ORDER BY l.run_id, a.server, a.login, l.kind
"""


def approved_fee_runs(*, period: str, group: MamGroup | None = None) -> list[Run]:
    runs = Run.objects.filter(kind=FEES_KIND, period=period, status=Run.Status.APPROVED)
    if group is not None:
        runs = runs.filter(scope__in=["", group.code])
    return list(runs.order_by("pk"))


def fee_balance_operations(*, runs: list[Run], group: MamGroup | None = None) -> Iterator[BalanceOperation]:
    """The approved fees of ``runs`` as balance operations, one per (run, account, kind): the amount debited, at the
    currency's minor unit; the reference ``fee:{run}:{server}:{login}:{kind}`` is the same every time it is
    exported, so the platform can refuse a repeat."""
    if not runs:
        return
    periods = {run.pk: run.period for run in runs}
    params = {
        "runs": list(periods),
        "kinds": [FeeLineKind.MANAGEMENT_FEE.value, FeeLineKind.PERFORMANCE_FEE.value],
        "group": group.pk if group is not None else None,
    }
    sql = _EXPORT_SQL.format(group="AND l.group_id = %(group)s" if group is not None else "")
    places: dict[str, int] = {}
    # A server-side cursor: the rows stream to the response, never all held at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(2000):
            for run_id, server, login, kind, currency, code, total in rows:
                if currency not in places:
                    places[currency] = currency_places(currency)
                label = FeeLineKind(kind).label
                # Investors' fee lines are charged at the minor unit: this only writes the amount at that scale.
                yield BalanceOperation(
                    server=server,
                    login=login,
                    amount=-quantize(Decimal(total), places[currency]),
                    currency=currency,
                    comment=f"{label} {periods[run_id]} ({code})",
                    reference=f"fee:{run_id}:{server}:{login}:{kind}",
                )


def fee_export_totals(*, period: str, group: MamGroup | None = None) -> tuple[int, dict[str, Decimal]]:
    """How many rows ``fee_export_csv`` writes for the period (and group), and their amounts' sum per currency (at
    its minor unit) — the figures the download's audit record keeps, counted in the database."""
    runs = approved_fee_runs(period=period, group=group)
    if not runs:
        return 0, {}
    params = {
        "runs": [run.pk for run in runs],
        "kinds": [FeeLineKind.MANAGEMENT_FEE.value, FeeLineKind.PERFORMANCE_FEE.value],
        "group": group.pk if group is not None else None,
    }
    sql = _EXPORT_SQL.format(group="AND l.group_id = %(group)s" if group is not None else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT o.currency, COUNT(*), SUM(-o.total) FROM ({sql}) o(run_id, server, login, kind, currency, code, "
            "total) GROUP BY o.currency",
            params,
        )
        found = cursor.fetchall()
    return sum(n for _, n, _ in found), {
        currency: quantize(Decimal(total), currency_places(currency)) for currency, _, total in found
    }


EXPORT_HEADER = ("server", "login", "amount", "currency", "comment", "reference")


def fee_export_csv(*, period: str, group: MamGroup | None = None) -> Iterator[bytes]:
    """The period's approved fees (of every group, or ``group``'s) as the platform balance-operation CSV, line by
    line (``core.csv_export``: RFC 4180, UTF-8, text cells neutralised); the header alone without approved fees."""
    operations = fee_balance_operations(runs=approved_fee_runs(period=period, group=group), group=group)
    rows = ((o.server, o.login, o.amount, o.currency, o.comment, o.reference) for o in operations)
    return csv_lines(EXPORT_HEADER, rows)
