"""The fee engine's inputs as arrays: members, carried-forward daily figures and capital flows, in exact integers.

Units: every amount (balances, equities, flows, high-water marks) becomes an integer at one decimal ``scale`` shared
by the whole computation: the finest minor unit among the members' accounts, widened to the finest decimal places
any input value actually has (a snapshot finer than its account's minor unit is kept exact, never rounded). Days are
day numbers (``fee_calendar``). Members are identified by their position in the members frame; snapshot and flow
rows of accounts that are not members are ignored.

No rounding happens here. Invariants checked: the required columns exist; (server, login) is unique among members,
(server, login, day) among snapshots and (server, login, day, seq) among flows; ``places`` is a non-negative int;
``joined`` is given; amounts are exact decimals (``Decimal`` or int; a float, text or a missing amount is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from core.exact import ExactValueError, as_big, decimals_to_ints

from .fee_calendar import day_numbers

MEMBER_COLUMNS = ("server", "login", "places", "joined", "left", "hwm", "accrue_from")
SNAPSHOT_COLUMNS = ("server", "login", "day", "balance", "equity")
FLOW_COLUMNS = ("server", "login", "day", "seq", "amount")
KEY = ["server", "login"]


@dataclass(frozen=True)
class Members:
    """One entry per member, in the members frame's order; ``*_na`` marks a missing optional value."""

    server: np.ndarray
    login: np.ndarray
    places: np.ndarray
    joined: np.ndarray
    left: np.ndarray
    left_na: np.ndarray
    hwm: np.ndarray  # object array of ints at the computation's scale; 0 where hwm_na
    hwm_na: np.ndarray
    accrue_from: np.ndarray
    accrue_from_na: np.ndarray

    def __len__(self) -> int:
        return len(self.places)


