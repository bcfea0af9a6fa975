"""Fixtures of the API contract tests: a small broker seeded through the API, and clients for each kind of caller."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade
from tests.mam.fee_support import seed_fees
from tests.mam.support import seed_mam


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def seeded(db, staff_client, django_capture_on_commit_callbacks) -> dict:
    """Programs, plans, master with two sub-IBs, two accounts, instruments with rates, suffixes, rebates, two trade
    imports and a computed run with lines, MAM groups, members, snapshots, flows and open master trades
    (``tests.mam.support.seed_mam``) and an approved fee run (``tests.mam.fee_support.seed_fees``) — through the
    API, as a broker sets them up."""
    setup_reference(staff_client)
    setup_chain(staff_client, master_rate="7", sub_rate="5")
    post_ok(staff_client, "/api/v1/programs/", {"code": "prog-b", "name": "Program B"})
    post_ok(staff_client, "/api/v1/partners/", {"code": "sub2", "name": "Sub 2", "program": "prog", "parent": "master"})
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1002, "partner": "sub2"}])
    post_ok(staff_client, "/api/v1/symbol-suffixes/", {"suffixes": [".m", ".pro"]})
    post_ok(
        staff_client, "/api/v1/rebates/", {"partner": "sub", "account": {"server": "live1", "login": 1001}, "pct": "10"}
    )
    post_ok(staff_client, "/api/v1/rebates/", {"partner": "master", "per_lot": "0.5"})
    first = post_ok(staff_client, "/api/v1/trades/", [trade(1, lots="1.25"), trade(2, symbol="USDJPY")])
    post_ok(staff_client, "/api/v1/trades/", [trade(3, login=1002)])
    with django_capture_on_commit_callbacks(execute=True):
        run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    seed_mam(staff_client)
    fees = seed_fees(staff_client, on_commit=lambda: django_capture_on_commit_callbacks(execute=True))
    return {"run": run["id"], "trade_import": first["import_id"], **fees, **seed_payouts(staff_client)}


def seed_payouts(staff_client) -> dict:
    """Payout batches over the approved fee run's payables (the manager ``master`` and the IB ``sub``, with payout
    details): ``payout_batch`` exported (two lines to pay), ``payout_draft`` a draft made after it (holding
    nothing: the first holds every balance) — both made by another user than the test client's, who may approve."""
    from django.contrib.auth import get_user_model

    from ledger.services.payouts import payout_batch_approve, payout_batch_create, payout_batch_export

    for code in ("master", "sub"):
        body = {"payout_method": "bank", "payout_account": f"IBAN-{code}"}
        response = staff_client.patch(f"/api/v1/partners/{code}/", body, format="json")
        assert response.status_code == 200, response.content
    maker, checker = (get_user_model().objects.create_user(n, is_staff=True) for n in ("maker", "checker"))
    batch = payout_batch_create(period="2025-12", user=maker)
    payout_batch_approve(batch_id=batch.pk, user=checker)
    payout_batch_export(batch_id=batch.pk, user=checker)
    draft = payout_batch_create(period="2025-12", user=maker)
    return {"payout_batch": batch.pk, "payout_draft": draft.pk}


@pytest.fixture
def partner_client(seeded, staff_client):
    """A partner's own token (issued by staff), on staff routes."""
    token = post_ok(staff_client, "/api/v1/partners/sub/tokens/", None)["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
