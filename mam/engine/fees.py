"""The MAM fee engine (DOMAIN.md 5.3): each sub-account's management and performance fees for one run period.

Pure and exact: DataFrames, Decimals and dataclasses in and out; inside, every amount is an integer at one decimal
scale (``fee_inputs``) and every day a day number (``fee_calendar``). No float is ever created.

Units: amounts are in each account's own currency; ``places`` is its minor unit. Rates are fractions (0.02 = 2 %);
``hurdle_pct`` and ``ib_fee_share_pct`` are percents. The run period is ``[period_start, period_end)`` in local days.

Rounding points (half-up, ties away from zero, ``core.exact.div_round`` on exact integers), and only these:
  1. each crystallised management fee, to the account's minor unit (accruals keep full precision);
  2. each hurdle, to the minor unit (an amount of the account, recorded on the event);
  3. each performance fee, to the minor unit;
  4. a high-water mark scaled by a proportional withdrawal, to the minor unit;
  5. the IB's fee share, to 6 places (``core.money.LINE_PLACES``); the manager keeps the exact rest.
So every event can be checked from its own recorded figures: management_fee = round(base_sum × rate / 365|260),
performance_fee = round(rate × max(0, equity_before_fee − hwm_before − hurdle)).

Rules (DOMAIN.md 5.3 and the fee brief), with the choices made where they are silent:
- Daily figures (equity and balance, end of day): a day without a snapshot uses the latest earlier snapshot of the
  account (even one from before it joined), **moved by the flows booked after that snapshot's day up to and
  including the day**; with no snapshot at all, the sum of the flows up to the day (0 without any). The period-end
  equity is the figure of the period's last day. Why the flows: a snapshot stops at its day, while a flow is
  known exactly; carrying a stale equity past a withdrawal while the HWM is lowered by it would charge a
  performance fee on the money withdrawn (and management fee on it), and past a deposit would charge no
  management fee on it. With daily snapshots (the normal feed) this is exactly DOMAIN's carry-forward.
- Fees crystallised earlier in the same computation are treated as debited when they crystallise (as the platform
  does once the run is approved): every later figure of the account (daily bases, the equity at a later
  crystallisation) is lowered by the fees this computation has already crystallised for it. Fees of earlier,
  approved runs are assumed to be in the snapshots. Without this a month-end after a fee-charging withdrawal
  would charge a performance fee on the unpaid fee itself.
- Management fee: accrues on every member day d from ``max(accrue_from or joined, joined)`` up to the
  crystallisation: ``max(0, base_d) × rate / 365`` on every calendar day, or ``/ 260`` on Monday to Friday only
  (weekend days neither accrue nor count in ``days_accrued``). The base is the day's end-of-day equity or balance.
  A withdrawal on day d crystallises the days before d (day d accrues later, on its after-withdrawal figure);
  the period end crystallises up to and including the last day; leaving on day L (the first day no longer a
  member) crystallises the days before L. ``accrue_from`` may lie before the period (quarterly crystallisation):
  the service then passes snapshots from there.
- Crystallisation: at the period end when ``period_end`` is the first day of a crystallisation period (monthly:
  every month; quarterly: January, April, July, October — so a run period other than a month works too); on
  every withdrawal (before it lowers the HWM); on leaving (instead of the period end). A period end that closes
  nothing produces no event: the state carries ``accrue_from`` unchanged. Management is charged before
  performance. Every crystallisation is one event, even when both fees are 0 (it still records the HWM); the run
  writes lines only for what is charged.
- The HWM: carried from the member's state; if there is none (``hwm`` None), it starts at the end-of-day equity
  of the joining day, or, for a member that joined before the period and was never given one, of the day before
  the period (its "anchor" day). Flows on or before the anchor day are already in that equity and are ignored; so
  are flows on or after leaving or after the period. A deposit raises the HWM by its amount (never a fee by
  itself). A withdrawal of w first crystallises, then lowers the HWM by w (absolute), or scales it by
  ``equity_after / equity_before`` with equity_before = the equity just before the withdrawal less the fees just
  charged and equity_after = equity_before − w (proportional; with equity_before ≤ 0 the ratio means nothing and the
  absolute rule applies). The HWM never goes below 0 after a withdrawal: a withdrawal larger than the HWM (only
  possible while equity stood above an uncharged HWM, e.g. within the hurdle) leaves it at 0, so that profit once
  withdrawn is never charged later.
- Equity just before a flow on day d: that day's end-of-day equity figure (above, so it holds every flow of day d)
  minus the flows of day d from that one on, in ``seq`` order.
- The engine uses every flow it is given (of member accounts): flows are needed from the day after the earliest
  snapshot passed, for the figures above; only those after a member's anchor day and before its end move its HWM
  or crystallise.
- Performance fee: ``rate × max(0, equity_before_fee − HWM − hurdle)`` with equity_before_fee = the equity at the
  crystallisation less this crystallisation's management fee (and less the earlier fees above). Charged (> 0
  after rounding): net → HWM = equity_before_fee − fee; gross → HWM = equity_before_fee. Not charged: the HWM is
  unchanged (losses carry forward).
- Hurdle: ``hurdle_pct / 100 × max(0, HWM)`` per crystallisation period, pro-rated by calendar days over the stretch
  a crystallisation covers inside its period: the days from its accrual start (the previous crystallisation, or
  joining) — but not before the start of the crystallisation period that contains its last covered day — up to
  the crystallisation, over that period's length. A period without withdrawals therefore has exactly one full
  hurdle; one with a withdrawal splits it in two parts that add up to it; a member joining mid-period gets the
  part from its joining day. The hurdle is not compounded across periods (DOMAIN: "per period").
- Fee share: ``round_line(ib_fee_share_pct / 100 × (management_fee + performance_fee))``, paid out of the manager's
  fee: ``manager_fee = management_fee + performance_fee − fee_share``.
- Members: a member whose ``left`` is on or before ``joined`` was never a member, and one that left before the
  period was finished by an earlier run: neither gets events or a state. A member joining after the period gets
  its state back unchanged. A member leaving in the period (``period_start <= left < period_end``) gets a
  ``leaving`` event and no state. Every other member gets a state for the next run: the HWM after every flow of
  the period and ``accrue_from`` (the last crystallisation, or unchanged).

Outputs: ``events`` has one row per crystallisation, in (server, login) input order then time order; ``day`` is
the withdrawal's day, the leaving day or the period's last day; the extra column ``flow_seq`` (the withdrawal's
``seq``; NA for period end and leaving) tells two withdrawals of one day apart. Figures (base_sum,
equity_before_fee, hwm_*) are exact Decimals at the computation's scale; fees and the hurdle have the account's
minor unit, ``fee_share`` 6 places, ``manager_fee`` the finer of the two. ``hwm_after`` is the HWM right after the
crystallisation's fee, before a withdrawal lowers it; the HWM after all flows is the state's.

Invariants: fees are ≥ 0 and, with a rate of 0, exactly 0; fee_share + manager_fee = management_fee +
performance_fee; the result does not depend on how members are split into chunks (each member's computation reads
only its own rows; the scale is exact for every chunk).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from core.exact import INT64_MAX, as_big, div_round, ints_to_decimals, max_abs, pow10
from core.money import LINE_PLACES
from mam.vocabulary import (
    CrystallisationPeriod,
    CrystallisationReason,
    FeeBase,
    FlowMode,
    HwmMode,
    ManagementBasis,
)

from .fee_calendar import NA_DAY, closes_period, dates_of, day_number, period_bounds, trading_days
from .fee_inputs import FeeInputs, Figures, prepare

EVENT_COLUMNS = [
    "server",
    "login",
    "day",
    "flow_seq",
    "reason",
    "days_accrued",
    "base_sum",
    "management_fee",
    "equity_before_fee",
    "hwm_before",
    "hurdle",
    "performance_fee",
    "hwm_after",
    "fee_share",
    "manager_fee",
]
STATE_COLUMNS = ["server", "login", "hwm", "accrue_from"]
BASIS_DAYS = {ManagementBasis.CALENDAR: 365, ManagementBasis.TRADING: 260}

_WITHDRAWAL, _PERIOD_END, _LEAVING = 0, 1, 2
_REASON = np.array(
    [CrystallisationReason.WITHDRAWAL, CrystallisationReason.PERIOD_END, CrystallisationReason.LEAVING], dtype=object
)
_LAST_SEQ = np.iinfo(np.int64).max  # a final crystallisation sorts after every flow of its day
_ZERO = Decimal(0)


@dataclass(frozen=True)
class FeeTerms:
    """One group's fee schedule in force for the run (rates are fractions: 0.02 = 2 %; the *_pct are percents)."""

    management_rate: Decimal = _ZERO
    management_basis: ManagementBasis = ManagementBasis.CALENDAR
    management_base: FeeBase = FeeBase.EQUITY
    performance_rate: Decimal = _ZERO
    hwm_mode: HwmMode = HwmMode.NET
    flow_mode: FlowMode = FlowMode.ABSOLUTE
    hurdle_pct: Decimal = _ZERO  # percent of the HWM per crystallisation period
    period: CrystallisationPeriod = CrystallisationPeriod.MONTHLY
    ib_fee_share_pct: Decimal = _ZERO  # percent of the manager's fee on an investor paid to that investor's IB

    def __post_init__(self) -> None:
        limits = {"management_rate": 1, "performance_rate": 1, "hurdle_pct": None, "ib_fee_share_pct": 100}
        for name, limit in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
                raise TypeError(f"FeeTerms.{name}: expected a Decimal, got {type(value).__name__}")
            value = Decimal(value)
            if not value.is_finite() or value < 0 or (limit is not None and value > limit):
                bound = f" and at most {limit}" if limit is not None else ""
                raise ValueError(f"FeeTerms.{name}: must be a finite number at least 0{bound}, got {value}")
            object.__setattr__(self, name, value)
        vocabularies = {
            "management_basis": ManagementBasis,
            "management_base": FeeBase,
            "hwm_mode": HwmMode,
            "flow_mode": FlowMode,
            "period": CrystallisationPeriod,
        }
        for name, vocabulary in vocabularies.items():
            object.__setattr__(self, name, vocabulary(getattr(self, name)))


