"""Reads of the MAM app: groups, members and their state on a day, snapshots, flows, master trades, allocations,
and the conversion rates a sub-account trade's P&L needs. No writes here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from ledger.models import ConversionRate
from partners.models import ClientAccount

from .models import Allocation, CashFlow, EquitySnapshot, GroupFeeTerms, MamGroup, MasterTrade, Member

MEMBERS = Member._meta.db_table
SNAPSHOTS = EquitySnapshot._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table


def group_get(*, code: str) -> MamGroup | None:
    return group_list().filter(code=code).first()


def group_list() -> QuerySet[MamGroup]:
    terms = GroupFeeTerms.objects.order_by("-valid_from")
    return MamGroup.objects.select_related("manager__partner").prefetch_related(
        Prefetch("fee_terms", queryset=terms, to_attr="terms_latest_first")
    )


def member_list(*, group: MamGroup) -> QuerySet[Member]:
    """Every membership of the group (past ones too), by account then start, with ``joined_on``: the joining day
    given, else the day of the account's first snapshot on or after ``since`` (None before any)."""
    first_snapshot = (
        EquitySnapshot.objects.filter(account=OuterRef("account"), day__gte=OuterRef("since"))
        .order_by("day")
        .values("day")[:1]
    )
    return (
        Member.objects.filter(group=group)
        .select_related("account")
        .annotate(joined_on=Coalesce("joined", Subquery(first_snapshot)))
        .order_by("account__server", "account__login", "since")
    )


def snapshot_list() -> QuerySet[EquitySnapshot]:
    return EquitySnapshot.objects.select_related("account").order_by("account__server", "account__login", "day")


def cash_flow_list() -> QuerySet[CashFlow]:
    return CashFlow.objects.select_related("account").order_by("time", "id")


def master_trade_list() -> QuerySet[MasterTrade]:
    return MasterTrade.objects.select_related("group", "instrument").order_by("group__code", "ticket")


def master_trade_get(*, group: MamGroup, ticket: int) -> MasterTrade | None:
    return master_trade_list().filter(group=group, ticket=ticket).first()


def allocation_report(*, group: MamGroup) -> QuerySet[Allocation]:
    """Per master ticket and sub-account: lots opened, closed and still open, the P&L of what was closed, the
    reason it got less or nothing."""
    return (
        Allocation.objects.filter(master_trade__group=group)
        .select_related("master_trade", "member__account")
        .annotate(
            lots_closed=Coalesce(Sum("sub_closes__lots"), Decimal(0)),
            profit=Coalesce(Sum("sub_closes__profit"), Decimal(0)),
        )
        .order_by("master_trade__ticket", "member__account__server", "member__account__login")
    )


def allocations_of(*, master_trade: MasterTrade) -> list[Allocation]:
    return list(
        Allocation.objects.filter(master_trade=master_trade)
        .select_related("member__account")
        .order_by("member__account__server", "member__account__login")
    )


@dataclass(frozen=True)
class MemberState:
    """A membership row and the account's figures on a day (the allocation engine's input, one member)."""

    member_id: int
    server: str
    login: int
    currency: str
    active: bool
    member: bool  # joined on or before the day and not left then
    param: Decimal | None
    risk_factor: Decimal
    balance: Decimal | None
    equity: Decimal | None
    free_margin: Decimal | None
    peak_equity: Decimal | None
    max_lots: Decimal | None
    equity_stop: Decimal | None
    max_drawdown_pct: Decimal | None


_MEMBERS_ON = f"""
SELECT DISTINCT ON (m.account_id)
       m.id, a.server, a.login, m.active, m.param, m.risk_factor, m.max_lots, m.equity_stop, m.max_drawdown_pct,
       m.left, j.day AS joined, s.balance, s.equity, s.free_margin, a.currency,
       (SELECT max(p.equity) FROM {SNAPSHOTS} p
         WHERE p.account_id = m.account_id AND p.day >= j.day AND p.day <= %(day)s) AS peak_equity
  FROM {MEMBERS} m
  JOIN {ACCOUNTS} a ON a.id = m.account_id
  CROSS JOIN LATERAL (
      SELECT coalesce(m.joined, (SELECT min(f.day) FROM {SNAPSHOTS} f
                                  WHERE f.account_id = m.account_id AND f.day >= m.since)) AS day
  ) j
  LEFT JOIN LATERAL (
      SELECT balance, equity, free_margin FROM {SNAPSHOTS} l
       WHERE l.account_id = m.account_id AND l.day <= %(day)s ORDER BY l.day DESC LIMIT 1
  ) s ON true
 WHERE m.group_id = %(group)s AND (m.left IS NULL OR m.left > %(day)s)
 ORDER BY m.account_id, (m.since <= %(day)s) DESC, m.since
"""


def members_on(*, group: MamGroup, day: date) -> list[MemberState]:
    """The group's members as of ``day`` (server time zone): every membership still running then (joined, or yet
    to join), with the latest snapshot on or before the day and the highest equity since joining (for the drawdown
    stop). One query; ordered by (server, login)."""
    with connection.cursor() as cursor:
        cursor.execute(_MEMBERS_ON, {"group": group.pk, "day": day})
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    states = [
        MemberState(
            member_id=row["id"],
            server=row["server"],
            login=row["login"],
            currency=row["currency"],
            active=row["active"],
            member=row["joined"] is not None and row["joined"] <= day and (row["left"] is None or row["left"] > day),
            param=row["param"],
            risk_factor=row["risk_factor"],
            balance=row["balance"],
            equity=row["equity"],
            free_margin=row["free_margin"],
            peak_equity=row["peak_equity"],
            max_lots=row["max_lots"],
            equity_stop=row["equity_stop"],
            max_drawdown_pct=row["max_drawdown_pct"],
        )
        for row in rows
    ]
    return sorted(states, key=lambda s: (s.server, s.login))


def effective_joined(*, member: Member) -> date | None:
    """The member's joining day: given, else the day of the account's first snapshot on or after ``since``."""
    if member.joined is not None:
        return member.joined
    first = EquitySnapshot.objects.filter(account_id=member.account_id, day__gte=member.since).order_by("day").first()
    return first.day if first else None


def usd_rates(*, keys: Iterable[tuple[str, date]]) -> dict[tuple[str, date], Decimal]:
    """``usd_rate`` of each (currency, day) that has one; USD is 1 without a row (as the commission engine reads)."""
    wanted = set(keys)
    found = {("USD", day): Decimal(1) for code, day in wanted if code == "USD"}
    others = {(code, day) for code, day in wanted if code != "USD"}
    if others:
        rows = ConversionRate.objects.filter(
            currency__in={c for c, _ in others}, day__in={d for _, d in others}
        ).values_list("currency", "day", "usd_rate")
        found.update({(c, d): r for c, d, r in rows if (c, d) in others})
    return found
