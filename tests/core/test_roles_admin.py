"""Roles in the admin: each role opens and does exactly what its table below says on the admin routes of finance
(payout batches and their steps, reconciliation), runs (compute, approve), partners (payout details), the audit
log and History pages, and staff users. ``A`` broker admin, ``F`` finance, ``S`` support (``core/roles.py``);
written out by hand."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from core.periods import server_period
from core.roles import Role, sync_roles
from ledger.models import PayoutBatch
from ledger.services.payouts import payout_batch_create
from runs.models import Run
from tests.ledger.payout_support import earn, partner
from tests.roles import staff_with_roles
from tests.twofactor import verified_login

pytestmark = pytest.mark.django_db

A, F, S = Role.BROKER_ADMIN, Role.FINANCE, Role.SUPPORT
ALL = {A, F, S}

# (admin path, roles that get a page — 200, or a redirect for the CSV of a draft — rather than a 403)
PAGES = {
    "/admin/ledger/payoutbatch/": ALL,
    "/admin/ledger/payoutbatch/{batch}/change/": ALL,
    "/admin/ledger/payoutbatch/new/": {F},
    "/admin/ledger/payoutbatch/{batch}/export/": {F},
    "/admin/ledger/ledgeraccount/reconciliation/?period=2026-01": {A, F},
    "/admin/ledger/ledgeraccount/": ALL,
    "/admin/runs/run/": ALL,
    "/admin/runs/run/compute/": {A},
    "/admin/partners/partner/": ALL,
    "/admin/partners/partner/add/": {A},
    "/admin/partners/partner/{partner}/change/": ALL,
    "/admin/partners/partner/{partner}/payout-details/": {F},
    "/admin/ledger/ledgeraccount/trial-balance/": ALL,  # the balances the account list shows anyway
    "/admin/mam/feeline/export/": {F},
    # The audit log: its diffs show payout details in full, so not support's. An object's History is everyone's who
    # may view the object: the trail for those who may read it, Django's change log (no values) for support.
    "/admin/core/auditevent/": {A, F},
    "/admin/core/auditevent/?model=partners.partnerevent&q=ib": {A, F},
    "/admin/partners/partner/{partner}/history/": ALL,
    "/admin/ledger/payoutbatch/{batch}/history/": ALL,
    "/admin/runs/run/{run}/history/": ALL,
    # Staff users and their tokens are no role's (a user editor could make itself finance): superusers only.
    "/admin/auth/user/": set(),
    "/admin/auth/user/add/": set(),
    "/admin/authtoken/tokenproxy/": set(),
    "/admin/authtoken/tokenproxy/add/": set(),
}
# The changelist actions each role is offered.
ACTIONS = {
    "/admin/ledger/payoutbatch/": {
        "approve_selected": {F},
        "mark_paid_selected": {F},
        "discard_selected": {F},
    },
    "/admin/runs/run/": {"approve_selected": {A, F}, "recompute_selected": {A}},
    "/admin/partners/partner/": {"suspend_selected": {A}, "activate_selected": {A}, "move_selected": {A}},
    "/admin/partners/clientaccount/": {"attribute_selected": {A}},
}


@pytest.fixture
def book():
    sync_roles()
    ib = partner("ib", payout_account="DE89 3704 0044 0532 0130 00")
    earn(ib, "25.00", period="2026-01")
    maker = get_user_model().objects.create_user("maker", is_staff=True)
    batch = payout_batch_create(period="2026-01", user=maker)
    feb = server_period("2026-02")
    run = Run.objects.create(
        kind="commissions", period="2026-02", period_start=feb.start, period_end=feb.end, status="computed"
    )
    return {"batch": batch.pk, "partner": ib.pk, "run": run.pk}


def client_of(role: Role) -> Client:
    name = f"admin-{role.name.lower()}"
    return verified_login(
        Client(), get_user_model().objects.filter(username=name).first() or staff_with_roles(name, role)
    )


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name.lower())
def test_each_role_opens_exactly_its_admin_pages(book, role):
    client = client_of(role)
    wrong = []
    for template, roles in PAGES.items():
        url = template.format(**book)
        response = client.get(url)
        status = response.status_code
        expected = (200, 302) if role in roles else (403,)
        if status not in expected or "/login/" in response.get("Location", ""):
            wrong.append((url, status))
    assert wrong == []


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name.lower())
def test_each_role_is_offered_exactly_its_actions(book, role):
    client = client_of(role)
    for url, actions in ACTIONS.items():
        page = client.get(url).content.decode()
        offered = {name for name in actions if f'value="{name}"' in page}
        assert offered == {name for name, roles in actions.items() if role in roles}, url


def test_only_finance_approves_a_batch_through_the_admin(book):
    action = {"action": "approve_selected", "_selected_action": [book["batch"]]}
    for role in (A, S):
        client_of(role).post("/admin/ledger/payoutbatch/", action)
        assert PayoutBatch.objects.get().status == "draft"
    client_of(F).post("/admin/ledger/payoutbatch/", action)
    assert PayoutBatch.objects.get().status == "approved"


def test_support_sees_the_payout_account_masked(book):
    url = f"/admin/partners/partner/{book['partner']}/change/"
    assert "DE89 3704 0044 0532 0130 00" in client_of(F).get(url).content.decode()
    support_page = client_of(S).get(url).content.decode()
    assert "DE89 3704" not in support_page and "****3000" in support_page
    batch_page = client_of(S).get(f"/admin/ledger/payoutbatch/{book['batch']}/change/").content.decode()
    assert "DE89 3704" not in batch_page and "****3000" in batch_page


def test_only_finance_sets_a_partners_payout_account_in_the_admin(book):
    from partners.models import Partner

    url = f"/admin/partners/partner/{book['partner']}/change/"
    page = client_of(A).get(url).content.decode()
    assert 'name="payout_account"' not in page and 'name="payout_method"' not in page  # shown read-only
    assert "payout-details/" not in page
    form = {"name": "IB renamed", "email": "", "program": Partner.objects.get(pk=book["partner"]).program_id}
    form |= {"status": "active", "payout_currency": "USD", "payout_account": "MINE", "payout_method": "wire"}
    form |= {"links-TOTAL_FORMS": "0", "links-INITIAL_FORMS": "0"}
    client_of(A).post(url, form)
    ib = Partner.objects.get(pk=book["partner"])
    assert ib.name == "IB renamed"  # the form was saved…
    assert ib.payout_account == "DE89 3704 0044 0532 0130 00" and ib.payout_method != "wire"  # …without them
    assert "payout-details/" in client_of(F).get(url).content.decode()
    details = f"/admin/partners/partner/{book['partner']}/payout-details/"
    done = client_of(F).post(details, {"payout_currency": "EUR", "payout_method": "wire", "payout_account": "NL91"})
    assert done.status_code == 302
    ib = Partner.objects.get(pk=book["partner"])
    assert (ib.payout_currency, ib.payout_method, ib.payout_account) == ("EUR", "wire", "NL91")
    assert client_of(A).post(details, {"payout_currency": "USD", "payout_account": "MINE"}).status_code == 403


def test_support_cannot_filter_partners_by_payout_account(book):
    """Filtering ``?payout_account__startswith=`` one character at a time would read a masked account."""
    probe = "/admin/partners/partner/?payout_account__startswith=DE89"
    response = client_of(S).get(probe)
    assert response.status_code == 400  # Django's answer to a disallowed lookup
    assert client_of(F).get(probe).status_code == 200


def test_support_cannot_suspend_a_partner(book):
    from partners.models import Partner

    client_of(S).post("/admin/partners/partner/", {"action": "suspend_selected", "_selected_action": [book["partner"]]})
    assert Partner.objects.get(pk=book["partner"]).status == "active"


def test_a_bad_level_on_the_lines_export_is_refused_not_a_500(book):
    for query in ("level=x", "level=40000", "run__id__exact=99999999999999999999", "period=%00", "q=a%00b"):
        response = client_of(A).get(f"/admin/commissions/attributionline/export/?{query}")
        assert response.status_code == 302 and "e=1" in response["Location"], query