@dataclass(frozen=True)
class FeeResult:
    """``events``: one row per crystallisation (``EVENT_COLUMNS``); ``states``: one row per member that stays, for
    the next run (``STATE_COLUMNS``)."""

    events: pd.DataFrame
    states: pd.DataFrame


@dataclass(frozen=True)
class _Timeline:
    """Per member: which part of the period it is a member for, and where its accrual and HWM start."""

    active: np.ndarray  # a member on some day of the period, or leaving on its first day
    leaving: np.ndarray
    future: np.ndarray  # joins after the period
    anchor: np.ndarray  # flows after this day move the HWM
    end: np.ndarray  # first day not covered: leaving day or period end
    accrual_start: np.ndarray
    hwm: np.ndarray  # the HWM at the anchor (object ints)


@dataclass(frozen=True)
class _Points:
    """Crystallisation points sorted by (member, time); ``position`` is the first day not accrued by it."""

    member: np.ndarray
    kind: np.ndarray
    position: np.ndarray
    day: np.ndarray
    seq: np.ndarray
    withdrawal: np.ndarray  # |amount| of a withdrawal, 0 for a final point (object ints)
    deposits_before: np.ndarray  # the member's deposits of the period before the point (object ints)
    equity: np.ndarray  # the equity at the point, before this computation's own earlier fees (object ints)


