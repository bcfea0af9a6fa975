"""Reads over the effective-dated partner tree and account attributions.

Every tree read is one SQL statement: a recursive CTE over ``PartnerLink`` / ``AccountAttribution`` rows filtered to
the instant asked for (``valid_from <= t AND (valid_to IS NULL OR valid_to > t)``). Each recursion carries the path
walked so far and stops at ``TREE_DEPTH_GUARD`` levels, so even corrupt data (a cycle written around the services)
cannot make a query loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_filters
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from core.api.filters import ServerFilter, login_filter

from .models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program

# Real IB networks are a handful of levels deep; the guard only bounds the recursion on corrupt data.
TREE_DEPTH_GUARD = 100

_PARTNER = Partner._meta.db_table
_LINK = PartnerLink._meta.db_table
_ACCOUNT = ClientAccount._meta.db_table
_ATTRIBUTION = AccountAttribution._meta.db_table

CHAINS_FRAME_COLUMNS = ["account_id", "valid_from", "valid_to", "level", "partner_id"]


@dataclass(frozen=True, slots=True)
class TreeStats:
    """Where a partner sits in the tree at one instant: its parent's code (None = top), level (1 = top of the
    tree) and the number of partners below it (all depths)."""

    parent_code: str | None
    level: int
    downline_size: int


def _at(at: datetime | None) -> datetime:
    return timezone.now() if at is None else at


def _link_valid(alias: str, at_param: str = "%(at)s") -> str:
    return f"{alias}.valid_from <= {at_param} AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {at_param})"


# --- single instant -----------------------------------------------------------------------------------------------


def partner_chain_at(*, partner: Partner, at: datetime | None = None) -> list[Partner]:
    """``partner`` followed by its parent, grandparent, … as the tree stood at ``at`` (default now)."""
    sql = f"""
        WITH RECURSIVE chain(partner_id, depth, path) AS (
            SELECT %(pid)s::bigint, 0, ARRAY[%(pid)s::bigint]
            UNION ALL
            SELECT l.parent_id, c.depth + 1, c.path || l.parent_id
            FROM chain c
            JOIN {_LINK} l ON l.partner_id = c.partner_id
            WHERE {_link_valid("l")} AND l.parent_id IS NOT NULL
              AND NOT l.parent_id = ANY(c.path) AND c.depth < %(guard)s
        )
        SELECT p.*, c.depth AS chain_depth FROM chain c JOIN {_PARTNER} p ON p.id = c.partner_id ORDER BY c.depth
    """
    params = {"pid": partner.pk, "at": _at(at), "guard": TREE_DEPTH_GUARD}
    return list(Partner.objects.raw(sql, params))


def account_chain_at(*, server: str, login: int, at: datetime | None = None) -> list[Partner]:
    """The IB chain of account ``server``/``login`` at ``at``: level 1 (its IB) first, then that IB's parent, …
    Empty when the account is unknown or has no IB at ``at``. Each partner carries ``level``."""
    sql = f"""
        WITH RECURSIVE chain(partner_id, level, path) AS (
            SELECT a.partner_id, 1, ARRAY[a.partner_id]
            FROM {_ATTRIBUTION} a
            JOIN {_ACCOUNT} acc ON acc.id = a.account_id
            WHERE acc.server = %(server)s AND acc.login = %(login)s
              AND a.partner_id IS NOT NULL AND {_link_valid("a")}
            UNION ALL
            SELECT l.parent_id, c.level + 1, c.path || l.parent_id
            FROM chain c
            JOIN {_LINK} l ON l.partner_id = c.partner_id
            WHERE {_link_valid("l")} AND l.parent_id IS NOT NULL
              AND NOT l.parent_id = ANY(c.path) AND c.level < %(guard)s
        )
        SELECT p.*, c.level AS level FROM chain c JOIN {_PARTNER} p ON p.id = c.partner_id ORDER BY c.level
    """
    params = {"server": server, "login": login, "at": _at(at), "guard": TREE_DEPTH_GUARD}
    return list(Partner.objects.raw(sql, params))


def partner_downline_at(*, partner: Partner, at: datetime | None = None) -> list[tuple[Partner, int]]:
    """Every partner below ``partner`` at ``at`` with its depth (1 = direct sub-IB), ordered by depth then code.
    Each partner also carries ``parent_code``, its parent at ``at``, so callers can draw the tree."""
    sql = f"""
        WITH RECURSIVE down(partner_id, parent_id, depth, path) AS (
            SELECT l.partner_id, l.parent_id, 1, ARRAY[%(pid)s::bigint, l.partner_id]
            FROM {_LINK} l
            WHERE l.parent_id = %(pid)s AND {_link_valid("l")}
            UNION ALL
            SELECT l.partner_id, l.parent_id, d.depth + 1, d.path || l.partner_id
            FROM down d
            JOIN {_LINK} l ON l.parent_id = d.partner_id
            WHERE {_link_valid("l")} AND NOT l.partner_id = ANY(d.path) AND d.depth < %(guard)s
        )
        SELECT p.*, d.depth AS downline_depth, pp.code AS parent_code
        FROM down d
        JOIN {_PARTNER} p ON p.id = d.partner_id
        JOIN {_PARTNER} pp ON pp.id = d.parent_id
        ORDER BY d.depth, p.code
    """
    params = {"pid": partner.pk, "at": _at(at), "guard": TREE_DEPTH_GUARD}
    return [(p, p.downline_depth) for p in Partner.objects.raw(sql, params)]


def partner_tree_stats(*, partner_ids: Iterable[int], at: datetime | None = None) -> dict[int, TreeStats]:
    """Parent code, level and downline size of each of ``partner_ids`` at ``at``, in one query (admin lists)."""
    ids = sorted({int(i) for i in partner_ids})
    if not ids:
        return {}
    sql = f"""
        WITH RECURSIVE
        ids AS (SELECT unnest(%(ids)s::bigint[]) AS id),
        up(root, node, depth, path) AS (
            SELECT id, id, 0, ARRAY[id] FROM ids
            UNION ALL
            SELECT u.root, l.parent_id, u.depth + 1, u.path || l.parent_id
            FROM up u
            JOIN {_LINK} l ON l.partner_id = u.node
            WHERE {_link_valid("l")} AND l.parent_id IS NOT NULL
              AND NOT l.parent_id = ANY(u.path) AND u.depth < %(guard)s
        ),
        down(root, node, depth, path) AS (
            SELECT id, id, 0, ARRAY[id] FROM ids
            UNION ALL
            SELECT d.root, l.partner_id, d.depth + 1, d.path || l.partner_id
            FROM down d
            JOIN {_LINK} l ON l.parent_id = d.node
            WHERE {_link_valid("l")} AND NOT l.partner_id = ANY(d.path) AND d.depth < %(guard)s
        )
        SELECT i.id, pc.code, lv.level, dn.size
        FROM ids i
        JOIN (SELECT root, max(depth) + 1 AS level FROM up GROUP BY root) lv ON lv.root = i.id
        JOIN (SELECT root, count(*) - 1 AS size FROM down GROUP BY root) dn ON dn.root = i.id
        LEFT JOIN (
            SELECT up.root, p.code FROM up JOIN {_PARTNER} p ON p.id = up.node WHERE up.depth = 1
        ) pc ON pc.root = i.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": ids, "at": _at(at), "guard": TREE_DEPTH_GUARD})
        rows = cursor.fetchall()
    return {pid: TreeStats(parent_code=code, level=level, downline_size=size) for pid, code, level, size in rows}


