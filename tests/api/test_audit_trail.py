"""The audit trail over the API: the small broker of the contract tests, set up entirely through the API by one
staff token (``seeded``: programs, partners and their tree, accounts, plans, rebates, reference data and rates,
runs, MAM groups and members, fee runs, payout batches), leaves an event naming that user, the request's method and
path for every tracked model it writes; and every write route of the audited models adds its own."""

from __future__ import annotations

import pytest
from pghistory.core import event_models

from core.models import AuditEvent

from . import test_routes as routes  # the routes' declared bodies (a module: pytest does not collect its tests again)

pytestmark = pytest.mark.django_db


def _attributed(label: str) -> list[AuditEvent]:
    return [
        event
        for event in AuditEvent.objects.across(*[m for m in event_models() if m.pgh_tracked_model._meta.label == label])
        if event.username == "staff" and event.via == "request" and (event.path or "").startswith("/api/v1/")
    ]


# The seed makes its payout batches through the services, outside any request (their API path is
# tests/core/test_audit.py's), and its plans have no tiers (a plan with tiers is posted below); its batch
# exports, so their download records (core.DataExport), are the services' too (API: tests/ledger/test_payouts_api.py).
NOT_BY_THE_SEEDS_REQUESTS = ["commissions.PlanTier", "core.DataExport", "ledger.PayoutBatch", "ledger.PayoutLine"]


def test_every_tracked_model_the_api_writes_has_events_naming_the_user_and_the_route(seeded):
    tracked = sorted(m.pgh_tracked_model._meta.label for m in event_models())
    unattributed = [label for label in tracked if not _attributed(label)]
    assert unattributed == NOT_BY_THE_SEEDS_REQUESTS


@pytest.mark.parametrize(
    ("route", "model"),
    [
        (routes.TestProgram, "partners.Program"),
        (routes.TestPlans, "commissions.PlanTier"),
        (routes.TestAccountAttribute, "partners.AccountAttribution"),
        (routes.TestRates, "ledger.ConversionRate"),
        (routes.TestRebates, "commissions.Rebate"),
        (routes.TestMamGroupMembers, "mam.Member"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_each_audited_write_route_adds_an_event_with_the_user_and_its_path(seeded, staff_client, route, model):
    before = {event.pgh_slug for event in _attributed(model)}
    path = route.path.format(**getattr(route, "params", {}))
    response = getattr(staff_client, getattr(route, "write_method", "post"))(path, route.body, format="json")
    assert response.status_code in (200, 201), response.content
    added = [event for event in _attributed(model) if event.pgh_slug not in before]
    assert added and all(event.path == path for event in added), [e.pgh_context for e in added]
