"""Hypothesis worlds for the fee engine: members joining and leaving around the period, snapshots with gaps,
deposits and withdrawals (several a day), every mode combination, monthly and quarterly periods, minor units
0/2/3/8, and the frames the engine takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from hypothesis import strategies as st

from mam.engine.fees import FeeTerms
from mam.vocabulary import CrystallisationPeriod, FeeBase, FlowMode, HwmMode, ManagementBasis
from tests.engine.mam_fees.reference import first_of_month

MEMBER_COLUMNS = ["server", "login", "places", "joined", "left", "hwm", "accrue_from"]
SNAPSHOT_COLUMNS = ["server", "login", "day", "balance", "equity"]
FLOW_COLUMNS = ["server", "login", "day", "seq", "amount"]
PLACES = (0, 2, 3, 8)


@dataclass(frozen=True)
class World:
    terms: FeeTerms
    period_start: date
    period_end: date
    members: pd.DataFrame
    snapshots: pd.DataFrame
    flows: pd.DataFrame

    def kwargs(self) -> dict:
        return {
            "terms": self.terms,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "members": self.members,
            "snapshots": self.snapshots,
            "flows": self.flows,
        }


def members_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MEMBER_COLUMNS)


def snapshots_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=SNAPSHOT_COLUMNS)


def flows_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)


def money(draw: st.DrawFn, places: int, low: int, high: int) -> Decimal:
    """An amount in [low, high] major units, usually at the account's minor unit, sometimes finer (snapshots that
    carry more places than the currency keeps)."""
    extra = draw(st.sampled_from([0, 0, 0, 0, 2]))
    digits = places + extra
    units = draw(st.integers(low * 10**digits, high * 10**digits))
    return Decimal(units).scaleb(-digits)


def rates(high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.just(Decimal(0)),
        st.decimals(min_value=Decimal(0), max_value=Decimal(high), places=places, allow_nan=False),
    )


@st.composite
def terms(draw: st.DrawFn) -> FeeTerms:
    return FeeTerms(
        management_rate=draw(st.one_of(st.sampled_from([Decimal("0.02"), Decimal("0.015")]), rates("0.1", 4))),
        management_basis=draw(st.sampled_from(list(ManagementBasis))),
        management_base=draw(st.sampled_from(list(FeeBase))),
        performance_rate=draw(st.one_of(st.sampled_from([Decimal("0.25"), Decimal("0.2")]), rates("1", 3))),
        hwm_mode=draw(st.sampled_from(list(HwmMode))),
        flow_mode=draw(st.sampled_from(list(FlowMode))),
        hurdle_pct=draw(st.one_of(st.just(Decimal(0)), rates("5", 2))),
        period=draw(st.sampled_from(list(CrystallisationPeriod))),
        ib_fee_share_pct=draw(st.one_of(st.just(Decimal(0)), st.sampled_from([Decimal(10), Decimal("33.3333")]))),
    )


@st.composite
def periods(draw: st.DrawFn) -> tuple[date, date]:
    year = draw(st.sampled_from([2023, 2024]))  # 2024 has a 29 February
    month = draw(st.integers(1, 12))
    return date(year, month, 1), first_of_month(year, month + 1)


@st.composite
def member_rows(draw: st.DrawFn, login: int, start: date, end: date) -> dict:
    places = draw(st.sampled_from(PLACES))
    joined = start + timedelta(
        days=draw(st.one_of(st.sampled_from([-100, -40, -1, 0, 1, 9, 20, (end - start).days]), st.integers(-70, 35)))
    )
    last_day = end - timedelta(days=1)
    left = draw(
        st.one_of(
            st.none(),
            st.none(),
            st.sampled_from([start, start + timedelta(days=1), last_day, end, joined, start - timedelta(days=3)]),
            st.builds(lambda d: joined + timedelta(days=d), st.integers(1, 60)),
        )
    )
    hwm = None if draw(st.booleans()) else money(draw, places, 0, 2_000)
    accrue_from = draw(
        st.one_of(
            st.none(),
            st.just(start),
            st.builds(lambda d: start + timedelta(days=d), st.integers(-80, 31)),
        )
    )
    return {
        "server": draw(st.sampled_from(["MT5-A", "MT5-B"])),
        "login": login,
        "places": places,
        "joined": joined,
        "left": left,
        "hwm": hwm,
        "accrue_from": accrue_from,
    }


@st.composite
def account_history(draw: st.DrawFn, member: dict, start: date, end: date) -> tuple[list[dict], list[dict]]:
    """End-of-day snapshots (a random walk, days missing at random) and flows around the period."""
    places = member["places"]
    key = {"server": member["server"], "login": member["login"]}
    first = min(member["joined"], member["accrue_from"] or member["joined"], start) - timedelta(days=4)
    equity = money(draw, places, 0, 2_000)
    gap_odds = draw(st.sampled_from([0, 3, 10]))  # percent of days without a snapshot: none, few, many
    snapshots = []
    day = first
    while day <= end:
        if draw(st.booleans()):
            equity += money(draw, places, -150, 200)
        if draw(st.integers(0, 99)) >= gap_odds * 3:
            balance = equity - draw(st.sampled_from([Decimal(0), Decimal(0), Decimal("12.5"), Decimal(-40)]))
            snapshots.append({**key, "day": day, "balance": balance, "equity": equity})
        day += timedelta(days=1)
    if draw(st.integers(0, 9)) == 0:
        snapshots = []  # an account with no snapshot at all
    flows = []
    for _ in range(draw(st.integers(0, 5))):
        flow_day = start + timedelta(days=draw(st.integers(-3, (end - start).days + 1)))
        sign = draw(st.sampled_from([1, -1, -1, 0]))
        amount = sign * money(draw, places, 0, 800)
        flows.append({**key, "day": flow_day, "amount": amount})
    flows.sort(key=lambda row: row["day"])
    seqs: dict[date, int] = {}
    for flow in flows:
        seqs[flow["day"]] = seqs.get(flow["day"], 0) + draw(st.integers(1, 3))
        flow["seq"] = seqs[flow["day"]]
    return snapshots, flows


@st.composite
def worlds(draw: st.DrawFn, max_members: int = 6) -> World:
    start, end = draw(periods())
    count = draw(st.integers(1, max_members))
    members = [draw(member_rows(login, start, end)) for login in range(1001, 1001 + count)]
    snapshots: list[dict] = []
    flows: list[dict] = []
    for member in members:
        account_snapshots, account_flows = draw(account_history(member, start, end))
        snapshots.extend(account_snapshots)
        flows.extend(account_flows)
    # An account that is not a member: its rows must be ignored.
    flows.append({"server": "MT5-A", "login": 9, "day": start, "seq": 1, "amount": Decimal("-5")})
    snapshots.append({"server": "MT5-A", "login": 9, "day": start, "balance": Decimal(1), "equity": Decimal(1)})
    order = draw(st.permutations(range(len(snapshots))))
    return World(
        terms=draw(terms()),
        period_start=start,
        period_end=end,
        members=members_frame(members),
        snapshots=snapshots_frame([snapshots[i] for i in order]),
        flows=flows_frame(flows),
    )
