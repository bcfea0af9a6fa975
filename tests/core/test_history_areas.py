"""A back-dated change is refused only by the kinds of run that read it (``core.history.Area``): an approved fee
month holds back fee terms and IBs, not plans, rebates or rates; an approved commission month holds back plans,
rates and IBs, not a MAM group's fee terms. Through the API, as a broker would hit it."""

from __future__ import annotations

import pytest

from ledger.services.locks import period_lock
from tests.commissions.runs_support import post_ok
from tests.mam.support import GROUP, group_body, setup_mam

pytestmark = pytest.mark.django_db

MARCH_15 = "2026-03-15T00:00:00Z"


def _plan(rate: str) -> dict:
    return {
        "code": "plan-sub",
        "name": "plan-sub",
        "rules": [{"type": "per_lot", "rate": rate}],
        "effective_from": MARCH_15,
    }


def _fee_terms(rate: str) -> dict:
    return group_body(fees={"management_rate": rate, "performance_rate": "0.25", "effective_from": MARCH_15})


def _rate(value: str) -> list:
    return [{"currency": "EUR", "day": "2026-03-15", "usd_rate": value}]


def test_an_approved_fee_month_refuses_fee_terms_and_ibs_but_not_plans_or_rates(staff_client):
    setup_mam(staff_client)
    period_lock(kind="fees", period="2026-03", scope="", source_key="run:test")
    assert staff_client.post("/api/v1/plans/", _plan("6"), format="json").status_code in (200, 201)
    assert staff_client.post("/api/v1/rates/", _rate("1.0876"), format="json").status_code == 200

    refused = staff_client.post("/api/v1/mam/groups/", _fee_terms("0.03"), format="json")
    assert refused.status_code == 409, refused.content
    assert refused.json()["kind"] == "fees" and refused.json()["period"] == "2026-03"
    moved = staff_client.post(
        "/api/v1/accounts/live1/1001/attribute/", {"partner": "ib2", "effective_from": MARCH_15}, format="json"
    )
    assert moved.status_code == 409 and moved.json()["kind"] == "fees"


def test_an_approved_commission_month_refuses_plans_and_rates_but_not_fee_terms(staff_client):
    setup_mam(staff_client)
    period_lock(kind="commissions", period="2026-03", scope="", source_key="run:test")
    assert staff_client.post("/api/v1/mam/groups/", _fee_terms("0.03"), format="json").status_code in (200, 201)
    for path, body in (("/api/v1/plans/", _plan("6")), ("/api/v1/rates/", _rate("1.0876"))):
        refused = staff_client.post(path, body, format="json")
        assert refused.status_code == 409, (path, refused.content)
        assert "commissions" in refused.json()["detail"]
    terms = post_ok(staff_client, "/api/v1/mam/groups/", _fee_terms("0.03"))
    assert terms["code"] == GROUP
