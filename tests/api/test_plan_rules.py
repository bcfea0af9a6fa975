"""A plan rule's natural key — (type, symbol or symbol group, account group, priority) within its plan, by which a
line names it — is unique, so the README's natural-key claim holds; errors about a rule name its index and field,
as the API's one field-errors shape nests them, in the serializer and in the service alike."""

from __future__ import annotations

import pytest

from commissions.models import Plan, PlanRule
from commissions.services.plans import plan_upsert
from core.exceptions import FieldErrors

pytestmark = pytest.mark.django_db

PLAN = {"code": "dup", "name": "Dup"}


def _post(client, rules):
    return client.post("/api/v1/plans/", {**PLAN, "rules": rules}, format="json")


@pytest.mark.parametrize(
    "first, second",
    [
        ({"type": "per_lot", "rate": "7"}, {"type": "per_lot", "rate": "5"}),
        ({"type": "per_lot", "rate": "7", "priority": 100}, {"type": "per_lot", "rate": "5", "symbol_group": ""}),
        (
            {"type": "spread_share", "pct": "10", "symbol_group": "fx", "account_group": "vip", "priority": 5},
            {"type": "spread_share", "pct": "20", "symbol_group": "fx", "account_group": "vip", "priority": 5},
        ),
    ],
)
def test_two_rules_with_one_key_are_refused_naming_the_later_rule(first, second, staff_client):
    response = _post(staff_client, [first, {"type": "per_million", "rate": "1"}, second])
    assert response.status_code == 400, response.content
    errors = response.json()["rules"]
    assert list(errors) == ["2"] and "rule 0" in errors["2"]["non_field_errors"][0], errors
    assert not Plan.objects.filter(code="dup").exists()


def test_rules_that_differ_in_any_part_of_their_key_are_kept(staff_client):
    rules = [
        {"type": "per_lot", "rate": "7"},
        {"type": "per_lot", "rate": "7", "priority": 10},
        {"type": "per_lot", "rate": "7", "account_group": "vip"},
        {"type": "per_lot", "rate": "7", "symbol_group": "fx"},
        {"type": "per_million", "rate": "7"},
    ]
    response = _post(staff_client, rules)
    assert response.status_code == 201, response.content
    assert PlanRule.objects.filter(plan__code="dup", active=True).count() == 5


def test_the_service_refuses_them_too_with_the_index(db):
    """Every door (the admin, the demo seed, a command) goes through ``plan_upsert``: it checks the key itself."""
    rules = [{"type": "per_lot", "rate": "7"}, {"type": "per_lot", "rate": "5", "priority": None}]
    with pytest.raises(FieldErrors) as caught:
        plan_upsert(code="dup", name="Dup", rules=rules)
    errors = caught.value.errors["rules"]
    assert list(errors) == [1] and "rule 0" in errors[1]["non_field_errors"][0], errors
    # Readable where only Django's ValidationError is understood (the admin shows ``messages``).
    assert caught.value.messages[0].startswith("1: non_field_errors: Same type")
    assert not Plan.objects.filter(code="dup").exists()


def test_an_unknown_symbol_names_the_rule_s_index_and_field(seeded, staff_client):
    response = _post(
        staff_client, [{"type": "per_lot", "rate": "7"}, {"type": "per_lot", "symbol": "NOPE", "rate": "1"}]
    )
    assert response.status_code == 400
    assert response.json() == {"rules": {"1": {"symbol": ["Unknown instrument."]}}}


def test_nested_field_errors_keep_their_shape_at_the_edge():
    from core.api.errors import exception_handler

    response = exception_handler(FieldErrors({"rules": {3: {"symbol": ["Unknown instrument."]}}}), {})
    assert response.status_code == 400 and response.data == {"rules": {3: {"symbol": ["Unknown instrument."]}}}


def test_a_plan_upsert_keeps_what_it_is_not_given(staff_client):
    """Re-sending a plan's code and name is a rename: its rules, tiers, currency and settings stay, and no new terms
    are dated (a rename must not set every later trade's commission to 0, or read its rates in USD)."""
    from tests.commissions.runs_support import setup_reference

    setup_reference(staff_client)
    body = {
        "code": "eur",
        "name": "EUR plan",
        "currency": "EUR",
        "both_legs": True,
        "min_hold_seconds": 60,
        "min_points": "1.5",
        "tier_mode": "marginal",
        "tiers": [{"from_lots": "0", "multiplier": "1"}, {"from_lots": "100", "multiplier": "1.2"}],
        "rules": [
            {"type": "per_lot", "rate": "5"},
            {"type": "per_lot", "symbol": "EURUSD", "rate": "7", "priority": 1},
        ],
    }
    created = staff_client.post("/api/v1/plans/", body, format="json")
    assert created.status_code == 201, created.content
    renamed = staff_client.post("/api/v1/plans/", {"code": "eur", "name": "Euro plan"}, format="json")
    assert renamed.status_code == 200, renamed.content
    shown = {k: v for k, v in renamed.json().items() if k not in ("name", "id")}
    assert shown == {k: v for k, v in created.json().items() if k not in ("name", "id")}
    assert renamed.json()["name"] == "Euro plan" and Plan.objects.get(code="eur").terms.count() == 1
    cleared = staff_client.post(
        "/api/v1/plans/", {"code": "eur", "name": "Euro plan", "min_points": None}, format="json"
    )
    assert cleared.json()["min_points"] is None and cleared.json()["rules"] == created.json()["rules"]
    fresh = staff_client.post("/api/v1/plans/", {"code": "new", "name": "New"}, format="json").json()
    assert (fresh["currency"], fresh["both_legs"], fresh["tier_mode"], fresh["rules"]) == (
        "USD",
        False,
        "retroactive",
        [],
    )