@dataclass(frozen=True)
class _Grid:
    """Each member's daily bases from its accrual start to its last point, as prefix sums over one flat array."""

    offset: np.ndarray  # per member: index of its first cell
    first_day: np.ndarray  # per member: day of its first cell
    figures: np.ndarray  # per cell: the raw figure (before clipping at 0)
    counted: np.ndarray  # per cell: the day accrues under the basis
    base_prefix: np.ndarray  # exclusive prefix sums of the clipped, counted figures (len cells + 1)
    day_prefix: np.ndarray  # exclusive prefix sums of ``counted``


def _ratio(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return int(numerator), int(denominator)


def _big(values: np.ndarray | int) -> np.ndarray:
    return as_big(np.asarray(values))


def _round(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Half-up quotient of exact integers, as Python ints."""
    if not len(numerator):
        return np.zeros(0, dtype=object)
    return _big(div_round(_big(numerator), _big(denominator)))


def _prefix(values: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums (``result[i]`` = sum of ``values[:i]``), int64 only when no sum can overflow."""
    if values.dtype != object and max_abs(values) * max(len(values), 1) <= INT64_MAX:
        return np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(values, dtype=np.int64)))
    return np.concatenate((np.zeros(1, dtype=object), np.cumsum(_big(values))))


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """For rows sorted by ``keys``: True where a new group begins."""
    n = len(keys[0])
    starts = np.zeros(n, dtype=bool)
    if n:
        starts[0] = True
        for key in keys:
            starts[1:] |= key[1:] != key[:-1]
    return starts


