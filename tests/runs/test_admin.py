"""The admin for plans, assignments, rebates, runs, lines and the journal (across the commissions, runs and ledger
admins): every write goes through a service, posted money is read-only, changelists stay within a fixed query
budget, and the partner admin shows the plan history through its extension points."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from commissions.models import AttributionLine, PartnerPlan, Plan, PlanRule, Rebate
from commissions.services.plans import partner_plan_assign, plan_upsert, rebate_set
from ledger.models import JournalEntry, JournalTransaction, PeriodLock
from partners.models import ClientAccount, Partner
from runs.models import Run
from runs.services.approve import run_approve
from runs.services.requests import run_request
from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade
from tests.twofactor import verified_login

pytestmark = pytest.mark.django_db

CHANGELIST_QUERY_BUDGET = 14  # session, user, counts, the page, filter choices: fixed whatever the page size


@pytest.fixture
def broker(staff_client, django_capture_on_commit_callbacks):
    """Master → sub → account 1001 on per-lot plans (7 and 5), trades in March and April 2026; March computed."""
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    trades = [trade(t, lots="1.00") for t in range(1, 6)] + [trade(9, lots="2.00", close="2026-04-07T12:00:00Z")]
    post_ok(staff_client, "/api/v1/trades/", trades)
    return {"march": compute("2026-03", django_capture_on_commit_callbacks)}


def compute(period: str, capture, *, recompute: bool = False) -> Run:
    with capture(execute=True):
        run = run_request(kind="commissions", period=period, recompute=recompute).run
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED, run.error
    return run


def split_datetime(prefix: str, at: datetime) -> dict[str, str]:
    return {f"{prefix}_0": at.strftime("%Y-%m-%d"), f"{prefix}_1": at.strftime("%H:%M:%S")}


def change_form_data(response) -> dict[str, object]:
    """The POST data a browser would send back for an admin change form as rendered (main form and inlines)."""
    data: dict[str, object] = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.forms:
            add(form)
    return data


# --- changelists: bounded queries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "commissions_plan",
        "commissions_partnerplan",
        "commissions_rebate",
        "runs_run",
        "runs_runchunk",
        "commissions_attributionline",
        "ledger_ledgeraccount",
        "ledger_journaltransaction",
        "ledger_journalentry",
        "ledger_periodlock",
        "ledger_currency",
        "partners_partner",
    ],
)
def test_changelists_render_in_bounded_queries(
    admin_client, broker, django_capture_on_commit_callbacks, django_assert_max_num_queries, name
):
    compute("2026-04", django_capture_on_commit_callbacks)
    run_approve(run_id=broker["march"].pk)
    partner = Partner.objects.get(code="sub")
    # After March is paid a first rebate may start in April (into March it would take from what March paid).
    rebate_set(partner=partner, pct=Decimal("10"), effective_from=datetime(2026, 4, 2, tzinfo=UTC))
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) >= 1


def test_lines_changelist_queries_do_not_grow_with_rows(
    admin_client, broker, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    url = reverse("admin:commissions_attributionline_changelist")
    few = admin_client.get(url, {"period": "2026-04"})
    compute("2026-04", django_capture_on_commit_callbacks)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one_period:
        few = admin_client.get(url, {"period": "2026-04"})
    with CaptureQueriesContext(connection) as all_periods:
        many = admin_client.get(url)
    assert len(many.context["cl"].result_list) > len(few.context["cl"].result_list) > 0
    assert len(all_periods) == len(one_period)


# --- runs ---------------------------------------------------------------------------------------------------------


def test_run_changelist_shows_progress_totals_and_compute_link(admin_client, broker):
    response = admin_client.get(reverse("admin:runs_run_changelist"))
    html = response.content.decode()
    run = broker["march"]
    assert f'<progress value="{run.chunks_done}" max="{run.chunks_total}"' in html
    assert f"{run.chunks_done}/{run.chunks_total}" in html and run.chunks_total >= 1
    assert "volume 35" in html  # 5 trades × 1 lot × 7 USD, the master's rate
    assert reverse("admin:runs_run_compute") in html


def test_compute_period_form_calls_run_request(admin_client, broker, django_capture_on_commit_callbacks):
    url = reverse("admin:runs_run_compute")
    assert admin_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"kind": "commissions", "period": "2026-04"})
    run = Run.objects.get(period="2026-04")
    assert response.status_code == 302 and response["Location"] == reverse("admin:runs_run_change", args=[run.pk])
    run.refresh_from_db()
    assert run.status == Run.Status.COMPUTED and Decimal(run.totals["volume"]) == Decimal(14)

    # Asking again shows the live run instead of making a second one.
    admin_client.post(url, {"kind": "commissions", "period": "2026-04"})
    assert Run.objects.filter(period="2026-04").count() == 1


@pytest.mark.parametrize("period", ["2026-13", "march", ""])
def test_compute_period_form_rejects_bad_periods(admin_client, broker, period):
    response = admin_client.post(reverse("admin:runs_run_compute"), {"kind": "commissions", "period": period})
    assert response.status_code == 200
    assert response.context["form"].errors["period"]
    assert not Run.objects.exclude(period="2026-03").exists()


def test_recompute_action_supersedes_the_computed_run(admin_client, broker, django_capture_on_commit_callbacks):
    march = broker["march"]
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:runs_run_changelist"),
            {"action": "recompute_selected", "_selected_action": [march.pk]},
        )
    march.refresh_from_db()
    assert march.status == Run.Status.SUPERSEDED
    new = Run.objects.get(period="2026-03", status=Run.Status.COMPUTED)
    assert new.supersedes_id == march.pk and new.totals == march.totals


def test_approve_action_posts_the_journal(admin_client, broker):
    march = broker["march"]
    response = admin_client.post(
        reverse("admin:runs_run_changelist"), {"action": "approve_selected", "_selected_action": [march.pk]}
    )
    assert response.status_code == 302
    march.refresh_from_db()
    assert march.status == Run.Status.APPROVED and march.approved_by is not None
    posted = JournalEntry.objects.filter(transaction__source_key__startswith=f"run:{march.pk}:")
    assert posted.exists()
    payable = posted.filter(account__purpose="partner_payable")
    assert sum(e.amount for e in payable) == -Decimal(35)

    # Approving it again posts nothing and says so, instead of counting it as approved now.
    before = JournalEntry.objects.count()
    again = admin_client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "approve_selected", "_selected_action": [march.pk]},
        follow=True,
    )
    notes = [str(m) for m in again.context["messages"]]  # the first approval's message is shown here too
    assert notes == ["1 run(s) approved and posted to the journal.", f"Already approved, nothing posted: #{march.pk}."]
    assert JournalEntry.objects.count() == before

    # The approved period is locked: recomputing it is refused with a message, not a new run.
    admin_client.post(
        reverse("admin:runs_run_changelist"), {"action": "recompute_selected", "_selected_action": [march.pk]}
    )
    assert Run.objects.filter(period="2026-03").count() == 1


def test_approve_action_warns_about_data_that_arrived_after_the_run_read_it(admin_client, staff_client, broker):
    post_ok(staff_client, "/api/v1/trades/", [trade(6), {**trade(1), "close_price": "1.09000"}])
    response = admin_client.post(
        reverse("admin:runs_run_changelist"),
        {"action": "approve_selected", "_selected_action": [broker["march"].pk]},
        follow=True,
    )
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [
        f"Run #{broker['march'].pk}: 1 trade(s) closed in 2026-03 arrived after this run read its data: they are not "
        "in its figures; the trades they alter are adjusted in the next open period.",
        f"Run #{broker['march'].pk}: 1 correction(s) of 2026-03's trades arrived after this run read its data: they "
        "are not in its figures; the trades they alter are adjusted in the next open period.",
    ]


def test_approve_needs_the_change_run_permission(client, django_user_model, broker):
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="runs", codename__in=["view_run", "add_run"])
    )
    verified_login(client, clerk)
    url = reverse("admin:runs_run_changelist")
    page = client.get(url)
    actions = dict(page.context["action_form"].fields["action"].choices)
    assert "recompute_selected" in actions and "approve_selected" not in actions
    client.post(url, {"action": "approve_selected", "_selected_action": [broker["march"].pk]})
    assert Run.objects.get(pk=broker["march"].pk).status == Run.Status.COMPUTED
    assert not JournalTransaction.objects.exists()


def test_run_page_is_read_only_with_its_chunks(admin_client, broker):
    march = broker["march"]
    url = reverse("admin:runs_run_change", args=[march.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Run chunks" in html or "run chunks" in html.lower()
    assert len(response.context["inline_admin_formsets"][0].formset.forms) == march.chunks_total
    assert admin_client.post(url, {"status": "approved"}).status_code == 403
    assert Run.objects.get(pk=march.pk).status == Run.Status.COMPUTED
    assert admin_client.get(reverse("admin:runs_run_delete", args=[march.pk])).status_code == 403
    assert admin_client.get(reverse("admin:runs_run_add")).status_code == 403


def test_run_page_says_where_the_lines_are(admin_client, broker):
    march = broker["march"]
    url = reverse("admin:runs_run_change", args=[march.pk])
    assert f"?run__id__exact={march.pk}" in admin_client.get(url).content.decode()
    Run.objects.filter(pk=march.pk).update(status=Run.Status.RUNNING)
    html = admin_client.get(url).content.decode()
    assert "appear, all at once, when the run is computed" in html and "run__id__exact" not in html


def test_lines_filter_and_search(admin_client, broker):
    url = reverse("admin:commissions_attributionline_changelist")
    by_ticket = admin_client.get(url, {"q": "3"}).context["cl"].result_list
    assert {line.trade.ticket for line in by_ticket} == {3} and len(by_ticket) == 2  # sub L1, master L2
    master = admin_client.get(url, {"q": "master"}).context["cl"].result_list
    assert {line.partner.code for line in master} == {"master"} and len(master) == 5
    level2 = admin_client.get(url, {"level": "2", "kind__exact": "volume"}).context["cl"].result_list
    assert {(line.level, line.partner.code) for line in level2} == {(2, "master")}
    assert admin_client.get(url, {"q": "9" * 30}).status_code == 200  # too long for a ticket: no match, no error


# --- posted money and history are read-only ---------------------------------------------------------------------


def test_posted_money_is_read_only(admin_client, broker):
    run_approve(run_id=broker["march"].pk)
    tx = JournalTransaction.objects.filter(source_key__startswith=f"run:{broker['march'].pk}:").first()
    entry = tx.entries.first()
    rows = [
        ("ledger_journaltransaction", tx),
        ("ledger_journalentry", entry),
        ("ledger_ledgeraccount", entry.account),
        ("ledger_periodlock", PeriodLock.objects.get(kind="commissions", period="2026-03")),
        ("commissions_attributionline", AttributionLine.objects.first()),
        ("runs_runchunk", broker["march"].chunks.first()),
    ]
    for model, obj in rows:
        assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403, model
        change = reverse(f"admin:{model}_change", args=[obj.pk])
        assert admin_client.get(change).status_code == 200, model
        assert admin_client.post(change, {"amount": "1"}).status_code == 403, model
        assert admin_client.get(reverse(f"admin:{model}_delete", args=[obj.pk])).status_code == 403
    entry.refresh_from_db()
    assert JournalEntry.objects.get(pk=entry.pk).amount == entry.amount
    changelist = admin_client.get(reverse("admin:ledger_journaltransaction_changelist"))
    assert changelist.context["action_form"] is None  # no bulk delete (nor any other action) on posted rows


# --- plans --------------------------------------------------------------------------------------------------------


def test_plan_add_goes_through_plan_upsert(admin_client, broker):
    url = reverse("admin:commissions_plan_add")
    data = change_form_data(admin_client.get(url))
    data.update(
        {
            "code": "gold",
            "name": "Gold",
            "currency": "USD",
            "tier_mode": "retroactive",
            "tiers-TOTAL_FORMS": "2",
            "tiers-0-from_lots": "0",
            "tiers-0-multiplier": "1",
            "tiers-1-from_lots": "100",
            "tiers-1-multiplier": "1.25",
            "rules-TOTAL_FORMS": "2",
            "rules-0-type": "per_lot",
            "rules-0-symbol_group": "forex_major",
            "rules-0-rate": "6",
            "rules-0-priority": "100",
            "rules-1-type": "spread_share",
            "rules-1-pct": "30",
            "rules-1-priority": "100",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else None
    plan = Plan.objects.get(code="gold")
    assert [(t.from_lots, t.multiplier) for t in plan.tiers.all()] == [
        (Decimal(0), Decimal(1)),
        (Decimal(100), Decimal("1.25")),
    ]
    rules = {(r.type, r.symbol_group, r.rate, r.pct) for r in plan.rules.all()}
    assert rules == {("per_lot", "forex_major", Decimal(6), None), ("spread_share", "", None, Decimal(30))}


def test_editing_a_plan_retires_rules_that_lines_refer_to(admin_client, broker):
    plan = Plan.objects.get(code="plan-sub")
    used = plan.rules.get()
    assert AttributionLine.objects.filter(rule=used).exists()
    url = reverse("admin:commissions_plan_change", args=[plan.pk])
    data = change_form_data(admin_client.get(url))
    data["rules-0-rate"] = "6"  # a changed rule is a new rule; the old one keeps explaining March's lines
    response = admin_client.post(url, data)
    assert response.status_code == 302
    used.refresh_from_db()
    assert used.active is False and used.rate == Decimal(5)
    assert list(plan.rules.filter(active=True).values_list("rate", flat=True)) == [Decimal(6)]

    page = admin_client.get(url)
    retired = [f for f in page.context["inline_admin_formsets"] if "retired" in str(f.opts.verbose_name_plural)]
    assert len(retired[0].formset.forms) == 1
    # Saving the page again (retired inline included) keeps the history as it is.
    assert admin_client.post(url, change_form_data(page)).status_code == 302
    assert plan.rules.count() == 2 and plan.rules.filter(active=True).count() == 1


def test_plans_cannot_be_deleted(admin_client, broker):
    plan = Plan.objects.get(code="plan-sub")
    assert admin_client.get(reverse("admin:commissions_plan_delete", args=[plan.pk])).status_code == 403


# --- assignments and rebates --------------------------------------------------------------------------------------


def test_assign_plan_action_calls_partner_plan_assign(admin_client, broker, lock_period):
    gold = plan_upsert(code="gold", name="Gold", rules=[{"type": "per_lot", "rate": "9"}])
    sub, master = Partner.objects.get(code="sub"), Partner.objects.get(code="master")
    response = admin_client.post(
        reverse("admin:partners_partner_changelist"),
        {"action": "assign_plan_selected", "_selected_action": [sub.pk, master.pk]},
    )
    form_url = response["Location"]
    assert form_url.startswith(reverse("admin:commissions_partnerplan_assign"))
    assert admin_client.get(form_url).status_code == 200
    at = datetime(2026, 5, 1, tzinfo=UTC)
    response = admin_client.post(form_url, {"plan": "gold", **split_datetime("effective_from", at)})
    assert response.status_code == 302
    for partner in (sub, master):
        history = list(PartnerPlan.objects.filter(partner=partner).order_by("valid_from"))
        assert [h.valid_to for h in history] == [at, None] and history[-1].plan == gold

    # Once April is approved, a change reaching into it is refused on the form, naming it; nothing changes.
    lock_period("2026-04")
    response = admin_client.post(
        form_url, {"plan": "plan-sub", **split_datetime("effective_from", datetime(2026, 4, 10, tzinfo=UTC))}
    )
    assert response.status_code == 200
    assert "approved commissions period 2026-04" in str(response.context["form"].errors)
    assert PartnerPlan.objects.filter(partner=sub).count() == 2


def test_partner_page_shows_plan_history_read_only(admin_client, broker):
    sub = Partner.objects.get(code="sub")
    partner_plan_assign(
        partner=sub, plan=Plan.objects.get(code="plan-master"), effective_from=datetime(2026, 5, 1, tzinfo=UTC)
    )
    response = admin_client.get(reverse("admin:partners_partner_change", args=[sub.pk]))
    html = response.content.decode()
    assert "plan-history" in html
    assert "plan-sub" in html and "plan-master" in html and "2026-05-01 00:00" in html
    assert not any("plan" in name for name in response.context["adminform"].form.fields)  # shown, never posted
    assignment = PartnerPlan.objects.filter(partner=sub).first()
    change = reverse("admin:commissions_partnerplan_change", args=[assignment.pk])
    assert admin_client.post(change, {"valid_to": ""}).status_code == 403


def test_rebate_add_goes_through_rebate_set(admin_client, broker):
    sub = Partner.objects.get(code="sub")
    account = ClientAccount.objects.get(login=1001)
    first = rebate_set(partner=sub, account=account, pct=Decimal("10"), effective_from=datetime(2026, 2, 1, tzinfo=UTC))
    at = datetime(2026, 5, 1, tzinfo=UTC)
    response = admin_client.post(
        reverse("admin:commissions_rebate_add"),
        {"partner": sub.pk, "account": account.pk, "per_lot": "1.5", **split_datetime("valid_from", at)},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.valid_to == at  # the previous stretch was closed by the service
    new = Rebate.objects.get(partner=sub, valid_from=at)
    assert new.per_lot == Decimal("1.5") and new.pct is None and new.valid_to is None

    response = admin_client.post(
        reverse("admin:commissions_rebate_add"),
        {"partner": sub.pk, "pct": "10", "per_lot": "1", **split_datetime("valid_from", at)},
    )
    assert response.status_code == 200 and Rebate.objects.count() == 2
    assert admin_client.post(reverse("admin:commissions_rebate_change", args=[new.pk]), {}).status_code == 403


def test_rule_fields_are_listed_for_every_rule(admin_client, broker):
    response = admin_client.get(reverse("admin:commissions_plan_changelist"))
    assert [(p.code, p.active_rules) for p in response.context["cl"].result_list] == [
        ("plan-master", 1),
        ("plan-sub", 1),
    ]
    assert PlanRule.objects.count() == 2
