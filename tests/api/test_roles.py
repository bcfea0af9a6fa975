"""Roles on the API: each role reaches exactly the routes of its table below — written out by hand, not derived from
the views' declarations — and any other method is a 403 naming the missing permission that writes nothing.

``A`` broker admin, ``F`` finance, ``S`` support (``core/roles.py``). Every staff route of ``test_routes.py`` is in
the table (the last tests fail when one is missing or a view serves a method it declares no permission for).
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from core.api.permissions import StaffPermission, served_methods
from core.roles import Role, role_permissions
from tests.roles import staff_with_roles

from . import test_routes
from .cases import StaffOnly, fingerprint

A, F, S = Role.BROKER_ADMIN, Role.FINANCE, Role.SUPPORT
ALL = {A, F, S}

EXPECTED: dict[tuple[str, str], set[Role]] = {
    # partners
    ("/api/v1/programs/", "get"): ALL,
    ("/api/v1/programs/", "post"): {A},
    ("/api/v1/programs/{code}/", "get"): ALL,
    ("/api/v1/programs/{code}/", "patch"): {A},
    ("/api/v1/partners/", "get"): ALL,
    ("/api/v1/partners/", "post"): {A},
    ("/api/v1/partners/{code}/", "get"): ALL,
    ("/api/v1/partners/{code}/", "patch"): {A},
    ("/api/v1/partners/{code}/move/", "post"): {A},
    ("/api/v1/partners/{code}/tokens/", "post"): {A},
    ("/api/v1/partners/{code}/payout-details/", "post"): {F},
    ("/api/v1/partners/{code}/downline/", "get"): ALL,
    ("/api/v1/partners/{code}/chain/", "get"): ALL,
    ("/api/v1/accounts/", "get"): ALL,
    ("/api/v1/accounts/", "post"): {A},
    ("/api/v1/accounts/{server}/{login}/", "get"): ALL,
    ("/api/v1/accounts/{server}/{login}/attribute/", "post"): {A},
    # ledger
    ("/api/v1/rates/", "get"): ALL,
    ("/api/v1/rates/", "post"): {A, F},
    ("/api/v1/partners/{code}/statement/", "get"): ALL,
    ("/api/v1/reconciliation/", "get"): {A, F},
    ("/api/v1/reconciliation/export/", "get"): {A, F},
    ("/api/v1/payables/", "get"): ALL,
    ("/api/v1/payout-batches/", "get"): ALL,
    ("/api/v1/payout-batches/", "post"): {F},
    ("/api/v1/payout-batches/{id}/", "get"): ALL,
    ("/api/v1/payout-batches/{id}/lines/", "get"): ALL,
    ("/api/v1/payout-batches/{id}/approve/", "post"): {F},
    ("/api/v1/payout-batches/{id}/discard/", "post"): {F},
    ("/api/v1/payout-batches/{id}/mark-paid/", "post"): {F},
    ("/api/v1/payout-batches/{id}/export/", "get"): {F},
    ("/api/v1/client-rebates/export/", "get"): {F},
    # runs
    ("/api/v1/runs/", "post"): {A},
    ("/api/v1/runs/{id}/", "get"): ALL,
    ("/api/v1/runs/{id}/approve/", "post"): {A, F},
    # commissions
    ("/api/v1/instruments/", "get"): ALL,
    ("/api/v1/instruments/", "post"): {A},
    ("/api/v1/symbol-suffixes/", "get"): ALL,
    ("/api/v1/symbol-suffixes/", "post"): {A},
    ("/api/v1/trades/", "get"): ALL,
    ("/api/v1/trades/", "post"): {A},
    ("/api/v1/trades/{server}/{ticket}/", "get"): ALL,
    ("/api/v1/trade-imports/", "get"): ALL,
    ("/api/v1/trade-imports/{id}/", "get"): ALL,
    ("/api/v1/plans/", "get"): ALL,
    ("/api/v1/plans/", "post"): {A},
    ("/api/v1/plans/{code}/", "get"): ALL,
    ("/api/v1/rebates/", "get"): ALL,
    ("/api/v1/rebates/", "post"): {A},
    ("/api/v1/lines/", "get"): ALL,
    ("/api/v1/lines/export/", "get"): ALL,
    # mam
    ("/api/v1/mam/groups/", "get"): ALL,
    ("/api/v1/mam/groups/", "post"): {A},
    ("/api/v1/mam/groups/{code}/members/", "get"): ALL,
    ("/api/v1/mam/groups/{code}/members/", "post"): {A},
    ("/api/v1/mam/groups/{code}/allocations/", "get"): ALL,
    ("/api/v1/mam/groups/{code}/fees/", "get"): ALL,
    ("/api/v1/mam/fees/export/", "get"): {F},
    ("/api/v1/mam/equity/", "get"): ALL,
    ("/api/v1/mam/equity/", "post"): {A},
    ("/api/v1/mam/cash-flows/", "get"): ALL,
    ("/api/v1/mam/cash-flows/", "post"): {A},
    ("/api/v1/mam/master-trades/", "get"): ALL,
    ("/api/v1/mam/master-trades/", "post"): {A},
    ("/api/v1/mam/master-trades/{group}/{ticket}/close/", "post"): {A},
}


def staff_routes() -> list[type[StaffOnly]]:
    return [
        case
        for case in vars(test_routes).values()
        if isinstance(case, type) and issubclass(case, StaffOnly) and case.__name__.startswith("Test")
    ]


def client_of(role: Role) -> APIClient:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    name = f"role-{role.name.lower()}"
    user = get_user_model().objects.filter(username=name).first() or staff_with_roles(name, role)
    Token.objects.filter(user=user).delete()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_table_names_every_staff_route_and_method():
    declared = {(case.path, method) for case in staff_routes() for method in case.methods}
    assert declared == set(EXPECTED)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name.lower())
def test_each_role_reaches_exactly_its_routes(seeded, role):
    client = client_of(role)
    wrong = []
    for case_class in staff_routes():
        case = case_class()
        case.keys = seeded
        for method in case.methods:
            before = fingerprint()
            with transaction.atomic():
                response = case.call(client, method, body=case.body)
                wrote = fingerprint() != before  # inside the transaction, before its rollback hides any write
                transaction.set_rollback(True)
            allowed = role in EXPECTED[(case.path, method)]
            if allowed and response.status_code == 403:
                wrong.append((method, case.path, "refused", response.json()))
            elif not allowed:
                if response.status_code != 403:
                    wrong.append((method, case.path, "let through", response.status_code))
                elif "permission" not in response.json()["detail"]:
                    wrong.append((method, case.path, "403 without the permission named", response.json()))
                elif wrote:
                    wrong.append((method, case.path, "refused but wrote"))
    assert wrong == []


def test_only_finance_sets_where_a_partner_is_paid(seeded):
    """Whoever sets up partners cannot point a partner's payouts at its own account before finance batches them."""
    from partners.models import Partner

    account = "DE89 3704 0044 0532 0130 00"
    admin, finance = client_of(A), client_of(F)
    for response in (
        admin.patch("/api/v1/partners/sub/", {"payout_account": account}, format="json"),
        admin.patch("/api/v1/partners/sub/", {"name": "Renamed", "payout_method": "wire"}, format="json"),
        admin.post(
            "/api/v1/partners/",
            {"code": "p9", "name": "P9", "program": "prog", "payout_account": account},
            format="json",
        ),
        admin.post(
            "/api/v1/partners/sub/payout-details/", {"payout_method": "w", "payout_account": "x"}, format="json"
        ),
        finance.patch("/api/v1/partners/sub/", {"payout_account": account}, format="json"),
    ):
        assert response.status_code == 403, response.content
        assert "partners.change_p" in response.json()["detail"]
    sub = Partner.objects.get(code="sub")
    assert sub.payout_account != account and sub.name != "Renamed" and not Partner.objects.filter(code="p9").exists()
    # The same values as now are no change: a broker admin's PATCH echoing the partner back is not refused.
    echo = {"name": "Renamed", "payout_method": sub.payout_method, "payout_account": sub.payout_account}
    assert admin.patch("/api/v1/partners/sub/", echo, format="json").status_code == 200
    body = {"payout_method": "wire", "payout_account": account}
    response = finance.post("/api/v1/partners/sub/payout-details/", body, format="json")
    assert response.status_code == 200 and response.json()["payout_account"] == account
    assert Partner.objects.filter(code="sub", payout_account=account, payout_method="wire").exists()
    assert client_of(S).get("/api/v1/partners/sub/").json()["payout_account"] == "****3000"


