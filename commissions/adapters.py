"""Adapters between the database and the commission engine: the only place rows become DataFrames and back.

Units: money never passes through a float: numerics arrive as exact decimal text (COPY) or ``Decimal`` (psycopg) and
the engine's integer micro-units go back as integers (``amount`` is derived from ``amount_micros`` by PostgreSQL).

Snapshot: a commission run reads the trades and client accounts as they were when it started
(``trades_snapshot_take``): trade versions with an id up to the snapshot's, each the newest such version of its
ticket, and accounts with an id up to the snapshot's. Rows written later (a trade ingested or corrected, an account
created mid-run) go to the next run or adjustment, never half into this one.

Decisions recorded here (the spec is silent):
- A trade is computed with everything as it was at its close time (DOMAIN.md 4.0): the chain, each level's plan and
  that plan's terms (``PlanTerms``), the level-1 partner's program terms (``ProgramTerms``), each level's status
  (``PartnerStatus``) and the account's group and flag (``AccountTerms``). Rows written by raw SQL without a dated
  record (benchmarks) fall back to the current values (a program: its row, under the id ``-program_id``); a plan
  without terms gives ``no_plan``.
- A rebate applies to the trades closed while it is in force (its stretch at each trade's close time).
- Trades whose login has no client account row (as of the snapshot) are computed in a chunk of their own and earn
  nothing (reason ``no_ib``); their lines have no account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db import connection

from core.pgcopy import copy_frame, copy_out_frame
from ledger.models import ConversionRate
from partners.models import (
    AccountTerms,
    ClientAccount,
    Partner,
    PartnerProgram,
    PartnerStatus,
    Program,
    ProgramTerms,
)
from partners.selectors import chains_frame
from runs.models import Run

from .engine import compute_lines, tier_context
from .engine.schema import REBATE_ALWAYS, REBATE_OPEN_END, EngineInputs, empty_frame
from .engine.tiers import TierContext, adjustment_context
from .models import PartnerPlan, PlanRule, PlanTerms, Rebate, RunTierVolume, Trade
from .models.instruments import Instrument

TRADES = Trade._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table
ACCOUNT_TERMS = AccountTerms._meta.db_table
INSTRUMENTS = Instrument._meta.db_table
# The largest bigint: the bound of a run that started before snapshots existed (it reads everything).
UNBOUNDED = 2**63 - 1


@dataclass(frozen=True)
class Snapshot:
    """What a commission run reads: trade and account rows with ids up to these (fixed when the run starts)."""

    trade_max_id: int = UNBOUNDED
    account_max_id: int = UNBOUNDED
    # The database snapshot (``pg_snapshot`` text) taken with the ids: the dated changes committed in it are those
    # the run computed with (``dated_after``). None for a run started before it was noted.
    dated_snapshot: str | None = None
    # The snapshot taker's own transaction id, if it had one: its own changes are judged by time, since a
    # transaction's own id may read as not yet visible in a snapshot it takes (tests set up and run in one).
    dated_own_xid: int | None = None

    @classmethod
    def of(cls, run: Run) -> Snapshot:
        data = run.snapshot or {}
        return cls(
            trade_max_id=int(data.get("trade_max_id", UNBOUNDED)),
            account_max_id=int(data.get("account_max_id", UNBOUNDED)),
            dated_snapshot=data.get("dated_snapshot"),
            dated_own_xid=data.get("dated_own_xid"),
        )

    def params(self) -> dict[str, int]:
        return {"trade_max": self.trade_max_id, "account_max": self.account_max_id}

    def to_json(self) -> dict:
        return {
            "trade_max_id": self.trade_max_id,
            "account_max_id": self.account_max_id,
            "dated_snapshot": self.dated_snapshot,
            "dated_own_xid": self.dated_own_xid,
        }


def dated_after(alias: str) -> str:
    """SQL condition: the dated change ``alias`` is one the run did not see — not committed in its snapshot
    (``%(dated_snapshot)s``), whenever it was inserted; for a run or a change from before transaction ids were
    noted, inserted after ``%(read_at)s`` (the run's start)."""
    return (
        f"(CASE WHEN %(dated_snapshot)s::text IS NULL OR {alias}.xid IS NULL "
        f"OR {alias}.xid = %(dated_own_xid)s::bigint THEN {alias}.recorded_at > %(read_at)s "
        f"ELSE NOT pg_visible_in_snapshot({alias}.xid::text::xid8, %(dated_snapshot)s::text::pg_snapshot) END)"
    )


def dated_params(run: Run) -> dict[str, object]:
    """The parameters of ``dated_after`` for ``run``."""
    snapshot = Snapshot.of(run)
    return {
        "dated_snapshot": snapshot.dated_snapshot,
        "dated_own_xid": snapshot.dated_own_xid,
        "read_at": run.started_at or run.created_at,
    }


def trades_snapshot_take() -> Snapshot:
    """Wait for every trade and account write in flight to commit, then note the largest ids.

    A SHARE lock conflicts with the ROW EXCLUSIVE lock every ingest and account upsert takes, so it is granted once
    the writers in flight have committed; ids are drawn from sequences, so every row written after it has a larger
    id. The lock lasts only for the caller's short transaction.

    Dated writers (plans, attributions, moves, statuses, programs, rebates, rates) are not waited for — one that
    records its change and then writes an account would deadlock with this lock — but the database snapshot noted
    with the ids says exactly which of their changes were committed, hence seen by the run's computation (which
    reads after it): any other is late (``dated_after``), even one inserted before the run started."""
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TRADES}, {ACCOUNTS} IN SHARE MODE")
        cursor.execute(
            f"SELECT (SELECT COALESCE(MAX(id), 0) FROM {TRADES}), (SELECT COALESCE(MAX(id), 0) FROM {ACCOUNTS}), "
            "pg_current_snapshot()::text, (pg_current_xact_id_if_assigned()::text)::bigint"
        )
        trade_max, account_max, dated_snapshot, own_xid = cursor.fetchone()
    return Snapshot(
        trade_max_id=int(trade_max),
        account_max_id=int(account_max),
        dated_snapshot=dated_snapshot,
        dated_own_xid=None if own_xid is None else int(own_xid),
    )


