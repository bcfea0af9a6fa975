"""Fixtures of the API contract tests: a small broker seeded through the API, and clients for each kind of caller."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade
from tests.mam.fee_support import seed_fees
from tests.mam.support import seed_mam

from .seed import seed_partner_tokens, seed_payouts


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
    return {
        "run": run["id"],
        "trade_import": first["import_id"],
        **fees,
        **seed_payouts(staff_client),
        **seed_partner_tokens(),
    }


@pytest.fixture
def partner_client(seeded, staff_client):
    """A partner's own token (issued by staff), on staff routes."""
    token = post_ok(staff_client, "/api/v1/partners/sub/tokens/", None)["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def master_client(seeded, staff_client):
    """The master IB's own token: a partner with a downline (``sub`` and ``sub2``)."""
    token = post_ok(staff_client, "/api/v1/partners/master/tokens/", None)["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
