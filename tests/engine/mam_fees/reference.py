"""An obviously-correct reference for the MAM fee engine: day-by-day loops over plain Decimals and dates.

It implements DOMAIN.md 5.3 and the rules written in ``mam/engine/fees.py``'s docstring a second time, for clarity
rather than speed, and shares nothing with the engine but ``FeeTerms`` and the vocabulary. Every quotient is taken
in an 80-digit context and rounded at the documented points only, each through ``core.money`` (half-up):
management fee, hurdle and performance fee to the minor unit, a proportionally scaled HWM to the minor unit, the
fee share to 6 places.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal, localcontext

import pandas as pd

from core.money import quantize, round_line
from mam.engine.fees import FeeTerms
from mam.vocabulary import (
    CrystallisationPeriod,
    CrystallisationReason,
    FeeBase,
    FlowMode,
    HwmMode,
    ManagementBasis,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
ONE_DAY = timedelta(days=1)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, Decimal) and pd.isna(value))


def _day(value: object) -> date | None:
    if _missing(value):
        return None
    return value.date() if isinstance(value, pd.Timestamp) else value


def days_between(first: date, stop: date) -> Iterator[date]:
    """first, first + 1, ..., stop − 1."""
    day = first
    while day < stop:
        yield day
        day += ONE_DAY


def first_of_month(year: int, month: int) -> date:
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def crystallisation_period(day: date, period: CrystallisationPeriod) -> tuple[date, date]:
    """[first day, first day of the next) of the month or calendar quarter holding ``day``."""
    if period == CrystallisationPeriod.MONTHLY:
        return first_of_month(day.year, day.month), first_of_month(day.year, day.month + 1)
    first_month = (day.month - 1) // 3 * 3 + 1
    return first_of_month(day.year, first_month), first_of_month(day.year, first_month + 3)


def closes(period_end: date, period: CrystallisationPeriod) -> bool:
    return crystallisation_period(period_end, period)[0] == period_end


class Account:
    """One account's snapshots and flows, with the daily figures of the rules."""

    def __init__(self, snapshots: list[dict], flows: list[dict]) -> None:
        self.snapshots = {_day(row["day"]): row for row in snapshots}
        self.flows = sorted(flows, key=lambda row: (_day(row["day"]), row["seq"]))

    def figure(self, day: date, column: str) -> Decimal:
        """The latest snapshot on or before ``day`` plus the flows after its day up to ``day`` (all flows to
        ``day`` when there is no snapshot)."""
        earlier = [d for d in self.snapshots if d <= day]
        if earlier:
            latest = max(earlier)
            value = self.snapshots[latest][column]
        else:
            latest = None
            value = ZERO
        for flow in self.flows:
            flow_day = _day(flow["day"])
            if (latest is None or flow_day > latest) and flow_day <= day:
                value += flow["amount"]
        return value

    def flows_on(self, day: date) -> list[dict]:
        return [flow for flow in self.flows if _day(flow["day"]) == day]

    def equity_before_flow(self, flow: dict) -> Decimal:
        day = _day(flow["day"])
        later = sum((f["amount"] for f in self.flows_on(day) if f["seq"] >= flow["seq"]), ZERO)
        return self.figure(day, "equity") - later


