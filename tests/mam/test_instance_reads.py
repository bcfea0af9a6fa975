"""The services' raw reads (``mam.selectors.allocations_of`` / ``sub_closes_of``, and the sub-closes a close
rebuilds from what it stored) give the very model instances the ORM's ``select_related`` reads give: every field's
value and type (time zone included), the instance state and the related-object caches."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from mam.models import Allocation, MamGroup, SubClose
from mam.services.master_trades import master_trade_close, master_trade_open

from .support import GROUP, setup_mam

OPEN = datetime(2026, 3, 10, 10, tzinfo=UTC)


def _seen(obj) -> dict:
    values = {k: (v, type(v), getattr(v, "tzinfo", None)) for k, v in obj.__dict__.items() if k != "_state"}
    return {**values, "_state": (obj._state.db, obj._state.adding, sorted(obj._state.fields_cache))}


def _chain(obj, links: tuple[str, ...]) -> list[dict]:
    out = [_seen(obj)]
    for link in links:
        obj = getattr(obj, link)
        out.append(_seen(obj))
    return out


def _orm_allocations(master) -> list[Allocation]:
    return list(
        Allocation.objects.filter(master_trade=master)
        .select_related("member__account")
        .order_by("member__account__server", "member__account__login")
    )


def _orm_sub_closes(master_close) -> list[SubClose]:
    return list(
        SubClose.objects.filter(master_close=master_close)
        .select_related("allocation__member__account")
        .order_by("allocation__member__account__server", "allocation__member__account__login")
    )


@pytest.mark.django_db
def test_open_and_close_answer_the_orms_instances(staff_client):
    setup_mam(staff_client)
    group = MamGroup.objects.get(code=GROUP)
    values = dict(symbol="EURUSD", side="buy", lots=Decimal("3.00"), open_time=OPEN, open_price=Decimal("1.08"))
    for result in (
        master_trade_open(group=group, ticket=700, **values),
        master_trade_open(group=group, ticket=700, **values),
    ):
        expected = [_chain(a, ("member", "account")) for a in _orm_allocations(result.master_trade)]
        assert [_chain(a, ("member", "account")) for a in result.allocations] == expected
        assert len(expected) == 5
    created = []
    for lots, hour in (("1.10", 12), ("1.10", 12), ("1.90", 13)):  # a partial close, it re-sent, the rest
        result = master_trade_close(
            group=group,
            ticket=700,
            lots=Decimal(lots),
            close_time=datetime(2026, 3, 10, hour, tzinfo=UTC),
            close_price=Decimal("1.0815"),
        )
        created.append(result.created)
        links = ("allocation", "member", "account")
        expected = [_chain(s, links) for s in _orm_sub_closes(result.master_close)]
        assert [_chain(s, links) for s in result.sub_closes] == expected
        assert any(s.lots > 0 for s in result.sub_closes)
    assert created == [True, False, True]
