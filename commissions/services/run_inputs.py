"""Adapters between the database and the commission engine: the only place rows become DataFrames and back.

Money never passes through a float: numerics arrive from psycopg as ``Decimal`` and the engine's integer
micro-units go back as integers (``amount`` is derived from ``amount_micros`` by PostgreSQL).

Decisions recorded here (the spec is silent):
- A trade is computed with the chain and the partners' plans in force at its close time (effective-dated), but
  with each partner's *current* status (a suspended partner earns nothing in any run computed while suspended).
- Rebates in force at the end of the period apply to the whole period.
- Trades whose login has no client account row are computed in a separate chunk (``account_ids`` empty) and earn
  nothing (reason ``no_ib``); their lines have no account.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db import connection

from core.pgcopy import copy_frame, copy_out_frame
from partners.selectors import chains_frame

from ..engine import compute_lines, tier_context
from ..engine.schema import EngineInputs, empty_frame
from ..engine.tiers import TierContext
from ..models import Run, RunTierVolume

# Times come as exact epoch microseconds and days as day numbers, so no Python datetime is built per row.
TRADE_SQL = """
SELECT t.id AS trade_id, t.ticket, COALESCE(a.id, 0) AS account_id, NULLIF(a."group", '') AS account_group,
       COALESCE(a.currency, 'USD') AS account_currency, COALESCE(a.earns_commission, false) AS earns_commission,
       t.status, t.instrument_id, i."group" AS symbol_group, i.base, i.quote, i.contract_size, i.pip_size,
       t.lots, (EXTRACT(EPOCH FROM t.open_time) * 1000000)::bigint AS open_time,
       (EXTRACT(EPOCH FROM t.close_time) * 1000000)::bigint AS close_time,
       t.open_price, t.close_price, t.commission, t.spread_pips,
       (t.open_time AT TIME ZONE %(tz)s)::date - DATE '1970-01-01' AS open_day,
       (t.close_time AT TIME ZONE %(tz)s)::date - DATE '1970-01-01' AS close_day
  FROM commissions_trade t
  LEFT JOIN partners_clientaccount a ON a.server = t.server AND a.login = t.login
  LEFT JOIN commissions_instrument i ON i.id = t.instrument_id
 WHERE t.close_time >= %(start)s AND t.close_time < %(end)s AND {account_filter}
   AND (t.is_current OR %(ids)s::bigint[] IS NOT NULL AND t.id = ANY(%(ids)s::bigint[]))
 ORDER BY t.id
