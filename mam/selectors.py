"""Reads of the MAM app: groups, members and their state on a day, snapshots, flows, master trades, allocations,
and the conversion rates a sub-account trade's P&L needs. No writes here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from django.db import connection
from django.db.models import DateTimeField, Model, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from commissions.models import Trade
from ledger.models import ConversionRate
from partners.models import ClientAccount

from .models import (
    Allocation,
    CashFlow,
    EquitySnapshot,
    GroupFeeTerms,
    MamGroup,
    MasterClose,
    MasterTrade,
    Member,
    SubClose,
)

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


# Rows with their related rows, read in one raw query (the ORM's select_related took most of a 1,000-member open or
# close) and built by Django's own ``Model.from_db``, each caching the next model's instance as select_related does.
# None of these models has a field with a database converter (checked at import), so the raw values are the ORM's.
Chain = tuple[tuple[type[Model], str | None], ...]


def select_list(chain: Chain, aliases: tuple[str, ...], *, utc_wall: bool = False) -> str:
    """The chain's columns, model by model in concrete-field order. ``utc_wall``: each ``timestamptz`` as its UTC
    wall time (``timestamp``), which the driver's C loader reads ten times faster than the Python ``timestamptz``
    loader Django registers (4,000 of them were four fifths of a 1,000-allocation read); ``model_instances`` with
    ``utc_wall`` puts the UTC zone back, giving the very value Django's loader gives on a UTC session."""
    return ", ".join(
        f"""({alias}."{field.column}" AT TIME ZONE 'UTC')"""
        if utc_wall and isinstance(field, DateTimeField)
        else f'{alias}."{field.column}"'
        for (model, _), alias in zip(chain, aliases, strict=True)
        for field in model._meta.concrete_fields
    )


def utc_session() -> bool:
    """Whether Django reads ``timestamptz`` values as aware UTC datetimes on this connection (``USE_TZ`` with the
    database in UTC), the case ``utc_wall`` reproduces; otherwise the columns are read as they are."""
    return connection.timezone is UTC and connection.timezone_name == "UTC"


def _plain_fields(chain: Chain) -> Chain:
    for model, _ in chain:
        for field in model._meta.concrete_fields:
            if hasattr(field, "from_db_value"):
                raise TypeError(f"{model.__name__}.{field.name} converts values read: build it with from_db")
    return chain


def model_instances(rows: list[tuple], chain: Chain, *, utc_wall: bool = False) -> list[Model]:
    """Rows of ``select_list(chain, …)`` as the first model's instances, each caching the next model's instance on
    its ``link`` (a forward key), as ``select_related`` does."""
    spans, start, stamps = [], 0, []
    for model, link in chain:
        fields = model._meta.concrete_fields
        names = [f.attname for f in fields]
        setter = model._meta.get_field(link).set_cached_value if link else None
        spans.append((model, names, start, start + len(fields), setter))
        if utc_wall:
            stamps += [start + i for i, field in enumerate(fields) if isinstance(field, DateTimeField)]
        start += len(fields)
    alias = connection.alias
    out: list[Model] = []
    for row in rows:
        if stamps:
            row = list(row)
            for i in stamps:
                if row[i] is not None:
                    row[i] = row[i].replace(tzinfo=UTC)
        # Django's own constructor of a loaded row (``Model.from_db``): signals, deferred fields and state as the ORM
        # sets them; only the query and the timestamps' zone are done here.
        objects = [model.from_db(alias, names, row[lo:hi]) for model, names, lo, hi, _ in spans]
        for (*_, setter), obj, related in zip(spans, objects, objects[1:], strict=False):
            setter(obj, related)
        out.append(objects[0])
    return out


_ALLOCATION_CHAIN: Chain = _plain_fields(((Allocation, "member"), (Member, "account"), (ClientAccount, None)))
_SUB_CLOSE_CHAIN: Chain = _plain_fields(((SubClose, "allocation"), *_ALLOCATION_CHAIN))


def _allocations_query(*, open_only: bool, lock: bool, utc_wall: bool) -> str:
    return f"""
SELECT {select_list(_ALLOCATION_CHAIN, ("al", "m", "a"), utc_wall=utc_wall)}
  FROM {Allocation._meta.db_table} al
  JOIN {MEMBERS} m ON m.id = al.member_id
  JOIN {ACCOUNTS} a ON a.id = m.account_id
 WHERE al.master_trade_id = %(master)s {"AND al.lots_open > 0" if open_only else ""}
 ORDER BY a.server, a.login {"FOR UPDATE" if lock else ""}
"""


def allocations_of(*, master_trade: MasterTrade, open_only: bool = False, lock: bool = False) -> list[Allocation]:
    """The master trade's allocations by (server, login), each with its member and account loaded; ``open_only``:
    those still holding lots; ``lock``: ``FOR UPDATE`` (of the allocation, member and account rows, as the ORM's
    ``select_for_update`` over ``select_related`` locks). One query."""
    utc_wall = utc_session()
    with connection.cursor() as cursor:
        cursor.execute(
            _allocations_query(open_only=open_only, lock=lock, utc_wall=utc_wall), {"master": master_trade.pk}
        )
        return model_instances(cursor.fetchall(), _ALLOCATION_CHAIN, utc_wall=utc_wall)


def _sub_closes_query(*, utc_wall: bool) -> str:
    return f"""
SELECT {select_list(_SUB_CLOSE_CHAIN, ("s", "al", "m", "a"), utc_wall=utc_wall)}
  FROM {SubClose._meta.db_table} s
  JOIN {Allocation._meta.db_table} al ON al.id = s.allocation_id
  JOIN {MEMBERS} m ON m.id = al.member_id
  JOIN {ACCOUNTS} a ON a.id = m.account_id
 WHERE s.master_close_id = %(close)s
 ORDER BY a.server, a.login
"""


def sub_closes_of(*, master_close: MasterClose) -> list[SubClose]:
    """The master close's sub-closes by (server, login), each with its allocation, member and account loaded."""
    utc_wall = utc_session()
    with connection.cursor() as cursor:
        cursor.execute(_sub_closes_query(utc_wall=utc_wall), {"close": master_close.pk})
        return model_instances(cursor.fetchall(), _SUB_CLOSE_CHAIN, utc_wall=utc_wall)


_TICKETS_TAKEN = f"""
SELECT ticket FROM {Trade._meta.db_table} WHERE server = %(server)s AND ticket = ANY(%(tickets)s::bigint[])
 UNION
SELECT ticket FROM {SubClose._meta.db_table} WHERE ticket = ANY(%(tickets)s::bigint[])
"""


def tickets_taken(*, server: str, tickets: Iterable[int]) -> set[int]:
    """Those of ``tickets`` already taken: by a trade on ``server`` (any version) or by any sub-close. One query."""
    with connection.cursor() as cursor:
        cursor.execute(_TICKETS_TAKEN, {"server": server, "tickets": list(tickets)})
        return {row[0] for row in cursor.fetchall()}


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