def as_of_snapshot(alias: str) -> str:
    """SQL condition: the trade version ``alias`` is the newest version of its ticket within the snapshot."""
    return (
        f"{alias}.id <= %(trade_max)s AND ({alias}.is_current OR NOT EXISTS ("
        f"SELECT 1 FROM {TRADES} n WHERE n.server = {alias}.server AND n.ticket = {alias}.ticket "
        f"AND n.version > {alias}.version AND n.id <= %(trade_max)s))"
    )


def account_join(alias: str = "t") -> str:
    """SQL join of the trade ``alias`` to its client account as of the snapshot (``a``; NULL when none)."""
    return (
        f"LEFT JOIN {ACCOUNTS} a ON a.server = {alias}.server AND a.login = {alias}.login AND a.id <= %(account_max)s"
    )


# Times come as exact epoch microseconds and days as day numbers, so no Python datetime is built per row.
TRADE_SQL = f"""
SELECT t.id AS trade_id, t.ticket, COALESCE(a.id, 0) AS account_id,
       NULLIF(COALESCE(at."group", a."group"), '') AS account_group, COALESCE(a.currency, 'USD') AS account_currency,
       COALESCE(at.earns_commission, a.earns_commission, true) AS earns_commission,
       t.status, t.instrument_id, i."group" AS symbol_group, i.base, i.quote, i.contract_size, i.pip_size,
       i.digits, t.lots, (EXTRACT(EPOCH FROM t.open_time) * 1000000)::bigint AS open_time,
       (EXTRACT(EPOCH FROM t.close_time) * 1000000)::bigint AS close_time,
       t.open_price, t.close_price, t.commission, t.spread_pips,
       (t.open_time AT TIME ZONE %(tz)s)::date - DATE '1970-01-01' AS open_day,
       (t.close_time AT TIME ZONE %(tz)s)::date - DATE '1970-01-01' AS close_day
  FROM {TRADES} t
  {account_join("t")}
  LEFT JOIN {ACCOUNT_TERMS} at ON at.account_id = a.id AND at.valid_from <= t.close_time
                              AND (at.valid_to IS NULL OR t.close_time < at.valid_to)
  LEFT JOIN {INSTRUMENTS} i ON i.id = t.instrument_id
 WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND {{selection}}
"""
_TEXT = ("account_group", "account_currency", "status", "symbol_group", "base", "quote")
_DECIMALS = ("contract_size", "pip_size", "lots", "open_price", "close_price", "commission", "spread_pips")
_INTS = (
    "trade_id",
    "ticket",
    "account_id",
    "instrument_id",
    "digits",
    "open_time",
    "close_time",
    "open_day",
    "close_day",
)
TRADE_TYPES = {
    **dict.fromkeys(_INTS, pa.int64()),
    **dict.fromkeys(_TEXT + _DECIMALS, pa.string()),
    "earns_commission": pa.bool_(),
}