"""
_TEXT = ("account_group", "account_currency", "status", "symbol_group", "base", "quote")
_DECIMALS = ("contract_size", "pip_size", "lots", "open_price", "close_price", "commission", "spread_pips")
_INTS = ("trade_id", "ticket", "account_id", "instrument_id", "open_time", "close_time", "open_day", "close_day")
TRADE_TYPES = {
    **dict.fromkeys(_INTS, pa.int64()),
    **dict.fromkeys(_TEXT + _DECIMALS, pa.string()),
    "earns_commission": pa.bool_(),
}


# The chunk that carries reversals and adjustments for trades changed after their period was approved.
ADJUSTMENTS_CHUNK = ["adjustments"]


def plan_chunks(*, run: Run, target_trades: int) -> list[list[int]]:
    """Split the period's accounts into chunks of about ``target_trades`` trades (accounts are never split, so
    a chunk holds every trade of its accounts). Trades without an account row form a chunk ``[]``; changes to
    trades of locked periods (see ``adjustments``) a last chunk ``ADJUSTMENTS_CHUNK``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, COUNT(*)
              FROM commissions_trade t
              LEFT JOIN partners_clientaccount a ON a.server = t.server AND a.login = t.login
             WHERE t.is_current AND t.close_time >= %s AND t.close_time < %s
             GROUP BY a.id ORDER BY a.id NULLS LAST
            """,
            [run.period_start, run.period_end],
        )
        counts = cursor.fetchall()
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    orphans = False
    for account_id, count in counts:
        if account_id is None:
            orphans = True
            continue
        if current and size + count > target_trades:
            chunks.append(current)
            current, size = [], 0
        current.append(account_id)
        size += count
    if current:
        chunks.append(current)
    if orphans:
        chunks.append([])
    from .adjustments import has_pending_adjustments

    if has_pending_adjustments(run=run):
        chunks.append(ADJUSTMENTS_CHUNK)
    return chunks


def load_trades(*, run: Run, account_ids: Iterable[int] | None, trade_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """The period's current trade versions for ``account_ids`` (None: all; empty: those without an account), or
    exactly the versions ``trade_ids`` when given (adjustments)."""
    ids = None
    if trade_ids is not None:
        ids = sorted(int(i) for i in trade_ids)
        account_filter = "t.id = ANY(%(ids)s::bigint[])"
    elif account_ids is None:
        account_filter = "TRUE"
    else:
        ids = sorted(int(i) for i in account_ids)
        account_filter = "a.id = ANY(%(ids)s::bigint[])" if ids else "a.id IS NULL"
    params = {"tz": settings.IBEX_SERVER_TIME_ZONE, "start": run.period_start, "end": run.period_end, "ids": ids}
    frame = copy_out_frame(TRADE_SQL.format(account_filter=account_filter), params, TRADE_TYPES)
    if frame.empty:
        return empty_frame("trades")
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


def _trade_chains(*, run: Run, trades: pd.DataFrame) -> pd.DataFrame:
    """Each trade's chain at its close time, with each level's plan at that time."""
    if trades.empty:
        return empty_frame("trade_chains")
    stretches = chains_frame(
        account_ids=trades["account_id"].unique().tolist(), start=run.period_start, end=run.period_end
    )
    if stretches.empty:
        return empty_frame("trade_chains")
    merged = trades[["trade_id", "account_id", "close_time"]].merge(stretches, on="account_id")
    merged = merged[(merged["valid_from"] <= merged["close_time"]) & (merged["close_time"] < merged["valid_to"])]
    merged = merged[["trade_id", "level", "partner_id", "close_time"]]
    plans = _plan_stretches(partner_ids=merged["partner_id"].unique().tolist(), run=run)
    with_plan = merged.merge(plans, on="partner_id", how="left")
    in_force = (with_plan["valid_from"] <= with_plan["close_time"]) & (
        with_plan["valid_to"].isna() | (with_plan["close_time"] < with_plan["valid_to"])
    )
    with_plan = with_plan[in_force]
    chains = merged.merge(with_plan[["trade_id", "level", "plan_id"]], on=["trade_id", "level"], how="left")
    chains["plan_id"] = chains["plan_id"].astype("Int64")
    return (
        chains[["trade_id", "level", "partner_id", "plan_id"]].sort_values(["trade_id", "level"]).reset_index(drop=True)
    )


def _plan_stretches(*, partner_ids: list[int], run: Run) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT partner_id, plan_id, valid_from, valid_to FROM commissions_partnerplan
             WHERE partner_id = ANY(%s::bigint[]) AND valid_from < %s AND (valid_to IS NULL OR valid_to > %s)
            """,
            [partner_ids, run.period_end, run.period_start],
        )
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=["partner_id", "plan_id", "valid_from", "valid_to"])
    for column in ("valid_from", "valid_to"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _fetch_frame(sql: str, params, columns: list[str]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns)


def _configuration(*, run: Run, trades: pd.DataFrame, chains: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Partners, programs, plans, rules, rates and rebates the chunk needs."""
    rebates = _fetch_frame(
        """
        SELECT r.partner_id, r.account_id, r.pct, r.per_lot FROM commissions_rebate r
         WHERE r.valid_from < %(end)s AND (r.valid_to IS NULL OR r.valid_to >= %(end)s)
           AND r.partner_id = ANY(%(partners)s::bigint[])
        """,
        {"end": run.period_end, "partners": chains["partner_id"].unique().tolist()},
        ["partner_id", "account_id", "pct", "per_lot"],
    )
    rebates["account_id"] = rebates["account_id"].astype("Int64")
    partner_ids = sorted(set(chains["partner_id"].tolist()))
    partners = _fetch_frame(
        "SELECT id, status = 'active', program_id FROM partners_partner WHERE id = ANY(%s::bigint[])",
        [partner_ids],
        ["partner_id", "active", "program_id"],
    )
    programs = _fetch_frame(
        "SELECT id, model, max_depth, shares, override_pct FROM partners_program WHERE id = ANY(%s::bigint[])",
        [partners["program_id"].unique().tolist()],
        ["program_id", "model", "max_depth", "shares", "override_pct"],
    )
    for column in ("shares", "override_pct"):
        programs[column] = programs[column].map(lambda values: tuple(values or ()))
    plan_ids = sorted({int(p) for p in chains["plan_id"].dropna().tolist()})
    plans = _fetch_frame(
        """
        SELECT p.id, p.currency, p.both_legs, p.min_hold_seconds, p.min_points, p.tier_mode,
               COALESCE(array_agg(ARRAY[t.from_lots, t.multiplier] ORDER BY t.from_lots)
                        FILTER (WHERE t.id IS NOT NULL), '{}')
          FROM commissions_plan p LEFT JOIN commissions_plantier t ON t.plan_id = p.id
         WHERE p.id = ANY(%s::bigint[]) GROUP BY p.id
        """,
        [plan_ids],
        ["plan_id", "currency", "both_legs", "min_hold_seconds", "min_points", "tier_mode", "tiers"],
    )
    plans["tiers"] = plans["tiers"].map(lambda rows: tuple((row[0], row[1]) for row in rows or ()))
    # Built from Python ints: a column mixing ints and NULLs would otherwise become float in pandas.
    plans["min_hold_seconds"] = pd.Series(
        [None if value is None or pd.isna(value) else int(value) for value in plans["min_hold_seconds"]],
        index=plans.index,
        dtype=object,
    )
    rules = _fetch_frame(
        """
        SELECT id, plan_id, type, instrument_id, NULLIF(symbol_group, ''), NULLIF(account_group, ''), rate, pct,
               priority
          FROM commissions_planrule WHERE active AND plan_id = ANY(%s::bigint[])
        """,
        [plan_ids],
        ["rule_id", "plan_id", "type", "instrument_id", "symbol_group", "account_group", "rate", "pct", "priority"],
    )
    rules["instrument_id"] = rules["instrument_id"].astype("Int64")
    first_day = min(trades["open_day"].min(), trades["close_day"].min()) if len(trades) else None
    last_day = trades["close_day"].max() if len(trades) else None
    rates = _fetch_frame(
        "SELECT currency, day, usd_rate FROM commissions_conversionrate WHERE day BETWEEN %s AND %s",
        [first_day, last_day],
        ["currency", "day", "usd_rate"],
    )
    return {
        "partners": partners,
        "programs": programs,
        "plans": plans,
        "rules": rules,
        "rates": rates,
        "rebates": rebates,
    }


def load_inputs(*, run: Run, account_ids: Iterable[int] | None) -> tuple[EngineInputs, pd.DataFrame]:
    trades = load_trades(run=run, account_ids=account_ids)
    chains = _trade_chains(run=run, trades=trades)
    config = _configuration(run=run, trades=trades, chains=chains)
    frames = {name: (frame if len(frame) else empty_frame(name)) for name, frame in config.items()}
    inputs = EngineInputs(trades=trades, trade_chains=chains, **frames)
    return inputs, trades


def prepare_run_context(*, run: Run) -> None:
    """Compute the period's tier context once and store it, so every chunk prices tiers on the same volumes."""
    RunTierVolume.objects.filter(run=run).delete()
    if not _any_tiers_in_use(run=run):
        return
    inputs, _ = load_inputs(run=run, account_ids=None)
    context = tier_context(inputs.trades, inputs.trade_chains, inputs.plans)
    direct = context.direct.assign(run_id=run.pk)
    columns = ["run_id", "partner_id", "trade_id", "ticket", "close_ns", "lots", "cum_lots"]
    copy_frame(RunTierVolume._meta.db_table, direct[columns])


def _any_tiers_in_use(*, run: Run) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM commissions_partnerplan pp JOIN commissions_plantier t ON t.plan_id = pp.plan_id
                 WHERE pp.valid_from < %s AND (pp.valid_to IS NULL OR pp.valid_to > %s))
            """,
            [run.period_end, run.period_start],
        )
        return cursor.fetchone()[0]


def load_tier_context(*, run: Run, partner_ids: Iterable[int]) -> TierContext:
    columns = ["partner_id", "trade_id", "ticket", "close_ns", "lots", "cum_lots"]
    ids = sorted({int(p) for p in partner_ids})
    frame = _fetch_frame(
        f"SELECT {', '.join(columns)} FROM commissions_runtiervolume WHERE run_id = %s AND partner_id = ANY(%s) "
        "ORDER BY partner_id, close_ns, ticket, trade_id",
        [run.pk, ids],
        columns,
    )
    frame = frame.astype(dict.fromkeys(columns, np.int64))
    return TierContext(direct=frame)


def compute_chunk_lines(*, run: Run, account_ids: list[int]) -> pd.DataFrame:
    """Load one chunk, run the engine, and shape its lines as rows of ``commissions_attributionline``."""
    if account_ids == ADJUSTMENTS_CHUNK:
        from .adjustments import compute_adjustment_lines

        return compute_adjustment_lines(run=run)
    inputs, trades = load_inputs(run=run, account_ids=account_ids)
    if trades.empty:
        return pd.DataFrame()
    context = load_tier_context(run=run, partner_ids=inputs.trade_chains["partner_id"].tolist())
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
