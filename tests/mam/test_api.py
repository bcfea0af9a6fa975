"""MAM through the API end to end: groups, members, equity and flows; open → allocations with their reasons;
partial and full closes → sub-account trades; re-sent open, close and flows change nothing; bad input is a 400 with
field errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commissions.models import Trade
from mam.models import Allocation, CashFlow, EquitySnapshot, GroupFeeTerms, MasterClose, MasterTrade, SubClose
from tests.commissions.runs_support import post_ok

from .support import GROUP, close_body, group_body, open_body, setup_group, setup_mam, setup_partners

pytestmark = pytest.mark.django_db


def _by_login(rows: list[dict]) -> dict[int, dict]:
    return {row["login"]: row for row in rows}


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (MasterTrade, Allocation, MasterClose, SubClose, Trade, CashFlow))


def test_an_open_allocates_by_equity_and_records_why_accounts_got_nothing(staff_client):
    setup_partners(staff_client)
    setup_group(staff_client)
    response = staff_client.post("/api/v1/mam/master-trades/", open_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    rows = _by_login(body["allocations"])
    # DOMAIN.md 5.1's example: equity 10 000 / 7 000 / 3 000, V = 1.00 → 0.50 / 0.35 / 0.15.
    assert {login: rows[login]["lots"] for login in (1001, 2002, 2003)} == {
        1001: "0.5000",
        2002: "0.3500",
        2003: "0.1500",
    }
    assert (rows[2004]["lots"], rows[2004]["reason"]) == ("0.0000", "inactive")
    assert (rows[2005]["lots"], rows[2005]["reason"]) == ("0.0000", "equity_stop")
    assert body["unallocated_lots"] == "0.0000" and body["allocated_lots"] == "1.0000"
    assert body["lots_open"] == "1.0000" and body["status"] == "open"


def test_a_resent_open_changes_nothing_and_another_open_with_the_ticket_is_409(staff_client):
    setup_mam(staff_client)
    before = _counts()
    first = staff_client.get(f"/api/v1/mam/groups/{GROUP}/allocations/").json()
    again = staff_client.post("/api/v1/mam/master-trades/", open_body(), format="json")
    assert again.status_code == 200, again.content
    assert _by_login(again.json()["allocations"])[1001]["lots"] == "0.5000"
    assert _counts() == before
    other = staff_client.post("/api/v1/mam/master-trades/", open_body(lots="2.00"), format="json")
    assert other.status_code == 409 and "detail" in other.json()
    assert _counts() == before
    assert staff_client.get(f"/api/v1/mam/groups/{GROUP}/allocations/").json() == first


def test_partial_closes_until_flat_become_sub_account_trades(staff_client):
    setup_mam(staff_client)
    url = f"/api/v1/mam/master-trades/{GROUP}/500/close/"
    partial = staff_client.post(url, close_body(lots="0.40", time="2026-03-10T11:00:00Z"), format="json")
    assert partial.status_code == 200, partial.content
    body = partial.json()
    assert (body["seq"], body["lots_open"], body["status"]) == (1, "0.6000", "open")
    closes = _by_login(body["closes"])
    # round_half_up(s_i × 0.4 / 1.0) to the step: 0.20, 0.14, 0.06.
    assert {login: closes[login]["lots"] for login in closes} == {1001: "0.2000", 2002: "0.1400", 2003: "0.0600"}
    trade = Trade.objects.get(server="live1", login=1001, is_current=True)
    assert trade.ticket == closes[1001]["ticket"] and trade.master_ticket == 500
    assert (trade.lots, trade.open_price, trade.close_price) == (Decimal("0.2"), Decimal("1.08"), Decimal("1.081"))
    # P&L = side × (close − open) × lots × contract: 0.001 × 0.2 × 100 000 = 20.00 USD.
    assert trade.profit == Decimal("20") and closes[1001]["profit"] == "20.000000"

    resent = staff_client.post(url, close_body(lots="0.40", time="2026-03-10T11:00:00Z"), format="json")
    assert resent.status_code == 200 and resent.json() == body
    assert MasterClose.objects.count() == 1 and Trade.objects.count() == 3

    too_much = staff_client.post(url, close_body(lots="0.70"), format="json")
    assert too_much.status_code == 400 and "lots" in too_much.json()

    final = staff_client.post(url, close_body(lots="0.60"), format="json")
    assert final.status_code == 200, final.content
    assert (final.json()["status"], final.json()["lots_open"]) == ("closed", "0.0000")
    assert {login: c["lots"] for login, c in _by_login(final.json()["closes"]).items()} == {
        1001: "0.3000",
        2002: "0.2100",
        2003: "0.0900",
    }
    tickets = set(SubClose.objects.exclude(ticket=None).values_list("ticket", flat=True))
    assert len(tickets) == 6 and all(10**18 > t >= 9 * 10**17 for t in tickets)
    report = staff_client.get(f"/api/v1/mam/groups/{GROUP}/allocations/", {"ticket": 500}).json()["results"]
    by_login = _by_login(report)
    assert by_login[1001] | {"profit": None} == {
        "ticket": 500,
        "symbol": "EURUSD",
        "side": "buy",
        "open_time": "2026-03-10T10:00:00Z",
        "server": "live1",
        "login": 1001,
        "target": "0.50000000",
        "lots_opened": "0.5000",
        "lots_closed": "0.5000",
        "lots_open": "0.0000",
        "profit": None,
        "reason": "",
    }
    assert Decimal(by_login[1001]["profit"]) == Decimal(50)
    assert by_login[2005]["reason"] == "equity_stop" and by_login[2005]["lots_opened"] == "0.0000"


def test_a_deactivated_member_still_follows_closes(staff_client):
    setup_mam(staff_client)
    post_ok(staff_client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": 2002, "active": False})
    body = post_ok(staff_client, f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body())
    assert _by_login(body["closes"])[2002]["lots"] == "0.3500"
    second = post_ok(staff_client, "/api/v1/mam/master-trades/", open_body(ticket=501))
    assert _by_login(second["allocations"])[2002]["reason"] == "inactive"


def test_a_missing_rate_for_the_pnl_is_409_naming_it_and_writes_nothing(staff_client):
    setup_partners(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 3001, "currency": "GBP"}])
    post_ok(staff_client, "/api/v1/mam/groups/", group_body(currency="GBP"))
    post_ok(staff_client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": 3001})
    row = {"server": "live1", "login": 3001, "day": "2026-03-01", "balance": "1", "equity": "1000", "free_margin": "1"}
    post_ok(staff_client, "/api/v1/mam/equity/", [row])
    post_ok(staff_client, "/api/v1/mam/master-trades/", open_body())
    before = _counts()
    response = staff_client.post(f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body(), format="json")
    assert response.status_code == 409, response.content
    assert response.json()["missing_rates"] == [{"currency": "GBP", "day": "2026-03-10"}]
    assert _counts() == before
    post_ok(staff_client, "/api/v1/rates/", [{"currency": "GBP", "day": "2026-03-10", "usd_rate": "1.25"}])
    body = post_ok(staff_client, f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body())
    # 0.001 × 1 lot × 100 000 = 100 USD = 80 GBP at 1.25.
    assert _by_login(body["closes"])[3001]["profit"] == "80.000000"


def test_bad_input_is_400_with_field_errors(staff_client):
    setup_mam(staff_client)
    before = _counts()
    unknown = staff_client.post("/api/v1/mam/master-trades/", open_body(group="nope"), format="json")
    assert unknown.status_code == 400 and "group" in unknown.json()
    symbol = staff_client.post("/api/v1/mam/master-trades/", open_body(ticket=9, symbol="NOPE"), format="json")
    assert symbol.status_code == 400 and "symbol" in symbol.json()
    side = staff_client.post("/api/v1/mam/master-trades/", open_body(ticket=9, side="long"), format="json")
    assert side.status_code == 400 and "side" in side.json()
    method = staff_client.post("/api/v1/mam/groups/", group_body(method="random"), format="json")
    assert method.status_code == 400 and "method" in method.json()
    fees = staff_client.post("/api/v1/mam/groups/", group_body(fees={"hwm_mode": "sideways"}), format="json")
    assert fees.status_code == 400 and "hwm_mode" in fees.json()["fees"]
    negative = [
        {"server": "live1", "login": 1001, "day": "2026-03-02", "balance": "1", "equity": "-1", "free_margin": "1"}
    ]
    response = staff_client.post("/api/v1/mam/equity/", negative, format="json")
    assert response.status_code == 400 and response.json()["rows"][0]["errors"].keys() == {"equity"}
    missing_group = staff_client.post(
        "/api/v1/mam/groups/nope/members/", {"server": "live1", "login": 1}, format="json"
    )
    assert missing_group.status_code == 404
    close = staff_client.post(f"/api/v1/mam/master-trades/{GROUP}/999/close/", close_body(), format="json")
    assert close.status_code == 404
    assert _counts() == before


def test_cash_flows_are_idempotent_by_id_and_never_edited(staff_client):
    setup_mam(staff_client)
    flows = [
        {"id": "dep-1", "server": "live1", "login": 1001, "time": "2026-03-05T09:00:00Z", "amount": "500.00"},
        {"id": "wd-1", "server": "live1", "login": 1001, "time": "2026-03-06T09:00:00Z", "amount": "-200"},
    ]
    assert post_ok(staff_client, "/api/v1/mam/cash-flows/", flows) == {"created": 2, "unchanged": 0}
    assert post_ok(staff_client, "/api/v1/mam/cash-flows/", flows) == {"created": 0, "unchanged": 2}
    changed = staff_client.post("/api/v1/mam/cash-flows/", [{**flows[0], "amount": "600"}], format="json")
    assert changed.status_code == 409 and changed.json()["rows"][0]["errors"].keys() == {"amount"}
    zero = staff_client.post("/api/v1/mam/cash-flows/", [{**flows[0], "id": "z", "amount": "0"}], format="json")
    assert zero.status_code == 400 and zero.json()["rows"][0]["errors"].keys() == {"amount"}
    # An id is one line of plain text (a key and an export cell): a line break, a comma or an end blank is refused.
    for bad_id in ("dep\n2", "dep,2", " dep-2", "dep-2\t", ""):
        refused = staff_client.post("/api/v1/mam/cash-flows/", [{**flows[0], "id": bad_id}], format="json")
        assert refused.status_code == 400 and refused.json()["rows"][0]["errors"].keys() == {"id"}, bad_id
    assert CashFlow.objects.count() == 2
    listed = staff_client.get("/api/v1/mam/cash-flows/").json()["results"]
    assert [(f["id"], f["amount"]) for f in listed] == [("dep-1", "500.000000"), ("wd-1", "-200.000000")]
    by_id = staff_client.get("/api/v1/mam/cash-flows/", {"id": "wd-1", "server": "live1", "login": 1001}).json()
    assert [f["id"] for f in by_id["results"]] == ["wd-1"]
    assert staff_client.get("/api/v1/mam/cash-flows/", {"login": 2002}).json()["count"] == 0


def test_equity_upserts_and_members_join_on_their_first_snapshot(staff_client):
    setup_mam(staff_client)
    row = {"server": "live1", "login": 1001, "day": "2026-03-01", "balance": "10000", "equity": "10000"}
    assert post_ok(staff_client, "/api/v1/mam/equity/", [{**row, "free_margin": "10000"}]) == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
    }
    assert post_ok(staff_client, "/api/v1/mam/equity/", [{**row, "free_margin": "9000"}])["updated"] == 1
    mine = staff_client.get("/api/v1/mam/equity/", {"login": 1001, "day_from": "2026-03-01", "day_to": "2026-03-01"})
    assert [(r["login"], r["day"]) for r in mine.json()["results"]] == [(1001, "2026-03-01")]
    assert EquitySnapshot.objects.get(account__login=1001).free_margin == Decimal(9000)
    members = _by_login(staff_client.get(f"/api/v1/mam/groups/{GROUP}/members/").json()["results"])
    assert members[1001]["joined"] == "2026-03-01" and members[2004]["active"] is False


def test_an_account_is_in_one_group_at_a_time(staff_client):
    setup_mam(staff_client)
    post_ok(staff_client, "/api/v1/mam/groups/", group_body(code="beta", master_login=9001))
    busy = staff_client.post("/api/v1/mam/groups/beta/members/", {"server": "live1", "login": 1001}, format="json")
    assert busy.status_code == 409 and busy.json()["group"] == GROUP
    post_ok(
        staff_client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": 1001, "left": "2026-03-20"}
    )
    early = staff_client.post(
        "/api/v1/mam/groups/beta/members/", {"server": "live1", "login": 1001, "joined": "2026-03-19"}, format="json"
    )
    assert early.status_code == 409
    joined = post_ok(
        staff_client, "/api/v1/mam/groups/beta/members/", {"server": "live1", "login": 1001, "joined": "2026-03-20"}
    )
    assert joined["joined"] == "2026-03-20"
    # After leaving (2026-03-20), alpha's opens no longer include it: it is not a member on that day.
    late = post_ok(staff_client, "/api/v1/mam/master-trades/", open_body(ticket=502, open_time="2026-03-21T10:00:00Z"))
    assert 1001 not in _by_login(late["allocations"])


def test_fee_terms_are_dated_one_row_per_change(staff_client):
    setup_mam(staff_client)
    group = staff_client.get("/api/v1/mam/groups/").json()["results"][0]
    assert group["fees"]["performance_rate"] == "0.25000000" and group["fees"]["effective_from"].startswith("1900")
    post_ok(
        staff_client,
        "/api/v1/mam/groups/",
        group_body(fees={"performance_rate": "0.2", "effective_from": "2026-04-01T00:00:00Z"}),
    )
    history = staff_client.get("/api/v1/mam/groups/").json()["results"][0]["fee_history"]
    assert [(t["performance_rate"], t["management_rate"]) for t in history] == [
        ("0.20000000", "0.02000000"),
        ("0.25000000", "0.02000000"),
    ]
    post_ok(staff_client, "/api/v1/mam/groups/", group_body(fees={"performance_rate": "0.2"}))
    assert GroupFeeTerms.objects.count() == 2  # the terms in force: nothing changes


def test_a_group_with_master_trades_keeps_its_master(staff_client):
    setup_mam(staff_client)
    response = staff_client.post("/api/v1/mam/groups/", group_body(master_login=9100), format="json")
    assert response.status_code == 409


def test_partial_closes_repeated_until_flat_close_every_sub_position_exactly(staff_client):
    setup_mam(staff_client)
    url = f"/api/v1/mam/master-trades/{GROUP}/500/close/"
    closed: dict[int, Decimal] = {}
    for minute in range(10):
        body = post_ok(staff_client, url, close_body(lots="0.10", time=f"2026-03-10T11:{minute:02d}:00Z"))
        for row in body["closes"]:
            closed[row["login"]] = closed.get(row["login"], Decimal(0)) + Decimal(row["lots"])
    assert body["status"] == "closed" and body["lots_open"] == "0.0000"
    assert closed == {1001: Decimal("0.5"), 2002: Decimal("0.35"), 2003: Decimal("0.15")}
    assert not Allocation.objects.filter(lots_open__gt=0).exists()
    trades = Trade.objects.filter(master_ticket=500)
    for login, lots in closed.items():
        assert sum(t.lots for t in trades.filter(login=login)) == lots


def test_an_account_below_the_minimum_lot_is_left_out_with_the_reason(staff_client):
    setup_partners(staff_client)
    setup_group(staff_client)
    small = {
        "server": "live1",
        "login": 2003,
        "day": "2026-03-02",
        "balance": "50",
        "equity": "50",
        "free_margin": "50",
    }
    post_ok(staff_client, "/api/v1/mam/equity/", [small])
    body = post_ok(staff_client, "/api/v1/mam/master-trades/", open_body(lots="0.10"))
    rows = _by_login(body["allocations"])
    assert (rows[2003]["lots"], rows[2003]["reason"]) == ("0.0000", "below_minimum")
    assert sum(Decimal(r["lots"]) for r in rows.values()) == Decimal("0.10")


def test_a_member_upsert_changes_only_what_it_is_given_and_a_repeated_leave_changes_nothing(staff_client):
    setup_partners(staff_client)
    setup_group(staff_client)
    url = f"/api/v1/mam/groups/{GROUP}/members/"
    limits = {"max_lots": "2.0000", "equity_stop": "100.000000", "max_drawdown_pct": "30.0000"}
    post_ok(staff_client, url, {"server": "live1", "login": 2002, "risk_factor": "2", "active": False, **limits})
    # A CRM re-sending one setting neither re-activates the stopped investor nor drops its limits.
    changed = post_ok(staff_client, url, {"server": "live1", "login": 2002, "max_lots": "3"})
    assert changed["active"] is False and changed["risk_factor"] == "2.000000"
    assert (changed["max_lots"], changed["equity_stop"], changed["max_drawdown_pct"]) == (
        "3.0000",
        "100.000000",
        "30.0000",
    )
    # null clears a limit; the others stay.
    cleared = post_ok(staff_client, url, {"server": "live1", "login": 2002, "equity_stop": None})
    assert cleared["equity_stop"] is None and cleared["max_lots"] == "3.0000" and cleared["active"] is False
    # Leaving, then the bridge's retry of the same leave: the second answers the ended membership, changes nothing.
    left = post_ok(staff_client, url, {"server": "live1", "login": 2002, "left": "2026-03-20"})
    again = staff_client.post(url, {"server": "live1", "login": 2002, "left": "2026-03-20"}, format="json")
    assert again.status_code == 200, again.content
    assert again.json() == left


def test_a_group_upsert_changes_only_what_it_is_given(staff_client):
    setup_partners(staff_client)
    body = group_body(method="risk", residual_policy="largest_remainder", below_min="bump")
    post_ok(staff_client, "/api/v1/mam/groups/", body)
    post_ok(staff_client, "/api/v1/mam/master-trades/", open_body())  # traded: its currency is fixed now
    renamed = {key: body[key] for key in ("code", "manager", "master_server", "master_login")} | {"name": "Renamed"}
    group = post_ok(staff_client, "/api/v1/mam/groups/", renamed)
    assert (group["name"], group["method"], group["residual_policy"], group["below_min"], group["currency"]) == (
        "Renamed",
        "risk",
        "largest_remainder",
        "bump",
        "USD",
    )
    assert group["fees"]["performance_rate"] == "0.25000000"


def test_a_close_price_whose_pnl_no_trade_can_hold_is_a_field_error_writing_nothing(staff_client):
    """A close price the field accepts can still give a sub-account a P&L beyond a trade's ``profit`` column: that is
    a 400 on ``close_price`` naming the account, before anything is written (never a range error of the database)."""
    setup_mam(staff_client)
    before = _counts()
    url = f"/api/v1/mam/master-trades/{GROUP}/500/close/"
    response = staff_client.post(url, close_body(price="99999999999999.9999999999"), format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["close_price"] and "live1:1001" in response.json()["close_price"][0]
    assert _counts() == before and MasterTrade.objects.get(ticket=500).lots_open == Decimal(1)
    assert staff_client.post(url, close_body(price="1000000000"), format="json").status_code == 200
