"""Deterministic generation of the demo broker's data (no database, no clock).

Units: prices are integers in the instrument's last digit (``10**-digits``), lots are integers in hundredths of a
lot, rates and money are exact decimal strings. Rounding point: money (profit, swap, commission) is computed with
``Decimal`` from the integer prices and the stored (already rounded) daily rates, and rounded once per trade to
the account currency's minor unit by ``core.money.round_minor``. Floats appear only in the random walks and noise
that pick the prices; every value written out has been rounded to its exact decimal first.

Invariants: the same ``DemoConfig`` gives byte-identical output. Each part (rates, network, accounts, trades) draws
from its own ``numpy`` stream derived from the seed, so changing the trade count does not reshuffle the partners.
The partner tree stays within ``MAX_LEVEL`` levels through every move, and no move creates a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from core.money import round_minor

from . import reference as ref

MAX_LEVEL = 5
TRADE_COLUMNS = (
    "server",
    "ticket",
    "login",
    "symbol",
    "side",
    "lots",
    "open_time",
    "open_price",
    "close_time",
    "close_price",
    "profit",
    "swap",
    "commission",
    "spread_pips",
    "master_ticket",
    "status",
)
# Independent random streams, one per part of the broker.
_STREAM_RATES, _STREAM_NETWORK, _STREAM_ACCOUNTS, _STREAM_TRADES, _STREAM_AMEND = range(1, 6)
_DAY = 86_400


@dataclass(frozen=True)
class DemoConfig:
    """What the demo is generated from; the same config always gives the same broker."""

    seed: int
    trades: int
    partners: int
    accounts: int
    today: date
    tz: str  # the broker's server time zone: periods and move dates are cut in it

    def __post_init__(self) -> None:
        if self.trades < 0 or self.partners < 3 or self.accounts < 1:
            raise ValueError("need trades >= 0, partners >= 3 and accounts >= 1")


@dataclass(frozen=True)
class PartnerRow:
    """One IB as ``partner_create`` takes it; ``parent`` is a code, ``level`` its level at creation (1 = top)."""

    code: str
    name: str
    email: str
    program: str
    parent: str | None
    level: int
    status: str
    payout_currency: str
    payout_method: str
    payout_account: str


@dataclass(frozen=True)
class PartnerMove:
    """A sub-IB re-parented from ``effective_from`` on (through ``partner_move``)."""

    partner: str
    parent: str
    effective_from: datetime


@dataclass(frozen=True)
class AccountMove:
    """A client account handed to another IB from ``effective_from`` on (through ``account_attribute``)."""

    server: str
    login: int
    partner: str
    effective_from: datetime


@dataclass
class DemoData:
    """Everything the seeder loads, in the order it loads it."""

    config: DemoConfig
    start: datetime  # first instant of the first complete month (UTC)
    end: datetime  # today's first instant in the server time zone (UTC); trades close before it
    epoch: datetime  # when the network and the accounts start (before ``start``)
    instruments: list[dict]
    suffixes: list[str]
    rates: list[dict]
    programs: list[dict]
    partners: list[PartnerRow]
    partner_moves: list[PartnerMove]
    accounts: list[dict]
    account_moves: list[AccountMove]
    trades: pd.DataFrame = field(repr=False)  # generic-CSV columns, as text
    amendments: pd.DataFrame = field(repr=False)  # second versions: corrections and cancellations

    @property
    def max_level(self) -> int:
        return max(p.level for p in self.partners)


def generate(config: DemoConfig, *, progress: Callable[[int], None] | None = None) -> DemoData:
    """Build the whole demo broker from ``config``. ``progress`` is called with the number of trades just built."""
    tz = ZoneInfo(config.tz)
    first_month = _add_months(config.today.replace(day=1), -3)
    start = datetime.combine(first_month, datetime.min.time(), tz).astimezone(UTC)
    end = datetime.combine(config.today, datetime.min.time(), tz).astimezone(UTC)
    epoch = datetime.combine(first_month - timedelta(days=31), datetime.min.time(), tz).astimezone(UTC)
    first_day = (start.astimezone(tz) - timedelta(days=12)).date()
    days = [first_day + timedelta(days=i) for i in range((config.today - first_day).days + 1)]

    market = _Market.build(_rng(config.seed, _STREAM_RATES), days)
    partners, partner_moves = _network(_rng(config.seed, _STREAM_NETWORK), config, start, end, tz)
    accounts, account_moves = _accounts(_rng(config.seed, _STREAM_ACCOUNTS), config, partners, start, end)
    trades = _trades(_rng(config.seed, _STREAM_TRADES), config, market, accounts, start, end, tz, progress)
    amendments = _amendments(_rng(config.seed, _STREAM_AMEND), trades, market)
    trades = trades.drop(columns=["_digits", "_acct_ccy", "_quote", "_contract", "_day"])
    return DemoData(
        config=config,
        start=start,
        end=end,
        epoch=epoch,
        instruments=[_instrument_row(spec) for spec in ref.INSTRUMENTS],
        suffixes=list(ref.SUFFIXES),
        rates=market.rate_rows(),
        programs=[dict(p) for p in ref.PROGRAMS],
        partners=partners,
        partner_moves=partner_moves,
        accounts=accounts,
        account_moves=account_moves,
        trades=trades,
        amendments=amendments,
    )


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _instrument_row(spec: ref.InstrumentSpec) -> dict:
    return {
        "symbol": spec.symbol,
        "group": spec.group,
        "base": spec.base,
        "quote": spec.quote,
        "contract_size": spec.contract_size,
        "pip_size": spec.pip_size,
        "volume_step": spec.volume_step,
        "volume_min": spec.volume_min,
        "volume_max": spec.volume_max,
        "aliases": list(spec.aliases),
    }


def _significant(value: float, digits: int = 10) -> Decimal:
    """``value`` rounded to ``digits`` significant digits, as an exact Decimal (never in exponent form)."""
    places = digits - 1 - math.floor(math.log10(abs(value)))
    return Decimal(f"{value:.{max(places, 0)}f}")


# --- market: daily USD rates and instrument price levels ------------------------------------------------------------


@dataclass
class _Market:
    """Daily levels: ``rates[currency][i]`` (Decimal USD value) and ``levels[symbol][i]`` (float mid price) for
    ``days[i]``. Markets are shut at weekends, so Saturday and Sunday repeat Friday, except for crypto."""

    days: list[date]
    rates: dict[str, list[Decimal]]
    levels: dict[str, np.ndarray]

    @classmethod
    def build(cls, rng: np.random.Generator, days: list[date]) -> _Market:
        weekday = np.array([d.weekday() < 5 for d in days])
        rates: dict[str, list[Decimal]] = {}
        rate_floats: dict[str, np.ndarray] = {}
        for currency in ref.CURRENCIES:
            level, vol = ref.CURRENCY_LEVELS[currency]
            walk = level * np.exp(np.cumsum(np.where(weekday, rng.normal(0.0, vol, len(days)), 0.0)))
            rates[currency] = [Decimal(1)] * len(days) if currency == "USD" else [_significant(x) for x in walk]
            rate_floats[currency] = np.array([float(x) for x in rates[currency]])
        levels: dict[str, np.ndarray] = {}
        for spec in ref.INSTRUMENTS:
            if spec.is_fx:
                levels[spec.symbol] = rate_floats[spec.base] / rate_floats[spec.quote]
            else:
                open_days = np.ones(len(days), dtype=bool) if spec.weekend else weekday
                steps = np.where(open_days, rng.normal(0.0, spec.vol, len(days)), 0.0)
                levels[spec.symbol] = spec.level * np.exp(np.cumsum(steps))
        return cls(days=days, rates=rates, levels=levels)

    def day_index(self, day: date) -> int:
        return (day - self.days[0]).days

    def rate_rows(self) -> list[dict]:
        return [
            {"currency": currency, "day": day, "usd_rate": str(values[i])}
            for currency, values in self.rates.items()
            for i, day in enumerate(self.days)
        ]


# --- the IB network ---------------------------------------------------------------------------------------------


def _network(
    rng: np.random.Generator, config: DemoConfig, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[list[PartnerRow], list[PartnerMove]]:
    """Roots with a program each, one guaranteed chain down to ``MAX_LEVEL``, the rest attached by preferential
    attachment (big IBs recruit more sub-IBs; deep levels recruit less); then a few effective-dated moves."""
    n = config.partners
    n_roots = max(3, round(n * 0.07))
    chain_len = min(MAX_LEVEL - 1, n - n_roots)
    parent: list[int | None] = [None] * n_roots
    level = [1] * n_roots
    for i in range(chain_len):
        parent.append(0 if i == 0 else n_roots + i - 1)
        level.append(i + 2)
    children = [0] * n
    for p in parent:
        if p is not None:
            children[p] += 1
    level_pull = {1: 1.0, 2: 0.8, 3: 0.45, 4: 0.2}
    for i in range(len(parent), n):
        weights = np.array([(1 + children[j]) ** 0.9 * level_pull.get(level[j], 0.0) for j in range(i)], dtype=float)
        p = int(rng.choice(i, p=weights / weights.sum()))
        parent.append(p)
        level.append(level[p] + 1)
        children[p] += 1

    # Half the networks on the default (differential) program, a quarter each on cascade and override.
    root_program = [ref.ROOT_PROGRAM_CYCLE[i % len(ref.ROOT_PROGRAM_CYCLE)] for i in range(n_roots)]
    program = [""] * n
    for i in range(n):
        program[i] = root_program[i] if parent[i] is None else program[parent[i]]  # parents precede children

    width = max(4, len(str(n)))
    codes = [f"ib-{i + 1:0{width}d}" for i in range(n)]
    guaranteed = set(range(n_roots, n_roots + chain_len)) | {0}
    rows: list[PartnerRow] = []
    for i in range(n):
        name = " ".join(
            part
            for part in (
                str(rng.choice(ref.NAME_FIRST)),
                str(rng.choice(ref.NAME_SECOND)),
                str(rng.choice(ref.NAME_SUFFIX)),
            )
            if part
        )
        suspended = i not in guaranteed and rng.random() < 0.03
        currency = str(rng.choice(["USD", "EUR", "GBP"], p=[0.8, 0.15, 0.05]))
        method, account = "", ""
        if rng.random() >= 0.05:  # a few partners never sent their payout details
            method = str(rng.choice(ref.PAYOUT_METHODS))
            account = _payout_account(rng, method, codes[i])
        rows.append(
            PartnerRow(
                code=codes[i],
                name=name,
                email=f"{codes[i].replace('-', '')}@partners.example.com",
                program=program[i],
                parent=None if parent[i] is None else codes[parent[i]],
                level=level[i],
                status="suspended" if suspended else "active",
                payout_currency=currency,
                payout_method=method,
                payout_account=account,
            )
        )

    moves = _partner_moves(rng, rows, parent, program, guaranteed, start, end, tz)
    return rows, moves


def _payout_account(rng: np.random.Generator, method: str, code: str) -> str:
    if method == "bank_transfer":
        return f"DE{rng.integers(10, 99)} 3704 0044 {rng.integers(1000, 9999)} {rng.integers(1000, 9999)} 00"
    if method == "usdt_trc20":
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"
        return "T" + "".join(alphabet[k] for k in rng.integers(0, len(alphabet), 33))
    return f"payouts+{code}@partners.example.com"


def _partner_moves(
    rng: np.random.Generator,
    rows: list[PartnerRow],
    parent: list[int | None],
    program: list[str],
    guaranteed: set[int],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> list[PartnerMove]:
    """About 3 % of sub-IBs change parent inside the window, at local midnight, within the same program, never into
    their own downline and never deeper than ``MAX_LEVEL``. Applied in time order to the evolving tree."""
    n = len(rows)
    movable = [i for i in range(n) if parent[i] is not None and i not in guaranteed]
    count = min(len(movable), max(2, round(n * 0.03)))
    if count == 0:
        return []
    chosen = sorted(int(i) for i in rng.choice(movable, size=count, replace=False))
    span_days = max(1, (end - start).days - 8)
    local_start = start.astimezone(tz).date()
    when = sorted(
        (datetime.combine(local_start + timedelta(days=5 + int(d)), datetime.min.time(), tz).astimezone(UTC), i)
        for d, i in zip(rng.integers(0, span_days, count), chosen, strict=True)
    )
    parent = list(parent)
    moves: list[PartnerMove] = []
    for effective_from, i in when:
        subtree = _subtree(parent, i)
        height = max(_depth(parent, j) - _depth(parent, i) for j in subtree)
        candidates = [
            j
            for j in range(n)
            if j not in subtree
            and j != parent[i]
            and program[j] == program[i]
            and _depth(parent, j) + 1 + height <= MAX_LEVEL
        ]
        if not candidates:
            continue
        new_parent = int(rng.choice(candidates))
        parent[i] = new_parent
        moves.append(PartnerMove(rows[i].code, rows[new_parent].code, effective_from))
    return moves


def _depth(parent: list[int | None], i: int) -> int:
    depth = 1
    while parent[i] is not None:
        i = parent[i]
        depth += 1
    return depth


def _subtree(parent: list[int | None], root: int) -> set[int]:
    members = {root}
    grew = True
    while grew:
        grew = False
        for j, p in enumerate(parent):
            if p in members and j not in members:
                members.add(j)
                grew = True
    return members


# --- client accounts --------------------------------------------------------------------------------------------


def _accounts(
    rng: np.random.Generator, config: DemoConfig, partners: list[PartnerRow], start: datetime, end: datetime
) -> tuple[list[dict], list[AccountMove]]:
    """Accounts on two servers, in several currencies and groups; IBs get clients by a heavy-tailed pull (a few
    big IBs, many small ones); some accounts have no IB or do not earn commission; about 2 % change IB."""
    n = config.accounts
    servers = list(ref.SERVERS)
    server_idx = rng.choice(len(servers), size=n, p=[0.65, 0.35])
    currencies = rng.choice(list(ref.ACCOUNT_CURRENCIES), size=n, p=list(ref.ACCOUNT_CURRENCIES.values()))
    groups = rng.choice(list(ref.ACCOUNT_GROUPS), size=n, p=list(ref.ACCOUNT_GROUPS.values()))
    pull = rng.pareto(1.2, len(partners)) + 0.2
    ib = rng.choice(len(partners), size=n, p=pull / pull.sum())
    no_ib = rng.random(n) < 0.08
    not_earning = rng.random(n) < 0.03
    next_login = dict(ref.SERVERS)
    gaps = rng.integers(1, 5, n)
    accounts: list[dict] = []
    for k in range(n):
        server = servers[server_idx[k]]
        login = next_login[server]
        next_login[server] += int(gaps[k])
        accounts.append(
            {
                "server": server,
                "login": int(login),
                "currency": str(currencies[k]),
                "group": str(groups[k]),
                "partner": None if no_ib[k] else partners[ib[k]].code,
                "earns_commission": not bool(not_earning[k]),
            }
        )
    with_ib = [k for k in range(n) if accounts[k]["partner"] is not None]
    without_ib = [k for k in range(n) if accounts[k]["partner"] is None]
    movers = [int(k) for k in rng.choice(with_ib, size=min(len(with_ib), max(2, round(n * 0.02))), replace=False)]
    movers += [int(k) for k in rng.choice(without_ib, size=min(len(without_ib), round(n * 0.005)), replace=False)]
    span = max(1, int((end - start).total_seconds()) - 7 * _DAY)
    offsets = rng.integers(3 * _DAY, 3 * _DAY + span, len(movers))
    moves: list[AccountMove] = []
    for k, offset in zip(movers, offsets, strict=True):
        current = accounts[k]["partner"]
        choices = [p.code for p in partners if p.code != current]
        target = choices[int(rng.integers(0, len(choices)))]
        moves.append(
            AccountMove(
                server=accounts[k]["server"],
                login=accounts[k]["login"],
                partner=target,
                effective_from=start + timedelta(seconds=int(offset)),
            )
        )
    moves.sort(key=lambda m: (m.effective_from, m.server, m.login))
    return accounts, moves


# --- trades -----------------------------------------------------------------------------------------------------


def _trades(
    rng: np.random.Generator,
    config: DemoConfig,
    market: _Market,
    accounts: list[dict],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    progress: Callable[[int], None] | None,
) -> pd.DataFrame:
    n = config.trades
    specs = ref.INSTRUMENTS
    if n == 0:
        return pd.DataFrame(columns=[*TRADE_COLUMNS, "_digits", "_acct_ccy", "_quote", "_contract", "_day"])

    # Who trades what: a heavy tail of active accounts; instruments by popularity.
    activity = rng.pareto(1.1, len(accounts)) + 0.05
    acct = rng.choice(len(accounts), size=n, p=activity / activity.sum())
    weights = np.array([s.weight for s in specs])
    inst = rng.choice(len(specs), size=n, p=weights / weights.sum())

    # When: a trading day of the window (weekdays only, except crypto), busier in the London/New York hours.
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    local_days = [d for d in market.days if start_s <= _local_midnight(d, tz) < end_s]
    all_days = np.array([_local_midnight(d, tz) for d in local_days], dtype=np.int64)
    week_days = np.array([_local_midnight(d, tz) for d in local_days if d.weekday() < 5], dtype=np.int64)
    weekend_ok = np.array([specs[i].weekend for i in inst])
    pick_all = all_days[rng.integers(0, len(all_days), n)]
    pick_week = week_days[rng.integers(0, len(week_days), n)] if len(week_days) else pick_all
    day_start = np.where(weekend_ok, pick_all, pick_week)
    busy = np.clip(rng.normal(13.5 * 3600, 3.2 * 3600, n), 0, _DAY - 1)
    flat = rng.uniform(0, _DAY - 1, n)
    close_s = day_start + np.where(rng.random(n) < 0.7, busy, flat).astype(np.int64)
    close_s = np.minimum(close_s, end_s - 1)

    # How long: scalps (some under a minute), intraday, and swing trades held over several nights.
    kind = rng.random(n)
    hold = np.where(
        kind < 0.12,
        rng.integers(3, 60, n),
        np.where(
            kind < 0.60,
            np.clip(rng.lognormal(math.log(25 * 60), 1.2, n), 60, 20 * 3600),
            np.clip(rng.lognormal(math.log(8 * 3600), 1.0, n), 60, 10 * _DAY),
        ),
    ).astype(np.int64)
    open_s = close_s - hold

    side = np.where(rng.random(n) < 0.55, 1, -1)

    # How much: mostly micro and mini lots, a few standard and large tickets (hundredths of a lot).
    size_kind = rng.random(n)
    lots_c = np.where(
        size_kind < 0.42,
        rng.integers(1, 10, n),
        np.where(
            size_kind < 0.75,
            rng.integers(1, 10, n) * 10,
            np.where(size_kind < 0.95, rng.choice([100, 150, 200, 250, 300, 500], n), rng.integers(5, 21, n) * 100),
        ),
    ).astype(np.int64)
    step = np.array([specs[i].step_hundredths for i in inst])
    lots_c = np.maximum(step, -(-lots_c // step) * step)
    vmax = np.array([int(Decimal(specs[i].volume_max) * 100) for i in inst])
    lots_c = np.minimum(lots_c, vmax)

    # Prices: the close-day level with intraday noise; the open walks back by the holding time.
    close_day = np.array([market.day_index(datetime.fromtimestamp(int(s), tz).date()) for s in close_s], dtype=np.int64)
    vol = np.array([_daily_vol(specs[i]) for i in inst])
    level = np.array([market.levels[specs[i].symbol][d] for i, d in zip(inst, close_day, strict=True)])
    close_mid = level * np.exp(vol * 0.35 * rng.normal(0, 1, n))
    open_mid = close_mid * np.exp(-vol * np.sqrt(np.maximum(hold, 60) / _DAY) * rng.normal(0, 1, n))
    groups = np.array([accounts[a]["group"] for a in acct])
    factor = np.array([ref.GROUP_MARKUP_FACTOR[g] for g in groups])
    markup = np.round(np.array([specs[i].markup_pips for i in inst]) * factor * rng.uniform(0.85, 1.25, n), 1)
    raw = np.array([specs[i].raw_pips for i in inst]) * rng.uniform(0.5, 1.5, n)
    pip = np.array([float(specs[i].pip_size) for i in inst])
    half = (markup + raw) * pip / 2
    digits = np.array([specs[i].digits for i in inst], dtype=np.int64)
    scale = 10.0**digits
    open_px = np.round((open_mid + side * half) * scale).astype(np.int64)
    close_px = np.round((close_mid - side * half) * scale).astype(np.int64)

    # Symbols as the platform sends them: group suffixes, a few aliases, a few unknown suffixes (unresolved).
    symbols = _platform_symbols(rng, inst, groups)

    # Tickets rise with the open time on each server, with gaps (other servers' activity, pending orders).
    servers = np.array([accounts[a]["server"] for a in acct])
    ticket = np.zeros(n, dtype=np.int64)
    for server, first in ref.SERVER_FIRST_TICKET.items():
        idx = np.flatnonzero(servers == server)
        order = idx[np.lexsort((idx, open_s[idx]))]
        ticket[order] = first + np.cumsum(rng.integers(1, 4, len(order)))

    nights = (close_s - 21 * 3600) // _DAY - (open_s - 21 * 3600) // _DAY
    swap_sign = np.where(rng.random(n) < 0.2, 0.3, -1.0)
    swap_usd_c = np.round(
        np.array([specs[i].swap_usd_per_lot for i in inst]) * lots_c * nights * swap_sign * rng.uniform(0.8, 1.2, n)
    ).astype(np.int64)  # USD cents: swap per lot × hundredths of a lot / 100 × 100
    blank_spread = rng.random(n) < 0.03

    rows_profit, rows_swap, rows_commission = [], [], []
    acct_ccy = [accounts[a]["currency"] for a in acct]
    quote = [specs[i].quote for i in inst]
    contract = [Decimal(specs[i].contract_size) for i in inst]
    report_every = max(1, n // 50)
    for k in range(n):
        day = int(close_day[k])
        ccy = acct_ccy[k]
        to_account = market.rates["USD"][day] / market.rates[ccy][day]
        rows_profit.append(
            _profit(int(side[k]), int(open_px[k]), int(close_px[k]), int(digits[k]), int(lots_c[k]), contract[k],
                    market.rates[quote[k]][day] / market.rates[ccy][day], ccy)
        )  # fmt: skip
        rows_swap.append(str(round_minor(Decimal(int(swap_usd_c[k])).scaleb(-2) * to_account, ccy)))
        if groups[k] == "ecn":
            usd = Decimal(-ref.ECN_COMMISSION_USD_PER_LOT * int(lots_c[k])).scaleb(-2)
            rows_commission.append(str(round_minor(usd * to_account, ccy)))
        else:
            rows_commission.append("0")
        if progress is not None and (k + 1) % report_every == 0:
            progress(report_every)
    if progress is not None:
        progress(n % report_every)

    frame = pd.DataFrame(
        {
            "server": servers,
            "ticket": ticket.astype(str),
            "login": [str(accounts[a]["login"]) for a in acct],
            "symbol": symbols,
            "side": np.where(side > 0, "buy", "sell"),
            "lots": _scaled(lots_c, np.full(n, 2)),
            "open_time": _iso(open_s),
            "open_price": _scaled(open_px, digits),
            "close_time": _iso(close_s),
            "close_price": _scaled(close_px, digits),
            "profit": rows_profit,
            "swap": rows_swap,
            "commission": rows_commission,
            "spread_pips": np.where(blank_spread, "", [f"{m:.1f}" for m in markup]),
            "master_ticket": "",
            "status": "closed",
            "_digits": digits,
            "_acct_ccy": acct_ccy,
            "_quote": quote,
            "_contract": contract,
            "_day": close_day,
        }
    )
    order = np.lexsort((ticket, close_s))  # an export lists trades by close time
    return frame.iloc[order].reset_index(drop=True)


def _daily_vol(spec: ref.InstrumentSpec) -> float:
    if spec.is_fx:
        return math.hypot(ref.CURRENCY_LEVELS[spec.base][1], ref.CURRENCY_LEVELS[spec.quote][1])
    return spec.vol


def _local_midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, datetime.min.time(), tz).timestamp())


def _profit(
    side: int, open_px: int, close_px: int, digits: int, lots_c: int, contract: Decimal, to_account: Decimal, ccy: str
) -> str:
    """``side × (close − open) × lots × contract`` in the quote currency, converted on the close day, rounded
    once to the account currency's minor unit."""
    quote_amount = Decimal(side * (close_px - open_px) * lots_c).scaleb(-digits - 2) * contract
    return str(round_minor(quote_amount * to_account, ccy))


