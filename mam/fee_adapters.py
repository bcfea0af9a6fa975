"""Rows ↔ DataFrames for fee runs: what a fee run reads (groups, members with their carried state, fee terms,
snapshots, cash flows, the investors' IBs) and the stored form of what it writes (``FeeLine`` rows). Set-based SQL
only — one statement per input per chunk, never a query per member.

Units: amounts stay exact ``Decimal`` (object columns) as PostgreSQL sends them; line amounts leave as integer
micro-units; days are server-time-zone calendar days; instants are UTC. Nothing is rounded here and nothing is
ever a float.

What a run reads (``FeeSnapshot``, fixed when it starts): cash flows and memberships with ids up to those of the
start (flows are never edited, so that is exact); the rest — snapshots (upserted), members' dates, fee terms, IBs —
as it is when a chunk computes, and whatever of it changed after the start is counted by ``late_counts`` so the
approval says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from core.exact import decimals_to_ints
from core.models import DatedChange
from core.money import LINE_PLACES
from ledger.selectors import currency_places
from partners.models import ClientAccount
from partners.selectors import chains_frame
from runs.models import Run

from .models import CashFlow, EquitySnapshot, FeeLine, GroupFeeTerms, MamGroup, Member, MemberFeeState, MoneyManager
from .vocabulary import CrystallisationReason, FeeLineKind

MEMBERS = Member._meta.db_table
GROUPS = MamGroup._meta.db_table
MANAGERS = MoneyManager._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table
SNAPSHOTS = EquitySnapshot._meta.db_table
FLOWS = CashFlow._meta.db_table
TERMS = GroupFeeTerms._meta.db_table
STATES = MemberFeeState._meta.db_table
LINES = FeeLine._meta.db_table
UNBOUNDED = 2**63 - 1

# The line columns a chunk writes, in their stored form (``amount`` is generated from ``amount_micros``).
LINE_COLUMNS = (
    "run_id",
    "period",
    "group_id",
    "member_id",
    "account_id",
    "kind",
    "partner_id",
    "manager_id",
    "currency",
    "amount_micros",
    "day",
    "reason",
    "cash_flow_id",
    "days_accrued",
    "base_sum",
    "equity_before_fee",
    "hwm_before",
    "hurdle",
    "hwm_after",
    "accrue_from",
)
FIGURES = ("base_sum", "equity_before_fee", "hwm_before", "hurdle", "hwm_after")
ENGINE_MEMBER_COLUMNS = ["server", "login", "places", "joined", "left", "hwm", "accrue_from"]


@dataclass(frozen=True)
class FeeSnapshot:
    """What a fee run reads, fixed when it starts: memberships and cash flows with ids up to these, and the instant
    (database clock) after which other changes are late."""

    member_max_id: int = UNBOUNDED
    flow_max_id: int = UNBOUNDED
    read_at: str = ""

    @classmethod
    def of(cls, run: Run) -> FeeSnapshot:
        data = run.snapshot or {}
        return cls(
            member_max_id=int(data.get("member_max_id", UNBOUNDED)),
            flow_max_id=int(data.get("flow_max_id", UNBOUNDED)),
            read_at=str(data.get("read_at", "")),
        )

    def as_json(self) -> dict[str, Any]:
        return {"member_max_id": self.member_max_id, "flow_max_id": self.flow_max_id, "read_at": self.read_at}


def fee_snapshot_take() -> FeeSnapshot:
    """Wait for the membership and cash-flow writes in flight to commit (a SHARE lock waits for their ROW EXCLUSIVE
    locks, for the caller's short transaction only), then note the largest ids and the database's clock."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {MEMBERS}, {FLOWS} IN SHARE MODE")
        cursor.execute(
            f"SELECT (SELECT COALESCE(MAX(id), 0) FROM {MEMBERS}), (SELECT COALESCE(MAX(id), 0) FROM {FLOWS}), "
            "clock_timestamp()"
        )
        member_max, flow_max, now = cursor.fetchone()
    return FeeSnapshot(member_max_id=int(member_max), flow_max_id=int(flow_max), read_at=now.isoformat())


