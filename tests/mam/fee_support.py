"""A MAM fee broker built through the public API, for the fee run tests.

Partners (``support.setup_partners``): ``master`` → ``sub``, ``ib2`` and ``mgr`` (the money manager, who also refers
client 2003). Client accounts on live1: 1001 (sub's), 2002 (ib2's), 2003 (mgr's), 2004 and 2005 (sub's). Groups are
made with ``fee_group`` (manager ``mgr``, master live1/9100 + n), members with ``join``, daily figures with
``equity`` and capital flows with ``flows``; ``run_fees`` runs (and approves) a period through ``POST /runs/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from itertools import count

from ledger.selectors import owner_balances
from ledger.vocabulary import Purpose
from partners.models import ClientAccount, Partner
from tests.commissions.runs_support import post_ok

from .support import setup_partners

_masters = count(9100)


def fee_group(client, code: str = "fund", *, currency: str = "USD", **fees: str) -> None:
    """A group with the fee terms ``fees`` (API names; rates as fractions, ``_pct`` as percents), since always."""
    post_ok(
        client,
        "/api/v1/mam/groups/",
        {
            "code": code,
            "name": code.title(),
            "manager": "mgr",
            "master_server": "live1",
            "master_login": next(_masters),
            "currency": currency,
            "method": "equity",
            "fees": fees,
        },
    )


def join(client, login: int, *, group: str = "fund", joined: str | None = None, left: str | None = None) -> None:
    body: dict = {"server": "live1", "login": login}
    if joined is not None:
        body["joined"] = joined
    if left is not None:
        body["left"] = left
    post_ok(client, f"/api/v1/mam/groups/{group}/members/", body)


def equity(client, figures: dict[tuple[int, str], str]) -> None:
    """End-of-day equity (balance and free margin the same) per (login, day)."""
    post_ok(
        client,
        "/api/v1/mam/equity/",
        [
            {"server": "live1", "login": login, "day": day, "balance": value, "equity": value, "free_margin": value}
            for (login, day), value in figures.items()
        ],
    )


def flows(client, rows: list[tuple[str, int, str, str]]) -> None:
    """Cash flows ``(id, login, time, amount)``: deposits > 0, withdrawals < 0."""
    post_ok(
        client,
        "/api/v1/mam/cash-flows/",
        [
            {"id": i, "server": "live1", "login": login, "time": time, "amount": amount}
            for i, login, time, amount in rows
        ],
    )


def run_fees(
    client, period: str, *, approve: bool = True, scope: str = "", on_commit: Callable = contextlib.nullcontext
) -> dict:
    """Request the period's fee run (computed eagerly once the request commits: ``on_commit`` runs the callbacks of
    a test that never commits), check it computed, approve it; its detail."""
    body = {"kind": "fees", "period": period, **({"scope": scope} if scope else {})}
    with on_commit():
        run = post_ok(client, "/api/v1/runs/", body)
    detail = client.get(f"/api/v1/runs/{run['id']}/").json()
    assert detail["status"] == "computed", detail
    if approve:
        approved = post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})
        assert approved["status"] == "approved", approved
        return approved
    return detail


def report(client, period: str, group: str = "fund") -> dict[int, list[dict]]:
    """``GET /mam/groups/{group}/fees/?period=``: login → its crystallisations, in time order."""
    response = client.get(f"/api/v1/mam/groups/{group}/fees/", {"period": period, "page_size": 1000})
    assert response.status_code == 200, response.content[:500]
    rows: dict[int, list[dict]] = {}
    for row in response.json()["results"]:
        rows.setdefault(row["login"], []).append(row)
    return rows


def balances(*, partner: str | None = None, account: int | None = None) -> dict[str, Decimal]:
    """What the ledger owes (USD): the partner on its manager and partner payables, or the investor account on its
    fee charge account (negative: charged)."""
    if partner is not None:
        pk = Partner.objects.get(code=partner).pk
        return {
            "manager_payable": owner_balances(purpose=Purpose.MANAGER_PAYABLE, currency="USD").get(pk, Decimal(0)),
            "partner_payable": owner_balances(purpose=Purpose.PARTNER_PAYABLE, currency="USD").get(pk, Decimal(0)),
        }
    pk = ClientAccount.objects.get(server="live1", login=account).pk
    return {"fee_charge": owner_balances(purpose=Purpose.INVESTOR_FEE_CHARGE, currency="USD").get(pk, Decimal(0))}


def seed_fees(client, *, on_commit: Callable = contextlib.nullcontext) -> dict:
    """Fee runs for the API contract tests, over ``support.seed_mam``'s broker: group ``delta`` (manager ``master``,
    2 % a year and 20 % with 10 % to the IB) with members live1/3003 (sub's client) and 3004 (no IB) since
    2025-12-01, and December 2025's fee run approved — a period before every date the contract tests back-date
    to, so the fee lock refuses none of their changes. Its report has a row per member; its export two or more."""
    post_ok(client, "/api/v1/accounts/", [{"server": "live1", "login": 3003, "partner": "sub"}])
    post_ok(client, "/api/v1/accounts/", [{"server": "live1", "login": 3004}])
    post_ok(
        client,
        "/api/v1/mam/groups/",
        {
            "code": "delta",
            "name": "Delta",
            "manager": "master",
            "master_server": "live1",
            "master_login": 9003,
            "fees": {"management_rate": "0.02", "performance_rate": "0.2", "ib_fee_share_pct": "10"},
        },
    )
    for login in (3003, 3004):
        join(client, login, group="delta", joined="2025-12-01")
    equity(
        client,
        {
            (3003, "2025-12-01"): "10000",
            (3003, "2025-12-31"): "11000",
            (3004, "2025-12-01"): "20000",
            (3004, "2025-12-31"): "21000",
        },
    )
    run = run_fees(client, "2025-12", on_commit=on_commit)
    return {"fee_group": "delta", "fee_period": "2025-12", "fee_run": run["id"]}


__all__ = ["balances", "equity", "fee_group", "flows", "join", "report", "run_fees", "seed_fees", "setup_partners"]