def account_trade_counts(*, run: Run) -> list[tuple[int | None, int]]:
    """(account id or None for trades without an account, trade count) of the run's period, as of its snapshot.

    Current versions and old ones are read apart (each through its own partial close-time index) and counted per
    login before the join to the accounts, which then joins one row per login instead of one per trade."""
    params = {"start": run.period_start, "end": run.period_end, **Snapshot.of(run).params()}
    in_period = "t.close_time >= %(start)s AND t.close_time < %(end)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT a.id, SUM(t.trades)::bigint
              FROM (SELECT t.server, t.login, COUNT(*) AS trades
                      FROM (SELECT t.server, t.login FROM {TRADES} t
                             WHERE {in_period} AND t.is_current AND t.id <= %(trade_max)s
                            UNION ALL
                            SELECT t.server, t.login FROM {TRADES} t
                             WHERE {in_period} AND NOT t.is_current AND {as_of_snapshot("t")}) t
                     GROUP BY t.server, t.login) t
              {account_join("t")}
             GROUP BY a.id ORDER BY a.id NULLS LAST
            """,
            params,
        )
        return cursor.fetchall()


def load_trades(
    *,
    run: Run,
    account_ids: Iterable[int] | None = None,
    without_account: bool = False,
    trade_ids: Iterable[int] | None = None,
    snapshot: Snapshot | None = None,
) -> pd.DataFrame:
    """The trade versions one computation reads, as of the run's snapshot (or ``snapshot``): those of
    ``account_ids``, or the ones without an account (``without_account``), or every trade of the period (neither),
    or exactly the versions ``trade_ids`` (adjustments: ``run`` is then the locked period's run, whose terms price
    them, and ``snapshot`` the adjusting run's)."""
    params = {"tz": settings.IBEX_SERVER_TIME_ZONE, "start": run.period_start, "end": run.period_end, "ids": None}
    params.update((snapshot or Snapshot.of(run)).params())
    if trade_ids is not None:
        params["ids"] = sorted(int(i) for i in trade_ids)
        selection = "t.id = ANY(%(ids)s::bigint[])"
    else:
        selection = as_of_snapshot("t")
        if without_account:
            selection += " AND a.id IS NULL"
        elif account_ids is not None:
            params["ids"] = sorted(int(i) for i in account_ids)
            selection += " AND a.id = ANY(%(ids)s::bigint[])"
    frame = copy_out_frame(TRADE_SQL.format(selection=selection), params, TRADE_TYPES)
    if frame.empty:
        return empty_frame("trades")
    # Sorted here, not by the query: an ORDER BY of a chunk's trades spills to disk at the default work_mem.
    frame = frame.iloc[np.argsort(frame["trade_id"].to_numpy(dtype=np.int64), kind="stable")].reset_index(drop=True)
    for column in ("trade_id", "ticket", "account_id"):
        frame[column] = frame[column].to_numpy(dtype=np.int64)
    for column in ("open_time", "close_time"):
        frame[column] = pd.to_datetime(frame[column].to_numpy(dtype=np.int64), unit="us", utc=True)
    for column in ("open_day", "close_day"):
        frame[column] = pd.to_datetime(frame[column].to_numpy(dtype=np.int64), unit="D")
    for column in _TEXT:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    for column in _DECIMALS:
        frame[column] = _decimals(frame[column])
    return frame


def _decimals(text: pd.Series) -> np.ndarray:
    """NUMERIC text as ``Decimal`` objects (None for NULL), parsing each distinct value once."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    values = np.empty(len(uniques) + 1, dtype=object)
    values[:-1] = [Decimal(value) for value in uniques]
    values[-1] = None
    return values[codes]


def trade_chains(*, run: Run, trades: pd.DataFrame) -> pd.DataFrame:
    """Each trade's chain at its close time, with each level's plan terms, program terms and status at that time."""
    if trades.empty:
        return empty_frame("trade_chains")
    start = min(run.period_start, trades["close_time"].min().to_pydatetime())
    end = max(run.period_end, trades["close_time"].max().to_pydatetime() + pd.Timedelta(microseconds=1))
    stretches = chains_frame(account_ids=trades["account_id"].unique().tolist(), start=start, end=end)
    if stretches.empty:
        return empty_frame("trade_chains")
    merged = trades[["trade_id", "account_id", "close_time"]].merge(stretches, on="account_id")
    merged = merged[(merged["valid_from"] <= merged["close_time"]) & (merged["close_time"] < merged["valid_to"])]
    merged = merged[["trade_id", "level", "partner_id", "close_time"]].reset_index(drop=True)
    if merged.empty:
        return empty_frame("trade_chains")
    merged["close_ns"] = merged["close_time"].array.as_unit("ns").asi8
    partner_ids = merged["partner_id"].unique().tolist()
    span = {"start": start, "end": end}
    plan = _in_force(merged, _stretches(PartnerPlan, "partner_id", ["plan_id"], partner_ids, **span), "partner_id")
    merged["plan"] = plan["plan_id"]
    plan_ids = sorted({int(p) for p in merged["plan"].dropna()})
    terms = _in_force(
        merged.rename(columns={"plan": "plan_key"}),
        _stretches(PlanTerms, "plan_id", ["id"], plan_ids, **span).rename(columns={"plan_id": "plan_key"}),
        "plan_key",
    )
    status = _in_force(merged, _stretches(PartnerStatus, "partner_id", ["status"], partner_ids, **span), "partner_id")
    current = _fetch_frame(
        f"SELECT id, status, program_id FROM {Partner._meta.db_table} WHERE id = ANY(%s::bigint[])",
        [partner_ids],
        ["partner_id", "status_now", "program_key"],
    ).set_index("partner_id")
    # The program each partner belonged to at the close time (a partner written without that record: its current).
    member = _in_force(
        merged, _stretches(PartnerProgram, "partner_id", ["program_id"], partner_ids, **span), "partner_id"
    )
    merged["program_key"] = (
        member["program_id"]
        .astype("Float64")
        .fillna(merged["partner_id"].map(current["program_key"]).astype("Float64"))
        .to_numpy(dtype=np.int64)
    )
    program_ids = sorted({int(p) for p in merged["program_key"].unique()})
    program = _in_force(
        merged,
        _stretches(ProgramTerms, "program_id", ["id"], program_ids, **span).rename(
            columns={"program_id": "program_key"}
        ),
        "program_key",
    )
    status_at = status["status"].where(status["status"].notna(), merged["partner_id"].map(current["status_now"]))
    chains = pd.DataFrame(
        {
            "trade_id": merged["trade_id"].to_numpy(dtype=np.int64),
            "level": merged["level"].to_numpy(dtype=np.int64),
            "partner_id": merged["partner_id"].to_numpy(dtype=np.int64),
            "plan_id": terms["id"].astype("Int64").array,
            "program_id": program["id"].astype("Int64").fillna(-merged["program_key"]).astype(np.int64).to_numpy(),
            "active": (status_at == Partner.Status.ACTIVE).to_numpy(dtype=bool),
        }
    )
    return chains.sort_values(["trade_id", "level"]).reset_index(drop=True)


def _stretches(model, owner: str, columns: list[str], owners: list[int], *, start, end) -> pd.DataFrame:
    """The rows of the dated series ``model`` of ``owners`` overlapping ``[start, end)``: owner, columns, bounds."""
    table = model._meta.db_table
    frame = _fetch_frame(
        f"SELECT {owner}, {', '.join(columns)}, valid_from, valid_to FROM {table} "
        f"WHERE {owner} = ANY(%s::bigint[]) AND valid_from < %s AND (valid_to IS NULL OR valid_to > %s)",
        [owners, end, start],
        [owner, *columns, "valid_from", "valid_to"],
    )
    for column in ("valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _in_force(rows: pd.DataFrame, stretches: pd.DataFrame, key: str) -> pd.DataFrame:
    """For each row of ``rows`` (``key``, ``close_ns``: the close time in epoch nanoseconds), the other columns of the
    stretch of ``stretches`` in force at its close time, NA where none; in ``rows``' order. Times are compared as
    integers (a tz-aware column turned into Python objects would cost more than everything else here)."""
    values = [c for c in stretches.columns if c not in (key, "valid_from", "valid_to")]
    owners = rows[key].to_numpy()
    known = ~pd.isna(owners)
    if not len(stretches) or not known.any():
        return pd.DataFrame({c: pd.Series([pd.NA] * len(rows), dtype=object) for c in values})
    left = pd.DataFrame(
        {
            key: owners[known].astype(np.int64),
            "_at": rows["close_ns"].to_numpy()[known],
            "_row": np.flatnonzero(known),
        }
    )
    valid_from = pd.DatetimeIndex(stretches["valid_from"]).as_unit("ns")
    valid_to = pd.DatetimeIndex(stretches["valid_to"]).as_unit("ns")
    right = pd.DataFrame(
        {
            key: stretches[key].to_numpy(dtype=np.int64),
            "_from": valid_from.asi8,
            "_to": np.where(valid_to.isna(), np.iinfo(np.int64).max, valid_to.asi8),
            **{c: stretches[c].to_numpy() for c in values},
        }
    )
    merged = left.merge(right, on=key)
    at = merged["_at"].to_numpy()
    hit = (merged["_from"].to_numpy() <= at) & (at < merged["_to"].to_numpy())
    return merged[hit].set_index("_row")[values].reindex(np.arange(len(rows))).reset_index(drop=True)


def _fetch_frame(sql: str, params, columns: list[str]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def configuration(*, run: Run, trades: pd.DataFrame, chains: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Program terms, plan terms, rules, rates and rebates the computation of ``trades`` needs."""
    # Every stretch of the chain partners' rebates that covers any of the trades' close times: the engine gives
    # each trade the rebate in force when it closed (DOMAIN.md 4.5). Bounds are clamped into the engine's
    # nanosecond range (no trade closes outside it).
    first_close = trades["close_time"].min() if len(trades) else run.period_start
    last_close = trades["close_time"].max() if len(trades) else run.period_start
    rebates = _fetch_frame(
        f"""
        SELECT r.partner_id, r.account_id, r.pct, r.per_lot, GREATEST(r.valid_from, %(always)s),
               LEAST(COALESCE(r.valid_to, %(open_end)s), %(open_end)s) FROM {Rebate._meta.db_table} r
         WHERE r.valid_from <= %(last)s AND (r.valid_to IS NULL OR r.valid_to > %(first)s)
           AND r.partner_id = ANY(%(partners)s::bigint[])
        """,
        {
            "first": first_close,
            "last": last_close,
            "always": REBATE_ALWAYS,
            "open_end": REBATE_OPEN_END,
            "partners": chains["partner_id"].unique().tolist(),
        },
        ["partner_id", "account_id", "pct", "per_lot", "valid_from", "valid_to"],
    )
    rebates["account_id"] = rebates["account_id"].astype("Int64")
    for column in ("valid_from", "valid_to"):
        rebates[column] = pd.to_datetime(rebates[column], utc=True).dt.as_unit("ns")
    program_ids = sorted({int(p) for p in chains["program_id"].unique()})
    programs = _fetch_frame(
        f"""
        SELECT id, model, max_depth, shares, override_pct FROM {ProgramTerms._meta.db_table}
         WHERE id = ANY(%(terms)s::bigint[])
        UNION ALL
        SELECT -id, model, max_depth, shares, override_pct FROM {Program._meta.db_table}
         WHERE id = ANY(%(current)s::bigint[])
        """,
        {"terms": [p for p in program_ids if p > 0], "current": [-p for p in program_ids if p < 0]},
        ["program_id", "model", "max_depth", "shares", "override_pct"],
    )
    for column in ("shares", "override_pct"):
        programs[column] = programs[column].map(lambda values: tuple(values or ()))
    plan_ids = sorted({int(p) for p in chains["plan_id"].dropna().tolist()})
    plans = _fetch_frame(
        f"""
        SELECT id, currency, both_legs, min_hold_seconds, min_points, tier_mode, tiers
          FROM {PlanTerms._meta.db_table} WHERE id = ANY(%s::bigint[])
        """,
        [plan_ids],
        ["plan_id", "currency", "both_legs", "min_hold_seconds", "min_points", "tier_mode", "tiers"],
    )
    plans["tiers"] = plans["tiers"].map(
        lambda rows: tuple((Decimal(f), Decimal(m)) for f, m in (json.loads(rows) if isinstance(rows, str) else rows))
    )
    # Built from Python ints: a column mixing ints and NULLs would otherwise become float in pandas.
    plans["min_hold_seconds"] = pd.Series(
        [None if value is None or pd.isna(value) else int(value) for value in plans["min_hold_seconds"]],
        index=plans.index,
        dtype=object,
    )
    # A rule shared by several terms of its plan is one row per terms here (the engine keys rules by both).
    rules = _fetch_frame(
        f"""
        SELECT r.id, m.planterms_id, r.type, r.instrument_id, NULLIF(r.symbol_group, ''),
               NULLIF(r.account_group, ''), r.rate, r.pct, r.priority
          FROM {PlanTerms.rules.through._meta.db_table} m JOIN {PlanRule._meta.db_table} r ON r.id = m.planrule_id
         WHERE m.planterms_id = ANY(%s::bigint[])
        """,
        [plan_ids],
        ["rule_id", "plan_id", "type", "instrument_id", "symbol_group", "account_group", "rate", "pct", "priority"],
    )
    rules["instrument_id"] = rules["instrument_id"].astype("Int64")
    first_day = min(trades["open_day"].min(), trades["close_day"].min()) if len(trades) else None
    last_day = trades["close_day"].max() if len(trades) else None
    rates = _fetch_frame(
        f"SELECT currency, day, usd_rate FROM {ConversionRate._meta.db_table} WHERE day BETWEEN %s AND %s",
        [first_day, last_day],
        ["currency", "day", "usd_rate"],
    )
    return {
        "programs": programs,
        "plans": plans,
        "rules": rules,
        "rates": rates,
        "rebates": rebates,
    }


def engine_inputs(*, run: Run, trades: pd.DataFrame) -> EngineInputs:
    """Everything the engine needs to compute ``trades`` (loaded by ``load_trades``) under ``run``'s period terms."""
    chains = trade_chains(run=run, trades=trades)
    config = configuration(run=run, trades=trades, chains=chains)
    frames = {name: (frame if len(frame) else empty_frame(name)) for name, frame in config.items()}
    return EngineInputs(trades=trades, trade_chains=chains, **frames)


def tier_volumes_store(*, run: Run) -> None:
    """Compute the period's tier context once and store it, so every chunk prices tiers on the same volumes."""
    RunTierVolume.objects.filter(run=run).delete()
    if not _any_tiers_in_use(run=run):
        return
    trades = load_trades(run=run)
    inputs = engine_inputs(run=run, trades=trades)
    context = tier_context(inputs.trades, inputs.trade_chains, inputs.plans)
    direct = context.direct.assign(run_id=run.pk)
    columns = ["run_id", "partner_id", "trade_id", "ticket", "close_ns", "lots", "cum_lots"]
    copy_frame(RunTierVolume._meta.db_table, direct[columns])


def tier_volumes_discard(*, run: Run) -> None:
    RunTierVolume.objects.filter(run=run).delete()


def _any_tiers_in_use(*, run: Run) -> bool:
    """Whether any plan assigned during the period has terms with tiers in force during it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT EXISTS (
                SELECT 1 FROM {PartnerPlan._meta.db_table} pp
                  JOIN {PlanTerms._meta.db_table} t ON t.plan_id = pp.plan_id AND t.tiers <> '[]'::jsonb
                       AND t.valid_from < %(end)s AND (t.valid_to IS NULL OR t.valid_to > %(start)s)
                 WHERE pp.valid_from < %(end)s AND (pp.valid_to IS NULL OR pp.valid_to > %(start)s))
            """,
            {"start": run.period_start, "end": run.period_end},
        )
        return cursor.fetchone()[0]