@dataclass(frozen=True)
class RunDays:
    """A run period as server-time-zone days (``[start, end)``) and as UTC instants."""

    start: date
    end: date
    start_at: datetime
    end_at: datetime

    @classmethod
    def of(cls, run: Run) -> RunDays:
        zone = ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)
        return cls(
            start=run.period_start.astimezone(zone).date(),
            end=run.period_end.astimezone(zone).date(),
            start_at=run.period_start,
            end_at=run.period_end,
        )

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)


def local_midnight(day: date) -> datetime:
    """The UTC instant a server-time-zone day starts."""
    zone = ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _rows(sql: str, params: dict[str, Any]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=names)


# A membership's joining day: given, else the day of the account's first snapshot on or after ``since``.
_JOINED = f"""coalesce(m.joined, (SELECT min(f.day) FROM {SNAPSHOTS} f
                                  WHERE f.account_id = m.account_id AND f.day >= m.since))"""
# Memberships a run of ``[start, end)`` computes: joined before the end, not gone before the start (leaving on the
# first day still crystallises), and a member at all (left after joining).
_IN_PERIOD = "j.day < %(end)s AND (m.left IS NULL OR (m.left >= %(start)s AND m.left > j.day))"


def group_sizes(*, start: date, end: date, member_max_id: int, group_ids: Sequence[int] | None) -> pd.DataFrame:
    """``group_id, code, members``: the groups with memberships in ``[start, end)``, by code."""
    selection = "" if group_ids is None else "AND m.group_id = ANY(%(groups)s::bigint[])"
    return _rows(
        f"""
        SELECT g.id AS group_id, g.code, count(*) AS members
          FROM {MEMBERS} m
          JOIN {GROUPS} g ON g.id = m.group_id
          CROSS JOIN LATERAL (SELECT {_JOINED} AS day) j
         WHERE m.id <= %(member_max)s AND {_IN_PERIOD} {selection}
         GROUP BY g.id, g.code ORDER BY g.code
        """,
        {"start": start, "end": end, "member_max": member_max_id, "groups": list(group_ids or [])},
    )


def load_members(*, run: Run, days: RunDays, snapshot: FeeSnapshot, group_ids: Sequence[int]) -> pd.DataFrame:
    """The chunk's memberships with their account, the group's manager and the state they start from (the latest
    approved state of a period before the run's): ``member_id, group_id, manager_id, account_id, server, login,
    currency, joined, left, hwm, accrue_from``, by group, account and joining day."""
    return _rows(
        f"""
        SELECT m.id AS member_id, m.group_id, mm.partner_id AS manager_id, m.account_id, a.server, a.login,
               a.currency, j.day AS joined, m.left, st.hwm, st.accrue_from
          FROM {MEMBERS} m
          JOIN {ACCOUNTS} a ON a.id = m.account_id
          JOIN {GROUPS} g ON g.id = m.group_id
          JOIN {MANAGERS} mm ON mm.id = g.manager_id
          CROSS JOIN LATERAL (SELECT {_JOINED} AS day) j
          LEFT JOIN LATERAL (
              SELECT s.hwm, s.accrue_from FROM {STATES} s
               WHERE s.member_id = m.id AND s.period < %(period)s ORDER BY s.period DESC LIMIT 1
          ) st ON true
         WHERE m.group_id = ANY(%(groups)s::bigint[]) AND m.id <= %(member_max)s AND {_IN_PERIOD}
         ORDER BY m.group_id, a.server, a.login, j.day
        """,
        {
            "groups": list(group_ids),
            "member_max": snapshot.member_max_id,
            "period": run.period,
            "start": days.start,
            "end": days.end,
        },
    )


TERM_FIELDS = (
    "management_rate",
    "management_basis",
    "management_base",
    "performance_rate",
    "hwm_mode",
    "flow_mode",
    "hurdle_pct",
    "period",
    "ib_fee_share_pct",
)


