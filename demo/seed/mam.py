"""The demo's MAM book: four groups of sub-accounts following a master, seeded through the MAM services.

What it builds (deterministic for a seed: its own random stream, choices by code and login, never by row order):
- Two money managers, both IBs of the demo tree: the IB with the most clients (who also refers some members) and a
  top-level IB. Four groups, one per method family: ``equity`` (the default), ``balance``, ``percent`` and
  ``multiplier``; members are clients of different IBs, six per group, drawn round-robin over their IBs.
- Fee terms covering management and performance: a net-HWM monthly group with a fee share to the investors' IB,
  a **quarterly** group with a **gross** HWM and proportional flows on the 260-day basis, a group with a hurdle,
  a performance-only group.
- Daily balance, equity and free-margin snapshots for every membership day (integer cents, a group-wide daily
  return in basis points plus each account's own: exact), one deposit and one withdrawal per group (the snapshot
  of that day includes the flow).
- One member joins mid-way through the second month, one leaves then, one is stopped out by its equity stop (a bad
  day in the second month takes its equity to 90 % of the stop, flat from then on: later opens allocate it
  nothing, reason ``equity_stop``).
- Master trades on about two weekdays in five per group, each open allocated over the members
  (``master_trade_open``) and closed one to four days later (``master_trade_close``), one in three first partially
  (half) and then the rest; a close falling on or after the demo's today is not made (the position is still open).
  Each close writes the sub-account trades through the ordinary ingest, so the commission runs pay their IBs.

Units: lots are exact ``Decimal`` multiples of the instrument's step; prices are integer points of the instrument's
digits turned into ``Decimal`` text; money is integer cents turned into ``Decimal`` (no float anywhere). Nothing is
rounded here: the services round what they compute.

Fees are computed and approved by ``plans.demo_fee_runs`` (complete months only, in order: each month starts from
the previous month's approved high-water marks).
"""

from __future__ import annotations

import time as time_module
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from mam.models import MamGroup
from mam.services.equity import cash_flows_record, equity_upsert
from mam.services.groups import group_upsert
from mam.services.master_trades import master_trade_close, master_trade_open
from mam.services.members import member_upsert
from mam.vocabulary import AllocationMethod, BelowMinPolicy, ResidualPolicy
from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink

from .reference import INSTRUMENTS_BY_SYMBOL

_STREAM_MAM = 5150
MEMBERS_PER_GROUP = 6
MASTER_LOGIN_BASE = 9_990_000  # far above the demo's logins: masters are no client accounts
TICKET_BASE = 70_000_000
TRADE_DAY_PROBABILITY_BP = 4_000  # of 10 000
SYMBOLS = ("EURUSD", "GBPUSD", "XAUUSD")
# Starting prices in points (5 digits for FX, 2 for gold) and the largest move between two events, in points.
START_POINTS = {"EURUSD": 108_000, "GBPUSD": 127_000, "XAUUSD": 203_500}
STEP_POINTS = {"EURUSD": 400, "GBPUSD": 500, "XAUUSD": 1_500}


@dataclass(frozen=True)
class GroupPlan:
    code: str
    name: str
    method: str
    fees: dict[str, str]
    residual_policy: str = ResidualPolicy.LARGEST_WEIGHT.value
    below_min: str = BelowMinPolicy.SKIP.value
    master_lots: tuple[str, ...] = ("1.00", "2.00", "0.50", "3.00")
    # member index → parameter (percent, multiplier); None: the method needs none
    params: tuple[str, ...] | None = None


GROUPS: tuple[GroupPlan, ...] = (
    GroupPlan(
        code="mam-equity",
        name="Equity-weighted FX majors",
        method=AllocationMethod.EQUITY.value,
        residual_policy=ResidualPolicy.LARGEST_REMAINDER.value,
        fees={"management_rate": "0.02", "performance_rate": "0.20", "hwm_mode": "net", "ib_fee_share_pct": "10"},
    ),
    GroupPlan(
        code="mam-balance",
        name="Balance-weighted, quarterly gross HWM",
        method=AllocationMethod.BALANCE.value,
        fees={
            "management_rate": "0.015",
            "management_basis": "260",
            "management_base": "balance",
            "performance_rate": "0.25",
            "hwm_mode": "gross",
            "flow_mode": "proportional",
            "period": "quarterly",
        },
    ),
    GroupPlan(
        code="mam-percent",
        name="Percent allocation with a hurdle",
        method=AllocationMethod.PERCENT.value,
        params=("30", "20", "15", "15", "10", "10"),
        fees={"management_rate": "0.01", "performance_rate": "0.30", "hurdle_pct": "5"},
    ),
    GroupPlan(
        code="mam-multiplier",
        name="Multiplier copy, bumped to the minimum",
        method=AllocationMethod.MULTIPLIER.value,
        below_min=BelowMinPolicy.BUMP.value,
        master_lots=("0.50", "1.00", "0.20", "1.50"),
        params=("1.5", "1", "0.5", "0.25", "0.1", "2"),
        fees={"performance_rate": "0.15", "hwm_mode": "net", "ib_fee_share_pct": "20"},
    ),
)


