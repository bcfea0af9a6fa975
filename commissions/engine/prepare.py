"""Input frames → integer arrays: the one place the engine reads DataFrames.

Units: every Decimal becomes an integer array at a known decimal scale (lots at 4, configuration numbers at 6 =
micro-units; prices, contract and pip sizes, commissions, spreads and rates at the smallest scale that holds every
converted value exactly). Times become int64 nanoseconds since the epoch (UTC); days become int64 day numbers
since 1970-01-01. Strings become small integer codes in vocabularies shared by the frames that are compared
(account groups of trades and rules, symbol groups, instruments, currencies); -1 means NA.

Rounding points: none (conversion is exact or raises ``EngineInputError``).
Invariants: no float is produced; the USD rate is 1 (looked up as ``10**scale`` at the table's scale); a missing
rate is reported by the caller, never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, Inexact, InvalidOperation, localcontext

import numpy as np
import pandas as pd

from core.exact import INT64_MAX, ExactValueError, as_big, decimals_to_ints, pow10, reduce_scale

from .schema import (
    CONFIG_PLACES,
    CURRENCY,
    LOTS_PLACES,
    MODELS,
    REASONS,
    RULE_KIND,
    RULE_TYPES,
    STATUS_CANCELLED,
    TIER_MARGINAL,
    TRADE_DECIMALS,
    USD_RATE_PLACES,
    EngineInputError,
    EngineInputs,
)

NA = -1
NA_ID = int(np.iinfo(np.int64).min)  # sentinel for a missing id in int64 arrays (never a database id)
EPOCH = date(1970, 1, 1)
REASON_CODE = {reason: code for code, reason in enumerate(REASONS)}
MODEL_CODE = {model: code for code, model in enumerate(MODELS)}
RULE_TYPE_CODE = {rule_type: code for code, rule_type in enumerate(RULE_TYPES)}
KIND_OF_RULE_TYPE = np.array([0 if RULE_KIND[t] == "volume" else 1 for t in RULE_TYPES], dtype=np.int64)
ON_DEMAND = ("open_price", "close_price", "commission", "spread_pips")


def day_to_date(day: int) -> date:
    """A day number back to a date (for error messages)."""
    return EPOCH + timedelta(days=int(day))


def _ints(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=np.int64)


def _nullable_ints(series: pd.Series) -> np.ndarray:
    """int64 with ``NA_ID`` where missing."""
    return pd.array(series, dtype="Int64").to_numpy(dtype=np.int64, na_value=NA_ID)


def _bools(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=bool)


def _nanoseconds(series: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(series).as_unit("ns").asi8.astype(np.int64, copy=False)


def _days(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        return pd.DatetimeIndex(series).as_unit("s").asi8 // 86_400
    codes, uniques = pd.factorize(series)
    unique_days = np.array([(value - EPOCH).days for value in uniques], dtype=np.int64)
    return unique_days[codes]


def _codes(series: pd.Series | np.ndarray, vocabulary: pd.Index) -> np.ndarray:
    return vocabulary.get_indexer(series).astype(np.int64, copy=False)


def _vocabulary(*columns: pd.Series | np.ndarray) -> pd.Index:
    values = pd.concat([pd.Series(pd.unique(np.asarray(c, dtype=object))) for c in columns], ignore_index=True)
    return pd.Index(pd.unique(values.dropna().to_numpy(dtype=object)), dtype=object)


def _config_ints(values: object, places: int, what: str) -> np.ndarray:
    try:
        ints, _ = decimals_to_ints(np.asarray(values, dtype=object), scale=places, what=what)
    except ExactValueError as exc:
        raise EngineInputError([str(exc)]) from exc
    if ints.dtype == object:
        raise EngineInputError([f"{what}: a value is too large"])
    return ints


@dataclass(frozen=True)
class Vocabularies:
    """Codes shared between frames: currencies, account groups, symbol groups, instruments.

    ``instrument`` is each trade's instrument code (-1 = unresolved) and ``instrument_rows`` the first trade row of
    each instrument code: symbol group, base, quote, contract and pip size are instrument attributes, read once per
    instrument (``validate_inputs`` checks that every trade of an instrument agrees).
    """

    currencies: pd.Index
    account_groups: pd.Index
    symbol_groups: pd.Index
    instruments: pd.Index
    instrument: np.ndarray
    instrument_rows: np.ndarray

    @property
    def usd(self) -> int:
        return int(self.currencies.get_loc(CURRENCY))


def build_vocabularies(
    trades: pd.DataFrame,
    *,
    rules: pd.DataFrame | None = None,
    plans: pd.DataFrame | None = None,
    rates: pd.DataFrame | None = None,
) -> Vocabularies:
    """Vocabularies covering every value the given frames use."""
    empty = pd.Series([], dtype=object)
    trade_instruments = pd.array(trades["instrument_id"], dtype="Int64").to_numpy(dtype=np.int64, na_value=NA_ID)
    rule_instruments = (
        pd.array(rules["instrument_id"].dropna(), dtype="Int64").to_numpy(dtype=np.int64)
        if rules is not None
        else np.zeros(0, dtype=np.int64)
    )
    resolved = trade_instruments != NA_ID
    instruments = pd.Index(pd.unique(np.concatenate([trade_instruments[resolved], rule_instruments])))
    instrument = np.where(resolved, instruments.get_indexer(trade_instruments), NA).astype(np.int64)
    first = np.full(len(instruments), -1, dtype=np.int64)
    positions = np.flatnonzero(resolved)
    first[instrument[positions[::-1]]] = positions[::-1]  # reversed: the smallest position wins
    instrument_rows = first[first >= 0]
    attributes = trades.iloc[np.sort(instrument_rows)]
    return Vocabularies(
        currencies=_vocabulary(
            pd.Series([CURRENCY]),
            trades["account_currency"],
            attributes["quote"],
            plans["currency"] if plans is not None else empty,
            rates["currency"] if rates is not None else empty,
        ),
        account_groups=_vocabulary(trades["account_group"], rules["account_group"] if rules is not None else empty),
        symbol_groups=_vocabulary(attributes["symbol_group"], rules["symbol_group"] if rules is not None else empty),
        instruments=instruments,
        instrument=instrument,
        instrument_rows=first,
    )


@dataclass(frozen=True)
class Scaled:
    """Integers at a decimal scale (value = ints x 10**-scale) and the rows that were NA (ints 0 there)."""

    ints: np.ndarray
    scale: int
    na: np.ndarray


@dataclass(frozen=True)
class TradeArrays:
    """One entry per trade row, in the frame's order.

    Lots (scale 4), contract and pip sizes (per instrument, at their smallest exact scale), times, days and codes
    are converted up front. Prices, commissions and spreads are converted on demand for the rows a formula uses
    (``decimals``), so a chunk pays only for the numbers it needs; ``validate_inputs`` checks them all.
    """

    n: int
    trade_id: np.ndarray
    ticket: np.ndarray
    account_id: np.ndarray
    account_group: np.ndarray
    account_currency: np.ndarray
    earns: np.ndarray
    cancelled: np.ndarray
    resolved: np.ndarray
    instrument: np.ndarray
    symbol_group: np.ndarray
    base_usd: np.ndarray
    quote: np.ndarray
    quote_usd: np.ndarray
    contract: np.ndarray
    contract_scale: int
    pip: np.ndarray
    pip_scale: int
    digits: np.ndarray  # quote digits: a point is 10**-digits (0 for unresolved trades)
    lots: np.ndarray  # scale LOTS_PLACES
    open_ns: np.ndarray
    close_ns: np.ndarray
    open_day: np.ndarray
    close_day: np.ndarray
    raw: dict[str, np.ndarray]  # object arrays of the columns converted on demand

    def decimals(self, column: str, rows: np.ndarray) -> Scaled:
        """``column`` (open_price, close_price, commission, spread_pips) of ``rows`` as integers, exactly."""
        places, allow_na = TRADE_DECIMALS[column]
        try:
            ints, na = decimals_to_ints(
                self.raw[column][rows], scale=places, what=f"trades.{column}", allow_na=allow_na
            )
        except ExactValueError as exc:
            raise EngineInputError([str(exc)]) from exc
        ints, scale = reduce_scale(ints, places)
        if column == "spread_pips" and len(ints) and int(ints.min()) < 0:
            raise EngineInputError(["trades.spread_pips: must not be negative"])
        return Scaled(ints=ints, scale=scale, na=na)


def _instrument_decimals(trades: pd.DataFrame, column: str, first: np.ndarray) -> tuple[np.ndarray, int]:
    """An instrument's contract_size or pip_size from its first trade row, per instrument code, exactly."""
    places, _ = TRADE_DECIMALS[column]
    values = np.asarray(trades[column], dtype=object)[first]
    try:
        ints, _ = decimals_to_ints(values, scale=places, what=f"trades.{column}")
    except ExactValueError as exc:
        raise EngineInputError([str(exc)]) from exc
    if ints.dtype == object:
        raise EngineInputError([f"trades.{column}: a value is too large"])
    if np.any(ints <= 0):
        raise EngineInputError([f"trades.{column}: must be positive"])
    return reduce_scale(ints, places)