def load_tier_context(*, run: Run, partner_ids: Iterable[int]) -> TierContext:
    columns = ["partner_id", "trade_id", "ticket", "close_ns", "lots", "cum_lots"]
    ids = sorted({int(p) for p in partner_ids})
    frame = _fetch_frame(
        f"SELECT {', '.join(columns)} FROM {RunTierVolume._meta.db_table} WHERE run_id = %s AND partner_id = ANY(%s) "
        "ORDER BY partner_id, close_ns, ticket, trade_id",
        [run.pk, ids],
        columns,
    )
    frame = frame.astype(dict.fromkeys(columns, np.int64))
    return TierContext(direct=frame)


# A locked run's tier context as the period's final versions give it (``final_tier_context``): the versions of the
# stored context superseded within the adjusting snapshot ...
_SUPERSEDED_IN_CONTEXT_SQL = f"""
SELECT v.trade_id FROM {RunTierVolume._meta.db_table} v JOIN {TRADES} t ON t.id = v.trade_id
 WHERE v.run_id = %(run)s AND v.partner_id = ANY(%(partners)s::bigint[]) AND NOT t.is_current
   AND EXISTS (SELECT 1 FROM {TRADES} n WHERE n.server = t.server AND n.ticket = t.ticket
                AND n.version > t.version AND n.id <= %(trade_max)s)
"""
# ... and the versions it could not hold: current within the adjusting snapshot, closing in the period, newer than
# the locked run's snapshot (for a run from before snapshots, every later version of a ticket).
_NEW_SINCE_CONTEXT_SQL = f"""
SELECT t.id FROM {TRADES} t
 WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND {as_of_snapshot("t")}
   AND (t.id > %(locked_max)s OR (%(legacy)s AND t.version > 1))
   AND NOT EXISTS (SELECT 1 FROM {RunTierVolume._meta.db_table} v WHERE v.run_id = %(run)s AND v.trade_id = t.id)
"""