@dataclass
class MamSeeded:
    """What ``demo_mam_seed`` made, for the summary."""

    managers: list[str] = field(default_factory=list)
    groups: int = 0
    members: int = 0
    snapshots: int = 0
    cash_flows: int = 0
    opens: int = 0
    closes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Event:
    at: datetime
    order: int  # opens before closes at the same instant; then by ticket
    ticket: int
    group: str
    kind: str  # "open" | "close"
    values: dict[str, Any]


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_MAM])


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _candidates(*, at: datetime) -> list[tuple[ClientAccount, Partner]]:
    """USD client accounts earning commission with an IB at ``at``, ordered by IB code then login."""
    in_force = Q(valid_from__lte=at) & (Q(valid_to__isnull=True) | Q(valid_to__gt=at))
    rows = (
        AccountAttribution.objects.filter(in_force, partner__isnull=False, account__currency="USD")
        .filter(account__earns_commission=True)
        .select_related("account", "partner")
        .order_by("partner__code", "account__server", "account__login")
    )
    return [(row.account, row.partner) for row in rows]


def _round_robin(pool: list[tuple[ClientAccount, Partner]], *, first: Partner, n: int) -> list[ClientAccount]:
    """``n`` accounts over as many IBs as possible, ``first``'s clients leading each round."""
    by_ib: dict[str, list[ClientAccount]] = {}
    for account, partner in pool:
        by_ib.setdefault(partner.code, []).append(account)
    codes = sorted(by_ib, key=lambda code: (code != first.code, code))
    chosen: list[ClientAccount] = []
    while len(chosen) < n and any(by_ib.values()):
        for code in codes:
            if by_ib[code] and len(chosen) < n:
                chosen.append(by_ib[code].pop(0))
    for account in chosen:
        pool[:] = [(a, p) for a, p in pool if a.pk != account.pk]
    return chosen