def partner_parent_at(*, partner: Partner, at: datetime | None = None) -> Partner | None:
    """``partner``'s parent at ``at`` (None at the top of the tree or before the partner joined)."""
    at = _at(at)
    link = (
        PartnerLink.objects.select_related("parent")
        .filter(partner=partner, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .first()
    )
    return link.parent if link else None


def account_partner_at(*, server: str, login: int, at: datetime | None = None) -> Partner | None:
    """The IB account ``server``/``login`` is attributed to at ``at`` (None = no IB or unknown account)."""
    at = _at(at)
    row = (
        AccountAttribution.objects.select_related("partner")
        .filter(account__server=server, account__login=login, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .first()
    )
    return row.partner if row else None


def partner_latest_link(*, partner: Partner) -> PartnerLink | None:
    """The partner's link with the latest start (the one in force from then on)."""
    return PartnerLink.objects.filter(partner=partner).order_by("-valid_from").first()


def account_latest_attribution(*, account: ClientAccount) -> AccountAttribution | None:
    """The account's attribution with the latest start (the one in force from then on)."""
    return AccountAttribution.objects.filter(account=account).order_by("-valid_from").first()


def account_attribution_history(*, account: ClientAccount) -> QuerySet[AccountAttribution]:
    """Every attribution stretch of ``account``, oldest first, with the partner loaded."""
    return AccountAttribution.objects.filter(account=account).select_related("partner").order_by("valid_from")


def partner_link_history(*, partner: Partner) -> QuerySet[PartnerLink]:
    """Every parent stretch of ``partner``, oldest first, with the parent loaded."""
    return PartnerLink.objects.filter(partner=partner).select_related("parent").order_by("valid_from")


# --- whole periods ------------------------------------------------------------------------------------------------


def chains_frame(*, account_ids: Iterable[int] | None = None, start: datetime, end: datetime) -> pd.DataFrame:
    """Every account's IB chain over ``[start, end)`` as constant stretches, in one set-based query.

    Columns: ``account_id`` (int64), ``valid_from``, ``valid_to`` (``datetime64[us, UTC]``, clipped to
    ``[start, end)``), ``level`` (int64, 1 = the account's IB), ``partner_id`` (int64). Within a stretch the whole
    chain (every level) is constant, and consecutive stretches of one account differ (they are merged when equal),
    so a trade closed at ``t`` joins exactly the rows with ``valid_from <= t < valid_to``. Times with no IB have no
    rows.

    How: the recursion walks up from each attribution, intersecting its time range with each link's, so each row
    is "this prefix of the chain holds over this range". The ranges' end points cut each account's timeline into
    elementary stretches; in each one exactly one row per level is in force, giving the chain as an array; equal
    neighbouring arrays are merged (gaps and islands) and the arrays unnested back into levels.
    """
    if end <= start:
        return _empty_chains_frame()
    ids = None if account_ids is None else sorted({int(i) for i in account_ids})
    if ids is not None and not ids:
        return _empty_chains_frame()
    account_filter = "" if ids is None else "AND a.account_id = ANY(%(ids)s::bigint[])"
    sql = f"""
        WITH RECURSIVE
        chain(account_id, level, partner_id, vf, vt, path) AS (
            SELECT a.account_id, 1, a.partner_id,
                   greatest(a.valid_from, %(start)s), least(coalesce(a.valid_to, 'infinity'), %(end)s),
                   ARRAY[a.partner_id]
            FROM {_ATTRIBUTION} a
            WHERE a.partner_id IS NOT NULL AND a.valid_from < %(end)s
              AND (a.valid_to IS NULL OR a.valid_to > %(start)s) {account_filter}
            UNION ALL
            SELECT c.account_id, c.level + 1, l.parent_id,
                   greatest(c.vf, l.valid_from), least(c.vt, coalesce(l.valid_to, 'infinity')),
                   c.path || l.parent_id
            FROM chain c
            JOIN {_LINK} l ON l.partner_id = c.partner_id
            WHERE l.parent_id IS NOT NULL AND l.valid_from < c.vt AND (l.valid_to IS NULL OR l.valid_to > c.vf)
              AND NOT l.parent_id = ANY(c.path) AND c.level < %(guard)s
        ),
        cuts AS (
            SELECT account_id, vf AS t FROM chain UNION SELECT account_id, vt FROM chain
        ),
        pieces AS (
            SELECT account_id, t AS vf, lead(t) OVER (PARTITION BY account_id ORDER BY t) AS vt FROM cuts
        ),
        piece_chains AS (
            SELECT p.account_id, p.vf, p.vt, array_agg(c.partner_id ORDER BY c.level) AS partners
            FROM pieces p
            JOIN chain c ON c.account_id = p.account_id AND c.vf <= p.vf AND c.vt >= p.vt
            WHERE p.vt IS NOT NULL
            GROUP BY p.account_id, p.vf, p.vt
        ),
        marked AS (
            SELECT *, CASE
                WHEN lag(vt) OVER w = vf AND lag(partners) OVER w = partners THEN 0 ELSE 1
            END AS starts_island
            FROM piece_chains
            WINDOW w AS (PARTITION BY account_id ORDER BY vf)
        ),
        islands AS (
            SELECT *, sum(starts_island) OVER (PARTITION BY account_id ORDER BY vf) AS island FROM marked
        ),
        merged AS (
            SELECT account_id, min(vf) AS vf, max(vt) AS vt, min(partners) AS partners
            FROM islands GROUP BY account_id, island
        )
        SELECT m.account_id, {_epoch_us("m.vf")}, {_epoch_us("m.vt")}, u.level, u.partner_id
        FROM merged m CROSS JOIN LATERAL unnest(m.partners) WITH ORDINALITY AS u(partner_id, level)
        ORDER BY m.account_id, m.vf, u.level
    """
    params: dict[str, Any] = {"start": start, "end": end, "ids": ids, "guard": TREE_DEPTH_GUARD}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return _empty_chains_frame()
    frame = pd.DataFrame(rows, columns=CHAINS_FRAME_COLUMNS)
    return _typed_chains_frame(frame)


def _epoch_us(column: str) -> str:
    # Instants leave PostgreSQL as integer microseconds: building a datetime object per row in Python costs more
    # than the query, while pandas converts an integer column in one vectorised step. NUMERIC keeps it exact.
    return f"(extract(epoch FROM {column}) * 1000000)::bigint"


def _empty_chains_frame() -> pd.DataFrame:
    return _typed_chains_frame(pd.DataFrame({c: [] for c in CHAINS_FRAME_COLUMNS}))


def _typed_chains_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {"account_id": "int64", "valid_from": "int64", "valid_to": "int64", "level": "int64", "partner_id": "int64"}
    ).assign(
        valid_from=lambda f: pd.to_datetime(f["valid_from"], unit="us", utc=True),
        valid_to=lambda f: pd.to_datetime(f["valid_to"], unit="us", utc=True),
    )


# --- lists for the API -------------------------------------------------------------------------------------------


def _filtered(filterset_class: type[django_filters.FilterSet], filters: Mapping[str, Any] | None, qs: QuerySet):
    """Apply a FilterSet; invalid filter values are a ValidationError with field errors, not an empty list."""
    filterset = filterset_class(filters or {}, qs)
    if not filterset.is_valid():
        raise ValidationError({field: list(errors) for field, errors in filterset.errors.items()})
    return filterset.qs


def _current(prefix: str, at: datetime) -> Q:
    return Q(**{f"{prefix}valid_from__lte": at}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gt": at})
    )


class PartnerFilter(django_filters.FilterSet):
    """Partner list filters: status, program code, current parent code, and ``q`` (code or name contains)."""

    status = django_filters.ChoiceFilter(choices=Partner.Status.choices)
    program = django_filters.CharFilter(field_name="program__code")
    parent = django_filters.CharFilter(method="filter_parent")
    q = django_filters.CharFilter(method="filter_q", label="Code or name contains")

    class Meta:
        model = Partner
        fields = ["status", "program", "parent", "q"]

    def filter_parent(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        links = PartnerLink.objects.filter(_current("", timezone.now()), partner=OuterRef("pk"), parent__code=value)
        return queryset.filter(Exists(links))

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value))