def _per_trade(table: np.ndarray, instrument: np.ndarray, missing: object) -> np.ndarray:
    """An instrument attribute spread to the trades (``missing`` for unresolved trades)."""
    if not len(table):
        return np.full(len(instrument), missing, dtype=table.dtype)
    return np.where(instrument >= 0, table[np.maximum(instrument, 0)], missing).astype(table.dtype)


def prepare_trades(trades: pd.DataFrame, vocabularies: Vocabularies) -> TradeArrays:
    """Convert the trades frame (exactly; a bad number raises ``EngineInputError`` naming the column).

    Instrument attributes (symbol_group, base, quote, contract_size, pip_size) are read once per instrument_id,
    from its first trade row.
    """
    try:
        # Lots stay at their fixed scale: tier bands and volumes compare them directly.
        lots, _ = decimals_to_ints(trades["lots"], scale=LOTS_PLACES, what="trades.lots")
    except ExactValueError as exc:
        raise EngineInputError([str(exc)]) from exc
    if lots.dtype == object:
        raise EngineInputError(["trades.lots: a value is too large"])
    if lots.size and int(lots.min()) <= 0:
        raise EngineInputError(["trades.lots: must be positive"])
    instrument = vocabularies.instrument
    first = vocabularies.instrument_rows
    known = first >= 0  # instruments named only by rules have no trade row
    rows = first[known]
    contract, contract_scale = _instrument_decimals(trades, "contract_size", rows)
    pip, pip_scale = _instrument_decimals(trades, "pip_size", rows)
    contract_table = np.zeros(len(first), dtype=np.int64)
    pip_table = np.zeros(len(first), dtype=np.int64)
    quote_table = np.full(len(first), NA, dtype=np.int64)
    group_table = np.full(len(first), NA, dtype=np.int64)
    base_usd_table = np.zeros(len(first), dtype=bool)
    contract_table[known], pip_table[known] = contract, pip
    digits_table = np.zeros(len(first), dtype=np.int64)
    digits_table[known] = pd.array(trades["digits"], dtype="Int64").to_numpy(dtype=np.int64, na_value=0)[rows]
    quote_table[known] = _codes(np.asarray(trades["quote"], dtype=object)[rows], vocabularies.currencies)
    group_table[known] = _codes(np.asarray(trades["symbol_group"], dtype=object)[rows], vocabularies.symbol_groups)
    base_usd_table[known] = np.asarray(trades["base"], dtype=object)[rows] == CURRENCY
    quote_code = _per_trade(quote_table, instrument, NA)
    return TradeArrays(
        n=len(trades),
        trade_id=_ints(trades["trade_id"]),
        ticket=_ints(trades["ticket"]),
        account_id=_ints(trades["account_id"]),
        account_group=_codes(trades["account_group"], vocabularies.account_groups),
        account_currency=_codes(trades["account_currency"], vocabularies.currencies),
        earns=_bools(trades["earns_commission"]),
        cancelled=(trades["status"] == STATUS_CANCELLED).to_numpy(dtype=bool),
        resolved=instrument >= 0,
        instrument=instrument,
        symbol_group=_per_trade(group_table, instrument, NA),
        base_usd=_per_trade(base_usd_table, instrument, False),
        quote=quote_code,
        quote_usd=(quote_code == vocabularies.usd) & (quote_code >= 0),
        contract=_per_trade(contract_table, instrument, 0),
        contract_scale=contract_scale,
        pip=_per_trade(pip_table, instrument, 0),
        pip_scale=pip_scale,
        digits=_per_trade(digits_table, instrument, 0),
        lots=lots,
        open_ns=_nanoseconds(trades["open_time"]),
        close_ns=_nanoseconds(trades["close_time"]),
        open_day=_days(trades["open_day"]),
        close_day=_days(trades["close_day"]),
        raw={column: np.asarray(trades[column], dtype=object) for column in ON_DEMAND},
    )