def _first_of_group(starts: np.ndarray) -> np.ndarray:
    """For each row, the index of its group's first row."""
    first = np.flatnonzero(starts)
    return first[np.cumsum(starts) - 1] if len(starts) else np.zeros(0, dtype=np.int64)


def _group_lasts(starts: np.ndarray) -> np.ndarray:
    """The index of each group's last row."""
    return np.flatnonzero(np.r_[starts[1:], True]) if len(starts) else np.zeros(0, dtype=np.int64)


def _earlier_in_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each row, the sum of the values of its group's earlier rows (object ints)."""
    if not len(values):
        return np.zeros(0, dtype=object)
    earlier = np.cumsum(_big(values)) - values
    return earlier - earlier[_first_of_group(starts)]


def _group_totals(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The sum of each group's values (object ints), one per group."""
    if not len(values):
        return np.zeros(0, dtype=object)
    lasts = _group_lasts(starts)
    return _earlier_in_group(values, starts)[lasts] + _big(values)[lasts]


def _timeline(data: FeeInputs, start: int, end: int) -> _Timeline:
    m = data.members
    left = np.where(m.left_na, np.iinfo(np.int64).max, m.left)
    never = ~m.left_na & (left <= m.joined)
    gone = ~m.left_na & (left < start)
    future = ~never & ~gone & (m.joined >= end)
    active = ~never & ~gone & ~future
    leaving = active & (left < end)
    anchor = np.maximum(m.joined, start - 1)
    accrual_start = np.maximum(np.where(m.accrue_from_na, m.joined, m.accrue_from), m.joined)
    anchor_equity = data.equity.at(np.arange(len(m)), anchor)
    hwm = np.where(m.hwm_na, _big(anchor_equity), m.hwm)
    return _Timeline(
        active=active,
        leaving=leaving,
        future=future,
        anchor=anchor,
        end=np.where(leaving, left, end),
        accrual_start=accrual_start,
        hwm=_big(hwm),
    )


def _points(data: FeeInputs, timeline: _Timeline, end: int, closes: bool) -> tuple[_Points, np.ndarray]:
    """Every crystallisation point, and each member's total deposits of the period."""
    flows = data.flows
    n = len(data.members)
    inside = (
        timeline.active[flows.member]
        & (flows.day > timeline.anchor[flows.member])
        & (flows.day < timeline.end[flows.member])
    )
    member, day, seq, amount = flows.member[inside], flows.day[inside], flows.seq[inside], flows.amount[inside]

    member_starts = _group_starts(member)
    day_starts = _group_starts(member, day)
    same_day_before = _earlier_in_group(amount, day_starts)
    day_total = _group_totals(amount, day_starts)[np.cumsum(day_starts) - 1]
    deposits = np.where(amount > 0, amount, 0).astype(object)
    deposits_before = _earlier_in_group(deposits, member_starts)
    deposit_total = np.zeros(n, dtype=object)
    deposit_total[member[member_starts]] = _group_totals(deposits, member_starts)

    out = amount < 0
    w_member, w_day = member[out], day[out]
    # The day's end-of-day equity holds all of that day's flows: take back this one and those after it.
    w_equity = data.equity.at(w_member, w_day) - (day_total[out] - same_day_before[out])

    final = timeline.leaving | (timeline.active & closes)
    f_member = np.flatnonzero(final)
    f_position = timeline.end[f_member]
    f_equity = data.equity.at(f_member, f_position - 1)
    f_leaving = timeline.leaving[f_member]

    member_all = np.concatenate((w_member, f_member))
    position = np.concatenate((w_day, f_position))
    seq_all = np.concatenate((seq[out], np.full(len(f_member), _LAST_SEQ, dtype=np.int64)))
    order = np.lexsort((seq_all, position, member_all))
    points = _Points(
        member=member_all[order],
        kind=np.concatenate((np.full(len(w_member), _WITHDRAWAL), np.where(f_leaving, _LEAVING, _PERIOD_END)))[order],
        position=position[order],
        day=np.concatenate((w_day, np.where(f_leaving, f_position, end - 1)))[order],
        seq=seq_all[order],
        withdrawal=np.concatenate((-amount[out], np.zeros(len(f_member), dtype=object)))[order],
        deposits_before=np.concatenate((deposits_before[out], deposit_total[f_member]))[order],
        equity=np.concatenate((_big(w_equity), _big(f_equity)))[order],
    )
    return points, deposit_total


def _grid(data: FeeInputs, terms: FeeTerms, timeline: _Timeline, points: _Points) -> _Grid:
    n = len(data.members)
    first_day = timeline.accrual_start.copy()
    last_position = first_day.copy()
    # Points are sorted by (member, position): a member's last point is its latest.
    ends = _group_lasts(_group_starts(points.member))
    last_position[points.member[ends]] = np.maximum(first_day[points.member[ends]], points.position[ends])
    length = last_position - first_day
    offset = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(length)))[:n]
    total = int(length.sum())
    cell_member = np.repeat(np.arange(n), length)
    cell_day = np.repeat(first_day, length) + (np.arange(total) - np.repeat(offset, length))
    figures: Figures = data.balance if terms.management_base == FeeBase.BALANCE else data.equity
    values = figures.at(cell_member, cell_day)
    if terms.management_basis == ManagementBasis.TRADING:
        counted = trading_days(cell_day)
    else:
        counted = np.ones(total, dtype=bool)
    clipped = np.where(counted & (values > 0), values, 0)
    return _Grid(
        offset=offset,
        first_day=first_day,
        figures=values,
        counted=counted,
        base_prefix=_prefix(clipped),
        day_prefix=_prefix(counted.astype(np.int64)),
    )