def _platform_symbols(rng: np.random.Generator, inst: np.ndarray, groups: np.ndarray) -> list[str]:
    n = len(inst)
    specs = ref.INSTRUMENTS
    suffix_pick = rng.random(n)
    use_alias = rng.random(n) < 0.25
    alias_pick = rng.random(n)
    unknown = rng.random(n) < 0.003
    if n >= 200 and not unknown.any():
        unknown[int(rng.integers(0, n))] = True  # the demo always shows at least one unresolved symbol
    out: list[str] = []
    for k in range(n):
        spec = specs[inst[k]]
        base = spec.symbol
        if use_alias[k] and spec.aliases:
            base = spec.aliases[int(alias_pick[k] * len(spec.aliases))]
        if unknown[k]:
            out.append(spec.symbol + ref.UNKNOWN_SUFFIX)
            continue
        options = ref.GROUP_SUFFIXES[str(groups[k])]
        out.append(base + options[int(suffix_pick[k] * len(options))])
    return out


def _scaled(values: np.ndarray, places: np.ndarray) -> list[str]:
    """Integers in units of ``10**-places`` as exact decimal text."""
    out = []
    for value, p in zip(values.tolist(), places.tolist(), strict=True):
        if p == 0:
            out.append(str(value))
            continue
        sign = "-" if value < 0 else ""
        whole, frac = divmod(abs(value), 10**p)
        out.append(f"{sign}{whole}.{frac:0{p}d}")
    return out


