"""The engine's input and output schema: frames, column types, codes, errors and ``validate_inputs``.

Units: money and lots are ``Decimal`` (never float). Lots have at most 4 decimal places, prices and pip sizes at
most 10, contract sizes and client commissions at most 6, spread markups at most 4, conversion rates at most 12;
configuration numbers (rule rates per lot or per million, percentages, tier multipliers, cascade shares, override
percentages, rebate percentages and per-lot amounts, ``min_points``) at most 6. Percentages are percents (30 means
30 %). Rates are ``usd_rate`` = the USD value of one unit of the currency on a server-time-zone day; the USD rate is 1
by definition (a USD row, if present, must say 1). Times are tz-aware UTC; days are the server-time-zone dates the
adapter computed.

Rounding points: none here (see ``run``). Invariants checked by ``validate_inputs``: every required column exists;
ids are unique where they are keys; every referenced program and plan exists; codes are from the lists
below; chains have levels 1..n without gaps; tiers start at 0 lots and strictly increase; every rule has exactly the
number it needs (``rate`` for ``per_lot``/``per_million``, ``pct`` for the share kinds) and matches a symbol, a symbol
group or everything (never both a symbol and a group); numbers are exact decimals with at most the places above.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation, localcontext

import numpy as np
import pandas as pd

from core.exact import ExactValueError, decimals_to_ints
from core.vocabulary import HierarchyModel, LineKind

from ..vocabulary import Reason, RuleType, TierMode, TradeStatus

CURRENCY = "USD"

# Trade status, hierarchy models, tier modes, rule types, line kinds and reasons: plain-string aliases of the one
# vocabulary (``commissions.vocabulary``, ``core.vocabulary``) that the models use too.
STATUS_CLOSED = TradeStatus.CLOSED.value
STATUS_CANCELLED = TradeStatus.CANCELLED.value
STATUSES = tuple(TradeStatus.values)

MODEL_DIFFERENTIAL = HierarchyModel.DIFFERENTIAL.value
MODEL_CASCADE = HierarchyModel.CASCADE.value
MODEL_OVERRIDE = HierarchyModel.OVERRIDE.value
MODELS = tuple(HierarchyModel.values)

TIER_RETROACTIVE = TierMode.RETROACTIVE.value
TIER_MARGINAL = TierMode.MARGINAL.value
TIER_MODES = tuple(TierMode.values)

RULE_PER_LOT = RuleType.PER_LOT.value
RULE_PER_MILLION = RuleType.PER_MILLION.value
RULE_SPREAD_SHARE = RuleType.SPREAD_SHARE.value
RULE_COMMISSION_SHARE = RuleType.COMMISSION_SHARE.value
RULE_TYPES = tuple(RuleType.values)
RATE_RULE_TYPES = (RULE_PER_LOT, RULE_PER_MILLION)
SHARE_RULE_TYPES = (RULE_SPREAD_SHARE, RULE_COMMISSION_SHARE)

# The line kinds the engine writes. A rule's kind: per_lot, per_million and commission_share are "volume";
# spread_share is "spread".
KIND_VOLUME = LineKind.VOLUME.value
KIND_SPREAD = LineKind.SPREAD.value
KIND_OVERRIDE = LineKind.OVERRIDE.value
KIND_REBATE = LineKind.REBATE.value
KIND_REBATE_FUNDING = LineKind.REBATE_FUNDING.value
KINDS = (KIND_VOLUME, KIND_SPREAD, KIND_OVERRIDE, KIND_REBATE, KIND_REBATE_FUNDING)
RULE_KIND = {
    RULE_PER_LOT: KIND_VOLUME,
    RULE_PER_MILLION: KIND_VOLUME,
    RULE_COMMISSION_SHARE: KIND_VOLUME,
    RULE_SPREAD_SHARE: KIND_SPREAD,
}

REASON_CANCELLED = Reason.CANCELLED.value
REASON_UNRESOLVED_SYMBOL = Reason.UNRESOLVED_SYMBOL.value
REASON_ACCOUNT_NOT_EARNING = Reason.ACCOUNT_NOT_EARNING.value
REASON_NO_IB = Reason.NO_IB.value
REASON_NO_PLAN = Reason.NO_PLAN.value
REASON_NO_RULE = Reason.NO_RULE.value
REASON_MIN_HOLD = Reason.MIN_HOLD.value
REASON_MIN_POINTS = Reason.MIN_POINTS.value
REASON_SUSPENDED = Reason.SUSPENDED.value
REASON_NO_SPREAD = Reason.NO_SPREAD.value
REASON_BEYOND_MAX_DEPTH = Reason.BEYOND_MAX_DEPTH.value
REASONS = tuple(Reason.values)

# Decimal places allowed per number (see the module docstring).
LOTS_PLACES = 4
PRICE_PLACES = 10
PIP_PLACES = 10
CONTRACT_PLACES = 6
COMMISSION_PLACES = 6
SPREAD_PLACES = 4
USD_RATE_PLACES = 12
CONFIG_PLACES = 6

# Frame columns. Types: int (no NA), int_na (nullable int), str, str_na, bool, decimal, decimal_na, decimals (tuple
# of Decimal), tiers (tuple of (from_lots, multiplier)), timestamp (tz-aware UTC), date, int_or_none.
TRADE_COLUMNS = {
    "trade_id": "int",
    "ticket": "int",
    "account_id": "int",
    "account_group": "str_na",
    "account_currency": "str",
    "earns_commission": "bool",
    "status": "str",
    "instrument_id": "int_na",
    "symbol_group": "str_na",
    "base": "str_na",
    "quote": "str_na",
    "contract_size": "decimal_na",
    "pip_size": "decimal_na",
    "digits": "int_na",
    "lots": "decimal",
    "open_time": "timestamp",
    "close_time": "timestamp",
    "open_price": "decimal",
    "close_price": "decimal",
    "commission": "decimal",
    "spread_pips": "decimal_na",
    "open_day": "date",
    "close_day": "date",
}
# One row per (trade, level): the partner at that level at the trade's close time with the terms it had then — its
# plan (NA if none), its program's terms and whether it was active (DOMAIN.md 4.0: terms are dated too).
CHAIN_COLUMNS = {
    "trade_id": "int",
    "level": "int",
    "partner_id": "int",
    "plan_id": "int_na",
    "program_id": "int",
    "active": "bool",
}
PROGRAM_COLUMNS = {
    "program_id": "int",
    "model": "str",
    "max_depth": "int",
    "shares": "decimals",
    "override_pct": "decimals",
}
PLAN_COLUMNS = {
    "plan_id": "int",
    "currency": "str",
    "both_legs": "bool",
    "min_hold_seconds": "int_or_none",
    "min_points": "decimal_na",
    "tier_mode": "str",
    "tiers": "tiers",
}
RULE_COLUMNS = {
    "rule_id": "int",
    "plan_id": "int",
    "type": "str",
    "instrument_id": "int_na",
    "symbol_group": "str_na",
    "account_group": "str_na",
    "rate": "decimal_na",
    "pct": "decimal_na",
    "priority": "int",
}
RATE_COLUMNS = {"currency": "str", "day": "date", "usd_rate": "decimal"}
# Bounds that stand for "since always" and "open-ended" in rebate stretches (inside pandas' nanosecond range).
REBATE_ALWAYS = datetime(1900, 1, 1, tzinfo=UTC)
REBATE_OPEN_END = datetime(2200, 1, 1, tzinfo=UTC)
# A rebate applies to trades closed in [valid_from, valid_to) (open-ended: REBATE_OPEN_END); one (partner,
# account or NA) key may have several stretches in a chunk's span of time, never overlapping. ``per_lot`` is in the
# currency of the partner's plan at each trade's close time (``hierarchy``).
REBATE_COLUMNS = {
    "partner_id": "int",
    "account_id": "int_na",
    "pct": "decimal_na",
    "per_lot": "decimal_na",
    "valid_from": "timestamp",
    "valid_to": "timestamp",
}

# Decimal columns of trades and their allowed places: (places, NA allowed).
TRADE_DECIMALS = {
    "lots": (LOTS_PLACES, False),
    "contract_size": (CONTRACT_PLACES, True),
    "pip_size": (PIP_PLACES, True),
    "open_price": (PRICE_PLACES, False),
    "close_price": (PRICE_PLACES, False),
    "commission": (COMMISSION_PLACES, False),
    "spread_pips": (SPREAD_PLACES, True),
}

# Output columns of compute_lines, in order. The *_micros columns are the same numbers in integer millionths (the
# write path COPYs integers); amount_micros is never NA, the other micros are NA where the Decimal is None.
# partner_id (Int64) is NA on the client's ``rebate`` line and on a ``no_ib`` line; account_id (Int64) is set on
# ``rebate`` and ``rebate_funding`` lines only; rule_id is the rule that computed the amount (level 1's rule on
# cascade uplines; NA on zero lines of a failed level, overrides and rebates); tier (Int64) is the band index, NA
# where no tier applies; multiplier is 1 for untiered per_lot/per_million lines and NA where no multiplier applies;
# kind, reason and currency are categoricals (reason NA on an eligible line).
LINE_COLUMNS = (
    "trade_id",
    "partner_id",
    "account_id",
    "kind",
    "level",
    "rule_id",
    "base",
    "rate",
    "tier",
    "multiplier",
    "amount",
    "currency",
    "reason",
    "amount_micros",
    "base_micros",
    "rate_micros",
    "multiplier_micros",
)


class EngineError(Exception):
    """Base class of the engine's errors."""


