"""The MAM admin: every page renders; group and member saves go through the services; the trading record and the
data feed are read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mam.models import CashFlow, EquitySnapshot, MamGroup, MasterClose, MasterTrade, Member, MoneyManager
from partners.models import Partner
from tests.commissions.runs_support import post_ok

from .support import GROUP, close_body, setup_mam

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(staff_client):
    setup_mam(staff_client)
    post_ok(staff_client, f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body(lots="0.40"))
    post_ok(
        staff_client,
        "/api/v1/mam/cash-flows/",
        [{"id": "d1", "server": "live1", "login": 1001, "time": "2026-03-05T09:00:00Z", "amount": "10"}],
    )


@pytest.mark.parametrize(
    "model",
    [MoneyManager, MamGroup, Member, EquitySnapshot, CashFlow, MasterTrade, MasterClose],
    ids=lambda m: m.__name__,
)
def test_every_page_renders(admin_client, record, model):
    name = f"admin:mam_{model._meta.model_name}"
    assert admin_client.get(reverse(f"{name}_changelist")).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200


def test_the_trading_record_and_the_feed_are_read_only(admin_client, record):
    for model in (MasterTrade, MasterClose, EquitySnapshot, CashFlow, MoneyManager):
        name = f"admin:mam_{model._meta.model_name}"
        assert admin_client.get(reverse(f"{name}_add")).status_code == 403
        obj = model.objects.first()
        assert admin_client.post(reverse(f"{name}_change", args=[obj.pk]), {}).status_code == 403


def test_a_group_change_goes_through_the_service(admin_client, record):
    group = MamGroup.objects.get(code=GROUP)
    url = reverse("admin:mam_mamgroup_change", args=[group.pk])
    data = {
        "manager_partner": Partner.objects.get(code="mgr").pk,
        "name": "Alpha renamed",
        "master_server": "live1",
        "master_login": 9000,
        "currency": "USD",
        "method": "equal",
        "residual_policy": "largest_remainder",
        "below_min": "bump",
        "overflow_login": "",
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    group.refresh_from_db()
    assert (group.name, group.method, group.below_min) == ("Alpha renamed", "equal", "bump")
    # A group with master trades keeps its master: the service's 409 is a message, nothing changes.
    admin_client.post(url, {**data, "master_login": 9100}, follow=True)
    group.refresh_from_db()
    assert group.master_login == 9000


def test_a_member_change_goes_through_the_service(admin_client, record):
    member = Member.objects.get(account__login=2002)
    url = reverse("admin:mam_member_change", args=[member.pk])
    response = admin_client.post(url, {"param": "", "risk_factor": "2", "active": "", "joined": "", "left": ""})
    assert response.status_code == 302, response.content[:2000]
    member.refresh_from_db()
    assert (member.active, str(member.risk_factor)) == (False, "2.000000")