@dataclass(frozen=True)
class PlanArrays:
    """One entry per plan (code = row position). Tier matrices are padded: from = INT64_MAX, multiplier = 0."""

    plan_id: np.ndarray
    index: pd.Index
    currency: np.ndarray
    both_legs: np.ndarray
    min_hold_ns: np.ndarray  # -1 = no minimum
    min_points: np.ndarray  # scale CONFIG_PLACES; -1 = no minimum
    marginal: np.ndarray
    n_tiers: np.ndarray
    tier_from: np.ndarray  # (plans, bands), scale LOTS_PLACES
    tier_multiplier: np.ndarray  # (plans, bands), scale CONFIG_PLACES


def prepare_plans(plans: pd.DataFrame, vocabularies: Vocabularies | None) -> PlanArrays:
    n = len(plans)
    bands = max([len(t) for t in plans["tiers"]] + [1])
    tier_from = np.full((n, bands), INT64_MAX, dtype=np.int64)
    tier_multiplier = np.zeros((n, bands), dtype=np.int64)
    n_tiers = np.zeros(n, dtype=np.int64)
    for i, tiers in enumerate(plans["tiers"]):
        n_tiers[i] = len(tiers)
        if tiers:
            tier_from[i, : len(tiers)] = _config_ints([t[0] for t in tiers], LOTS_PLACES, "plans.tiers.from_lots")
            tier_multiplier[i, : len(tiers)] = _config_ints(
                [t[1] for t in tiers], CONFIG_PLACES, "plans.tiers.multiplier"
            )
    min_hold_ns = np.array(
        [-1 if v is None or pd.isna(v) else min(int(v) * pow10(9), INT64_MAX) for v in plans["min_hold_seconds"]],
        dtype=np.int64,
    )
    points_na = plans["min_points"].isna().to_numpy()
    points = np.full(n, -1, dtype=np.int64)
    if (~points_na).any():
        points[~points_na] = _config_ints(plans["min_points"][~points_na], CONFIG_PLACES, "plans.min_points")
    currency = _codes(plans["currency"], vocabularies.currencies) if vocabularies is not None else np.full(n, NA)
    return PlanArrays(
        plan_id=_ints(plans["plan_id"]),
        index=pd.Index(_ints(plans["plan_id"])),
        currency=currency,
        both_legs=_bools(plans["both_legs"]),
        min_hold_ns=min_hold_ns,
        min_points=points,
        marginal=(plans["tier_mode"] == TIER_MARGINAL).to_numpy(dtype=bool),
        n_tiers=n_tiers,
        tier_from=tier_from,
        tier_multiplier=tier_multiplier,
    )