def demo_mam_plan(*, seed: int, start: datetime, end: datetime) -> _Book | None:
    """Everything the MAM book will write, built in memory (groups, members, snapshots, flows, events)."""
    tz = ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)
    rng = _rng(seed)
    first_day, today = start.astimezone(tz).date(), end.astimezone(tz).date()
    days = _days(first_day, today - timedelta(days=1))
    month2 = _month_start(first_day, 1)
    mid2 = month2 + timedelta(days=14)

    pool = _candidates(at=start)
    # A group trades on its master's server: every group on the server with the most candidates (ties by name).
    servers: dict[str, int] = {}
    for account, _ in pool:
        servers[account.server] = servers.get(account.server, 0) + 1
    server = min(servers, key=lambda name: (-servers[name], name)) if servers else ""
    pool = [(a, p) for a, p in pool if a.server == server]
    if len(pool) < 3 * len(GROUPS):
        return None
    counts: dict[str, int] = {}
    for _, partner in pool:
        counts[partner.code] = counts.get(partner.code, 0) + 1
    ib_manager = Partner.objects.get(code=min(counts, key=lambda code: (-counts[code], code)))
    top = PartnerLink.objects.filter(parent__isnull=True, valid_to__isnull=True).exclude(partner=ib_manager)
    other_manager = top.order_by("partner__code").select_related("partner").first().partner
    book = _Book(managers=[ib_manager.code, other_manager.code])

    ticket = TICKET_BASE
    points = dict(START_POINTS)
    for g_index, plan in enumerate(GROUPS):
        manager = ib_manager if g_index % 2 == 0 else other_manager
        accounts = _round_robin(pool, first=ib_manager, n=MEMBERS_PER_GROUP)
        if len(accounts) < 3:
            break
        book.groups.append(
            {
                "code": plan.code,
                "name": plan.name,
                "manager": manager,
                "master_server": accounts[0].server,
                "master_login": MASTER_LOGIN_BASE + g_index,
                "method": plan.method,
                "residual_policy": plan.residual_policy,
                "below_min": plan.below_min,
                "fees": {k: Decimal(v) if k.endswith(("_rate", "_pct")) else v for k, v in plan.fees.items()},
                "fees_effective_from": start,
            }
        )
        # The group's daily return in basis points (a little positive on average: managers that earn fees).
        group_bp = rng.integers(-90, 111, size=len(days))
        joiner = 1 if g_index == 0 else None  # joins mid-way through the second month
        leaver = 2 if g_index == 1 else None  # leaves then
        stopped = len(accounts) - 1 if g_index == 0 else None  # its equity falls below its stop in month 2
        for m_index, account in enumerate(accounts):
            joined = mid2 if m_index == joiner else first_day
            left = mid2 if m_index == leaver else None
            cents = int(rng.integers(5_000, 60_001)) * 100
            member: dict[str, Any] = {"group": plan.code, "account": account, "joined": joined, "left": left}
            if plan.params is not None:
                member["param"] = Decimal(plan.params[m_index % len(plan.params)])
            stop_cents = cents * 92 // 100
            if m_index == stopped:
                member["equity_stop"] = _money(stop_cents)
            book.members.append(member)
            own_bp = rng.integers(-40, 41, size=len(days))
            flow_day = days[int(rng.integers(20, max(21, len(days) - 20)))]
            for d_index, day in enumerate(days):
                if day < joined or (left is not None and day >= left):
                    continue
                if m_index == stopped and day >= mid2:
                    # A bad day takes it to 90 % of its stop; stopped out, it holds cash from then on (flat equity).
                    if day == mid2:
                        cents = int(stop_cents) * 9 // 10
                else:
                    cents = cents * (10_000 + int(group_bp[d_index]) + int(own_bp[d_index])) // 10_000
                if day == flow_day and m_index in (0, 3):
                    # A deposit for the first member, a withdrawal of a tenth for the fourth.
                    amount = 1_000_000 if m_index == 0 else -(cents // 10)
                    cents += amount
                    book.flows.append(
                        {
                            "id": f"demo-mam-{plan.code}-{account.login}-{day.isoformat()}",
                            "server": account.server,
                            "login": account.login,
                            "time": datetime.combine(day, time(10, 0), tz),
                            "amount": _money(amount),
                        }
                    )
                balance = cents - cents % 1_000  # open positions' floating P&L: equity a little off the balance
                book.snapshots.append(
                    {
                        "server": account.server,
                        "login": account.login,
                        "day": day,
                        "balance": _money(balance),
                        "equity": _money(cents),
                        "free_margin": _money(cents * 4 // 5),
                    }
                )
        for day in days:
            if day.weekday() >= 5 or int(rng.integers(0, 10_000)) >= TRADE_DAY_PROBABILITY_BP:
                continue
            ticket += 1
            symbol = SYMBOLS[int(rng.integers(0, len(SYMBOLS)))]
            spec = INSTRUMENTS_BY_SYMBOL[symbol]
            side = "buy" if int(rng.integers(0, 2)) == 0 else "sell"
            lots = Decimal(plan.master_lots[int(rng.integers(0, len(plan.master_lots)))])
            opened = datetime.combine(day, time(8 + int(rng.integers(0, 8)), int(rng.integers(0, 60))), tz)
            points[symbol] += int(rng.integers(-STEP_POINTS[symbol], STEP_POINTS[symbol] + 1))
            book.events.append(
                _Event(
                    opened,
                    0,
                    ticket,
                    plan.code,
                    "open",
                    {
                        "symbol": symbol,
                        "side": side,
                        "lots": lots,
                        "open_time": opened,
                        "open_price": Decimal(points[symbol]).scaleb(-spec.digits),
                    },
                )
            )
            closes = [lots]
            if int(rng.integers(0, 3)) == 0:
                half = (lots / 2).quantize(Decimal(spec.volume_step), rounding="ROUND_DOWN")
                if half > 0:
                    closes = [half, lots - half]
            at = opened
            for close_lots in closes:
                at = at + timedelta(days=int(rng.integers(1, 5)), minutes=int(rng.integers(1, 240)))
                points[symbol] += int(rng.integers(-STEP_POINTS[symbol], STEP_POINTS[symbol] + 1))
                if at >= end:
                    break
                book.events.append(
                    _Event(
                        at,
                        1,
                        ticket,
                        plan.code,
                        "close",
                        {
                            "lots": close_lots,
                            "close_time": at,
                            "close_price": Decimal(points[symbol]).scaleb(-spec.digits),
                        },
                    )
                )
    book.events.sort(key=lambda e: (e.at, e.order, e.ticket))
    return book


@dataclass
class _Book:
    managers: list[str]
    groups: list[dict[str, Any]] = field(default_factory=list)
    members: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    events: list[_Event] = field(default_factory=list)


def _month_start(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(y, m + 1, 1)


def demo_mam_load(book: _Book, *, progress: Callable[[int], object] | None = None) -> MamSeeded:
    """Write ``book`` through the MAM services: the set-up in one transaction, then each master trade event in its
    own (as the platform would send them)."""
    started = time_module.perf_counter()
    with transaction.atomic():
        groups = {}
        for row in book.groups:
            groups[row["code"]] = group_upsert(**row)[0]
        for row in book.members:
            member_upsert(**{**row, "group": groups[row["group"]]})
        equity_upsert(rows=book.snapshots)
        if book.flows:
            cash_flows_record(rows=book.flows)
    opens = closes = 0
    for event in book.events:
        group = groups[event.group]
        if event.kind == "open":
            master_trade_open(group=group, ticket=event.ticket, **event.values)
            opens += 1
        else:
            master_trade_close(group=group, ticket=event.ticket, **event.values)
            closes += 1
        if progress is not None:
            progress(1)
    return MamSeeded(
        managers=book.managers,
        groups=len(groups),
        members=len(book.members),
        snapshots=len(book.snapshots),
        cash_flows=len(book.flows),
        opens=opens,
        closes=closes,
        seconds=time_module.perf_counter() - started,
    )


def demo_mam_present() -> bool:
    return MamGroup.objects.filter(code__in=[plan.code for plan in GROUPS]).exists()
