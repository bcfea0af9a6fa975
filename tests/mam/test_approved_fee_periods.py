"""Cash flows and equity snapshots dated in an approved fee period of the account's group are refused (409 naming
the rows and the period), since that month's fees are paid and never recomputed; re-sent unchanged rows stay
no-ops, and other months, other groups' accounts and non-members are unaffected."""

from __future__ import annotations

import pytest

from ledger.services.locks import period_lock
from mam.models import CashFlow, EquitySnapshot
from tests.commissions.runs_support import post_ok

from .support import GROUP, setup_mam

pytestmark = pytest.mark.django_db

EQUITY = "/api/v1/mam/equity/"
FLOWS = "/api/v1/mam/cash-flows/"


def _snapshot(login: int, day: str, equity: str) -> dict:
    return {"server": "live1", "login": login, "day": day, "balance": equity, "equity": equity, "free_margin": equity}


def _rows() -> tuple:
    return (
        sorted(EquitySnapshot.objects.values_list("account__login", "day", "equity")),
        sorted(CashFlow.objects.values_list("external_id", "amount")),
    )


def test_rows_in_an_approved_fee_month_of_the_group_are_refused(staff_client):
    setup_mam(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 4001}])
    period_lock(kind="fees", period="2026-03", scope=GROUP, source_key="run:test")
    before = _rows()

    snapshots = [_snapshot(1001, "2026-04-02", "10100"), _snapshot(1001, "2026-03-15", "9900")]
    refused = staff_client.post(EQUITY, snapshots, format="json")
    assert refused.status_code == 409, refused.content
    rows = refused.json()["rows"]
    assert [row["index"] for row in rows] == [1] and "2026-03" in rows[0]["errors"]["day"][0]
    assert GROUP in rows[0]["errors"]["day"][0]
    changed = staff_client.post(EQUITY, [_snapshot(1001, "2026-03-01", "10001")], format="json")
    assert changed.status_code == 409 and changed.json()["rows"][0]["index"] == 0

    flows = [
        {"id": "dep-4", "server": "live1", "login": 1001, "time": "2026-04-10T09:00:00Z", "amount": "500"},
        {"id": "dep-3", "server": "live1", "login": 2002, "time": "2026-03-10T09:00:00Z", "amount": "500"},
    ]
    refused = staff_client.post(FLOWS, flows, format="json")
    assert refused.status_code == 409, refused.content
    rows = refused.json()["rows"]
    assert [row["index"] for row in rows] == [1] and "2026-03" in rows[0]["errors"]["time"][0]
    assert _rows() == before  # nothing written, the good rows neither

    # Unchanged re-sends, other months and accounts in no group that month still go through.
    assert post_ok(staff_client, EQUITY, [_snapshot(1001, "2026-03-01", "10000")])["unchanged"] == 1
    assert post_ok(staff_client, EQUITY, [snapshots[0], _snapshot(4001, "2026-03-15", "100")])["created"] == 2
    assert post_ok(staff_client, FLOWS, [flows[0]])["created"] == 1
    assert post_ok(staff_client, FLOWS, [flows[0]])["unchanged"] == 1


def test_a_whole_period_approval_locks_every_group_and_another_groups_lock_does_not(staff_client):
    setup_mam(staff_client)
    period_lock(kind="fees", period="2026-04", scope="other-group", source_key="run:test")
    flow = {"id": "dep-5", "server": "live1", "login": 2003, "time": "2026-05-12T09:00:00Z", "amount": "50"}
    assert post_ok(staff_client, EQUITY, [_snapshot(2003, "2026-04-20", "3100")])["created"] == 1
    period_lock(kind="fees", period="2026-05", scope="", source_key="run:test")
    refused = staff_client.post(FLOWS, [flow], format="json")
    assert refused.status_code == 409 and "2026-05" in refused.json()["rows"][0]["errors"]["time"][0]
    # A commission approval of a month does not lock its fees.
    period_lock(kind="commissions", period="2026-06", scope="", source_key="run:test")
    assert post_ok(staff_client, EQUITY, [_snapshot(2003, "2026-06-20", "3200")])["created"] == 1


MEMBERS = f"/api/v1/mam/groups/{GROUP}/members/"


def _members() -> list:
    from mam.models import Member

    return sorted(Member.objects.values_list("account__login", "joined", "since", "left", "active", "param"))


def test_joins_and_leaves_dated_into_an_approved_fee_month_are_refused(staff_client):
    """Fees count a member from joining to leaving: a change of those days inside a paid fee month is a 409 naming
    it, as a snapshot there is; days outside it, and the settings that steer allocation only, change freely."""
    setup_mam(staff_client)
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 4001}, {"server": "live1", "login": 4002}])
    post_ok(staff_client, EQUITY, [_snapshot(4002, "2026-03-05", "800")])  # 4002 is no member yet, snapshot in March
    period_lock(kind="fees", period="2026-03", scope=GROUP, source_key="run:test")
    before = _members()
    refusals = [
        {"server": "live1", "login": 1001, "left": "2026-03-20"},  # leaving inside the paid month
        {"server": "live1", "login": 1001, "left": "2026-02-20"},  # leaving before it: March loses the member
        {"server": "live1", "login": 4001, "joined": "2026-03-10"},  # joining inside it
        {"server": "live1", "login": 4002},  # joining from its first snapshot, which is in March
        {"server": "live1", "login": 2002, "joined": "2026-03-15"},  # a later joining day inside it
    ]
    for body in refusals:
        response = staff_client.post(MEMBERS, body, format="json")
        assert response.status_code == 409, (body, response.content)
        assert "2026-03" in response.json()["detail"] and GROUP in response.json()["detail"]
    assert _members() == before  # nothing written

    # After the paid month: joining, leaving and changing settings go through.
    assert staff_client.post(
        MEMBERS, {"server": "live1", "login": 4001, "joined": "2026-04-02"}, format="json"
    ).status_code in (200, 201)
    assert (
        staff_client.post(MEMBERS, {"server": "live1", "login": 1001, "left": "2026-04-20"}, format="json").status_code
        == 200
    )
    assert (
        staff_client.post(MEMBERS, {"server": "live1", "login": 2004, "active": True}, format="json").status_code == 200
    )
    # A whole-period approval locks every group; a commission approval does not lock fees.
    period_lock(kind="commissions", period="2026-05", scope="", source_key="run:test")
    assert (
        staff_client.post(MEMBERS, {"server": "live1", "login": 2002, "left": "2026-05-10"}, format="json").status_code
        == 200
    )
    period_lock(kind="fees", period="2026-05", scope="", source_key="run:test")
    moved = staff_client.post(MEMBERS, {"server": "live1", "login": 2003, "left": "2026-05-10"}, format="json")
    assert moved.status_code == 409 and "2026-05" in moved.json()["detail"]
    later = staff_client.post(MEMBERS, {"server": "live1", "login": 2003, "left": "2026-06-10"}, format="json")
    assert later.status_code == 200