@dataclass(frozen=True)
class RuleArrays:
    """One entry per rule (code = row position). rate and pct at scale CONFIG_PLACES (0 where not used)."""

    rule_id: np.ndarray
    plan: np.ndarray
    type: np.ndarray
    kind: np.ndarray  # 0 volume, 1 spread
    instrument: np.ndarray
    symbol_group: np.ndarray
    account_group: np.ndarray
    rate: np.ndarray
    pct: np.ndarray
    priority: np.ndarray


def prepare_rules(rules: pd.DataFrame, plans: PlanArrays, vocabularies: Vocabularies) -> RuleArrays:
    rule_type = rules["type"].map(RULE_TYPE_CODE).to_numpy(dtype=np.int64)
    rate = np.zeros(len(rules), dtype=np.int64)
    pct = np.zeros(len(rules), dtype=np.int64)
    has_rate = rules["rate"].notna().to_numpy()
    has_pct = rules["pct"].notna().to_numpy()
    if has_rate.any():
        rate[has_rate] = _config_ints(rules["rate"][has_rate], CONFIG_PLACES, "rules.rate")
    if has_pct.any():
        pct[has_pct] = _config_ints(rules["pct"][has_pct], CONFIG_PLACES, "rules.pct")
    return RuleArrays(
        rule_id=_ints(rules["rule_id"]),
        plan=plans.index.get_indexer(_ints(rules["plan_id"])).astype(np.int64),
        type=rule_type,
        kind=KIND_OF_RULE_TYPE[rule_type] if len(rules) else np.zeros(0, dtype=np.int64),
        instrument=np.where(
            rules["instrument_id"].isna().to_numpy(),
            NA,
            vocabularies.instruments.get_indexer(_nullable_ints(rules["instrument_id"])),
        ).astype(np.int64),
        symbol_group=_codes(rules["symbol_group"], vocabularies.symbol_groups),
        account_group=_codes(rules["account_group"], vocabularies.account_groups),
        rate=rate,
        pct=pct,
        priority=_ints(rules["priority"]),
    )