def final_tier_context(*, locked_run: Run, snapshot: Snapshot, partner_ids: Iterable[int]) -> TierContext:
    """What an adjustment of ``locked_run``'s period prices tiers on, for ``partner_ids``
    (``tiers.adjustment_context``). The marginal volume before each version is what a from-scratch computation of
    the period with its final versions gives it (DOMAIN.md 3 and 4.3): the stored context with the versions
    superseded within ``snapshot`` taken out and the versions new since (corrections, late trades, a trade moved
    into the period) put in, each as ``tier_context`` counts it under the locked period's terms. The retroactive
    band is read from the stored whole-period volumes, as the period was paid."""
    ids = sorted({int(p) for p in partner_ids})
    stored = load_tier_context(run=locked_run, partner_ids=ids)
    if not _any_tiers_in_use(run=locked_run):
        return stored
    locked = Snapshot.of(locked_run)
    params = {
        "run": locked_run.pk,
        "partners": ids,
        "start": locked_run.period_start,
        "end": locked_run.period_end,
        "locked_max": locked.trade_max_id,
        "legacy": locked.trade_max_id == UNBOUNDED,
        **snapshot.params(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SUPERSEDED_IN_CONTEXT_SQL, params)
        removed = [trade_id for (trade_id,) in cursor.fetchall()]
        cursor.execute(_NEW_SINCE_CONTEXT_SQL, params)
        new_ids = [trade_id for (trade_id,) in cursor.fetchall()]
    if not removed and not new_ids:
        return stored
    added = TierContext(direct=stored.direct.iloc[:0])
    if new_ids:
        trades = load_trades(run=locked_run, trade_ids=new_ids, snapshot=snapshot)
        if len(trades):
            inputs = engine_inputs(run=locked_run, trades=trades)
            context = tier_context(inputs.trades, inputs.trade_chains, inputs.plans)
            added = TierContext(direct=context.direct[context.direct["partner_id"].isin(ids)])
    return adjustment_context(stored, removed=removed, added=added)


def compute_trades(
    *, run: Run, trades: pd.DataFrame, context_run: Run | None = None, final_as_of: Snapshot | None = None
) -> pd.DataFrame:
    """Run the engine over ``trades`` with the terms and tier context of ``context_run`` (default ``run``) and shape
    the lines as rows of ``run``'s line table. With ``final_as_of`` (an adjustment: ``context_run`` is the locked
    period's run), the tier context is the locked run's with the period's versions as of that snapshot
    (``final_tier_context``)."""
    terms = context_run or run
    inputs = engine_inputs(run=terms, trades=trades)
    partner_ids = inputs.trade_chains["partner_id"].tolist()
    if final_as_of is None:
        context = load_tier_context(run=terms, partner_ids=partner_ids)
    else:
        context = final_tier_context(locked_run=terms, snapshot=final_as_of, partner_ids=partner_ids)
    lines = compute_lines(inputs, context, with_decimals=False)
    return shape_lines(run=run, lines=lines, trades=trades)


def shape_lines(*, run: Run, lines: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """Engine lines (integer micro-units) as staging rows; PostgreSQL turns micros into NUMERIC on insert."""
    account_of_trade = trades.set_index("trade_id")["account_id"]
    trade_account = lines["trade_id"].map(account_of_trade)
    return pd.DataFrame(
        {
            "run_id": run.pk,
            "period": run.period,
            "trade_id": lines["trade_id"].to_numpy(),
            "account_id": trade_account.where(trade_account != 0).astype("Int64").array,
            "partner_id": lines["partner_id"].astype("Int64").array,
            "beneficiary_account_id": lines["account_id"].astype("Int64").array,
            "kind": lines["kind"].astype(object).to_numpy(),
            "level": lines["level"].to_numpy(),
            "rule_id": lines["rule_id"].astype("Int64").array,
            "base_micros": lines["base_micros"].astype("Int64").array,
            "rate_micros": lines["rate_micros"].astype("Int64").array,
            "tier": lines["tier"].astype("Int64").array,
            "multiplier_micros": lines["multiplier_micros"].astype("Int64").array,
            "amount_micros": lines["amount_micros"].astype(np.int64).to_numpy(),
            "currency": lines["currency"].astype(object).to_numpy(),
            "reason": lines["reason"].astype(object).fillna("").to_numpy(),
            "adjusts_period": "",
        }
    )
