"""MAM services below the API: memberships over time, the drawdown stop and the joining day, sub-account tickets,
concurrent opens and closes of one ticket, and the database's own guards."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from commissions.models import Trade
from mam.models import Allocation, MamGroup, MasterClose, MasterTrade, Member
from mam.services.master_trades import master_trade_close, master_trade_open, sub_trade_ticket
from mam.services.members import member_upsert
from partners.models import ClientAccount
from tests.commissions.runs_support import post_ok

from .support import GROUP, setup_mam

OPEN = datetime(2026, 3, 10, 10, tzinfo=UTC)


def _open(group: MamGroup, ticket: int, lots: str = "1.00", at: datetime = OPEN):
    return master_trade_open(
        group=group,
        ticket=ticket,
        symbol="EURUSD",
        side="buy",
        lots=Decimal(lots),
        open_time=at,
        open_price=Decimal("1.08"),
    )


@pytest.mark.django_db
def test_the_drawdown_stop_reads_the_peak_since_joining(staff_client):
    setup_mam(staff_client)
    post_ok(
        staff_client,
        f"/api/v1/mam/groups/{GROUP}/members/",
        {"server": "live1", "login": 2002, "max_drawdown_pct": "20"},
    )
    row = {"server": "live1", "login": 2002, "balance": "1", "free_margin": "1"}
    post_ok(
        staff_client,
        "/api/v1/mam/equity/",
        [{**row, "day": "2026-03-05", "equity": "10000"}, {**row, "day": "2026-03-08", "equity": "7900"}],
    )
    result = _open(MamGroup.objects.get(code=GROUP), 600)
    reasons = {a.member.account.login: (a.lots, a.reason) for a in result.allocations}
    assert reasons[2002] == (Decimal(0), "drawdown_stop")  # 21 % below its peak of 10 000
    assert sum(a.lots for a in result.allocations) == Decimal(1)


@pytest.mark.django_db
def test_a_member_joins_on_its_first_snapshot_and_not_before(staff_client):
    setup_mam(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 4001}])
    post_ok(staff_client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": 4001})
    row = {"server": "live1", "login": 4001, "balance": "9000", "equity": "9000", "free_margin": "9000"}
    post_ok(staff_client, "/api/v1/mam/equity/", [{**row, "day": "2026-03-12"}])
    group = MamGroup.objects.get(code=GROUP)
    before = {a.member.account.login: a.reason for a in _open(group, 601).allocations}
    assert before[4001] == "not_member"  # opened on 2026-03-10, before its first snapshot
    after = {
        a.member.account.login: a.lots for a in _open(group, 602, at=datetime(2026, 3, 12, 9, tzinfo=UTC)).allocations
    }
    assert after[4001] > 0


@pytest.mark.django_db
def test_a_member_that_left_can_join_again_as_a_new_membership(staff_client):
    setup_mam(staff_client)
    group = MamGroup.objects.get(code=GROUP)
    account = ClientAccount.objects.get(server="live1", login=2003)
    member_upsert(group=group, account=account, left=date(2026, 3, 15))
    again, created = member_upsert(group=group, account=account, joined=date(2026, 3, 20))
    assert created and again.since == date(2026, 3, 15)
    assert Member.objects.filter(account=account).count() == 2


@pytest.mark.django_db
def test_the_database_keeps_an_account_in_one_group_at_a_time(staff_client):
    setup_mam(staff_client)
    post_ok(
        staff_client,
        "/api/v1/mam/groups/",
        {"code": "beta", "manager": "mgr", "master_server": "live1", "master_login": 9001},
    )
    member = Member.objects.get(account__login=1001)
    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(group=MamGroup.objects.get(code="beta"), account=member.account)
    allocation = Allocation.objects.filter(lots__gt=0).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(pk=allocation.pk).update(lots_open=allocation.lots + 1)  # closed ≤ opened


def test_sub_trade_tickets_are_deterministic_18_digit_and_distinct():
    first = sub_trade_ticket(group_code="alpha", master_ticket=500, login=1001, seq=1)
    assert first == sub_trade_ticket(group_code="alpha", master_ticket=500, login=1001, seq=1)
    assert 9 * 10**17 <= first < 10**18
    others = {
        sub_trade_ticket(group_code=g, master_ticket=t, login=login, seq=s)
        for g in ("alpha", "beta")
        for t in (500, 501)
        for login in (1001, 1002)
        for s in (1, 2)
    }
    assert len(others) == 16


@pytest.mark.django_db
def test_a_ticket_already_taken_on_the_server_is_probed_past(staff_client):
    setup_mam(staff_client)
    taken = sub_trade_ticket(group_code=GROUP, master_ticket=500, login=1001, seq=1)
    trade = {
        "server": "live1",
        "ticket": taken,
        "login": 7777,
        "symbol": "EURUSD",
        "side": "buy",
        "lots": "1",
        "open_time": "2026-03-01T00:00:00Z",
        "open_price": "1",
        "close_time": "2026-03-01T01:00:00Z",
        "close_price": "1",
        "profit": "0",
        "swap": "0",
        "commission": "0",
    }
    post_ok(staff_client, "/api/v1/trades/", [trade])
    group = MamGroup.objects.get(code=GROUP)
    result = master_trade_close(
        group=group,
        ticket=500,
        lots=Decimal(1),
        close_time=datetime(2026, 3, 10, 12, tzinfo=UTC),
        close_price=Decimal("1.081"),
    )
    mine = next(c for c in result.sub_closes if c.allocation.member.account.login == 1001)
    assert mine.ticket == sub_trade_ticket(group_code=GROUP, master_ticket=500, login=1001, seq=1, probe=1)
    assert Trade.objects.get(server="live1", ticket=taken).login == 7777  # the platform's trade is untouched


@pytest.mark.django_db(transaction=True)
def test_concurrent_opens_and_closes_of_one_ticket_act_once(staff_client):
    setup_mam(staff_client)
    group = MamGroup.objects.get(code=GROUP)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(action):
        try:
            barrier.wait()
            action()
        except BaseException as exc:  # collected and reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    opens = [threading.Thread(target=run, args=(lambda: _open(group, 700),)) for _ in range(4)]
    for thread in opens:
        thread.start()
    for thread in opens:
        thread.join()
    assert errors == [] and MasterTrade.objects.filter(ticket=700).count() == 1

    def close():
        master_trade_close(
            group=group,
            ticket=700,
            lots=Decimal("0.5"),
            close_time=datetime(2026, 3, 10, 12, tzinfo=UTC),
            close_price=Decimal("1.081"),
        )

    closes = [threading.Thread(target=run, args=(close,)) for _ in range(4)]
    for thread in closes:
        thread.start()
    for thread in closes:
        thread.join()
    assert errors == []
    assert MasterClose.objects.filter(master_trade__ticket=700).count() == 1
    assert MasterTrade.objects.get(ticket=700).lots_open == Decimal("0.5")
    assert Trade.objects.filter(master_ticket=700).count() == 3


@pytest.mark.django_db
def test_weights_compare_in_the_group_currency(staff_client):
    """2 500 EUR at 1.08 is 2 700 USD: the same weight as a USD account holding 2 700 (unconverted, 2 500 against
    2 700 would give 0.04 / 0.06)."""
    setup_mam(staff_client)
    post_ok(
        staff_client,
        "/api/v1/accounts/",
        [{"server": "live1", "login": 5001, "currency": "EUR"}, {"server": "live1", "login": 5002}],
    )
    post_ok(
        staff_client,
        "/api/v1/mam/groups/",
        {"code": "fx", "manager": "mgr", "master_server": "live1", "master_login": 9002},
    )
    for login, equity in ((5001, "2500"), (5002, "2700")):
        post_ok(staff_client, "/api/v1/mam/groups/fx/members/", {"server": "live1", "login": login})
        row = {"server": "live1", "login": login, "day": "2026-03-02", "balance": equity, "free_margin": equity}
        post_ok(staff_client, "/api/v1/mam/equity/", [{**row, "equity": equity}])
    result = _open(MamGroup.objects.get(code="fx"), 800, lots="0.10")
    assert {a.member.account.login: a.lots for a in result.allocations} == {
        5001: Decimal("0.05"),
        5002: Decimal("0.05"),
    }