def _member_fees(terms: FeeTerms, start: date, end: date, member: dict, account: Account) -> tuple[list, dict | None]:
    """The events and the state (None when the member keeps none) of one member."""
    joined = _day(member["joined"])
    left = _day(member["left"])
    places = int(member["places"])
    given_hwm = None if _missing(member["hwm"]) else member["hwm"]
    given_accrue_from = _day(member["accrue_from"])
    key = {"server": member["server"], "login": member["login"]}
    if left is not None and (left <= joined or left < start):
        return [], None
    if joined >= end:
        return [], {**key, "hwm": given_hwm, "accrue_from": given_accrue_from}

    base_column = "balance" if terms.management_base == FeeBase.BALANCE else "equity"
    days_per_year = Decimal(260 if terms.management_basis == ManagementBasis.TRADING else 365)
    anchor = max(joined, start - ONE_DAY)
    hwm = given_hwm if given_hwm is not None else account.figure(anchor, "equity")
    accrue_from = max(given_accrue_from or joined, joined)
    leaving = left is not None and left < end
    stop = left if leaving else end
    charged: list[tuple[date, Decimal]] = []  # (the day a fee of this computation crystallised, the fee)
    events: list[dict] = []
    crystallised = False

    def fees_through(day: date) -> Decimal:
        return sum((fee for charged_day, fee in charged if charged_day <= day), ZERO)

    def crystallise(at: date, equity: Decimal, reason: str, day: date, seq: int | None) -> dict:
        nonlocal accrue_from, hwm, crystallised
        days_accrued, base_sum = 0, ZERO
        for accrual_day in days_between(accrue_from, at):
            if terms.management_basis == ManagementBasis.TRADING and accrual_day.weekday() >= 5:
                continue
            days_accrued += 1
            base_sum += max(ZERO, account.figure(accrual_day, base_column) - fees_through(accrual_day))
        with localcontext() as context:
            context.prec = 80
            management = quantize(base_sum * terms.management_rate / days_per_year, places)
            equity_before_fee = equity - sum((fee for _, fee in charged), ZERO) - management
            period_first, period_stop = crystallisation_period(at - ONE_DAY, terms.period)
            covered = sum(1 for d in days_between(accrue_from, at) if d >= period_first)
            period_days = (period_stop - period_first).days
            hurdle = quantize(terms.hurdle_pct / HUNDRED * max(hwm, ZERO) * covered / period_days, places)
            performance = quantize(terms.performance_rate * max(ZERO, equity_before_fee - hwm - hurdle), places)
            share = round_line(terms.ib_fee_share_pct / HUNDRED * (management + performance))
        if performance > 0:
            hwm_after = equity_before_fee - performance if terms.hwm_mode == HwmMode.NET else equity_before_fee
        else:
            hwm_after = hwm
        event = {
            **key,
            "day": day,
            "flow_seq": seq,
            "reason": reason,
            "days_accrued": days_accrued,
            "base_sum": base_sum,
            "management_fee": management,
            "equity_before_fee": equity_before_fee,
            "hwm_before": hwm,
            "hurdle": hurdle,
            "performance_fee": performance,
            "hwm_after": hwm_after,
            "fee_share": share,
            "manager_fee": management + performance - share,
        }
        events.append(event)
        charged.append((at, management + performance))
        accrue_from = max(accrue_from, at)
        hwm = hwm_after
        crystallised = True
        return event

    for day in days_between(anchor + ONE_DAY, stop):
        for flow in account.flows_on(day):
            amount = flow["amount"]
            if amount > 0:
                hwm += amount
            elif amount < 0:
                equity = account.equity_before_flow(flow)
                event = crystallise(day, equity, CrystallisationReason.WITHDRAWAL, day, flow["seq"])
                withdrawn = -amount
                equity_before = event["equity_before_fee"] - event["performance_fee"]
                if terms.flow_mode == FlowMode.PROPORTIONAL and equity_before > 0:
                    with localcontext() as context:
                        context.prec = 80
                        hwm = quantize(hwm * (equity_before - withdrawn) / equity_before, places)
                else:
                    hwm -= withdrawn
                hwm = max(hwm, ZERO)
    if leaving:
        crystallise(left, account.figure(left - ONE_DAY, "equity"), CrystallisationReason.LEAVING, left, None)
        return events, None
    if closes(end, terms.period):
        crystallise(end, account.figure(end - ONE_DAY, "equity"), CrystallisationReason.PERIOD_END, end - ONE_DAY, None)
    return events, {**key, "hwm": hwm, "accrue_from": accrue_from if crystallised else given_accrue_from}


def reference_fees(
    *,
    terms: FeeTerms,
    period_start: date,
    period_end: date,
    members: pd.DataFrame,
    snapshots: pd.DataFrame,
    flows: pd.DataFrame,
) -> tuple[list[dict], list[dict]]:
    """Events and states as lists of dicts, members in input order, each member's events in time order."""
    snapshot_rows = snapshots.to_dict("records")
    flow_rows = flows.to_dict("records")
    all_events: list[dict] = []
    states: list[dict] = []
    for member in members.to_dict("records"):
        mine = (member["server"], member["login"])
        account = Account(
            [row for row in snapshot_rows if (row["server"], row["login"]) == mine],
            [row for row in flow_rows if (row["server"], row["login"]) == mine],
        )
        events, state = _member_fees(terms, period_start, period_end, member, account)
        all_events.extend(events)
        if state is not None:
            states.append(state)
    return all_events, states
