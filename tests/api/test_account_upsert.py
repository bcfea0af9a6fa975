"""``POST /accounts/`` is an upsert that changes only what a row gives: an omitted field keeps the account's value
(omitting ``partner`` keeps its IB), an explicit ``null`` partner ends the attribution."""

from __future__ import annotations

import pytest

from tests.commissions.runs_support import post_ok

pytestmark = pytest.mark.django_db

URL = "/api/v1/accounts/"


def detail(client, login: int) -> dict:
    body = client.get(f"{URL}live1/{login}/").json()
    return {k: body[k] for k in ("currency", "group", "earns_commission", "partner")}


def test_an_upsert_row_changes_only_the_fields_it_gives(seeded, staff_client):
    full = {"server": "live1", "login": 3001, "currency": "EUR", "group": "vip", "partner": "sub"}
    assert post_ok(staff_client, URL, [{**full, "earns_commission": False}])["created"] == 1
    kept = {"currency": "EUR", "group": "vip", "earns_commission": False, "partner": "sub"}

    assert post_ok(staff_client, URL, [{"server": "live1", "login": 3001}]) == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
    }
    assert detail(staff_client, 3001) == kept

    assert post_ok(staff_client, URL, [{"server": "live1", "login": 3001, "group": "std"}])["updated"] == 1
    assert detail(staff_client, 3001) == {**kept, "group": "std"}

    post_ok(staff_client, URL, [{"server": "live1", "login": 3001, "earns_commission": True, "currency": "USD"}])
    assert detail(staff_client, 3001) == {**kept, "group": "std", "earns_commission": True, "currency": "USD"}

    # A dated row naming only the IB changes only the IB.
    post_ok(
        staff_client,
        URL,
        [{"server": "live1", "login": 3001, "partner": "sub2", "effective_from": "2026-06-01T00:00:00Z"}],
    )
    assert detail(staff_client, 3001)["group"] == "std"

    # An explicit null ends the attribution.
    assert post_ok(staff_client, URL, [{"server": "live1", "login": 3001, "partner": None}])["updated"] == 1
    assert detail(staff_client, 3001) == {"currency": "USD", "group": "std", "earns_commission": True, "partner": None}


def test_a_new_account_takes_the_defaults_for_what_its_row_omits(seeded, staff_client):
    post_ok(staff_client, URL, [{"server": "live1", "login": 3002}])
    assert detail(staff_client, 3002) == {"currency": "USD", "group": "", "earns_commission": True, "partner": None}
