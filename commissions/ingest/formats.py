"""The three trade file formats (API.md "Files"): their columns, the rule every value must meet, and skip rules.

Every rule is a regular expression that fully matches a valid value and can never match a comma, a double quote, a
backslash, a line break or another control character. Two things follow. The parser can join the field rules of a
header with commas into one regular expression that accepts or refuses a whole unquoted line at C speed (the fast
path), and gives exactly the verdict the per-field check gives after proper CSV parsing (the slow path, used only
for lines the fast path refuses, to name the reasons). And a line the rules accept is passed to PostgreSQL's
``COPY … (FORMAT csv)`` byte for byte: PostgreSQL parses the same text into ``NUMERIC``, ``BIGINT`` and
``TIMESTAMPTZ`` exactly, so decimals never go through a float. Digits are ``[0-9]``, never ``\\d`` (which also
matches other scripts' digits that PostgreSQL would refuse).

Numeric rules also carry the column's precision (``lots`` ``NUMERIC(16,4)`` → at most 12 integer digits and 4
places): a value PostgreSQL would have to round is refused instead of silently changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.names import KEY_DIGITS, SERVER_RULE, text_rule  # the text rule, shared with every server name of the API


def decimal_rule(int_digits: int, places: int, *, signed: bool = True, positive: bool = False) -> str:
    sign = "-?" if signed else ""
    nonzero = "(?=[0-9.]*[1-9])" if positive else ""
    return rf"{sign}{nonzero}[0-9]{{1,{int_digits}}}(?:\.[0-9]{{1,{places}}})?"


INTEGER = f"[0-9]{{1,{KEY_DIGITS}}}"
POSITIVE_INTEGER = "(?=[0-9]*[1-9])[0-9]{1,16}"
_YEAR_DATE = "(?:19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}"
# ISO 8601 as PostgreSQL and pandas both read it identically (tests check the pair): a date, optionally a time with
# optional seconds and up to 6 fractional digits, optionally an offset. Years 1900-2999.
_CLOCK = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
ISO_TIME = rf"{_YEAR_DATE}(?:[T ]{_CLOCK}{_OFFSET}?)?"
# MT4/MT5 server time: no offset (the server's own clock).
SERVER_TIME = rf"{_YEAR_DATE}[T ]{_CLOCK}"
# Anything in a column the format does not use, quoted or not (it is still handed to COPY, into a text column).
IGNORED = r'(?:[^,"\x00\r\n]*|"(?:[^"\x00\r\n]|"")*")'

MSG_TEXT64 = "required text of at most 64 characters, without commas, quotes, backslashes or control characters"
MSG_TEXT48 = "required text of at most 48 characters, without commas, quotes, backslashes or control characters"
MSG_INTEGER = f"a whole number of at most {KEY_DIGITS} digits"
MSG_PRICE = "a decimal with at most 14 integer digits and 10 decimal places"
MSG_MONEY = "a decimal with at most 14 integer digits and 6 decimal places"
MSG_ISO = "an ISO 8601 date/time such as 2024-01-31T23:59:59Z (UTC unless an offset is given)"
MSG_SERVER_TIME = "a server date/time such as 2024-01-31 23:59:59"

PRICE = decimal_rule(14, 10)
MONEY = decimal_rule(14, 6)


@dataclass(frozen=True, slots=True)
class Field:
    """One column a format uses.

    ``rule`` fully matches every valid value; ``fast_rule`` (if set) is a stricter rule for the fast path only, so
    a line that might have to be *skipped* (an MT4 balance row, an open position) always takes the slow path where
    skip rules are decided. ``blank_ok`` allows an empty value (NULL in the staging table).
    """

    name: str
    rule: str
    message: str
    sql_type: str
    required: bool = True
    blank_ok: bool = False
    fast_rule: str | None = None


@dataclass(frozen=True, slots=True)
class TimeCheck:
    """How a format's times are read: ``iso`` (UTC unless an offset is given) or ``server`` (naive, in the import's
    time zone). ``open``/``close`` name the pair that must satisfy close ≥ open (``close`` may be None)."""

    mode: str
    open: str
    close: str | None


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """A trade file format: its fields, its time rule, and which integer column names a skip reason (MT4 ``cmd``,
    MT5 ``action``: values outside ``trade_codes`` are not trades and are skipped and counted by name)."""

    name: str
    fields: tuple[Field, ...]
    times: TimeCheck
    skip_code_field: str | None = None
    trade_codes: frozenset[int] = frozenset()
    code_names: dict[int, str] = field(default_factory=dict)
    open_marker_field: str | None = None  # MT4: a CLOSE_TIME on 1970-01-01 means the position is still open

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> Field | None:
        for item in self.fields:
            if item.name == name:
                return item
        return None


GENERIC = FormatSpec(
    name="generic",
    fields=(
        Field("server", SERVER_RULE, MSG_TEXT64, "text"),
        Field("ticket", INTEGER, MSG_INTEGER, "bigint"),
        Field("login", INTEGER, MSG_INTEGER, "bigint"),
        Field("symbol", text_rule(48), MSG_TEXT48, "text"),
        Field("side", "(?i:buy|sell)", "buy or sell", "text"),
        Field(
            "lots",
            decimal_rule(12, 4, signed=False, positive=True),
            "a decimal greater than 0 with at most 12 integer digits and 4 decimal places",
            "numeric",
        ),
        Field("open_time", ISO_TIME, MSG_ISO, "timestamptz"),
        Field("open_price", PRICE, MSG_PRICE, "numeric"),
        Field("close_time", ISO_TIME, MSG_ISO, "timestamptz"),
        Field("close_price", PRICE, MSG_PRICE, "numeric"),
        Field("profit", MONEY, MSG_MONEY, "numeric"),
        Field("swap", MONEY, MSG_MONEY, "numeric"),
        Field("commission", MONEY, MSG_MONEY, "numeric"),
        Field(
            "spread_pips",
            decimal_rule(8, 4, signed=False),
            "empty, or a decimal ≥ 0 with at most 8 integer digits and 4 decimal places",
            "numeric",
            required=False,
            blank_ok=True,
        ),
        Field("master_ticket", INTEGER, "empty, or " + MSG_INTEGER, "bigint", required=False, blank_ok=True),
        Field(
            "status",
            "(?i:closed|cancelled)",
            "empty (closed), closed or cancelled",
            "text",
            required=False,
            blank_ok=True,
        ),
    ),
    times=TimeCheck("iso", "open_time", "close_time"),
)

MT4_COMMANDS = {
    0: "buy",
    1: "sell",
    2: "buy limit",
    3: "sell limit",
    4: "buy stop",
    5: "sell stop",
    6: "balance",
    7: "credit",
}

MT4 = FormatSpec(
    name="mt4",
    fields=(
        Field("ticket", INTEGER, MSG_INTEGER, "bigint"),
        Field("login", INTEGER, MSG_INTEGER, "bigint"),
        Field("symbol", text_rule(48), MSG_TEXT48, "text"),
        Field("cmd", "[0-9]{1,9}", "a command number (0 buy, 1 sell, …)", "integer", fast_rule="[01]"),
        Field(
            "volume",
            "(?=[0-9]*[1-9])[0-9]{1,14}",
            "a whole number of hundredths of a lot, greater than 0",
            "bigint",
        ),
        Field("open_time", SERVER_TIME, MSG_SERVER_TIME, "timestamp"),
        Field("open_price", PRICE, MSG_PRICE, "numeric"),
        Field(
            "close_time",
            SERVER_TIME,
            MSG_SERVER_TIME,
            "timestamp",
            fast_rule=f"(?!1970-01-01){SERVER_TIME}",
        ),
        Field("close_price", PRICE, MSG_PRICE, "numeric"),
        Field("commission", MONEY, MSG_MONEY, "numeric"),
        Field("swaps", MONEY, MSG_MONEY, "numeric"),
        Field("profit", MONEY, MSG_MONEY, "numeric"),
    ),
    times=TimeCheck("server", "open_time", "close_time"),
    skip_code_field="cmd",
    trade_codes=frozenset({0, 1}),
    code_names=MT4_COMMANDS,
    open_marker_field="close_time",
)

MT5_ACTIONS = {
    0: "buy",
    1: "sell",
    2: "balance",
    3: "credit",
    4: "charge",
    5: "correction",
    6: "bonus",
    7: "commission",
    8: "daily commission",
    9: "monthly commission",
    10: "daily agent commission",
    11: "monthly agent commission",
    12: "interest",
    13: "cancelled buy",
    14: "cancelled sell",
    15: "dividend",
    16: "franked dividend",
    17: "tax",
}

MT5 = FormatSpec(
    name="mt5",
    fields=(
        Field("deal", INTEGER, MSG_INTEGER, "bigint"),
        Field("login", INTEGER, MSG_INTEGER, "bigint"),
        Field("time", SERVER_TIME, MSG_SERVER_TIME, "timestamp"),
        Field("symbol", text_rule(48), MSG_TEXT48, "text"),
        Field("action", "[0-9]{1,9}", "a deal action number (0 buy, 1 sell, …)", "integer", fast_rule="[01]"),
        Field("entry", "[0-3]", "0 in, 1 out, 2 in/out or 3 out by", "smallint"),
        Field(
            "volume",
            "(?=[0-9]*[1-9])[0-9]{1,16}",
            "a whole number of 1/10 000 lots, greater than 0",
            "bigint",
        ),
        Field("price", PRICE, MSG_PRICE, "numeric"),
        Field("profit", MONEY, MSG_MONEY, "numeric"),
        Field("storage", MONEY, MSG_MONEY, "numeric"),
        Field("commission", MONEY, MSG_MONEY, "numeric"),
        Field("positionid", INTEGER, MSG_INTEGER, "bigint"),
    ),
    times=TimeCheck("server", "time", None),
    skip_code_field="action",
    trade_codes=frozenset({0, 1}),
    code_names=MT5_ACTIONS,
)

FORMATS: dict[str, FormatSpec] = {spec.name: spec for spec in (GENERIC, MT4, MT5)}

# The generic columns in API.md order: the API and frame paths write their rows as a CSV with this header.
GENERIC_COLUMNS: tuple[str, ...] = tuple(f.name for f in GENERIC.fields)