class EngineInputError(EngineError, ValueError):
    """The inputs break the schema; the message lists every problem found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid engine inputs:\n  " + "\n  ".join(self.problems))


class MissingRates(EngineError):
    """Conversion rates the computation needs are missing; ``missing`` lists every (currency, day), sorted."""

    def __init__(self, missing: Iterable[tuple[str, date]]) -> None:
        self.missing = sorted(set(missing))
        listed = ", ".join(f"{currency} {day.isoformat()}" for currency, day in self.missing)
        super().__init__(f"missing conversion rates for {len(self.missing)} (currency, day) pairs: {listed}")


@dataclass(frozen=True)
class EngineInputs:
    """Everything one chunk's computation reads, as frames with the columns above (see the module docstring).

    ``trades`` has one row per trade version to compute; ``trade_chains`` the effective-dated chain at close time
    (level 1 = the account's IB; ``plan_id`` the terms of that partner's plan at close time, NA if none;
    ``program_id`` its program's terms then — level 1's decide the model for the chain; ``active`` its status then;
    a trade absent here has no IB); ``rules`` one row per (plan terms, rule): a rule unchanged across two terms of a
    plan keeps its id in both; ``rebates`` one row per stretch ``[valid_from, valid_to)`` of a (partner, account or
    NA = all that partner's clients) rebate — a trade gets the rebate in force at its close time.
    """

    trades: pd.DataFrame
    trade_chains: pd.DataFrame
    programs: pd.DataFrame
    plans: pd.DataFrame
    rules: pd.DataFrame
    rates: pd.DataFrame
    rebates: pd.DataFrame


FRAME_COLUMNS = {
    "trades": TRADE_COLUMNS,
    "trade_chains": CHAIN_COLUMNS,
    "programs": PROGRAM_COLUMNS,
    "plans": PLAN_COLUMNS,
    "rules": RULE_COLUMNS,
    "rates": RATE_COLUMNS,
    "rebates": REBATE_COLUMNS,
}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with ``name``'s columns and their types (e.g. no rebates)."""
    return build_frame(name, [])


def validate_inputs(inputs: EngineInputs, *, check_trade_values: bool = True) -> None:
    """Raise ``EngineInputError`` listing every schema problem in ``inputs``; return None when they are usable.

    ``check_trade_values=False`` skips the per-row checks of trade values (Decimal conversion, instrument
    attributes present and equal on every trade of an instrument): ``compute_lines`` converts what it uses anyway
    and reports the same conversion errors; the structural and configuration checks always run.
    """
    problems: list[str] = []
    for name, columns in FRAME_COLUMNS.items():
        frame = getattr(inputs, name)
        if not isinstance(frame, pd.DataFrame):
            problems.append(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
            continue
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            problems.append(f"{name}: missing columns {missing}")
            continue
        for column, kind in columns.items():
            problem = _check_column(frame[column], kind)
            if problem:
                problems.append(f"{name}.{column}: {problem}")
    if problems:
        raise EngineInputError(problems)
    _check_keys(inputs, problems)
    _check_config(inputs, problems)
    _check_trades(inputs.trades, problems, check_values=check_trade_values)
    if problems:
        raise EngineInputError(problems)


def _uniques(series: pd.Series) -> np.ndarray:
    """Distinct values (NA included): type checks then look at a handful of values, not every row."""
    return pd.unique(series.to_numpy(dtype=object))


def _has_na(uniques: np.ndarray) -> bool:
    return any(value is None or (not isinstance(value, (tuple, list)) and pd.isna(value)) for value in uniques)


def _check_column(series: pd.Series, kind: str) -> str | None:
    if kind in ("int", "int_na"):
        if pd.api.types.is_bool_dtype(series):
            return "expected integers, got booleans"
        if pd.api.types.is_integer_dtype(series):
            if kind == "int" and series.hasnans:
                return "missing values"
            return None
        uniques = _uniques(series)
        if kind == "int" and _has_na(uniques):
            return "missing values"
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in uniques if not _has_na([v])):
            return f"expected integers, got dtype {series.dtype}"
        return None
    if kind == "int_or_none":
        uniques = [v for v in _uniques(series) if not _has_na([v])]
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in uniques):
            return "expected non-negative integers or None"
        return None
    if kind in ("str", "str_na"):
        uniques = _uniques(series)
        if kind == "str" and _has_na(uniques):
            return "missing values"
        if not all(isinstance(v, str) for v in uniques if not _has_na([v])):
            return "expected text"
        return None
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series) and not isinstance(series.dtype, pd.BooleanDtype):
            return None
        uniques = _uniques(series)
        if not all(isinstance(v, (bool, np.bool_)) for v in uniques):
            return "expected booleans without missing values"
        return None
    if kind == "timestamp":
        if not isinstance(series.dtype, pd.DatetimeTZDtype):
            return f"expected tz-aware UTC timestamps, got dtype {series.dtype}"
        if str(series.dtype.tz) != "UTC":
            return f"expected UTC, got {series.dtype.tz}"
        if series.hasnans:
            return "missing values"
        return None
    if kind == "date":
        if pd.api.types.is_datetime64_dtype(series):
            return "missing values" if series.hasnans else None
        uniques = _uniques(series)
        if _has_na(uniques):
            return "missing values"
        if not all(isinstance(v, date) and not isinstance(v, pd.Timestamp) for v in uniques):
            return "expected dates (datetime.date or datetime64 days)"
        return None
    if kind in ("decimal", "decimal_na"):
        # Values are checked where they are converted (missing values, floats, places): here only the dtype.
        if pd.api.types.is_float_dtype(series):
            return "floats are not allowed for money or lots: use Decimal"
        return None
    if kind == "decimals":
        for value in series:
            if not isinstance(value, (tuple, list)) or not all(isinstance(v, Decimal) for v in value):
                return "expected a tuple of Decimal"
        return None
    if kind == "tiers":
        for value in series:
            if not isinstance(value, (tuple, list)) or not all(
                isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(v, Decimal) for v in pair)
                for pair in value
            ):
                return "expected a tuple of (from_lots Decimal, multiplier Decimal)"
        return None
    raise AssertionError(f"unknown column kind {kind}")