def _iso(seconds: np.ndarray) -> list[str]:
    return pd.to_datetime(seconds, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


# --- second versions ----------------------------------------------------------------------------------------------


def _amendments(rng: np.random.Generator, trades: pd.DataFrame, market: _Market) -> pd.DataFrame:
    """About 0.4 % of trades are cancelled by the dealing desk and 0.2 % get a corrected close price (a few pips,
    profit recomputed): each arrives later as a second version of the same ``(server, ticket)``."""
    n = len(trades)
    if n == 0:
        return pd.DataFrame(columns=list(TRADE_COLUMNS))
    n_cancel = max(1, round(n * 0.004))
    n_fix = max(1, round(n * 0.002)) if n > 1 else 0
    picked = rng.choice(n, size=min(n, n_cancel + n_fix), replace=False)
    cancel_idx, fix_idx = sorted(picked[:n_cancel].tolist()), sorted(picked[n_cancel:].tolist())

    cancelled = trades.iloc[cancel_idx].copy()
    cancelled["status"] = "cancelled"

    fixed = trades.iloc[fix_idx].copy()
    shifts = rng.integers(1, 4, len(fix_idx)) * np.where(rng.random(len(fix_idx)) < 0.5, 1, -1)
    new_close, new_profit = [], []
    for (_, row), shift in zip(fixed.iterrows(), shifts.tolist(), strict=True):
        digits = int(row["_digits"])
        open_px = _unscale(row["open_price"], digits)
        close_px = _unscale(row["close_price"], digits) + shift * (10 if digits in (3, 5) else 1)
        close_px = max(close_px, 1)
        side = 1 if row["side"] == "buy" else -1
        lots_c = _unscale(row["lots"], 2)
        day, ccy = int(row["_day"]), row["_acct_ccy"]
        rate = market.rates[row["_quote"]][day] / market.rates[ccy][day]
        new_close.append(_scaled(np.array([close_px]), np.array([digits]))[0])
        new_profit.append(_profit(side, open_px, close_px, digits, lots_c, row["_contract"], rate, ccy))
    fixed["close_price"] = new_close
    fixed["profit"] = new_profit
    out = pd.concat([fixed, cancelled])[list(TRADE_COLUMNS)]
    return out.sort_values(["server", "ticket"], kind="stable").reset_index(drop=True)


def _unscale(text: str, places: int) -> int:
    return int(Decimal(text).scaleb(places))


def write_csv(frame: pd.DataFrame, path) -> int:
    """Write trades in the generic CSV layout (API.md); return the number of rows."""
    frame[list(TRADE_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return len(frame)