def _bases_less_fees(grid: _Grid, low: np.ndarray, high: np.ndarray, fees: np.ndarray) -> np.ndarray:
    """Sum over cells [low, high) of max(0, figure − fees) on counted days (fees already crystallised)."""
    length = high - low
    offsets = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(length)))
    cells = np.repeat(low, length) + (np.arange(int(offsets[-1])) - np.repeat(offsets[:-1], length))
    lowered = _big(grid.figures[cells]) - np.repeat(_big(fees), length)
    lowered = np.where(grid.counted[cells] & (lowered > 0), lowered, 0)
    sums = np.concatenate((np.zeros(1, dtype=object), np.cumsum(_big(lowered))))
    return sums[offsets[1:]] - sums[offsets[:-1]]


@dataclass
class _Events:
    """What each crystallisation point records (arrays aligned with the points)."""

    days_accrued: np.ndarray
    base_sum: np.ndarray
    management: np.ndarray  # minor units
    equity_before_fee: np.ndarray
    hwm_before: np.ndarray
    hurdle: np.ndarray  # minor units
    performance: np.ndarray  # minor units
    hwm_after: np.ndarray

    @classmethod
    def empty(cls, size: int) -> _Events:
        return cls(*(np.zeros(size, dtype=object) for _ in range(8)))