def test_a_refusal_names_the_missing_permission(seeded):
    response = client_of(S).post("/api/v1/payout-batches/", {"period": "2025-12"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role lacks the permission ledger.add_payoutbatch."}


def test_staff_without_a_role_is_refused_everywhere(seeded, django_user_model):
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("no-role", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    for case_class in staff_routes():
        case = case_class()
        case.keys = seeded
        assert case.call(client, case.methods[0], body=case.body).status_code == 403, case.path


def test_support_sees_payout_accounts_masked_and_finance_in_full(seeded):
    support = client_of(S).get("/api/v1/partners/master/").json()
    finance = client_of(F).get("/api/v1/partners/master/").json()
    assert finance["payout_account"] == "IBAN-master"
    assert support["payout_account"] == "****ster"  # the last four of eleven
    sub = client_of(S).get("/api/v1/partners/sub/").json()
    assert sub["payout_account"] == "****"  # eight characters or fewer ("IBAN-sub"): nothing of it shown
    batch = seeded["payout_batch"]
    lines = client_of(S).get(f"/api/v1/payout-batches/{batch}/lines/").json()["results"]
    assert {line["partner"]: line["payout_account"] for line in lines} == {"master": "****ster", "sub": "****"}


def test_every_view_declares_a_permission_for_each_method_it_serves():
    undeclared = []

    def walk(patterns):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns)
            elif isinstance(entry, URLPattern):
                yield entry

    staff_views = [
        view
        for pattern in walk(get_resolver().url_patterns)
        if (view := getattr(pattern.callback, "view_class", None)) is not None
        and StaffPermission in getattr(view, "permission_classes", ())
    ]
    assert len(staff_views) >= len(staff_routes()) - 5  # the walk found the API (some views serve two routes)
    for view in staff_views:
        declared = getattr(view, "required_permissions", {})
        undeclared += [(view.__name__, m) for m in served_methods(view) if m not in declared]
    assert undeclared == []


def test_roles_hold_what_the_docstring_promises(db):
    admin, finance, support = (role_permissions(r) for r in (A, F, S))
    assert {"runs.approve_run", "partners.add_partner", "partners.change_partner"} <= admin
    # Nobody's role edits staff users or mints tokens (that would let it make itself finance).
    assert not {p for p in admin | finance | support if p.split(".")[0] in ("auth", "authtoken")}
    assert not {"ledger.approve_payoutbatch", "ledger.pay_payoutbatch", "ledger.export_balance_operations"} & admin
    assert {"ledger.approve_payoutbatch", "ledger.pay_payoutbatch", "ledger.view_reconciliation"} <= finance
    assert {"partners.view_payout_details", "ledger.add_conversionrate", "runs.approve_run"} <= finance
    assert not {p for p in finance if p.split(".")[1].startswith("delete_")}
    assert all(p.split(".")[1].startswith("view_") for p in support)
    assert not {"partners.view_payout_details", "ledger.view_reconciliation"} & support
    assert "commissions.view_trade" in support
