"""End to end through the API: programs, plans, partners, accounts, trades → run → approve → statement."""

from decimal import Decimal

import pytest

from commissions.models import AttributionLine
from ledger.models import JournalEntry
from runs.models import Run

from .runs_support import PAST, post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)


def _run_and_approve(client, period="2026-03"):
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": period})
    detail = client.get(f"/api/v1/runs/{run['id']}/").json()
    assert detail["status"] == "computed", detail
    assert detail["chunks_done"] == detail["chunks_total"]
    approved = post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})
    assert approved["status"] == "approved"
    return detail


@pytest.mark.parametrize("effective_from", [None, PAST], ids=["set-up-undated", "set-up-dated"])
def test_differential_worked_example_end_to_end(staff_client, effective_from):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5", effective_from=effective_from)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    detail = _run_and_approve(staff_client)
    assert Decimal(detail["totals"]["volume"]) == Decimal(7)

    sub = staff_client.get("/api/v1/partners/sub/statement/?period=2026-03").json()
    master = staff_client.get("/api/v1/partners/master/statement/?period=2026-03").json()
    assert Decimal(sub["totals"]["volume"]) == Decimal(5)
    assert Decimal(master["totals"]["volume"]) == Decimal(2)
    assert Decimal(sub["closing_balance"]) == Decimal(sub["opening_balance"]) + Decimal(sub["earned"])

    lines = staff_client.get("/api/v1/lines/?partner=master").json()["results"]
    assert [(line["level"], line["kind"], Decimal(line["amount"])) for line in lines] == [(2, "volume", Decimal(2))]


def test_cascade_and_override_worked_examples(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, model="cascade", sub_rate="10", master_rate="0", shares=["30"])
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    _run_and_approve(staff_client)
    sub = staff_client.get("/api/v1/partners/sub/statement/?period=2026-03").json()
    master = staff_client.get("/api/v1/partners/master/statement/?period=2026-03").json()
    assert (Decimal(sub["earned"]), Decimal(master["earned"])) == (Decimal(7), Decimal(3))


def test_override_pays_on_top(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, model="override", sub_rate="10", master_rate="99", override_pct=["20"])
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    _run_and_approve(staff_client)
    sub = staff_client.get("/api/v1/partners/sub/statement/?period=2026-03").json()
    master = staff_client.get("/api/v1/partners/master/statement/?period=2026-03").json()
    assert Decimal(sub["totals"]["volume"]) == Decimal(10)
    assert Decimal(master["totals"]["override"]) == Decimal(2)


def test_rounding_goes_once_to_the_rounding_account(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="0", sub_rate="0.333333")
    # Three trades of 1 lot at 0.333333: lines 0.333333 each, sum 0.999999, posted once as 1.00.
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2), trade(3)])
    _run_and_approve(staff_client)
    sub = staff_client.get("/api/v1/partners/sub/statement/?period=2026-03").json()
    assert Decimal(sub["earned"]) == Decimal("1.00")
    rounding = JournalEntry.objects.filter(account__purpose="rounding").values_list("amount", flat=True)
    assert list(rounding) == [Decimal("0.000001")]