def _crystallise(
    data: FeeInputs, terms: FeeTerms, timeline: _Timeline, points: _Points, grid: _Grid
) -> tuple[_Events, dict[str, np.ndarray]]:
    """Walk the points in rounds (every member's first point, then every second one, ...): each round is
    vectorised over members, and a member's state carries from one round to the next."""
    n = len(data.members)
    scale = data.scale
    # One minor unit of each member's account, as an integer at the computation's scale.
    minor = np.array([pow10(scale - int(places)) for places in data.members.places], dtype=object)
    management_num, management_den = _ratio(terms.management_rate)
    management_den *= BASIS_DAYS[terms.management_basis]
    performance_num, performance_den = _ratio(terms.performance_rate)
    hurdle_num, hurdle_den = _ratio(terms.hurdle_pct)
    hurdle_den *= 100
    net = terms.hwm_mode == HwmMode.NET
    proportional = terms.flow_mode == FlowMode.PROPORTIONAL

    state = {
        "hwm": timeline.hwm.copy(),
        "deposits": np.zeros(n, dtype=object),
        "fees": np.zeros(n, dtype=object),
        "accrual_start": timeline.accrual_start.copy(),
        "crystallised": np.zeros(n, dtype=bool),
    }
    events = _Events.empty(len(points.member))
    period_start, period_length = period_bounds(points.position - 1, terms.period)
    group_first = np.flatnonzero(_group_starts(points.member))
    group_size = np.diff(np.r_[group_first, len(points.member)])
    for rank in range(int(group_size.max()) if len(group_size) else 0):
        rows = group_first[group_size > rank] + rank
        member = points.member[rows]
        unit_here = minor[member]
        start = state["accrual_start"][member]
        position = np.maximum(points.position[rows], start)
        low = grid.offset[member] + (start - grid.first_day[member])
        high = grid.offset[member] + (position - grid.first_day[member])
        fees_before = state["fees"][member]
        base_sum = _big(grid.base_prefix[high] - grid.base_prefix[low])
        lowered = fees_before != 0
        if lowered.any():
            base_sum[lowered] = _bases_less_fees(grid, low[lowered], high[lowered], fees_before[lowered])
        management = _round(base_sum * management_num, unit_here * management_den)

        equity_before_fee = points.equity[rows] - fees_before - management * unit_here
        hwm_before = state["hwm"][member] + (points.deposits_before[rows] - state["deposits"][member])
        covered = np.maximum(points.position[rows] - np.maximum(start, period_start[rows]), 0)
        hurdle = _round(
            np.where(hwm_before > 0, hwm_before, 0) * hurdle_num * covered.astype(object),
            unit_here * hurdle_den * period_length[rows].astype(object),
        )
        excess = equity_before_fee - hwm_before - hurdle * unit_here
        performance = _round(np.where(excess > 0, excess, 0) * performance_num, unit_here * performance_den)
        charged = performance > 0
        after_fee = equity_before_fee - performance * unit_here if net else equity_before_fee
        hwm_after = np.where(charged, after_fee, hwm_before)

        hwm_next = hwm_after.copy()
        out = points.kind[rows] == _WITHDRAWAL
        hwm_next[out] = _lowered_by_withdrawal(
            hwm_after[out],
            equity_before_fee[out] - performance[out] * unit_here[out],
            points.withdrawal[rows][out],
            unit_here[out],
            proportional=proportional,
        )

        state["hwm"][member] = hwm_next
        state["deposits"][member] = points.deposits_before[rows]
        state["fees"][member] = fees_before + (management + performance) * unit_here
        state["accrual_start"][member] = position
        state["crystallised"][member] = True
        events.days_accrued[rows] = grid.day_prefix[high] - grid.day_prefix[low]
        events.base_sum[rows] = base_sum
        events.management[rows] = management
        events.equity_before_fee[rows] = equity_before_fee
        events.hwm_before[rows] = hwm_before
        events.hurdle[rows] = hurdle
        events.performance[rows] = performance
        events.hwm_after[rows] = hwm_after
    return events, state


def _lowered_by_withdrawal(
    hwm: np.ndarray, equity_before: np.ndarray, withdrawal: np.ndarray, unit: np.ndarray, *, proportional: bool
) -> np.ndarray:
    """The HWM after a withdrawal (``equity_before`` is the equity after the fees just charged): less the amount,
    or scaled by equity_after / equity_before, rounded to the minor unit ``unit``; never below 0."""
    lowered = hwm - withdrawal
    if proportional:
        # A ratio of a non-positive equity means nothing: those rows keep the absolute rule.
        scalable = equity_before > 0
        if scalable.any():
            scaled = _round(
                hwm[scalable] * (equity_before[scalable] - withdrawal[scalable]),
                equity_before[scalable] * unit[scalable],
            )
            lowered[scalable] = scaled * unit[scalable]
    return np.where(lowered > 0, lowered, 0)


