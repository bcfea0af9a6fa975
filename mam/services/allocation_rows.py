"""Set-based writes of a master trade's per-member rows: allocations on open, sub-closes and the allocations' open
lots on close. One statement each over arrays (``unnest``), instead of the ORM's per-row ``bulk_create`` /
``bulk_update`` (whose ``CASE WHEN id = … THEN …`` over 1,000 rows cost a third of a close).

Units: values go in as given (``Decimal`` lots, weights, targets and profits, exact; ``int`` tickets), passed as
typed PostgreSQL arrays, so the columns' own scales round them exactly as the ORM's writes would (the PostgreSQL
backend hands a ``Decimal`` to the driver unchanged). Rows are inserted in the given order (``WITH ORDINALITY``),
so their ids follow it as ``bulk_create``'s did.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import connection

from ..models import Allocation, SubClose
from ..selectors import select_list

_ALLOCATIONS = Allocation._meta.db_table
_SUB_CLOSES = SubClose._meta.db_table

_INSERT_ALLOCATIONS = f"""
INSERT INTO {_ALLOCATIONS} (master_trade_id, member_id, weight, target, lots, lots_open, reason)
SELECT %(master)s, v.member_id, v.weight, v.target, v.lots, v.lots, v.reason
  FROM unnest(%(member_id)s::bigint[], %(weight)s::numeric[], %(target)s::numeric[], %(lots)s::numeric[],
              %(reason)s::text[]) WITH ORDINALITY AS v(member_id, weight, target, lots, reason, n)
 ORDER BY v.n
"""


def allocations_insert(
    *, master_trade_id: int, rows: Sequence[tuple[int, Decimal | None, Decimal, Decimal, str]]
) -> None:
    """Insert one allocation per ``(member_id, weight, target, lots, reason)``, ``lots_open`` = ``lots``."""
    if not rows:
        return
    member_id, weight, target, lots, reason = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ALLOCATIONS,
            {
                "master": master_trade_id,
                "member_id": member_id,
                "weight": weight,
                "target": target,
                "lots": lots,
                "reason": reason,
            },
        )


_INSERT_SUB_CLOSES = f"""
INSERT INTO {_SUB_CLOSES} (master_close_id, allocation_id, lots, ticket, profit, reason)
SELECT %(close)s, v.allocation_id, v.lots, v.ticket, v.profit, v.reason
  FROM unnest(%(allocation_id)s::bigint[], %(lots)s::numeric[], %(ticket)s::bigint[], %(profit)s::numeric[],
              %(reason)s::text[]) WITH ORDINALITY AS v(allocation_id, lots, ticket, profit, reason, n)
 ORDER BY v.n
RETURNING {select_list(((SubClose, None),), (_SUB_CLOSES,))}
"""


def sub_closes_insert(
    *, master_close_id: int, rows: Sequence[tuple[int, Decimal, int | None, Decimal | None, str]]
) -> list[tuple]:
    """Insert one sub-close per ``(allocation_id, lots, ticket, profit, reason)``; return the rows stored, every
    column as read back (``selectors.select_list`` order, for ``selectors.model_instances``)."""
    if not rows:
        return []
    allocation_id, lots, ticket, profit, reason = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SUB_CLOSES,
            {
                "close": master_close_id,
                "allocation_id": allocation_id,
                "lots": lots,
                "ticket": ticket,
                "profit": profit,
                "reason": reason,
            },
        )
        return cursor.fetchall()


_UPDATE_LOTS_OPEN = f"""
UPDATE {_ALLOCATIONS} al SET lots_open = v.lots_open
  FROM unnest(%(id)s::bigint[], %(lots_open)s::numeric[]) AS v(id, lots_open)
 WHERE al.id = v.id
RETURNING al.id, al.lots_open
"""


def allocations_lots_open_update(*, rows: Sequence[tuple[int, Decimal]]) -> dict[int, Decimal]:
    """Set ``lots_open`` of each allocation ``(id, lots_open)``, in one statement; return them as stored."""
    if not rows:
        return {}
    ids, lots_open = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_LOTS_OPEN, {"id": ids, "lots_open": lots_open})
        return dict(cursor.fetchall())