def program_list() -> QuerySet[Program]:
    """Programs with ``terms_from``: when the terms they show (their latest) took effect."""
    return Program.objects.annotate(terms_from=Max("terms__valid_from")).order_by("code")


def program_get(*, code: str) -> Program | None:
    return Program.objects.filter(code=code).first()


def partner_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Partner]:
    """Partners with their program loaded, filtered by ``PartnerFilter`` fields."""
    qs = Partner.objects.select_related("program").order_by("code")
    return _filtered(PartnerFilter, filters, qs)


def partner_get(*, code: str) -> Partner | None:
    return Partner.objects.select_related("program").filter(code=code).first()


class AccountFilter(django_filters.FilterSet):
    """Account list filters: server, login, group, and the partner (code) the account is attributed to now."""

    server = ServerFilter()
    login = login_filter()  # 1001.7 is a 400, not login 1001
    group = django_filters.CharFilter()
    partner = django_filters.CharFilter(field_name="current_partner_code")

    class Meta:
        model = ClientAccount
        fields = ["server", "login", "group", "partner"]


def account_list(*, filters: Mapping[str, Any] | None = None, at: datetime | None = None) -> QuerySet[ClientAccount]:
    """Accounts annotated with ``current_partner_code`` (the IB at ``at``, default now), filtered."""
    at = _at(at)
    current = AccountAttribution.objects.filter(_current("", at), account=OuterRef("pk")).values("partner__code")[:1]
    qs = ClientAccount.objects.annotate(current_partner_code=Subquery(current)).order_by("server", "login")
    return _filtered(AccountFilter, filters, qs)


def account_get(*, server: str, login: int) -> ClientAccount | None:
    return account_list().filter(server=server, login=login).first()