def load_terms(*, days: RunDays, group_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each group's fee terms in force at the period's last instant (a change from the period end on belongs to
    the next period); a group without any has none (its members' HWMs are still carried)."""
    frame = _rows(
        f"""
        SELECT group_id, {", ".join(TERM_FIELDS)} FROM {TERMS}
         WHERE group_id = ANY(%(groups)s::bigint[]) AND valid_from < %(end)s
           AND (valid_to IS NULL OR valid_to >= %(end)s)
        """,
        {"groups": list(group_ids), "end": days.end_at},
    )
    return {int(row["group_id"]): {f: row[f] for f in TERM_FIELDS} for row in frame.to_dict("records")}


def first_days_needed(members: pd.DataFrame, days: RunDays) -> pd.Series:
    """Per account, the first day whose figures the engine reads: the earlier of the member's accrual start and its
    HWM anchor (the day before the period, or its joining day) — the latest earlier snapshot comes with it."""
    start_before = days.start - timedelta(days=1)
    accrual = [
        max(accrue or joined, joined) for accrue, joined in zip(members["accrue_from"], members["joined"], strict=True)
    ]
    anchor = [max(joined, start_before) for joined in members["joined"]]
    first = pd.Series([min(a, b) for a, b in zip(accrual, anchor, strict=True)], index=members.index)
    return first.groupby(members["account_id"]).min()


def load_snapshots(*, first_days: pd.Series, days: RunDays) -> pd.DataFrame:
    """``account_id, server, login, day, balance, equity`` of each account from its first needed day to the
    period's end, with the latest snapshot before that day (carried forward into it)."""
    empty = pd.DataFrame(columns=["account_id", "server", "login", "day", "balance", "equity"])
    if first_days.empty:
        return empty
    frame = _rows(
        f"""
        SELECT w.account_id, a.server, a.login, s.day, s.balance, s.equity
          FROM unnest(%(accounts)s::bigint[], %(firsts)s::date[]) AS w(account_id, first_day)
          JOIN {ACCOUNTS} a ON a.id = w.account_id
          CROSS JOIN LATERAL (
              SELECT x.day, x.balance, x.equity FROM {SNAPSHOTS} x
               WHERE x.account_id = w.account_id AND x.day >= w.first_day AND x.day < %(end)s
              UNION ALL
              (SELECT x.day, x.balance, x.equity FROM {SNAPSHOTS} x
                WHERE x.account_id = w.account_id AND x.day < w.first_day ORDER BY x.day DESC LIMIT 1)
          ) s
        """,
        {"accounts": [int(i) for i in first_days.index], "firsts": list(first_days), "end": days.end},
    )
    return frame if not frame.empty else empty


def load_flows(
    *, snapshots: pd.DataFrame, account_ids: Sequence[int], days: RunDays, snapshot: FeeSnapshot
) -> pd.DataFrame:
    """``cash_flow_id, account_id, server, login, day, time, seq, amount``: the accounts' deposits and withdrawals
    (as of the run's start) up to the period's end, from the day after the earliest of their ``snapshots`` — the
    engine moves a carried snapshot by the flows booked after it — or all of them for an account without one;
    ``seq`` numbers each account's flows in time order."""
    earliest = snapshots.groupby("account_id")["day"].min() if len(snapshots) else pd.Series(dtype=object)
    since = [
        local_midnight(earliest[account] + timedelta(days=1)) if account in earliest.index else None
        for account in account_ids
    ]
    frame = _rows(
        f"""
        SELECT f.id AS cash_flow_id, f.account_id, a.server, a.login,
               (f.time AT TIME ZONE %(tz)s)::date AS day, f.time, f.amount,
               row_number() OVER (PARTITION BY f.account_id ORDER BY f.time, f.id) AS seq
          FROM unnest(%(accounts)s::bigint[], %(since)s::timestamptz[]) AS w(account_id, since)
          JOIN {FLOWS} f ON f.account_id = w.account_id AND (w.since IS NULL OR f.time >= w.since)
          JOIN {ACCOUNTS} a ON a.id = f.account_id
         WHERE f.id <= %(flow_max)s AND f.time < %(end)s
        """,
        {
            "accounts": [int(i) for i in account_ids],
            "since": since,
            "flow_max": snapshot.flow_max_id,
            "end": days.end_at,
            "tz": settings.IBEX_SERVER_TIME_ZONE,
        },
    )
    if frame.empty:
        return pd.DataFrame(columns=["cash_flow_id", "account_id", "server", "login", "day", "time", "seq", "amount"])
    return frame.astype({"seq": "int64", "cash_flow_id": "int64", "account_id": "int64"})


def places_of(currencies: Sequence[str]) -> dict[str, int]:
    """Each currency's places for fees: its ledger minor unit, at most the lines' 6 (a currency finer than that, a
    satoshi, is charged in millionths: a line holds what it is charged, exactly)."""
    return {code: min(currency_places(code), LINE_PLACES) for code in set(currencies)}


def introducing_brokers(*, events: pd.DataFrame, days: RunDays) -> np.ndarray:
    """The IB (partner id, or -1) each ``events`` row's account (``account_id``) was attributed to at its instant
    (``at``), from the partners' dated attributions (``chains_frame``, level 1)."""
    result = np.full(len(events), -1, dtype=np.int64)
    if events.empty:
        return result
    chains = chains_frame(
        account_ids=events["account_id"].unique().tolist(),
        start=days.start_at - timedelta(days=1),
        end=days.end_at,
    )
    ibs = chains[chains["level"] == 1][["account_id", "valid_from", "valid_to", "partner_id"]]
    if ibs.empty:
        return result
    wanted = pd.DataFrame({"row": np.arange(len(events)), "account_id": events["account_id"].to_numpy()})
    wanted["at"] = pd.to_datetime(events["at"].to_numpy(), utc=True)
    joined = wanted.merge(ibs, on="account_id")
    joined = joined[(joined["valid_from"] <= joined["at"]) & (joined["at"] < joined["valid_to"])]
    result[joined["row"].to_numpy()] = joined["partner_id"].to_numpy()
    return result


def _micros(values: pd.Series, what: str) -> np.ndarray:
    ints, _ = decimals_to_ints(values.to_numpy(dtype=object), scale=LINE_PLACES, what=what)
    return ints.astype(np.int64)


def fee_lines_frame(*, run: Run, events: pd.DataFrame, states: pd.DataFrame, days: RunDays) -> pd.DataFrame:
    """The stored form of a chunk's lines (``LINE_COLUMNS``).

    ``events``: one row per crystallisation with the engine's figures plus ``group_id, member_id, manager_id,
    account_id, currency, cash_flow_id`` (NA unless a withdrawal) and ``ib_id`` (-1: no IB); each becomes a
    management fee and a performance fee line (0 included) and, when there is an IB and a share, a fee share line.
    ``states``: ``group_id, member_id, manager_id, account_id, currency, hwm, accrue_from``, each a state row."""
    parts = []
    common = ["group_id", "member_id", "manager_id", "account_id", "currency", "day", "reason", "cash_flow_id"]
    if not events.empty:
        for kind, column in (
            (FeeLineKind.MANAGEMENT_FEE, "management_fee"),
            (FeeLineKind.PERFORMANCE_FEE, "performance_fee"),
            (FeeLineKind.FEE_SHARE, "fee_share"),
        ):
            rows = events
            partner = events["manager_id"]
            if kind == FeeLineKind.FEE_SHARE:
                rows = events[(events["ib_id"] >= 0) & (events["fee_share"] > 0)]
                partner = rows["ib_id"]
            if rows.empty:
                continue
            part = rows[[*common, "days_accrued", *FIGURES]].copy()
            part["kind"] = kind.value
            part["partner_id"] = partner.to_numpy()
            part["amount_micros"] = _micros(rows[column], f"{column} lines")
            part["accrue_from"] = None
            parts.append(part)
    if not states.empty:
        part = states[["group_id", "member_id", "manager_id", "account_id", "currency"]].copy()
        part["kind"] = FeeLineKind.STATE.value
        part["partner_id"] = pd.NA
        part["amount_micros"] = 0
        part["day"] = days.last
        part["reason"] = ""
        part["cash_flow_id"] = pd.NA
        part["days_accrued"] = pd.NA
        for figure in FIGURES:
            part[figure] = None
        part["hwm_after"] = states["hwm"].to_numpy(dtype=object)
        part["accrue_from"] = states["accrue_from"].to_numpy(dtype=object)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(LINE_COLUMNS))
    lines = pd.concat(parts, ignore_index=True)
    lines["run_id"] = run.pk
    lines["period"] = run.period
    for column in ("group_id", "member_id", "manager_id", "account_id", "amount_micros"):
        lines[column] = lines[column].astype("int64")
    for column in ("partner_id", "cash_flow_id", "days_accrued"):
        lines[column] = lines[column].astype("Int64")
    for column in FIGURES:
        lines[column] = lines[column].astype(object)
    lines["accrue_from"] = lines["accrue_from"].astype(object)
    return lines[list(LINE_COLUMNS)]


def late_counts(*, run: Run, group_ids: Sequence[int] | None) -> dict[str, int]:
    """What changed under the run after it read its data, for its groups and period: cash flows recorded, equity
    snapshots written, memberships added or changed, and dated changes (fee terms, IBs, …) reaching into it."""
    snapshot = FeeSnapshot.of(run)
    days = RunDays.of(run)
    read_at = snapshot.read_at or (run.started_at or run.created_at).isoformat()
    selection = "" if group_ids is None else "AND m.group_id = ANY(%(groups)s::bigint[])"
    accounts = f"SELECT DISTINCT m.account_id FROM {MEMBERS} m WHERE true {selection}"
    params = {
        "groups": list(group_ids or []),
        "flow_max": snapshot.flow_max_id,
        "member_max": snapshot.member_max_id,
        "read_at": read_at,
        "start": days.start,
        "end": days.end,
        "start_at": days.start_at,
        "end_at": days.end_at,
        "before": days.start - timedelta(days=1),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT
              (SELECT count(*) FROM {FLOWS} f WHERE f.id > %(flow_max)s AND f.time >= %(start_at)s
                  AND f.time < %(end_at)s AND f.account_id IN ({accounts})),
              (SELECT count(*) FROM {SNAPSHOTS} s WHERE s.updated_at > %(read_at)s AND s.day >= %(before)s
                  AND s.day < %(end)s AND s.account_id IN ({accounts})),
              (SELECT count(*) FROM {MEMBERS} m WHERE (m.id > %(member_max)s OR m.updated_at > %(read_at)s)
                  AND coalesce(m.joined, m.since) < %(end)s AND (m.left IS NULL OR m.left >= %(start)s) {selection}),
              (SELECT count(*) FROM {DatedChange._meta.db_table} d WHERE d.recorded_at > %(read_at)s
                  AND d.since < %(end_at)s AND (d.until IS NULL OR d.until > %(start_at)s))
            """,
            params,
        )
        flows, snapshots, members, dated = cursor.fetchone()
    return {"cash_flows": flows, "equity_snapshots": snapshots, "memberships": members, "dated_changes": dated}


def crystallisation_instants(events: pd.DataFrame, flow_times: pd.Series) -> pd.Series:
    """The instant each crystallisation happened, for the IB in force then: a withdrawal's own time; a period end or
    leaving at the last instant before its boundary (the period's end, the leaving day's midnight)."""
    if events.empty:
        return pd.Series([], index=events.index, dtype=object)
    days = pd.Series(events["day"].to_numpy(dtype=object), index=events.index)
    period_end = (events["reason"] == CrystallisationReason.PERIOD_END).to_numpy()
    boundaries = days.where(~period_end, days.map(lambda day: day + timedelta(days=1)))
    # A handful of distinct boundary days per chunk: each is converted once.
    instants = {day: local_midnight(day) - timedelta(microseconds=1) for day in boundaries.unique()}
    withdrawal = (events["reason"] == CrystallisationReason.WITHDRAWAL).to_numpy()
    return pd.Series(
        np.where(withdrawal, flow_times.to_numpy(dtype=object), boundaries.map(instants).to_numpy(dtype=object)),
        index=events.index,
        dtype=object,
    )
