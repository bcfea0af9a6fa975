"""DOMAIN.md 4.0 through the API, as a new broker meets it: set-up without dates pays last month; back-dated
corrections are allowed until the period is approved, then refused with a 409 naming the period."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from commissions.models import AttributionLine, PartnerPlan, Rebate
from core.periods import SINCE_ALWAYS, Period, period_of, server_period
from partners.models import AccountAttribution, PartnerLink

from .runs_support import post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def last_month() -> Period:
    return months_ago(1)


def months_ago(n: int) -> Period:
    """The server-time month ``n`` months before the current one (an ended period, so it may be approved)."""
    this = period_of(timezone.now())
    index = this.year * 12 + this.month - 1 - n
    return server_period(f"{index // 12}-{index % 12 + 1:02d}")


def instant(period: Period, day: int, hour: int = 12) -> str:
    return f"{period.first_day.replace(day=day).isoformat()}T{hour:02d}:00:00Z"


def setup_reference_for(client, *periods: Period) -> None:
    days: list[str] = []
    for period in periods:
        day = period.first_day
        while day < period.next_first_day:
            days.append(day.isoformat())
            day += timedelta(days=1)
    setup_reference(client, days)


def month_trade(ticket: int, period: Period, day: int = 10, **kwargs) -> dict:
    return {**trade(ticket, close=instant(period, day), **kwargs), "open_time": instant(period, day, 10)}


def run(client, period: Period, *, recompute: bool = False) -> dict:
    body = {"kind": "commissions", "period": period.label, "recompute": recompute}
    created = post_ok(client, "/api/v1/runs/", body)
    detail = client.get(f"/api/v1/runs/{created['id']}/").json()
    assert detail["status"] == "computed", detail
    return detail


def approve(client, run_id: int) -> None:
    assert post_ok(client, f"/api/v1/runs/{run_id}/approve/", {})["status"] == "approved"


def earned(client, code: str, period: Period) -> Decimal:
    return Decimal(client.get(f"/api/v1/partners/{code}/statement/?period={period.label}").json()["earned"])


def test_set_up_without_dates_then_last_month_is_paid_as_the_plans_say(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")  # no effective_from anywhere, as API.md shows it
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month), month_trade(2, month, day=20, lots="2.00")])
    detail = run(staff_client, month)
    assert not AttributionLine.objects.filter(run_id=detail["id"], reason="no_ib").exists()
    approve(staff_client, detail["id"])
    # Differential: the sub earns 5/lot on 3 lots, the master the difference up to its 7/lot.
    assert (earned(staff_client, "sub", month), earned(staff_client, "master", month)) == (Decimal(15), Decimal(6))
    # First assignments hold since always; the API shows where they start.
    assert PartnerLink.objects.get(partner__code="sub").valid_from == SINCE_ALWAYS
    assert PartnerPlan.objects.get(partner__code="sub").valid_from == SINCE_ALWAYS
    assert AccountAttribution.objects.get(account__login=1001).valid_from == SINCE_ALWAYS


def test_back_dated_plan_change_before_approval_reprices_the_recompute(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    run(staff_client, month)
    # The broker notices before approving: the sub should have been on the master's plan since the 5th.
    response = staff_client.patch(
        "/api/v1/partners/sub/", {"plan": "plan-master", "effective_from": instant(month, 5, 0)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["plan"] == "plan-master"
    detail = run(staff_client, month, recompute=True)
    approve(staff_client, detail["id"])
    assert (earned(staff_client, "sub", month), earned(staff_client, "master", month)) == (Decimal(7), Decimal(0))


def test_same_plan_with_an_earlier_date_back_dates_it(staff_client):
    month = last_month()
    setup_chain(staff_client)
    later, earlier = instant(month, 20, 0), instant(month, 3, 0)
    for when in (later, earlier):
        response = staff_client.patch(
            "/api/v1/partners/sub/", {"plan": "plan-master", "effective_from": when}, format="json"
        )
        assert response.status_code == 200, response.content
    history = [(p.plan.code, p.valid_from.isoformat()) for p in PartnerPlan.objects.filter(partner__code="sub")]
    assert history == [("plan-sub", SINCE_ALWAYS.isoformat()), ("plan-master", earlier.replace("Z", "+00:00"))]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/v1/partners/sub/", {"plan": "plan-master"}),
        ("patch", "/api/v1/partners/sub/", {"parent": None}),
        ("post", "/api/v1/partners/sub/move/", {"parent": None}),
        ("post", "/api/v1/accounts/live1/1001/attribute/", {"partner": "master"}),
        ("post", "/api/v1/rebates/", {"partner": "sub", "pct": "20"}),
    ],
    ids=["plan", "parent-by-patch", "move", "attribute", "rebate"],
)
def test_a_change_reaching_into_an_approved_period_is_a_409_naming_it(staff_client, method, path, body):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})  # a first rebate: since always
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    rows = lambda: (  # noqa: E731
        list(PartnerPlan.objects.values_list("partner_id", "plan_id", "valid_from", "valid_to").order_by("id")),
        list(PartnerLink.objects.values_list("partner_id", "parent_id", "valid_from", "valid_to").order_by("id")),
        list(AccountAttribution.objects.values_list("partner_id", "valid_from", "valid_to").order_by("id")),
        list(Rebate.objects.values_list("pct", "valid_from", "valid_to").order_by("id")),
    )
    before = rows()
    response = getattr(staff_client, method)(path, {**body, "effective_from": instant(month, 15)}, format="json")
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["period"] == month.label and answer["kind"] == "commissions"
    assert f"approved commissions period {month.label}" in answer["detail"]
    assert rows() == before
    # The same change from the open period on is accepted.
    this = period_of(timezone.now())
    response = getattr(staff_client, method)(path, {**body, "effective_from": this.start.isoformat()}, format="json")
    assert response.status_code in (200, 201), response.content


def approved_last_month(client) -> Period:
    """The chain set up without dates, one trade last month, last month computed and approved."""
    month = last_month()
    setup_reference_for(client, month)
    setup_chain(client)
    post_ok(client, "/api/v1/trades/", [month_trade(1, month)])
    approve(client, run(client, month)["id"])
    return month


def test_bulk_account_change_into_an_approved_period_is_a_409_naming_the_row(staff_client):
    month = approved_last_month(staff_client)
    rows = [
        {"server": "live1", "login": 2002, "partner": "sub"},
        {"server": "live1", "login": 1001, "partner": "master", "effective_from": instant(month, 15)},
    ]
    response = staff_client.post("/api/v1/accounts/", rows, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["index"] == 1 and response.json()["period"] == month.label
    assert not AccountAttribution.objects.filter(account__login=2002).exists()
    # Undated, the change takes effect now: allowed.
    del rows[1]["effective_from"]
    assert post_ok(staff_client, "/api/v1/accounts/", rows) == {"created": 1, "updated": 1, "unchanged": 0}


def test_a_rate_of_an_approved_day_cannot_be_changed_but_other_days_can(staff_client):
    month = approved_last_month(staff_client)
    day = month.first_day.replace(day=10).isoformat()
    response = staff_client.post("/api/v1/rates/", [{"currency": "EUR", "day": day, "usd_rate": "1.09"}], format="json")
    assert response.status_code == 409, response.content
    assert response.json()["period"] == month.label and f"EUR {day}" in response.json()["detail"]
    same = [{"currency": "EUR", "day": day, "usd_rate": "1.08"}]  # re-sending the rate it was paid on: nothing
    assert post_ok(staff_client, "/api/v1/rates/", same) == {"created": 0, "updated": 0, "unchanged": 1}
    missing = [{"currency": "GBP", "day": day, "usd_rate": "1.27"}]  # a missing rate may still be added
    assert post_ok(staff_client, "/api/v1/rates/", missing)["created"] == 1
    this_month = period_of(timezone.now()).first_day.isoformat()
    open_day = [{"currency": "EUR", "day": this_month, "usd_rate": "1.10"}]
    assert post_ok(staff_client, "/api/v1/rates/", open_day)["created"] == 1
    assert post_ok(staff_client, "/api/v1/rates/", [{**open_day[0], "usd_rate": "1.11"}])["updated"] == 1


def test_a_rebate_changed_mid_month_applies_to_the_trades_closed_under_each_terms(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})  # since always
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "50", "effective_from": instant(month, 15, 0)})
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month, day=10), month_trade(2, month, day=20)])
    detail = run(staff_client, month)
    rebates = AttributionLine.objects.filter(run_id=detail["id"], kind="rebate").select_related("trade")
    # The sub earns 5 on each 1-lot trade: 10 % of it before the 15th, 50 % from then on.
    assert {line.trade.ticket: line.amount for line in rebates} == {1: Decimal("0.5"), 2: Decimal("2.5")}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/partners/sub/move/", {"parent": None}),
        ("patch", "/api/v1/partners/sub/", {"plan": "plan-master"}),
        ("post", "/api/v1/accounts/live1/1001/attribute/", {"partner": "master"}),
        ("post", "/api/v1/rebates/", {"partner": "sub", "pct": "10"}),
    ],
)
@pytest.mark.parametrize("when", ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z"])
def test_dates_outside_the_years_of_periods_are_field_errors(staff_client, method, path, body, when):
    setup_chain(staff_client)
    response = getattr(staff_client, method)(path, {**body, "effective_from": when}, format="json")
    assert response.status_code == 400, response.content
    assert "effective_from" in response.json()


def test_the_guard_cuts_periods_at_the_servers_midnight(staff_client):
    """The server is at UTC+2: March ends at 2026-03-31T22:00Z. With March approved, a move from 22:00Z on is
    allowed and one from 21:59Z is refused."""
    month = server_period("2026-03")
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    late = staff_client.post(
        "/api/v1/partners/sub/move/", {"parent": None, "effective_from": "2026-03-31T21:59:00Z"}, format="json"
    )
    assert late.status_code == 409 and late.json()["period"] == "2026-03"
    ok = staff_client.post(
        "/api/v1/partners/sub/move/", {"parent": None, "effective_from": "2026-03-31T22:00:00Z"}, format="json"
    )
    assert ok.status_code == 200, ok.content


def test_ending_a_rebate_says_whether_one_was_in_force(staff_client):
    setup_chain(staff_client)
    nothing = post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub"})
    assert nothing == {"detail": "No rebate was in force then: nothing to end."}
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})
    same = staff_client.post("/api/v1/rebates/", {"partner": "sub", "pct": "10.00"}, format="json")
    assert same.status_code == 200  # the terms in force already: nothing created
    assert post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub"}) == {"detail": "Rebate ended."}


def test_a_back_dated_change_that_stops_before_an_approved_period_is_allowed(staff_client):
    """Only what a change alters is guarded: a value back-dated into an open month that holds only until a change
    already recorded in that month leaves a later approved month alone, so it is accepted."""
    month = last_month()
    earlier = server_period(f"{month.year - 1}-12" if month.month == 1 else f"{month.year}-{month.month - 1:02d}")
    setup_reference_for(staff_client, earlier, month)
    setup_chain(staff_client)
    attribute = "/api/v1/accounts/live1/1001/attribute/"
    response = staff_client.post(
        attribute, {"partner": "master", "effective_from": instant(earlier, 20, 0)}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])  # the later month is paid, the earlier one is open
    # The master from the 5th instead of the 20th: only the 5th to the 20th of the open month changes.
    response = staff_client.post(
        attribute, {"partner": "master", "effective_from": instant(earlier, 5, 0)}, format="json"
    )
    assert response.status_code in (200, 201), response.content
    history = [(a.partner.code, a.valid_from) for a in AccountAttribution.objects.order_by("valid_from")]
    assert history == [("sub", SINCE_ALWAYS), ("master", datetime_of(instant(earlier, 5, 0)))]
    # A change from the 25th holds on into the paid month: refused, naming it.
    response = staff_client.post(
        attribute, {"partner": "sub", "effective_from": instant(earlier, 25, 0)}, format="json"
    )
    assert response.status_code == 409, response.content
    assert response.json()["period"] == month.label


def datetime_of(text: str):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_first_rebate_after_approval_starts_where_the_paid_periods_end(staff_client):
    """A first rebate holds since always — but it would take from what a paid period paid the IB, so once a period
    is approved it starts where the approved periods end; dated into one it is a 409."""
    month = approved_last_month(staff_client)
    response = staff_client.post("/api/v1/rebates/", {"partner": "sub", "pct": "10"}, format="json")
    assert response.status_code == 201, response.content
    rebate = Rebate.objects.get(partner__code="sub")
    assert rebate.valid_from == month.end
    response = staff_client.post(
        "/api/v1/rebates/",
        {
            "partner": "sub",
            "account": {"server": "live1", "login": 1001},
            "pct": "5",
            "effective_from": instant(month, 3),
        },
        format="json",
    )
    assert response.status_code == 409 and response.json()["period"] == month.label


def test_a_first_parent_given_after_creation_holds_since_always(staff_client):
    """The usual CRM order: partners created first, linked afterwards — last month's upline is paid."""
    month = last_month()
    setup_reference_for(staff_client, month)
    post_ok(staff_client, "/api/v1/programs/", {"code": "prog", "name": "Program", "model": "differential"})
    for code, rate in (("plan-master", "7"), ("plan-sub", "5")):
        post_ok(
            staff_client, "/api/v1/plans/", {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}]}
        )
    for code in ("master", "sub"):
        post_ok(
            staff_client, "/api/v1/partners/", {"code": code, "name": code, "program": "prog", "plan": f"plan-{code}"}
        )
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1001, "partner": "sub"}])
    response = staff_client.patch("/api/v1/partners/sub/", {"parent": "master"}, format="json")
    assert response.status_code == 200, response.content
    assert [(link.parent.code, link.valid_from) for link in PartnerLink.objects.filter(partner__code="sub")] == [
        ("master", SINCE_ALWAYS)
    ]
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    assert (earned(staff_client, "sub", month), earned(staff_client, "master", month)) == (Decimal(5), Decimal(2))
    # A later move is a change: from now.
    response = staff_client.patch("/api/v1/partners/sub/", {"parent": None}, format="json")
    assert response.status_code == 200, response.content
    assert PartnerLink.objects.filter(partner__code="sub").count() == 2


def test_the_admin_lists_lines_of_record_unless_a_run_is_asked_for(staff_client, admin_client):
    from django.urls import reverse

    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    first = run(staff_client, month)["id"]
    second = run(staff_client, month, recompute=True)["id"]
    url = reverse("admin:commissions_attributionline_changelist")
    shown = admin_client.get(url).context["cl"].result_list
    assert {line.run_id for line in shown} == {second}
    asked = admin_client.get(url, {"run__id__exact": first}).context["cl"].result_list
    assert {line.run_id for line in asked} == {first}


def test_the_admin_opens_a_line_of_a_superseded_run(staff_client, admin_client):
    from django.urls import reverse

    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    first = run(staff_client, month)["id"]
    run(staff_client, month, recompute=True)
    line = AttributionLine.objects.filter(run_id=first).first()
    page = admin_client.get(reverse("admin:commissions_attributionline_change", args=[line.pk]))
    assert page.status_code == 200