def _duplicates(frame: pd.DataFrame, columns: list[str]) -> int:
    return int(frame.duplicated(subset=columns).sum())


def _check_keys(inputs: EngineInputs, problems: list[str]) -> None:
    keys = {
        "trades": ["trade_id"],
        "trade_chains": ["trade_id", "level"],
        "programs": ["program_id"],
        "plans": ["plan_id"],
        "rules": ["plan_id", "rule_id"],
        "rates": ["currency", "day"],
        "rebates": ["partner_id", "account_id", "valid_from"],
    }
    for name, columns in keys.items():
        if name == "trade_chains":
            continue  # covered by the level check below, which is cheaper on millions of rows
        count = _duplicates(getattr(inputs, name), columns)
        if count:
            problems.append(f"{name}: {count} duplicate rows for key {columns}")

    chains = inputs.trade_chains
    if len(chains):
        trade_ids = chains["trade_id"].to_numpy(dtype=np.int64)
        levels = chains["level"].to_numpy(dtype=np.int64)
        step = np.diff(trade_ids)
        if not np.all((step > 0) | ((step == 0) & (np.diff(levels) > 0))):
            order = np.lexsort((levels, trade_ids))
            trade_ids, levels = trade_ids[order], levels[order]
        first = np.ones(len(trade_ids), dtype=bool)
        first[1:] = trade_ids[1:] != trade_ids[:-1]
        expected = np.ones(len(levels), dtype=np.int64)
        expected[1:] = levels[:-1] + 1
        expected[first] = 1
        broken = levels != expected
        if broken.any():
            count = len(np.unique(trade_ids[broken]))
            problems.append(f"trade_chains: {count} trades whose levels are not exactly 1..n (gaps or duplicates)")
        unknown = ~np.isin(trade_ids[first], inputs.trades["trade_id"].to_numpy(dtype=np.int64))
        if unknown.any():
            problems.append(f"trade_chains: {int(unknown.sum())} trades that are not in trades")
    for name, frame, column, target, target_column in (
        ("trade_chains", chains, "plan_id", inputs.plans, "plan_id"),
        ("trade_chains", chains, "program_id", inputs.programs, "program_id"),
        ("rules", inputs.rules, "plan_id", inputs.plans, "plan_id"),
    ):
        values = pd.unique(frame[column].dropna().to_numpy(dtype=np.int64))
        unknown = values[~np.isin(values, target[target_column].to_numpy(dtype=np.int64))]
        if len(unknown):
            sample = sorted(int(v) for v in unknown)[:10]
            problems.append(f"{name}.{column}: {len(unknown)} unknown ids, e.g. {sample}")

    statuses = ~inputs.trades["status"].isin(STATUSES)
    if statuses.any():
        problems.append(f"trades.status: values other than {STATUSES}")


