"""Every route of the broker API declares itself here and inherits the shared contract tests (``cases.py``); the
last test fails when an operation of the OpenAPI schema is declared by no route."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator

from commissions.models import PlanTerms
from tests.commissions.runs_support import post_ok, trade

from .cases import (
    PAGING,
    Bulk,
    Detail,
    Ingest,
    Paginated,
    PartnerScoped,
    Queryable,
    RouteTestCase,
    StaffOnly,
    Writable,
    operation,
)

PAST = "2026-01-01T00:00:00Z"
LATER = "2026-06-01T00:00:00Z"


# --- partners app -------------------------------------------------------------------------------------------------


class TestPrograms(StaffOnly, Paginated, Writable):
    path = "/api/v1/programs/"
    methods = ("get", "post")
    body = {
        "code": "prog2",
        "name": "Program 2",
        "model": "cascade",
        "max_depth": 5,
        "shares": ["30.5", "10"],
        "override_pct": ["10"],
        "min_payout": "50.00",
        "currency": "USD",
    }


class TestProgram(StaffOnly, Detail, Writable):
    path = "/api/v1/programs/{code}/"
    params = {"code": "prog"}
    missing = {"code": "nope"}
    methods = ("get", "patch")
    write_method = "patch"
    body = {"name": "Renamed", "min_payout": "10.00", "shares": ["20"], "max_depth": 4}


class TestPartners(StaffOnly, Paginated, Queryable, Writable):
    path = "/api/v1/partners/"
    methods = ("get", "post")
    query = {"parent": "master", "program": "prog", "q": "sub", "status": "active"}
    ok_statuses = (201,)
    body = {
        "code": "p3",
        "name": "Partner 3",
        "email": "p3@example.com",
        "parent": "master",
        "program": "prog",
        "plan": "plan-sub",
        "status": "active",
        "payout_currency": "EUR",
        "effective_from": PAST,
    }


class TestPartner(StaffOnly, Detail, Writable):
    path = "/api/v1/partners/{code}/"
    params = {"code": "sub"}
    missing = {"code": "nope"}
    methods = ("get", "patch")
    write_method = "patch"
    body = {"name": "Sub renamed", "status": "suspended", "payout_currency": "EUR", "effective_from": LATER}


class TestPartnerPayoutDetails(StaffOnly, Detail, Writable):
    path = "/api/v1/partners/{code}/payout-details/"
    params = {"code": "sub"}
    missing = {"code": "nope"}
    methods = ("post",)
    ok_statuses = (200,)
    body = {"payout_method": "wire", "payout_account": "DE89 3704 0044 0532 0130 00", "payout_currency": "EUR"}


class TestPartnerMove(StaffOnly, Detail, Writable):
    path = "/api/v1/partners/{code}/move/"
    params = {"code": "sub"}
    missing = {"code": "nope"}
    methods = ("post",)
    body = {"parent": "sub2", "effective_from": LATER}


class TestPartnerTokens(StaffOnly, Detail):
    path = "/api/v1/partners/{code}/tokens/"
    params = {"code": "sub2"}
    missing = {"code": "nope"}
    methods = ("post",)


class TestPartnerDownline(StaffOnly, Detail, Paginated, Queryable):
    path = "/api/v1/partners/{code}/downline/"
    params = {"code": "master"}
    missing = {"code": "nope"}
    query = {"at": LATER}


class TestPartnerChain(StaffOnly, Detail, Queryable):
    path = "/api/v1/partners/{code}/chain/"
    params = {"code": "sub"}
    missing = {"code": "nope"}
    query = {"at": LATER}


class TestAccounts(StaffOnly, Paginated, Queryable, Bulk):
    path = "/api/v1/accounts/"
    methods = ("get", "post")
    query = {"server": "live1", "login": 1001, "group": "standard", "partner": "sub"}
    body = [
        {
            "server": "live1",
            "login": 2001,
            "currency": "USD",
            "group": "standard",
            "partner": "sub",
            "earns_commission": True,
            "effective_from": PAST,
        }
    ]


class TestAccount(StaffOnly, Detail):
    path = "/api/v1/accounts/{server}/{login}/"
    params = {"server": "live1", "login": 1001}
    missing = {"server": "live1", "login": 999999}


class TestAccountAttribute(StaffOnly, Detail, Writable):
    path = "/api/v1/accounts/{server}/{login}/attribute/"
    params = {"server": "live1", "login": 1001}
    missing = {"server": "live1", "login": 999999}
    methods = ("post",)
    body = {"partner": "sub2", "effective_from": LATER}


# --- ledger app ---------------------------------------------------------------------------------------------------


class TestRates(StaffOnly, Paginated, Queryable, Bulk):
    path = "/api/v1/rates/"
    methods = ("get", "post")
    query = {"currency": "EUR", "day": "2026-03-02", "day_from": "2026-03-01", "day_to": "2026-03-31"}
    body = [{"currency": "GBP", "day": "2026-03-01", "usd_rate": "1.2712"}]


class TestStatement(StaffOnly, Detail, Queryable):
    path = "/api/v1/partners/{code}/statement/"
    params = {"code": "sub"}
    missing = {"code": "nope"}
    query = {"period": "2026-03", "currency": "USD"}

    def url(self, params=None):  # the period is required: the 404 and 403 probes send it too
        return super().url(params) + "?period=2026-03"


class TestReconciliation(StaffOnly, Queryable):
    path = "/api/v1/reconciliation/"
    query = {"period": "2026-03", "area": "commissions"}

    def url(self, params=None):  # the period is required: the 403 and 401 probes send it too
        return super().url(params) + "?period=2026-03"


class TestReconciliationExport(StaffOnly, Queryable):
    path = "/api/v1/reconciliation/export/"
    query = {"period": "2026-03", "area": "ledger"}

    def url(self, params=None):
        return super().url(params) + "?period=2026-03"


# --- runs app -----------------------------------------------------------------------------------------------------


class TestRuns(StaffOnly, Writable):
    path = "/api/v1/runs/"
    methods = ("post",)
    body = {"kind": "commissions", "period": "2026-05", "scope": "", "recompute": False}


class TestRun(StaffOnly, Detail):
    path = "/api/v1/runs/{id}/"
    params = {"id": "@run"}
    missing = {"id": 999999}


class TestRunApprove(StaffOnly, Detail):
    path = "/api/v1/runs/{id}/approve/"
    params = {"id": "@run"}
    missing = {"id": 999999}
    methods = ("post",)


# --- commissions app ----------------------------------------------------------------------------------------------


class TestInstruments(StaffOnly, Paginated, Queryable, Bulk):
    path = "/api/v1/instruments/"
    methods = ("get", "post")
    query = {"symbol": "EURUSD", "group": "forex_major"}
    body = [
        {
            "symbol": "GBPUSD",
            "group": "forex_major",
            "base": "GBP",
            "quote": "USD",
            "contract_size": "100000",
            "pip_size": "0.0001",
            "digits": 5,
            "volume_step": "0.01",
            "volume_min": "0.01",
            "volume_max": "100",
            "aliases": ["GBPUSD.x"],
        }
    ]


class TestSymbolSuffixes(StaffOnly, Paginated, Writable):
    path = "/api/v1/symbol-suffixes/"
    methods = ("get", "post")
    body = {"suffixes": [".ecn"]}


class TestTrades(StaffOnly, Paginated, Queryable, Ingest):
    path = "/api/v1/trades/"
    methods = ("get", "post")
    query = {
        "server": "live1",
        "login": 1001,
        "ticket": 1,
        "symbol": "EURUSD",
        "status": "closed",
        "unresolved": "false",
        "current": "true",
    }
    body = [{**trade(10, lots="0.50"), "spread_pips": "0.8", "master_ticket": 77}]


class TestTrade(StaffOnly, Detail):
    path = "/api/v1/trades/{server}/{ticket}/"
    params = {"server": "live1", "ticket": 1}
    missing = {"server": "live1", "ticket": 999999}


class TestTradeImports(StaffOnly, Paginated):
    path = "/api/v1/trade-imports/"


class TestTradeImport(StaffOnly, Detail):
    path = "/api/v1/trade-imports/{id}/"
    params = {"id": "@trade_import"}
    missing = {"id": 999999}


class TestPlans(StaffOnly, Paginated, Writable):
    path = "/api/v1/plans/"
    methods = ("get", "post")
    body = {
        "code": "plan-x",
        "name": "Plan X",
        "currency": "USD",
        "both_legs": False,
        "min_hold_seconds": 60,
        "min_points": "1.50",
        "tier_mode": "marginal",
        "tiers": [{"from_lots": "0", "multiplier": "1"}, {"from_lots": "100.5", "multiplier": "1.25"}],
        "rules": [
            {"type": "per_lot", "symbol": "EURUSD", "rate": "7.5", "priority": 10},
            {"type": "spread_share", "symbol_group": "forex_major", "account_group": "standard", "pct": "25.5"},
        ],
    }


class TestPlan(StaffOnly, Detail):
    path = "/api/v1/plans/{code}/"
    params = {"code": "plan-sub"}
    missing = {"code": "nope"}


class TestRebates(StaffOnly, Paginated, Queryable, Writable):
    path = "/api/v1/rebates/"
    methods = ("get", "post")
    query = {"partner": "sub", "account": "live1:1001"}
    body = {"partner": "sub2", "account": {"server": "live1", "login": 1002}, "pct": "12.5", "effective_from": PAST}


class TestLines(StaffOnly, Paginated, Queryable):
    path = "/api/v1/lines/"
    query = {
        "run": 1,
        "period": "2026-03",
        "partner": "sub",
        "account": "live1:1001",
        "server": "live1",
        "login": 1001,
        "kind": "volume",
        "level": 1,
        "symbol": "EURUSD",
    }


class TestLinesExport(StaffOnly, Queryable):
    path = "/api/v1/lines/export/"
    query = TestLines.query


# --- mam app ------------------------------------------------------------------------------------------------------


class TestMamGroups(StaffOnly, Paginated, Writable):
    path = "/api/v1/mam/groups/"
    methods = ("get", "post")
    body = {
        "code": "gamma",
        "name": "Gamma",
        "manager": "master",
        "master_server": "live1",
        "master_login": 9100,
        "currency": "USD",
        "method": "risk",
        "residual_policy": "overflow",
        "below_min": "bump",
        "overflow_login": 3001,
        "fees": {
            "management_rate": "0.02",
            "management_basis": "260",
            "management_base": "balance",
            "performance_rate": "0.25",
            "hwm_mode": "gross",
            "flow_mode": "proportional",
            "hurdle_pct": "1.5",
            "period": "quarterly",
            "ib_fee_share_pct": "10",
            "effective_from": PAST,
        },
    }


class TestMamGroupMembers(StaffOnly, Detail, Paginated, Writable):
    path = "/api/v1/mam/groups/{code}/members/"
    params = {"code": "alpha"}
    missing = {"code": "nope"}
    methods = ("get", "post")
    body = {
        "server": "live1",
        "login": 1001,
        "param": "1.5",
        "risk_factor": "2",
        "active": True,
        "joined": "2026-03-01",
        "left": "2026-12-01",
        "max_lots": "5",
        "equity_stop": "100.50",
        "max_drawdown_pct": "50",
    }


class TestMamGroupAllocations(StaffOnly, Detail, Paginated, Queryable):
    path = "/api/v1/mam/groups/{code}/allocations/"
    params = {"code": "alpha"}
    missing = {"code": "nope"}
    query = {"ticket": 500}


class TestMamEquity(StaffOnly, Paginated, Queryable, Bulk):
    path = "/api/v1/mam/equity/"
    methods = ("get", "post")
    query = {"server": "live1", "login": 3001, "day_from": "2026-03-01", "day_to": "2026-03-31"}
    body = [
        {
            "server": "live1",
            "login": 3001,
            "day": "2026-03-02",
            "balance": "6100.50",
            "equity": "6150.25",
            "free_margin": "-10",
        }
    ]


class TestMamCashFlows(StaffOnly, Paginated, Queryable, Bulk):
    path = "/api/v1/mam/cash-flows/"
    methods = ("get", "post")
    query = {"server": "live1", "login": 3001, "id": "dep-1"}
    body = [{"id": "wd-9", "server": "live1", "login": 3001, "time": "2026-03-03T10:00:00Z", "amount": "-250.5"}]


class TestMamMasterTrades(StaffOnly, Paginated, Queryable, Writable):
    path = "/api/v1/mam/master-trades/"
    methods = ("get", "post")
    query = {"group": "alpha", "status": "open"}
    body = {
        "group": "alpha",
        "ticket": 777,
        "symbol": "EURUSD",
        "side": "sell",
        "lots": "0.50",
        "open_time": "2026-03-11T10:00:00Z",
        "open_price": "1.08250",
    }


class TestMamMasterTradeClose(StaffOnly, Detail, Writable):
    path = "/api/v1/mam/master-trades/{group}/{ticket}/close/"
    params = {"group": "alpha", "ticket": 500}
    missing = {"group": "alpha", "ticket": 999999}
    methods = ("post",)
    body = {"lots": "0.50", "close_time": "2026-03-12T10:00:00Z", "close_price": "1.08300"}


class TestMamGroupFees(StaffOnly, Detail, Paginated, Queryable):
    path = "/api/v1/mam/groups/{code}/fees/"
    params = {"code": "delta"}
    missing = {"code": "nope"}
    query = {"period": "2025-12"}


class TestMamFeeExport(StaffOnly, Queryable):
    path = "/api/v1/mam/fees/export/"
    query = {"period": "2025-12", "group": "delta"}

    def url(self, params=None):  # the period is required: the 403 and 401 probes send it too
        return super().url(params) + "?period=2025-12"


# --- payouts (ledger app) -----------------------------------------------------------------------------------------


class TestPayables(StaffOnly, Paginated, Queryable):
    path = "/api/v1/payables/"
    query = {"partner": "master"}


class TestPayoutBatches(StaffOnly, Paginated, Queryable, Writable):
    path = "/api/v1/payout-batches/"
    methods = ("get", "post")
    query = {"period": "2025-12", "status": "draft"}
    body = {"period": "2025-12"}


class TestPayoutBatch(StaffOnly, Detail):
    path = "/api/v1/payout-batches/{id}/"
    params = {"id": "@payout_batch"}
    missing = {"id": 999999}


class TestPayoutBatchLines(StaffOnly, Detail, Paginated):
    path = "/api/v1/payout-batches/{id}/lines/"
    params = {"id": "@payout_batch"}
    missing = {"id": 999999}


class TestPayoutBatchApprove(StaffOnly, Detail):
    path = "/api/v1/payout-batches/{id}/approve/"
    params = {"id": "@payout_draft"}
    missing = {"id": 999999}
    methods = ("post",)


class TestPayoutBatchDiscard(StaffOnly, Detail):
    path = "/api/v1/payout-batches/{id}/discard/"
    params = {"id": "@payout_draft"}
    missing = {"id": 999999}
    methods = ("post",)


class TestPayoutBatchMarkPaid(StaffOnly, Detail, Writable):
    path = "/api/v1/payout-batches/{id}/mark-paid/"
    params = {"id": "@payout_batch"}
    missing = {"id": 999999}
    methods = ("post",)
    body = {"lines": [{"partner": "master", "status": "paid"}, {"partner": "sub", "status": "failed", "reason": "x"}]}


class TestPayoutBatchExport(StaffOnly, Detail):
    path = "/api/v1/payout-batches/{id}/export/"
    params = {"id": "@payout_batch"}
    missing = {"id": 999999}


class TestClientRebateExport(StaffOnly, Queryable):
    path = "/api/v1/client-rebates/export/"
    query = {"period": "2026-03"}

    def url(self, params=None):  # the period is required: the 403 and 401 probes send it too
        return super().url(params) + "?period=2026-03"


# --- reporting app: the partner's own routes (/me/) ---------------------------------------------------------------


class TestMe(PartnerScoped):
    path = "/api/v1/me/"


class TestMeSummary(PartnerScoped, Queryable):
    path = "/api/v1/me/summary/"
    query = {"period": "2026-03"}


class TestMeLines(PartnerScoped, Paginated, Queryable):
    path = "/api/v1/me/lines/"
    query = {
        "period": "2026-03",
        "symbol": "EURUSD",
        "account": "live1:1001",
        "sub_ib": "sub",
        "kind": "volume",
        "format": "json",
    }


class TestMeDownline(PartnerScoped, Paginated, Queryable):
    path = "/api/v1/me/downline/"
    caller_fixture = "master_client"  # sub's downline is empty: the master's holds sub and sub2
    query = {"period": "2026-03"}


class TestMeClients(PartnerScoped, Paginated, Queryable):
    path = "/api/v1/me/clients/"
    query = {"period": "2026-03"}

    @pytest.fixture(autouse=True)
    def _second_client(self, seeded, staff_client):
        post_ok(staff_client, "/api/v1/accounts/", [{"server": "live1", "login": 1003, "partner": "sub"}])


class TestMePayouts(PartnerScoped, Paginated):
    path = "/api/v1/me/payouts/"

    @pytest.fixture(autouse=True)
    def _second_payout(self, seeded):
        """sub's transfer failed (back to payable) and a new batch holds it again: two lines of sub's."""
        from django.contrib.auth import get_user_model

        from ledger.services.payouts import (
            LineOutcome,
            payout_batch_approve,
            payout_batch_create,
            payout_batch_discard,
            payout_batch_export,
            payout_lines_resolve,
        )

        maker, checker = (get_user_model().objects.get(username=n) for n in ("maker", "checker"))
        outcome = LineOutcome(partner="sub", status="failed", reason="account closed")
        payout_lines_resolve(batch_id=seeded["payout_batch"], user=checker, outcomes=[outcome])
        payout_batch_discard(batch_id=seeded["payout_draft"], user=checker)
        batch = payout_batch_create(period="2025-12", user=maker)
        payout_batch_approve(batch_id=batch.pk, user=checker)
        payout_batch_export(batch_id=batch.pk, user=checker)


class TestMeStatement(PartnerScoped, Detail, Queryable):
    path = "/api/v1/me/statements/{period}/"
    params = {"period": "2026-03"}
    own = params  # a partner's statement is its own: no path names another's
    missing = {"period": "2026-13"}
    query = {"currency": "USD", "format": "json"}


class TestMeTokens(PartnerScoped, Paginated, Writable):
    path = "/api/v1/me/tokens/"
    methods = ("get", "post")
    ok_statuses = (201,)
    body = {"name": "nightly export"}


class TestMeToken(PartnerScoped, Detail):
    path = "/api/v1/me/tokens/{token_id}/"
    methods = ("delete",)
    params = {"token_id": "@token_sub"}
    own = {"token_id": "@token_sub"}
    foreign = {"token_id": "@token_sub2"}
    missing = {"token_id": 999999}


ROUTES = [c for c in list(globals().values()) if isinstance(c, type) and c.__name__.startswith("Test")]


def test_every_route_with_filters_declares_them():
    """A GET whose operation documents filters is ``Queryable`` (its filters get hostile values, its declared valid
    query is answered): a filter added to a route without declaring it fails here."""
    undeclared = []
    for route in ROUTES:
        if "get" not in route.methods:
            continue
        parameters = operation(route.path, "get").get("parameters", [])
        filters = {p["name"] for p in parameters if p["in"] == "query" and p["name"] not in PAGING}
        if filters and not issubclass(route, Queryable):
            undeclared.append(f"{route.__name__}: {sorted(filters)}")
    assert not undeclared


def _needed_mixins(path: str, method: str) -> set[type]:
    """The declarative cases an operation needs, from its schema: an authenticated operation its permission tests
    (``StaffOnly``, or ``PartnerScoped`` for a partner's own routes), a paginated one ``Paginated``, one taking a
    body ``Writable`` (a list body ``Bulk``), one addressing an object by its path ``Detail``."""
    op = operation(path, method)
    needed: set[type] = set()
    if op.get("security") != [{}]:
        needed.add((StaffOnly, PartnerScoped))
    if any(p["in"] == "query" and p["name"] == "page" for p in op.get("parameters", [])):
        needed.add(Paginated)
    if "requestBody" in op:
        body = op["requestBody"]["content"]["application/json"]["schema"]
        needed.add(Bulk if body.get("type") == "array" else Writable)
    if any(p["in"] == "path" for p in op.get("parameters", [])):
        needed.add(Detail)
    return needed


def undeclared_cases(route: type) -> list[str]:
    """The cases ``route`` needs (``_needed_mixins``) and does not declare."""
    missing = []
    for method in route.methods:
        for need in _needed_mixins(route.path, method):
            if not issubclass(route, need):
                names = need.__name__ if isinstance(need, type) else " or ".join(n.__name__ for n in need)
                missing.append(f"{route.__name__} ({method}): {names}")
        if "requestBody" in operation(route.path, method) and getattr(route, "write_method", None) != method:
            missing.append(f"{route.__name__}: write_method is not {method!r}, the method taking the body")
    return missing


def test_every_route_declares_the_cases_its_operations_need():
    """A route declared without the mixin its operation needs (a staff route without ``StaffOnly``, a list without
    ``Paginated``, a write without ``Writable``/``Bulk``) would skip those tests silently: derived from the schema, a
    missing one fails here. A write route declares the method that takes the body (``write_method``)."""
    assert [m for route in ROUTES for m in undeclared_cases(route)] == []

    class Bare(RouteTestCase):  # what a forgetful declaration looks like: every need is reported
        path = "/api/v1/programs/"
        methods = ("get", "post")

    assert sorted(undeclared_cases(Bare)) == [
        "Bare (get): Paginated",
        "Bare (get): StaffOnly or PartnerScoped",
        "Bare (post): StaffOnly or PartnerScoped",
        "Bare (post): Writable",
        "Bare: write_method is not 'post', the method taking the body",
    ]


def test_every_operation_of_the_schema_is_declared_by_a_route():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    declared = {(method, route.path) for route in ROUTES for method in route.methods}
    assert operations - declared == set(), "declare these operations in tests/api/test_routes.py"
    assert declared - operations == set()


def test_page_size_is_capped_at_1000(seeded, staff_client):
    """1 001 rates exist: asking for 5 000 a page gets 1 000 and a next page with the last one."""
    first = date(2020, 1, 1)
    rates = [{"currency": "CHF", "day": str(first + timedelta(days=i)), "usd_rate": "1.1"} for i in range(1001)]
    assert staff_client.post("/api/v1/rates/", rates, format="json").status_code == 200
    body = staff_client.get("/api/v1/rates/", {"currency": "CHF", "page_size": 5000}).json()
    assert body["count"] == 1001 and len(body["results"]) == 1000 and body["next"]
    assert len(staff_client.get(body["next"]).json()["results"]) == 1


def test_lines_name_their_rule_by_plan_code_and_filter_by_account_key(seeded, staff_client):
    lines = staff_client.get("/api/v1/lines/", {"account": "live1:1001", "kind": "volume"}).json()["results"]
    assert lines and {(line["server"], line["login"]) for line in lines} == {("live1", 1001)}
    by_partner = {line["partner"]: line for line in lines}
    terms_from = PlanTerms.objects.get(plan__code="plan-sub").valid_from
    assert by_partner["sub"]["rule"] | {"id": None} == {
        "plan": "plan-sub",
        "terms_from": terms_from.isoformat().replace("+00:00", "Z"),
        "type": "per_lot",
        "symbol": None,
        "symbol_group": None,
        "account_group": None,
        "priority": 100,
        "id": None,
    }
    assert all(isinstance(line["amount"], str) and "." in line["amount"] for line in lines)
    other = staff_client.get("/api/v1/lines/", {"account": "live1:1002"}).json()["results"]
    assert other and {line["login"] for line in other} == {1002}
    assert staff_client.get("/api/v1/lines/", {"account": "live1:999"}).json()["count"] == 0
    bad = staff_client.get("/api/v1/lines/", {"account": "1001"})
    assert bad.status_code == 400 and "account" in bad.json()