@dataclass(frozen=True)
class ProgramArrays:
    """One entry per program. shares: (programs, width) at scale 6, the last share repeated to the right (0 when a
    program has none); override: (programs, width) at scale 6 with ``n_override`` valid entries."""

    index: pd.Index
    model: np.ndarray
    max_depth: np.ndarray
    shares: np.ndarray
    override: np.ndarray
    n_override: np.ndarray


def prepare_programs(programs: pd.DataFrame) -> ProgramArrays:
    n = len(programs)
    share_width = max([len(s) for s in programs["shares"]] + [1])
    override_width = max([len(s) for s in programs["override_pct"]] + [1])
    shares = np.zeros((n, share_width), dtype=np.int64)
    override = np.zeros((n, override_width), dtype=np.int64)
    n_override = np.zeros(n, dtype=np.int64)
    for i, values in enumerate(programs["shares"]):
        if values:
            ints = _config_ints(list(values), CONFIG_PLACES, "programs.shares")
            shares[i, : len(ints)] = ints
            shares[i, len(ints) :] = ints[-1]
    for i, values in enumerate(programs["override_pct"]):
        n_override[i] = len(values)
        if values:
            override[i, : len(values)] = _config_ints(list(values), CONFIG_PLACES, "programs.override_pct")
    return ProgramArrays(
        index=pd.Index(_ints(programs["program_id"])),
        model=programs["model"].map(MODEL_CODE).to_numpy(dtype=np.int64),
        max_depth=_ints(programs["max_depth"]),
        shares=shares,
        override=override,
        n_override=n_override,
    )


@dataclass(frozen=True)
class ChainArrays:
    """Chain rows sorted by (trade position, level)."""

    trade: np.ndarray  # position in TradeArrays
    level: np.ndarray
    partner_id: np.ndarray
    plan: np.ndarray  # position in PlanArrays, -1 = no plan
    program: np.ndarray  # position in ProgramArrays of the partner's program terms at close time
    active: np.ndarray  # the partner's status at close time


def sort_order(major: np.ndarray, minor: np.ndarray) -> np.ndarray | None:
    """The permutation sorting rows by (major, minor), or None when they already are (the usual case)."""
    if len(major) < 2:
        return None
    step = np.diff(major)
    if np.all((step > 0) | ((step == 0) & (np.diff(minor) > 0))):
        return None
    return np.lexsort((minor, major))


def prepare_chains(
    chains: pd.DataFrame, trades: TradeArrays, plans: PlanArrays, programs: ProgramArrays | None
) -> ChainArrays:
    """Chain rows as arrays; ``programs`` None (the tier context, which needs no program) leaves ``program`` NA."""
    trade = pd.Index(trades.trade_id).get_indexer(_ints(chains["trade_id"])).astype(np.int64)
    columns = {
        "level": _ints(chains["level"]),
        "partner_id": _ints(chains["partner_id"]),
        "plan_id": _nullable_ints(chains["plan_id"]),
        "program_id": _ints(chains["program_id"]),
        "active": _bools(chains["active"]),
    }
    keep = trade >= 0
    if not keep.all():
        trade = trade[keep]
        columns = {name: values[keep] for name, values in columns.items()}
    order = sort_order(trade, columns["level"])
    if order is not None:
        trade = trade[order]
        columns = {name: values[order] for name, values in columns.items()}
    plan_id = columns["plan_id"]
    return ChainArrays(
        trade=trade,
        level=columns["level"],
        partner_id=columns["partner_id"],
        plan=np.where(plan_id == NA_ID, NA, plans.index.get_indexer(plan_id)).astype(np.int64),
        program=(
            programs.index.get_indexer(columns["program_id"]).astype(np.int64)
            if programs is not None
            else np.full(len(trade), NA, dtype=np.int64)
        ),
        active=columns["active"],
    )