def _has_places(value: Decimal, places: int) -> bool:
    with localcontext() as context:
        context.prec = 80
        try:
            return value.quantize(Decimal(1).scaleb(-places)) == value
        except InvalidOperation:
            return False


def _config_decimal(
    value: object,
    what: str,
    problems: list[str],
    *,
    low: Decimal | None = None,
    high: Decimal | None = None,
    places: int = CONFIG_PLACES,
) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        problems.append(f"{what}: expected a finite Decimal, got {value!r}")
        return
    if not _has_places(value, places):
        problems.append(f"{what}: more than {places} decimal places ({value})")
    if low is not None and value < low:
        problems.append(f"{what}: below {low} ({value})")
    if high is not None and value > high:
        problems.append(f"{what}: above {high} ({value})")


def _check_config(inputs: EngineInputs, problems: list[str]) -> None:
    zero, hundred = Decimal(0), Decimal(100)
    for row in inputs.programs.itertuples(index=False):
        where = f"programs[{row.program_id}]"
        if row.model not in MODELS:
            problems.append(f"{where}.model: {row.model!r} is not one of {MODELS}")
        if int(row.max_depth) < 1:
            problems.append(f"{where}.max_depth: must be at least 1")
        for i, share in enumerate(row.shares):
            _config_decimal(share, f"{where}.shares[{i}]", problems, low=zero, high=hundred)
        for i, pct in enumerate(row.override_pct):
            _config_decimal(pct, f"{where}.override_pct[{i}]", problems, low=zero, high=hundred)

    for row in inputs.plans.itertuples(index=False):
        where = f"plans[{row.plan_id}]"
        if not isinstance(row.currency, str) or not row.currency:
            problems.append(f"{where}.currency: missing")
        if row.tier_mode not in TIER_MODES:
            problems.append(f"{where}.tier_mode: {row.tier_mode!r} is not one of {TIER_MODES}")
        if row.min_points is not None and not pd.isna(row.min_points):
            _config_decimal(row.min_points, f"{where}.min_points", problems, low=zero)
        previous = None
        for i, (from_lots, multiplier) in enumerate(row.tiers):
            _config_decimal(from_lots, f"{where}.tiers[{i}].from_lots", problems, low=zero, places=LOTS_PLACES)
            _config_decimal(multiplier, f"{where}.tiers[{i}].multiplier", problems, low=zero)
            if i == 0 and from_lots != 0:
                problems.append(f"{where}.tiers: the first band must start at 0 lots")
            if previous is not None and from_lots <= previous:
                problems.append(f"{where}.tiers: from_lots must strictly increase")
            previous = from_lots

    for row in inputs.rules.itertuples(index=False):
        where = f"rules[{row.rule_id}]"
        if row.type not in RULE_TYPES:
            problems.append(f"{where}.type: {row.type!r} is not one of {RULE_TYPES}")
            continue
        if not pd.isna(row.instrument_id) and not pd.isna(row.symbol_group):
            problems.append(f"{where}: a rule names a symbol or a symbol group, not both")
        has_rate = row.rate is not None and not pd.isna(row.rate)
        has_pct = row.pct is not None and not pd.isna(row.pct)
        if row.type in RATE_RULE_TYPES:
            if not has_rate:
                problems.append(f"{where}.rate: required for {row.type}")
            else:
                _config_decimal(row.rate, f"{where}.rate", problems, low=zero)
        else:
            if not has_pct:
                problems.append(f"{where}.pct: required for {row.type}")
            else:
                _config_decimal(row.pct, f"{where}.pct", problems, low=zero, high=hundred)

    stretches = inputs.rebates.assign(key=inputs.rebates["account_id"].fillna(-1)).sort_values(
        ["partner_id", "key", "valid_from"]
    )
    if len(stretches):
        same_key = (stretches["partner_id"].shift() == stretches["partner_id"]) & (
            stretches["key"].shift() == stretches["key"]
        )
        overlapping = same_key & (stretches["valid_from"] < stretches["valid_to"].shift())
        for row in stretches[overlapping].itertuples(index=False):
            problems.append(f"rebates[partner {row.partner_id}, account {row.account_id}]: stretches overlap")
        for row in stretches[stretches["valid_to"] <= stretches["valid_from"]].itertuples(index=False):
            problems.append(f"rebates[partner {row.partner_id}, account {row.account_id}]: valid_to <= valid_from")
    for row in inputs.rebates.itertuples(index=False):
        where = f"rebates[partner {row.partner_id}, account {row.account_id}]"
        has_pct = row.pct is not None and not pd.isna(row.pct)
        has_per_lot = row.per_lot is not None and not pd.isna(row.per_lot)
        if has_pct == has_per_lot:
            problems.append(f"{where}: exactly one of pct and per_lot is required")
        elif has_pct:
            _config_decimal(row.pct, f"{where}.pct", problems, low=zero, high=hundred)
        else:
            _config_decimal(row.per_lot, f"{where}.per_lot", problems, low=zero)

    rates = inputs.rates
    try:
        ints, _ = decimals_to_ints(rates["usd_rate"], scale=USD_RATE_PLACES, what="rates.usd_rate")
    except ExactValueError as exc:
        problems.append(str(exc))
    else:
        if len(ints) and int(ints.min()) <= 0:
            problems.append("rates.usd_rate: must be positive")
        usd = (rates["currency"] == CURRENCY).to_numpy()
        if usd.any() and np.any(ints[usd] != 10**USD_RATE_PLACES):
            problems.append("rates: the USD rate is 1 by definition")


