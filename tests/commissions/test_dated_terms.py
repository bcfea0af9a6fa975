"""DOMAIN.md 4.0 "terms are dated too", through the API: plan content, program terms, a partner's status and an
account's group and flag take effect from a date, never change what was in force before, and every run and
adjustment prices a trade with the terms in force at its close time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from commissions.models import AttributionLine, PlanTerms
from core.periods import SINCE_ALWAYS, period_of
from partners.models import AccountTerms, Partner, PartnerProgram, PartnerStatus, ProgramTerms

from .runs_support import post_ok, setup_chain
from .test_dating_api import approve, instant, last_month, month_trade, run, setup_reference_for

pytestmark = pytest.mark.django_db(transaction=True)


def amounts(run_id: int) -> dict[tuple[int, str, str], Decimal]:
    """(ticket, beneficiary code, kind) → amount of a run's nonzero lines."""
    lines = AttributionLine.objects.filter(run_id=run_id).select_related("trade", "partner")
    return {
        (line.trade.ticket, line.partner.code if line.partner else "-", line.kind): line.amount
        for line in lines
        if line.amount
    }


def plan_body(code: str, rate: str, **extra) -> dict:
    return {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}], **extra}


def two_trades(client, month) -> None:
    """One 1-lot trade on the 10th and one on the 20th of ``month``."""
    post_ok(client, "/api/v1/trades/", [month_trade(1, month, day=10), month_trade(2, month, day=20)])


