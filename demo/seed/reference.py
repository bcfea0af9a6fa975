"""Reference data of the demo broker: its instruments, suffixes, currencies and the market levels they start at.

Levels and volatilities are plausible, not historical: the generator walks them randomly from these starting
points. FX pair prices are derived from the per-currency USD rates so that trade prices, profits and the stored
conversion rates agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

# Currencies with a daily USD rate: every quote currency of an instrument and every account currency.
CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD")
# USD value of one unit at the start of the walk, and the daily log-volatility of that value.
CURRENCY_LEVELS: dict[str, tuple[float, float]] = {
    "USD": (1.0, 0.0),
    "EUR": (1.0850, 0.0045),
    "GBP": (1.2700, 0.0050),
    "JPY": (1 / 150.0, 0.0060),
    "CHF": (1 / 0.8800, 0.0045),
    "AUD": (0.6600, 0.0065),
    "CAD": (1 / 1.3600, 0.0040),
    "NZD": (0.6000, 0.0065),
}

SUFFIXES: tuple[str, ...] = (".m", ".ecn", "pro")
# The platform suffix each account group trades with ("" = the bare canonical symbol).
GROUP_SUFFIXES: dict[str, tuple[str, ...]] = {"standard": ("", ".m"), "ecn": (".ecn",), "pro": ("pro",)}
# A suffix no one configured: trades carrying it are stored unresolved and reported by the import.
UNKNOWN_SUFFIX = ".x"


@dataclass(frozen=True)
class InstrumentSpec:
    """One demo instrument: contract terms as the reference-data service takes them, plus market behaviour."""

    symbol: str
    group: str
    base: str
    quote: str
    contract_size: str
    pip_size: str
    digits: int
    weight: float  # share of client trading
    markup_pips: float  # the standard account's spread markup
    raw_pips: float  # the liquidity provider's spread under the markup
    swap_usd_per_lot: float  # typical overnight cost of one lot
    level: float = 0.0  # starting price for instruments not derived from currency rates
    vol: float = 0.0  # daily log-volatility of that price
    volume_step: str = "0.01"
    volume_min: str = "0.01"
    volume_max: str = "100"
    aliases: tuple[str, ...] = field(default_factory=tuple)
    weekend: bool = False  # trades on Saturdays and Sundays (crypto)

    @property
    def is_fx(self) -> bool:
        return self.group.startswith("forex")

    @property
    def step_hundredths(self) -> int:
        return int(Decimal(self.volume_step) * 100)  # exact: lot steps are whole hundredths


def _fx(symbol: str, group: str, weight: float, markup: float, swap: float) -> InstrumentSpec:
    base, quote = symbol[:3], symbol[3:]
    jpy = quote == "JPY"
    return InstrumentSpec(
        symbol=symbol,
        group=group,
        base=base,
        quote=quote,
        contract_size="100000",
        pip_size="0.01" if jpy else "0.0001",
        digits=3 if jpy else 5,
        weight=weight,
        markup_pips=markup,
        raw_pips=0.2 if group == "forex_major" else 0.6,
        swap_usd_per_lot=swap,
    )


INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    _fx("EURUSD", "forex_major", 20.0, 1.2, 6.0),
    _fx("GBPUSD", "forex_major", 9.0, 1.5, 6.5),
    _fx("USDJPY", "forex_major", 9.0, 1.4, 4.0),
    _fx("USDCHF", "forex_major", 3.0, 1.5, 4.0),
    _fx("AUDUSD", "forex_major", 4.0, 1.4, 3.5),
    _fx("USDCAD", "forex_major", 3.5, 1.6, 3.5),
    _fx("NZDUSD", "forex_major", 1.5, 1.8, 3.0),
    _fx("EURGBP", "forex_minor", 2.0, 1.8, 4.0),
    _fx("EURJPY", "forex_minor", 2.5, 2.0, 5.0),
    _fx("GBPJPY", "forex_minor", 3.0, 2.6, 7.0),
    _fx("EURCHF", "forex_minor", 1.0, 2.0, 3.0),
    _fx("AUDJPY", "forex_minor", 1.2, 2.2, 3.5),
    _fx("EURAUD", "forex_minor", 0.8, 2.4, 4.5),
    _fx("GBPCHF", "forex_minor", 0.6, 2.8, 5.0),
    _fx("CADJPY", "forex_minor", 0.5, 2.5, 3.5),
    _fx("AUDNZD", "forex_minor", 0.4, 2.8, 3.0),
    _fx("EURCAD", "forex_minor", 0.5, 2.5, 4.0),
    InstrumentSpec(
        "XAUUSD", "metals", "XAU", "USD", "100", "0.01", 2, 15.0, 25.0, 10.0, 18.0,
        level=2650.0, vol=0.010, volume_max="50", aliases=("GOLD",),
    ),
    InstrumentSpec(
        "XAGUSD", "metals", "XAG", "USD", "5000", "0.001", 3, 2.0, 3.0, 1.5, 12.0,
        level=31.0, vol=0.018, volume_max="50", aliases=("SILVER",),
    ),
    InstrumentSpec(
        "US30", "indices", "US30", "USD", "1", "1", 1, 4.0, 2.5, 1.0, 6.0,
        level=42000.0, vol=0.009, volume_step="0.1", volume_min="0.1", volume_max="50", aliases=("DJ30", "WS30"),
    ),
    InstrumentSpec(
        "NAS100", "indices", "NAS100", "USD", "1", "1", 1, 4.0, 1.5, 0.5, 5.0,
        level=20000.0, vol=0.012, volume_step="0.1", volume_min="0.1", volume_max="50", aliases=("USTEC",),
    ),
    InstrumentSpec(
        "GER40", "indices", "GER40", "EUR", "1", "1", 1, 2.5, 1.2, 0.6, 5.0,
        level=19500.0, vol=0.010, volume_step="0.1", volume_min="0.1", volume_max="50", aliases=("DE40", "DAX40"),
    ),
    InstrumentSpec(
        "UK100", "indices", "UK100", "GBP", "1", "1", 1, 1.0, 1.0, 0.6, 3.0,
        level=8200.0, vol=0.008, volume_step="0.1", volume_min="0.1", volume_max="50", aliases=("FTSE100",),
    ),
    InstrumentSpec(
        "JP225", "indices", "JP225", "JPY", "100", "1", 0, 1.0, 8.0, 5.0, 4.0,
        level=38500.0, vol=0.012, volume_step="0.1", volume_min="0.1", volume_max="50", aliases=("NIKKEI",),
    ),
    InstrumentSpec(
        "BTCUSD", "crypto", "BTC", "USD", "1", "1", 2, 3.0, 30.0, 15.0, 25.0,
        level=65000.0, vol=0.030, volume_max="10", aliases=("BITCOIN",), weekend=True,
    ),
    InstrumentSpec(
        "ETHUSD", "crypto", "ETH", "USD", "1", "0.1", 2, 1.0, 25.0, 10.0, 2.0,
        level=3200.0, vol=0.040, volume_max="50", weekend=True,
    ),
)  # fmt: skip

INSTRUMENTS_BY_SYMBOL: dict[str, InstrumentSpec] = {spec.symbol: spec for spec in INSTRUMENTS}

ACCOUNT_CURRENCIES: dict[str, float] = {"USD": 0.62, "EUR": 0.18, "GBP": 0.09, "JPY": 0.05, "AUD": 0.03, "CHF": 0.03}
ACCOUNT_GROUPS: dict[str, float] = {"standard": 0.60, "ecn": 0.25, "pro": 0.15}
# ECN accounts pay a round-turn commission per lot instead of a spread markup (USD, converted per account).
ECN_COMMISSION_USD_PER_LOT = 7
# Pro accounts get a thinner markup than standard ones.
GROUP_MARKUP_FACTOR: dict[str, float] = {"standard": 1.0, "ecn": 0.0, "pro": 0.5}

SERVERS: dict[str, int] = {"IbexFX-Live01": 2_100_000, "IbexFX-Live02": 8_500_000}  # server → first login
SERVER_FIRST_TICKET: dict[str, int] = {"IbexFX-Live01": 41_000_000, "IbexFX-Live02": 730_000_000}

PROGRAMS: tuple[dict, ...] = (
    {"code": "standard", "name": "Standard IB (differential)", "model": "differential", "max_depth": 10},
    {"code": "cascade", "name": "Cascade network", "model": "cascade", "max_depth": 5, "shares": ["30", "20"]},
    {
        "code": "override",
        "name": "Master IB override",
        "model": "override",
        "max_depth": 4,
        "override_pct": ["20", "10", "5"],
        "min_payout": "100",
    },
)
ROOT_PROGRAM_CYCLE: tuple[str, ...] = ("standard", "cascade", "override", "standard")

NAME_FIRST: tuple[str, ...] = (
    "Atlas", "Nova", "Summit", "Harbor", "Falcon", "Meridian", "Crest", "Pioneer", "Zenith", "Orion", "Vertex",
    "Aurora", "Granite", "Sterling", "Cobalt", "Lumen", "Apex", "Beacon", "Cedar", "Delta", "Ember", "Fjord",
    "Helix", "Ionic", "Juniper", "Kestrel", "Lotus", "Marlin", "Nimbus", "Onyx", "Polar", "Quartz", "Raven",
    "Sable", "Tidal", "Umbra", "Vega", "Willow", "Yarrow", "Zephyr",
)  # fmt: skip
NAME_SECOND: tuple[str, ...] = (
    "Capital", "Markets", "Trading", "Partners", "FX", "Invest", "Finance", "Consulting", "Traders", "Wealth",
    "Brokers", "Advisors", "Academy", "Signals", "Group",
)  # fmt: skip
NAME_SUFFIX: tuple[str, ...] = ("Ltd", "LLC", "GmbH", "S.A.", "Pte Ltd", "", "", "")
PAYOUT_METHODS: tuple[str, ...] = ("bank_transfer", "usdt_trc20", "skrill", "neteller")