@dataclass(frozen=True)
class RateTable:
    """usd_rate per (currency code, day), sorted by key; rates at ``scale``. USD is 1 without a row."""

    keys: np.ndarray
    rates: np.ndarray
    scale: int
    usd: int
    currencies: pd.Index

    @staticmethod
    def key(currency: np.ndarray, day: np.ndarray) -> np.ndarray:
        return currency.astype(np.int64) * np.int64(4_000_000) + (day + np.int64(2_000_000))

    def lookup(self, currency: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rates, found)``: the usd_rate of each (currency, day) at ``self.scale`` (USD = 1), and whether found."""
        keys = self.key(currency, day)
        if len(self.keys):
            position = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            found = self.keys[position] == keys
            rates = np.where(found, self.rates[position], 0)
        else:
            found = np.zeros(len(keys), dtype=bool)
            rates = np.zeros(len(keys), dtype=np.int64)
        usd = currency == self.usd
        rates = np.where(usd, pow10(self.scale), rates)
        if rates.dtype != object:
            rates = rates.astype(np.int64)
        return rates, found | usd


def prepare_rates(rates: pd.DataFrame, vocabularies: Vocabularies) -> RateTable:
    try:
        values, _ = decimals_to_ints(rates["usd_rate"], scale=USD_RATE_PLACES, what="rates.usd_rate")
    except ExactValueError as exc:
        raise EngineInputError([str(exc)]) from exc
    values, scale = reduce_scale(values, USD_RATE_PLACES)
    currency = _codes(rates["currency"], vocabularies.currencies)
    keys = RateTable.key(currency, _days(rates["day"]) if len(rates) else np.zeros(0, dtype=np.int64))
    order = np.argsort(keys, kind="stable")
    return RateTable(
        keys=keys[order], rates=values[order], scale=scale, usd=vocabularies.usd, currencies=vocabularies.currencies
    )


@dataclass(frozen=True)
class RebateArrays:
    """Rebate stretches grouped by key (partner_id, account_id or NA_ID): ``index`` holds each key once, its
    stretches are rows ``first[g] .. first[g] + count[g] - 1`` ordered by start; ``[from_ns, to_ns)`` is when a
    stretch applies; pct and per_lot at scale 6 (-1 when not that kind)."""

    index: pd.MultiIndex
    first: np.ndarray
    count: np.ndarray
    from_ns: np.ndarray
    to_ns: np.ndarray
    pct: np.ndarray
    per_lot: np.ndarray


def prepare_rebates(rebates: pd.DataFrame) -> RebateArrays:
    partner = _ints(rebates["partner_id"])
    account = _nullable_ints(rebates["account_id"])
    from_ns = _nanoseconds(rebates["valid_from"]) if len(rebates) else np.zeros(0, dtype=np.int64)
    to_ns = _nanoseconds(rebates["valid_to"]) if len(rebates) else np.zeros(0, dtype=np.int64)
    order = np.lexsort((from_ns, account, partner))
    rebates = rebates.iloc[order].reset_index(drop=True)
    partner, account, from_ns, to_ns = partner[order], account[order], from_ns[order], to_ns[order]
    n = len(rebates)
    pct = np.full(n, -1, dtype=np.int64)
    per_lot = np.full(n, -1, dtype=np.int64)
    has_pct = rebates["pct"].notna().to_numpy()
    if has_pct.any():
        pct[has_pct] = _config_ints(rebates["pct"][has_pct], CONFIG_PLACES, "rebates.pct")
    if (~has_pct).any():
        per_lot[~has_pct] = _config_ints(rebates["per_lot"][~has_pct], CONFIG_PLACES, "rebates.per_lot")
    starts = np.flatnonzero(np.r_[True, (partner[1:] != partner[:-1]) | (account[1:] != account[:-1])]) if n else []
    starts = np.asarray(starts, dtype=np.int64)
    count = np.diff(np.r_[starts, n]).astype(np.int64)
    index = pd.MultiIndex.from_arrays([partner[starts], account[starts]])
    return RebateArrays(index=index, first=starts, count=count, from_ns=from_ns, to_ns=to_ns, pct=pct, per_lot=per_lot)


def distinct_positions(n: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct entries of ``values`` (integers in [0, n), ascending) and each entry's position among them,
    in O(n) with a marker array instead of a sort."""
    marked = np.zeros(n, dtype=bool)
    marked[values] = True
    rank = np.cumsum(marked) - 1
    return np.flatnonzero(marked), rank[values]