@dataclass(frozen=True)
class Figures:
    """One end-of-day snapshot column (balance or equity) of every member, looked up with carry-forward."""

    member: np.ndarray  # sorted by (member, day)
    day: np.ndarray
    values: np.ndarray
    _keys: np.ndarray
    _first_day: int
    _last_day: int
    _span: int

    @classmethod
    def of(cls, member: np.ndarray, day: np.ndarray, values: np.ndarray) -> Figures:
        first = int(day.min()) if day.size else 0
        last = int(day.max()) if day.size else 0
        span = last - first + 2
        keys = member.astype(np.int64) * span + (day - first)
        return cls(member, day, values, keys, first, last, span)

    def at(self, member: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The latest snapshot on or before each (member, day) — 0 when there is none — and whether it is that
        day's own snapshot."""
        if not self.member.size or not member.size:
            return np.zeros(len(member), dtype=np.int64), np.zeros(len(member), dtype=bool)
        # Clamping keeps every query key inside its own member's range: a day after the last snapshot day has the
        # same latest snapshot as that day, and a day before the first has none (its key lands in the previous
        # member's range, which the member check rejects).
        clamped = np.clip(day, self._first_day - 1, self._last_day)
        keys = member.astype(np.int64) * self._span + (clamped - self._first_day)
        position = np.searchsorted(self._keys, keys, side="right") - 1
        safe = np.maximum(position, 0)
        found = (position >= 0) & (self.member[safe] == member)
        values = np.where(found, self.values[safe], 0)
        on_day = found & (self.day[safe] == day)
        return values, on_day


@dataclass(frozen=True)
class Flows:
    """Capital flows of members, sorted by (member, day, seq); ``amount`` > 0 deposits, < 0 withdrawals."""

    member: np.ndarray
    day: np.ndarray
    seq: np.ndarray
    amount: np.ndarray


@dataclass(frozen=True)
class FeeInputs:
    members: Members
    equity: Figures
    balance: Figures
    flows: Flows
    scale: int


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing columns {missing}")


def _member_index(members: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Position in ``members`` of each row's (server, login), -1 for accounts that are not members."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    index = pd.MultiIndex.from_frame(members[KEY])
    return np.asarray(index.get_indexer(pd.MultiIndex.from_frame(frame[KEY])), dtype=np.int64)


def _places_of(values: np.ndarray) -> int:
    """The most decimal places any Decimal in ``values`` is written with (others are left to the converter)."""
    places = 0
    for value in values:
        if isinstance(value, Decimal) and value.is_finite():
            places = max(places, -int(value.as_tuple().exponent))
    return places


def _exact_columns(
    columns: Sequence[tuple[np.ndarray, str, bool]], start: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """Every ``(values, what, allow_na)`` column as ints at one scale: ``start``, or, when some value has more
    places, as many places as the finest value has (a rare second pass)."""
    scale = start
    for attempt in range(2):
        try:
            converted = [
                decimals_to_ints(values, scale=scale, what=what, allow_na=allow_na)
                for values, what, allow_na in columns
            ]
            return converted, scale
        except ExactValueError:
            finest = max(_places_of(values) for values, _, _ in columns)
            if attempt or finest <= scale:
                raise
            scale = finest
    raise AssertionError("unreachable")


def _integers(column: pd.Series, what: str) -> np.ndarray:
    """An int64 array of a column of integers (bools and anything else refused)."""
    array = np.asarray(column)
    if array.dtype.kind not in "iu" and any(
        isinstance(value, bool) or not isinstance(value, (int, np.integer)) for value in array
    ):
        raise ValueError(f"{what}: expected integers")
    return array.astype(np.int64)


def _sorted_unique(member: np.ndarray, *order: np.ndarray, what: str) -> np.ndarray:
    """The permutation sorting rows by (member, *order); duplicates of that key are an error."""
    permutation = np.lexsort((*reversed(order), member))
    keys = [member[permutation], *(column[permutation] for column in order)]
    if len(permutation) > 1:
        same = np.ones(len(permutation) - 1, dtype=bool)
        for column in keys:
            same &= column[1:] == column[:-1]
        if same.any():
            raise ValueError(f"{what}: duplicate rows for the same account and key")
    return permutation


def prepare(members: pd.DataFrame, snapshots: pd.DataFrame, flows: pd.DataFrame) -> FeeInputs:
    """Validate the three frames and convert them to arrays at one exact scale."""
    _require(members, MEMBER_COLUMNS, "members")
    _require(snapshots, SNAPSHOT_COLUMNS, "snapshots")
    _require(flows, FLOW_COLUMNS, "flows")
    if members[KEY].isna().to_numpy().any():
        raise ValueError("members: server and login are required")
    if members.duplicated(KEY).any():
        raise ValueError("members: an account is listed twice")
    places = _integers(members["places"], "members.places")
    if (places < 0).any():
        raise ValueError("members.places: must not be negative")

    snapshot_member = _member_index(members, snapshots)
    snapshots = snapshots[snapshot_member >= 0]
    snapshot_member = snapshot_member[snapshot_member >= 0]
    flow_member = _member_index(members, flows)
    flows = flows[flow_member >= 0]
    flow_member = flow_member[flow_member >= 0]

    hwm_column = np.asarray(members["hwm"], dtype=object)
    balance_column = np.asarray(snapshots["balance"], dtype=object)
    equity_column = np.asarray(snapshots["equity"], dtype=object)
    amount_column = np.asarray(flows["amount"], dtype=object)
    columns, scale = _exact_columns(
        [
            (hwm_column, "members.hwm", True),
            (balance_column, "snapshots.balance", False),
            (equity_column, "snapshots.equity", False),
            (amount_column, "flows.amount", False),
        ],
        int(places.max()) if len(places) else 0,
    )
    (hwm, hwm_na), (balance, _), (equity, _), (amount, _) = columns

    joined, _ = day_numbers(members["joined"], what="members.joined", allow_na=False)
    left, left_na = day_numbers(members["left"], what="members.left", allow_na=True)
    accrue_from, accrue_na = day_numbers(members["accrue_from"], what="members.accrue_from", allow_na=True)
    member_arrays = Members(
        server=np.asarray(members["server"], dtype=object),
        login=np.asarray(members["login"], dtype=object),
        places=places,
        joined=joined,
        left=left,
        left_na=left_na,
        hwm=as_big(hwm),
        hwm_na=hwm_na,
        accrue_from=accrue_from,
        accrue_from_na=accrue_na,
    )

    snapshot_day, _ = day_numbers(snapshots["day"], what="snapshots.day", allow_na=False)
    order = _sorted_unique(snapshot_member, snapshot_day, what="snapshots")
    snapshot_member, snapshot_day = snapshot_member[order], snapshot_day[order]

    flow_day, _ = day_numbers(flows["day"], what="flows.day", allow_na=False)
    seq = _integers(flows["seq"], "flows.seq")
    flow_order = _sorted_unique(flow_member, flow_day, seq, what="flows")

    return FeeInputs(
        members=member_arrays,
        equity=Figures.of(snapshot_member, snapshot_day, equity[order]),
        balance=Figures.of(snapshot_member, snapshot_day, balance[order]),
        flows=Flows(flow_member[flow_order], flow_day[flow_order], seq[flow_order], as_big(amount[flow_order])),
        scale=scale,
    )