def test_plan_content_changed_mid_month_prices_each_trade_with_the_content_of_its_close_time(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    two_trades(staff_client, month)
    response = staff_client.post(
        "/api/v1/plans/", plan_body("plan-sub", "6", effective_from=instant(month, 15, 0)), format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["rules"][0]["rate"] == "6.000000"
    assert response.json()["effective_from"] == instant(month, 15, 0)
    lines = amounts(run(staff_client, month)["id"])
    # Sub: 5 before the 15th, 6 after; master: the difference up to its 7.
    assert lines == {
        (1, "sub", "volume"): Decimal(5),
        (1, "master", "volume"): Decimal(2),
        (2, "sub", "volume"): Decimal(6),
        (2, "master", "volume"): Decimal(1),
    }
    # Re-sending the content in force changes nothing.
    before = PlanTerms.objects.filter(plan__code="plan-sub").count()
    post_ok(staff_client, "/api/v1/plans/", plan_body("plan-sub", "6"))
    assert PlanTerms.objects.filter(plan__code="plan-sub").count() == before == 2


def test_an_undated_plan_change_does_not_reprice_last_month(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    two_trades(staff_client, month)
    post_ok(staff_client, "/api/v1/plans/", plan_body("plan-sub", "6"))  # from now
    terms = list(PlanTerms.objects.filter(plan__code="plan-sub").order_by("valid_from"))
    assert terms[0].valid_from == SINCE_ALWAYS and terms[1].valid_from > month.end
    lines = amounts(run(staff_client, month)["id"])
    assert lines[(1, "sub", "volume")] == lines[(2, "sub", "volume")] == Decimal(5)


def test_program_terms_changed_mid_month_apply_from_then(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    two_trades(staff_client, month)
    response = staff_client.patch(
        "/api/v1/programs/prog/", {"max_depth": 1, "effective_from": instant(month, 15, 0)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["max_depth"], response.json()["effective_from"]) == (1, instant(month, 15, 0))
    lines = amounts(run(staff_client, month)["id"])
    # From the 15th only level 1 takes part: the master earns on the first trade only.
    assert lines == {
        (1, "sub", "volume"): Decimal(5),
        (1, "master", "volume"): Decimal(2),
        (2, "sub", "volume"): Decimal(5),
    }
    assert [t.max_depth for t in ProgramTerms.objects.filter(program__code="prog").order_by("valid_from")] == [10, 1]


def test_a_partner_suspended_mid_month_earns_on_the_trades_closed_before(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    two_trades(staff_client, month)
    response = staff_client.patch(
        "/api/v1/partners/master/", {"status": "suspended", "effective_from": instant(month, 15, 0)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "suspended"
    # Active again today: that changes nothing for the trades closed while it was suspended.
    response = staff_client.patch("/api/v1/partners/master/", {"status": "active"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"
    detail = run(staff_client, month)
    assert amounts(detail["id"]) == {
        (1, "sub", "volume"): Decimal(5),
        (1, "master", "volume"): Decimal(2),
        (2, "sub", "volume"): Decimal(5),
    }
    suspended = AttributionLine.objects.get(run_id=detail["id"], trade__ticket=2, partner__code="master")
    assert suspended.reason == "suspended"
    history = [(s.status, s.valid_from) for s in PartnerStatus.objects.filter(partner__code="master")]
    assert [status for status, _ in history] == ["active", "suspended", "active"]


def test_an_account_flag_and_group_change_apply_from_their_date(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    # The sub's plan pays 9 on the "vip" group, 5 elsewhere.
    rules = [{"type": "per_lot", "rate": "5"}, {"type": "per_lot", "rate": "9", "account_group": "vip"}]
    body = {"code": "plan-sub", "name": "sub", "rules": rules, "effective_from": month.start.isoformat()}
    post_ok(staff_client, "/api/v1/plans/", body)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(n, month, day=day) for n, day in ((1, 10), (2, 17), (3, 25))])
    account = {"server": "live1", "login": 1001, "currency": "USD", "partner": "sub"}
    post_ok(staff_client, "/api/v1/accounts/", [{**account, "group": "vip", "effective_from": instant(month, 15, 0)}])
    post_ok(
        staff_client,
        "/api/v1/accounts/",
        [{**account, "group": "vip", "earns_commission": False, "effective_from": instant(month, 22, 0)}],
    )
    lines = amounts(run(staff_client, month)["id"])
    assert {ticket: amount for (ticket, code, _), amount in lines.items() if code == "sub"} == {
        1: Decimal(5),
        2: Decimal(9),
    }
    not_earning = AttributionLine.objects.filter(trade__ticket=3, reason="account_not_earning")
    assert not_earning.exists()
    history = [(t.group, t.earns_commission) for t in AccountTerms.objects.filter(account__login=1001)]
    assert history == [("standard", True), ("vip", True), ("vip", False)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/plans/", plan_body("plan-sub", "6")),
        ("patch", "/api/v1/programs/prog/", {"max_depth": 1}),
        ("patch", "/api/v1/partners/master/", {"status": "suspended"}),
        (
            "post",
            "/api/v1/accounts/",
            [{"server": "live1", "login": 1001, "partner": "sub", "group": "standard", "earns_commission": False}],
        ),
    ],
    ids=["plan-content", "program-terms", "partner-status", "account-flag"],
)
def test_terms_changed_into_an_approved_period_are_a_409_naming_it(staff_client, method, path, body):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    rows = lambda: (  # noqa: E731
        list(PlanTerms.objects.values_list("id", "valid_from", "valid_to").order_by("id")),
        list(ProgramTerms.objects.values_list("id", "max_depth", "valid_from", "valid_to").order_by("id")),
        list(PartnerStatus.objects.values_list("id", "status", "valid_from", "valid_to").order_by("id")),
        list(AccountTerms.objects.values_list("id", "earns_commission", "valid_from", "valid_to").order_by("id")),
    )
    before = rows()
    dated = (
        [{**row, "effective_from": instant(month, 15)} for row in body]
        if isinstance(body, list)
        else {**body, "effective_from": instant(month, 15)}
    )
    response = getattr(staff_client, method)(path, dated, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["period"] == month.label
    assert rows() == before
    # From the open period on it is accepted.
    this = period_of(timezone.now()).start.isoformat()
    undated = (
        [{**row, "effective_from": this} for row in body]
        if isinstance(body, list)
        else {**body, "effective_from": this}
    )
    response = getattr(staff_client, method)(path, undated, format="json")
    assert response.status_code in (200, 201), response.content
    assert rows() != before


def test_an_adjustment_prices_a_late_trade_with_the_terms_of_its_close_time(staff_client):
    month = last_month()
    this = period_of(timezone.now())
    setup_reference_for(staff_client, month, this)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    # Terms change from now on; then a trade of the approved month arrives late.
    post_ok(staff_client, "/api/v1/plans/", plan_body("plan-sub", "6"))
    post_ok(staff_client, "/api/v1/trades/", [month_trade(2, month, day=12)])
    detail = run(staff_client, this)
    adjustments = {
        (line.partner.code, line.adjusts_period): line.amount
        for line in AttributionLine.objects.filter(run_id=detail["id"], trade__ticket=2).select_related("partner")
    }
    # Priced as it would have been in its own month: the sub's plan paid 5 then.
    assert adjustments == {("sub", month.label): Decimal(5), ("master", month.label): Decimal(2)}


def test_the_admin_refuses_a_status_date_inside_an_approved_period_under_the_date(staff_client, admin_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [month_trade(1, month)])
    approve(staff_client, run(staff_client, month)["id"])
    master = Partner.objects.get(code="master")
    url = reverse("admin:partners_partner_change", args=[master.pk])
    day = month.first_day.replace(day=15).isoformat()
    form = {
        "name": "Master IB",
        "email": "",
        "program": master.program_id,
        "status": "suspended",
        "effective_from_0": day,
        "effective_from_1": "00:00:00",
        "payout_currency": "USD",
        "payout_method": "bank",
        "payout_account": "DE00 1234",
        "links-TOTAL_FORMS": "0",
        "links-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200  # the form again, with the refusal under the date
    errors = response.context["adminform"].form.errors
    assert f"approved commissions period {month.label}" in errors["effective_from"][0]
    assert [s.status for s in PartnerStatus.objects.filter(partner=master)] == ["active"]
    # From the open period on, the same edit is saved and dated.
    this = period_of(timezone.now()).first_day.isoformat()
    response = admin_client.post(url, {**form, "effective_from_0": this})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert [s.status for s in PartnerStatus.objects.filter(partner=master).order_by("valid_from")] == [
        "active",
        "suspended",
    ]
    page = admin_client.get(url).content.decode()
    assert "status history" in page.lower() and "terms-history" in page


def test_a_partner_moved_to_another_program_keeps_its_old_program_for_earlier_trades(staff_client):
    month = last_month()
    setup_reference_for(staff_client, month)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(
        staff_client, "/api/v1/programs/", {"code": "flat", "name": "Flat", "model": "differential", "max_depth": 1}
    )
    two_trades(staff_client, month)
    response = staff_client.patch(
        "/api/v1/partners/sub/", {"program": "flat", "effective_from": instant(month, 15, 0)}, format="json"
    )
    assert response.status_code == 200 and response.json()["program"] == "flat", response.content
    lines = amounts(run(staff_client, month)["id"])
    # The sub (level 1) decides the program: before the 15th the master earns its difference, after it none.
    assert lines == {
        (1, "sub", "volume"): Decimal(5),
        (1, "master", "volume"): Decimal(2),
        (2, "sub", "volume"): Decimal(5),
    }
    # The switch is a dated record; the partner row shows the latest program.
    history = [p.program.code for p in PartnerProgram.objects.filter(partner__code="sub").order_by("valid_from")]
    assert history == ["prog", "flat"]
