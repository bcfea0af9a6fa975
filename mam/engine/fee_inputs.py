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


class _DayIndex:
    """Rows sorted by (member, day), searchable for each member's latest row on or before a day."""

    def __init__(self, member: np.ndarray, day: np.ndarray) -> None:
        self.member = member
        self.day = day
        self._first = int(day.min()) if day.size else 0
        self._last = int(day.max()) if day.size else 0
        self._span = self._last - self._first + 2
        self._keys = member.astype(np.int64) * self._span + (day - self._first)

    def latest(self, member: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the last row of each member on or before each day (0 where there is none), and a found mask."""
        if not self.member.size or not member.size:
            return np.zeros(len(member), dtype=np.int64), np.zeros(len(member), dtype=bool)
        # Clamping keeps every query key inside its own member's range: a day after the last row day has the same
        # latest row as that day, and a day before the first has none (its key lands in the previous member's
        # range, which the member check rejects).
        clamped = np.clip(day, self._first - 1, self._last)
        keys = member.astype(np.int64) * self._span + (clamped - self._first)
        position = np.searchsorted(self._keys, keys, side="right") - 1
        safe = np.maximum(position, 0)
        return safe, (position >= 0) & (self.member[safe] == member)


def _running_totals(member: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Each row's running total of its own member's amounts, that row included (rows sorted by member)."""
    if not len(amount):
        return np.zeros(0, dtype=object)
    starts = np.r_[True, member[1:] != member[:-1]]
    running = np.cumsum(amount)
    before_member = (running - amount)[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return running - before_member


class Flows:
    """Capital flows of members, sorted by (member, day, seq); ``amount`` > 0 deposits, < 0 withdrawals."""

    def __init__(self, member: np.ndarray, day: np.ndarray, seq: np.ndarray, amount: np.ndarray) -> None:
        self.member = member
        self.day = day
        self.seq = seq
        self.amount = amount  # object array of ints at the computation's scale
        self._index = _DayIndex(member, day)
        self._running = _running_totals(member, amount)

    def through(self, member: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Each member's flows on or before each day, summed (object ints)."""
        if not len(self._running):
            return np.zeros(len(member), dtype=object)
        position, found = self._index.latest(member, day)
        return np.where(found, self._running[position], 0).astype(object)


class Figures:
    """One end-of-day snapshot column (balance or equity) of every member, carried forward over missing days and
    moved by the flows booked since the snapshot it carries (a snapshot stops at its day; cash flows after it are
    known exactly even when the snapshot feed is late or has gaps)."""

    def __init__(self, member: np.ndarray, day: np.ndarray, values: np.ndarray, flows: Flows) -> None:
        self._index = _DayIndex(member, day)
        self._values = values
        self._flows = flows

    def at(self, member: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The figure at the end of each day for each member (object ints): the latest snapshot on or before the
        day (0 when there is none) plus the member's flows after that snapshot's day up to and including the day."""
        position, found = self._index.latest(member, day)
        if len(self._values):
            snapshot = np.where(found, self._values[position], 0).astype(object)
            snapshot_day = np.where(found, self._index.day[position], day)
        else:
            snapshot, snapshot_day = np.zeros(len(member), dtype=object), day
        # Where there is no snapshot at all, every flow up to the day counts (the account started from nothing).
        already_in = np.where(found, self._flows.through(member, snapshot_day), 0)
        return snapshot + (self._flows.through(member, day) - already_in)


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

    def convert(scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return [decimals_to_ints(values, scale=scale, what=what, allow_na=na) for values, what, na in columns]

    try:
        return convert(start), start
    except ExactValueError:
        finest = max(_places_of(values) for values, _, _ in columns)
        if finest <= start:
            raise  # not a question of places: a float, text or a missing amount
        return convert(finest), finest


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

    flow_arrays = Flows(flow_member[flow_order], flow_day[flow_order], seq[flow_order], as_big(amount[flow_order]))
    return FeeInputs(
        members=member_arrays,
        equity=Figures(snapshot_member, snapshot_day, equity[order], flow_arrays),
        balance=Figures(snapshot_member, snapshot_day, balance[order], flow_arrays),
        flows=flow_arrays,
        scale=scale,
    )