def _decimals(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Exact Decimals of integers whose scale may differ row by row."""
    result = np.empty(len(values), dtype=object)
    for scale in np.unique(scales):
        rows = scales == scale
        result[rows] = ints_to_decimals(_big(values[rows]), int(scale))
    return result


def _events_frame(data: FeeInputs, terms: FeeTerms, points: _Points, events: _Events) -> pd.DataFrame:
    members = data.members
    places = members.places[points.member]
    fee = _big(events.management + events.performance)
    share_num, share_den = _ratio(terms.ib_fee_share_pct)
    share = _round(
        fee * share_num * pow10(LINE_PLACES),
        np.array([share_den * 100 * pow10(int(p)) for p in places], dtype=object),
    )
    finer = np.maximum(places, LINE_PLACES)
    to_finer = np.array([pow10(int(f - p)) for f, p in zip(finer, places, strict=True)], dtype=object)
    share_to_finer = np.array([pow10(int(f) - LINE_PLACES) for f in finer], dtype=object)
    scale = np.full(len(places), data.scale)
    seq = pd.array(np.where(points.kind == _WITHDRAWAL, points.seq, 0), dtype="Int64")
    seq[points.kind != _WITHDRAWAL] = pd.NA
    return pd.DataFrame(
        {
            "server": members.server[points.member],
            "login": members.login[points.member],
            "day": dates_of(points.day),
            "flow_seq": seq,
            "reason": _REASON[points.kind] if len(points.kind) else np.zeros(0, dtype=object),
            "days_accrued": events.days_accrued.astype(np.int64),
            "base_sum": _decimals(events.base_sum, scale),
            "management_fee": _decimals(events.management, places),
            "equity_before_fee": _decimals(events.equity_before_fee, scale),
            "hwm_before": _decimals(events.hwm_before, scale),
            "hurdle": _decimals(events.hurdle, places),
            "performance_fee": _decimals(events.performance, places),
            "hwm_after": _decimals(events.hwm_after, scale),
            "fee_share": _decimals(share, np.full(len(places), LINE_PLACES)),
            "manager_fee": _decimals(fee * to_finer - share * share_to_finer, finer),
        },
        columns=EVENT_COLUMNS,
    )


def _states_frame(
    data: FeeInputs, timeline: _Timeline, state: dict[str, np.ndarray], deposit_total: np.ndarray
) -> pd.DataFrame:
    members = data.members
    stays = timeline.active & ~timeline.leaving
    keep = stays | timeline.future
    hwm = np.where(stays, state["hwm"] + (deposit_total - state["deposits"]), members.hwm)
    hwm_na = members.hwm_na & ~stays
    accrue_from = np.where(stays & state["crystallised"], state["accrual_start"], members.accrue_from)
    accrue_na = members.accrue_from_na & ~(stays & state["crystallised"])
    hwm_decimals = ints_to_decimals(_big(hwm[keep]), data.scale) if keep.any() else np.zeros(0, dtype=object)
    hwm_decimals[hwm_na[keep]] = None
    return pd.DataFrame(
        {
            "server": members.server[keep],
            "login": members.login[keep],
            "hwm": hwm_decimals,
            "accrue_from": dates_of(np.where(accrue_na, NA_DAY, accrue_from)[keep]),
        },
        columns=STATE_COLUMNS,
    )


def compute_fees(
    *,
    terms: FeeTerms,
    period_start: date,
    period_end: date,
    members: pd.DataFrame,
    snapshots: pd.DataFrame,
    flows: pd.DataFrame,
) -> FeeResult:
    """The fee events of every member for ``[period_start, period_end)`` and each member's state for the next run.

    ``members``: server, login, places (the account currency's minor unit), joined, left (first day no longer a
    member, or None), hwm (carried, or None if never crystallised), accrue_from (first day not yet charged
    management fee, or None). ``snapshots``: server, login, day, balance, equity (end of day, after that day's
    flows), from the first day needed (including the latest earlier snapshot when there is one). ``flows``:
    server, login, day, seq (order within the account), amount (+deposit / −withdrawal).
    """
    start, end = day_number(period_start), day_number(period_end)
    if end <= start:
        raise ValueError("period_end must be after period_start")
    data = prepare(members, snapshots, flows)
    closes = closes_period(end, terms.period)
    timeline = _timeline(data, start, end)
    points, deposit_total = _points(data, timeline, end, closes)
    grid = _grid(data, terms, timeline, points)
    events, state = _crystallise(data, terms, timeline, points, grid)
    return FeeResult(
        events=_events_frame(data, terms, points, events),
        states=_states_frame(data, timeline, state, deposit_total),
    )