def _check_trades(trades: pd.DataFrame, problems: list[str], *, check_values: bool) -> None:
    if not check_values:
        return
    resolved = trades["instrument_id"].notna()
    for column in ("symbol_group", "base", "quote", "contract_size", "pip_size", "digits"):
        missing = resolved & trades[column].isna()
        if missing.any():
            problems.append(f"trades.{column}: missing on {int(missing.sum())} trades with a resolved instrument")
    instrument = pd.array(trades["instrument_id"][resolved], dtype="Int64").to_numpy(dtype=np.int64)
    digits = trades["digits"][resolved].dropna()
    if len(digits) and not digits.between(0, 10).all():
        problems.append("trades.digits: must be between 0 and 10")
    for column in ("symbol_group", "base", "quote", "digits"):
        frame = pd.DataFrame({"instrument": instrument, "value": trades[column][resolved].to_numpy(dtype=object)})
        if (frame.groupby("instrument")["value"].nunique() > 1).any():
            problems.append(f"trades.{column}: differs between trades of the same instrument")
    for column, (places, allow_na) in TRADE_DECIMALS.items():
        values = trades[column] if column not in ("contract_size", "pip_size") else trades[column][resolved]
        try:
            ints, na = decimals_to_ints(values, scale=places, what=f"trades.{column}", allow_na=allow_na)
        except ExactValueError as exc:
            problems.append(str(exc))
            continue
        if column in ("lots", "contract_size", "pip_size") and np.any(ints[~na] <= 0):
            problems.append(f"trades.{column}: must be positive")
        if column == "spread_pips" and np.any(ints[~na] < 0):
            problems.append("trades.spread_pips: must not be negative")
        if column in ("contract_size", "pip_size") and len(ints):
            # An instrument's attribute must be the same on all its trades (the engine reads it once).
            frame = pd.DataFrame({"instrument": instrument, "value": ints})
            if (frame.groupby("instrument")["value"].nunique() > 1).any():
                problems.append(f"trades.{column}: differs between trades of the same instrument")