def plan_failures(trades: TradeArrays, trade: np.ndarray, plan: np.ndarray, plans: PlanArrays) -> np.ndarray:
    """Reason code of the first plan-level filter each (trade, plan) fails: no_plan, min_hold, min_points; -1 = pass.

    ``min_hold``: held strictly less than min_hold_seconds (equal is eligible). ``min_points``: |close - open| in
    the instrument's own points (a point is 10**-digits, its quote digits as MT4/MT5 report them: 0.00001 on a
    5-digit EURUSD, 0.01 on a 2-digit XAUUSD) strictly below min_points, compared exactly on integers as
    ``floor(|close - open| * 10**(digits + 6)) < min_points(micro)``.
    """
    reason = np.full(len(trade), NA, dtype=np.int64)
    no_plan = plan < 0
    reason[no_plan] = REASON_CODE["no_plan"]
    if len(plans.plan_id) == 0:
        return reason
    has_plan = ~no_plan
    plan_code = np.where(has_plan, plan, 0)
    min_hold = plans.min_hold_ns[plan_code]
    held = trades.close_ns[trade] - trades.open_ns[trade]
    short = has_plan & (min_hold >= 0) & (held < min_hold)
    reason[short] = REASON_CODE["min_hold"]
    min_points = plans.min_points[plan_code]
    check = np.flatnonzero(has_plan & ~short & (min_points >= 0))
    if len(check):
        rows = trade[check]
        # Each distinct trade's move is computed once (a trade meets several plans along its chain), exactly, in
        # Decimal on the raw prices: scaled = |close - open| x 10**(digits + 6) is compared with the integer
        # min_points(micro). For a non-negative x and an integer r, x < r exactly when floor(x) < r, so the
        # comparison runs on integers.
        distinct, position = distinct_positions(trades.n, rows)
        with localcontext() as context:
            context.prec = 80
            context.traps[Inexact] = True
            try:
                moved = np.abs(trades.raw["close_price"][distinct] - trades.raw["open_price"][distinct])
                powers = np.array(
                    [Decimal(pow10(int(d) + CONFIG_PLACES)) for d in trades.digits[distinct]], dtype=object
                )
                scaled = moved * powers
                try:
                    floor = scaled.astype(np.int64)
                except OverflowError:
                    floor = np.array([int(value) for value in scaled], dtype=object)
            except (TypeError, ValueError, InvalidOperation) as exc:
                raise EngineInputError([f"trades.open_price/close_price: expected Decimal values: {exc}"]) from exc
        right = min_points[check]
        left = floor[position]
        if left.dtype == object or right.dtype == object:
            left, right = as_big(left), as_big(right)
        short_move = np.asarray(left < right, dtype=bool)
        reason[check[short_move]] = REASON_CODE["min_points"]
    return reason


@dataclass(frozen=True)
class Prepared:
    """All of one chunk's inputs as arrays."""

    vocabularies: Vocabularies
    trades: TradeArrays
    chains: ChainArrays
    programs: ProgramArrays
    plans: PlanArrays
    rules: RuleArrays
    rates: RateTable
    rebates: RebateArrays


def prepare_inputs(inputs: EngineInputs) -> Prepared:
    """Convert every frame (exactly) into arrays."""
    vocabularies = build_vocabularies(inputs.trades, rules=inputs.rules, plans=inputs.plans, rates=inputs.rates)
    trades = prepare_trades(inputs.trades, vocabularies)
    plans = prepare_plans(inputs.plans, vocabularies)
    programs = prepare_programs(inputs.programs)
    return Prepared(
        vocabularies=vocabularies,
        trades=trades,
        chains=prepare_chains(inputs.trade_chains, trades, plans, programs),
        programs=programs,
        plans=plans,
        rules=prepare_rules(inputs.rules, plans, vocabularies),
        rates=prepare_rates(inputs.rates, vocabularies),
        rebates=prepare_rebates(inputs.rebates),
    )
