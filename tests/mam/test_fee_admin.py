"""The fee admin: fee lines and fee states render, are read-only, and the line list shows lines of record (a
superseded run's only when its run is asked for)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mam.models import FeeLine, MemberFeeState
from runs.models import Run

from .fee_support import equity, fee_group, join, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fees(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, performance_rate="0.25", ib_fee_share_pct="10")
    join(staff_client, 1001, joined="2026-03-01")
    equity(staff_client, {(1001, "2026-03-01"): "100000", (1001, "2026-03-31"): "108000"})
    run_fees(staff_client, "2026-03")


@pytest.mark.parametrize("model", [FeeLine, MemberFeeState], ids=lambda m: m.__name__)
def test_pages_render_and_are_read_only(admin_client, fees, model):
    name = f"admin:mam_{model._meta.model_name}"
    assert admin_client.get(reverse(f"{name}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"{name}_changelist"), {"q": "1001"}).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200
    assert admin_client.get(reverse(f"{name}_add")).status_code == 403
    assert admin_client.post(reverse(f"{name}_change", args=[obj.pk]), {}).status_code == 403


def test_the_line_list_shows_lines_of_record(admin_client, staff_client, fees):
    join(staff_client, 2002, joined="2026-04-01")
    equity(staff_client, {(2002, "2026-04-01"): "10", (2002, "2026-04-30"): "12"})
    first = run_fees(staff_client, "2026-04", approve=False)
    second = staff_client.post("/api/v1/runs/", {"kind": "fees", "period": "2026-04", "recompute": True}, format="json")
    assert Run.objects.get(pk=first["id"]).status == Run.Status.SUPERSEDED
    url = reverse("admin:mam_feeline_changelist")
    shown = admin_client.get(url).context["cl"].result_list
    assert {line.run_id for line in shown} == {Run.objects.get(period="2026-03").pk, second.json()["id"]}
    asked = admin_client.get(url, {"run__id__exact": first["id"]}).context["cl"].result_list
    assert asked and {line.run_id for line in asked} == {first["id"]}