def build_frame(name: str, rows: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """A frame named ``name`` (a field of ``EngineInputs``) with the schema's column types, from dict rows.

    Nullable ids become ``Int64``, timestamps ``datetime64[ns, UTC]``, Decimals, text, dates and tuples stay Python
    objects (None for NA); missing keys are NA.
    """
    columns = FRAME_COLUMNS[name]
    if isinstance(rows, pd.DataFrame):
        raw = {column: list(rows[column]) if column in rows else [None] * len(rows) for column in columns}
        length = len(rows)
    else:
        records = list(rows)
        raw = {column: [record.get(column) for record in records] for column in columns}
        length = len(records)

    def present(value: object) -> bool:
        return not (value is None or (not isinstance(value, (tuple, list)) and pd.isna(value)))

    data = {}
    for column, kind in columns.items():
        values = raw[column]
        if kind == "int":
            data[column] = np.array(values, dtype=np.int64)
        elif kind == "int_na":
            data[column] = pd.array([int(v) if present(v) else None for v in values], dtype="Int64")
        elif kind == "bool":
            data[column] = np.array(values, dtype=bool)
        elif kind == "timestamp":
            data[column] = pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.as_unit("ns")
        elif kind == "int_or_none":
            data[column] = pd.Series([int(v) if present(v) else None for v in values], dtype=object)
        else:
            data[column] = pd.Series([v if present(v) else None for v in values], dtype=object)
    return pd.DataFrame(data, index=pd.RangeIndex(length))