def test_run_requests_are_idempotent_and_approval_locks(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    first = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    again = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    assert first["id"] == again["id"]
    lines_before = set(AttributionLine.objects.values_list("trade_id", "partner_id", "kind", "level", "amount"))
    listed_before = staff_client.get("/api/v1/lines/").json()["count"]
    recomputed = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03", "recompute": True})
    assert recomputed["id"] != first["id"]
    assert Run.objects.get(pk=first["id"]).status == "superseded"
    # The superseded run's lines are no longer current: the lines of record show the period once.
    assert staff_client.get("/api/v1/lines/").json()["count"] == listed_before
    assert {line["run"] for line in staff_client.get("/api/v1/lines/").json()["results"]} == {recomputed["id"]}
    assert staff_client.get(f"/api/v1/lines/?run={first['id']}").json()["count"] == listed_before
    lines_after = set(
        AttributionLine.objects.filter(run_id=recomputed["id"]).values_list(
            "trade_id", "partner_id", "kind", "level", "amount"
        )
    )
    assert lines_after == lines_before  # recomputation is identical
    post_ok(staff_client, f"/api/v1/runs/{recomputed['id']}/approve/", {})
    response = staff_client.post(
        "/api/v1/runs/", {"kind": "commissions", "period": "2026-03", "recompute": True}, format="json"
    )
    assert response.status_code == 409
    # Approving twice posts nothing more.
    count = JournalEntry.objects.count()
    post_ok(staff_client, f"/api/v1/runs/{recomputed['id']}/approve/", {})
    assert JournalEntry.objects.count() == count


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/runs/", {"kind": "commissions", "period": "2026-13"}),
        ("/api/v1/runs/", {"kind": "bogus", "period": "2026-03"}),
        ("/api/v1/runs/", {"kind": "fees", "period": "2026-03", "scope": "no-such-group"}),  # a fee scope is a group
        ("/api/v1/plans/", {"code": "x", "name": "x", "rules": [{"type": "per_lot"}]}),
        ("/api/v1/plans/", {"code": "x", "name": "x", "rules": [{"type": "per_lot", "rate": 1.5}]}),
        ("/api/v1/plans/", {"code": "x", "name": "x", "tiers": [{"from_lots": "10", "multiplier": "1.2"}]}),
        ("/api/v1/rebates/", {"partner": "nobody", "pct": "10"}),
        ("/api/v1/partners/", {"code": "p", "name": "P", "program": "nope", "plan": "nope"}),
    ],
)
def test_bad_input_is_400_with_field_errors(staff_client, path, body):
    response = staff_client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert isinstance(response.json(), dict) and response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/runs/"),
        ("get", "/api/v1/runs/1/"),
        ("post", "/api/v1/runs/1/approve/"),
        ("get", "/api/v1/lines/"),
        ("post", "/api/v1/plans/"),
        ("get", "/api/v1/plans/"),
        ("post", "/api/v1/rebates/"),
        ("get", "/api/v1/partners/x/statement/?period=2026-03"),
    ],
)
def test_non_staff_tokens_are_forbidden(plain_client, method, path):
    assert getattr(plain_client, method)(path, {}, format="json").status_code == 403


def test_rebate_to_all_clients_posts_one_funding_transaction_per_partner(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(
        staff_client,
        "/api/v1/accounts/",
        [
            {
                "server": "live1",
                "login": 1002,
                "currency": "USD",
                "group": "standard",
                "partner": "sub",
                "earns_commission": True,
            }
        ],
    )
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "sub", "pct": "10"})  # undated: since always
    post_ok(staff_client, "/api/v1/trades/", [trade(1, login=1001), trade(2, login=1002)])
    _run_and_approve(staff_client)
    sub = staff_client.get("/api/v1/partners/sub/statement/?period=2026-03").json()
    # The sub earns 5 per lot on each client and funds a 10 % rebate (0.50) to each.
    assert Decimal(sub["totals"]["volume"]) == Decimal(10)
    assert Decimal(sub["totals"]["rebate_funding"]) == Decimal("-1.00")
    client_payables = JournalEntry.objects.filter(account__purpose="client_payable").values_list("amount", flat=True)
    assert sorted(client_payables) == [Decimal("-0.50"), Decimal("-0.50")]


def test_the_open_period_may_be_computed_but_not_approved_and_a_future_one_not_run(staff_client):
    """The current period (in the broker's server time zone) is still receiving trades: a run of it is an estimate,
    approving it (which locks the period) is a 409 naming when it ends — in the service, so the API, the admin
    action and the commands all refuse it; a period that has not started is no run at all."""
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.utils import timezone

    from core.exceptions import Conflict
    from core.periods import period_of
    from runs.services.approve import run_approve

    setup_reference(staff_client)
    current = period_of(timezone.now())
    run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": current.label})
    assert staff_client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "computed"
    response = staff_client.post(f"/api/v1/runs/{run['id']}/approve/", {}, format="json")
    assert response.status_code == 409, response.content
    assert "has not ended" in response.json()["detail"] and response.json()["period"] == current.label
    with pytest.raises(Conflict, match="has not ended"):
        run_approve(run_id=run["id"])
    with pytest.raises(CommandError, match="has not ended"):
        call_command("run_commissions", "--period", current.label, "--approve")
    assert Run.objects.get(pk=run["id"]).status == Run.Status.COMPUTED and not JournalEntry.objects.exists()

    following = period_of(current.end)
    for label in (following.label, "2999-12"):
        response = staff_client.post("/api/v1/runs/", {"kind": "commissions", "period": label}, format="json")
        assert response.status_code == 400 and "has not started" in response.json()["period"][0], response.content
    assert Run.objects.count() == 1
