"""A small MAM broker built through the public API, for the MAM tests and the API contract seed.

Partners: ``master`` → ``sub`` (from ``setup_chain``: plans 7 and 5 per lot, differential), ``ib2`` (4 per lot) and
``mgr``, the money manager, who also refers a client (3 per lot). Group ``alpha`` (equity method) on live1 with
master live1/9000 and five members: 1001 (sub's client), 2002 (ib2's), 2003 (mgr's), 2004 (inactive) and 2005
(stopped out by its equity stop). Snapshots on 2026-03-01: 10 000 / 7 000 / 3 000 / 5 000 / 4 000 (stop 5 000).
"""

from __future__ import annotations

from tests.commissions.runs_support import post_ok, setup_chain, setup_reference

GROUP = "alpha"
OPEN_TIME = "2026-03-10T10:00:00Z"


def setup_partners(client) -> None:
    setup_reference(client)
    setup_chain(client, master_rate="7", sub_rate="5")
    for code, rate in (("plan-ib2", "4"), ("plan-mgr", "3")):
        post_ok(client, "/api/v1/plans/", {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}]})
    post_ok(client, "/api/v1/partners/", {"code": "ib2", "name": "IB 2", "program": "prog", "plan": "plan-ib2"})
    post_ok(client, "/api/v1/partners/", {"code": "mgr", "name": "Manager", "program": "prog", "plan": "plan-mgr"})
    post_ok(
        client,
        "/api/v1/accounts/",
        [
            {"server": "live1", "login": 2002, "partner": "ib2"},
            {"server": "live1", "login": 2003, "partner": "mgr"},
            {"server": "live1", "login": 2004, "partner": "sub"},
            {"server": "live1", "login": 2005, "partner": "sub"},
        ],
    )


def group_body(**changes) -> dict:
    return {
        "code": GROUP,
        "name": "Alpha",
        "manager": "mgr",
        "master_server": "live1",
        "master_login": 9000,
        "currency": "USD",
        "method": "equity",
        "residual_policy": "largest_weight",
        "below_min": "skip",
        "fees": {"management_rate": "0.02", "performance_rate": "0.25", "hwm_mode": "net"},
        **changes,
    }


def setup_group(client) -> None:
    post_ok(client, "/api/v1/mam/groups/", group_body())
    for login, extra in (
        (1001, {}),
        (2002, {}),
        (2003, {}),
        (2004, {"active": False}),
        (2005, {"equity_stop": "5000"}),
    ):
        post_ok(client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": login, **extra})
    equities = {1001: "10000", 2002: "7000", 2003: "3000", 2004: "5000", 2005: "4000"}
    post_ok(
        client,
        "/api/v1/mam/equity/",
        [
            {"server": "live1", "login": login, "day": "2026-03-01", "balance": e, "equity": e, "free_margin": e}
            for login, e in equities.items()
        ],
    )


def open_body(ticket: int = 500, lots: str = "1.00", **changes) -> dict:
    return {
        "group": GROUP,
        "ticket": ticket,
        "symbol": "EURUSD",
        "side": "buy",
        "lots": lots,
        "open_time": OPEN_TIME,
        "open_price": "1.08000",
        **changes,
    }


def close_body(lots: str = "1.00", time: str = "2026-03-10T12:00:00Z", price: str = "1.08100") -> dict:
    return {"lots": lots, "close_time": time, "close_price": price}


def setup_mam(client) -> None:
    """Partners, the group with its members and snapshots, and one open master trade (ticket 500, 1 lot)."""
    setup_partners(client)
    setup_group(client)
    post_ok(client, "/api/v1/mam/master-trades/", open_body())


def seed_mam(client) -> dict:
    """MAM objects for the API contract tests, over a broker that has the instruments and partners ``master`` and
    ``sub`` (``setup_reference`` + ``setup_chain``): groups ``alpha`` (manager ``master``) and ``beta`` (``sub``),
    two members of alpha on accounts of their own (live1/3001, 3002, no IB), their snapshots, two cash flows, and two
    open master trades of alpha: 500 (2 lots, allocated over both members) and 501 (opened in 1970, 10^11 lots)."""
    post_ok(client, "/api/v1/accounts/", [{"server": "live1", "login": 3001}, {"server": "live1", "login": 3002}])
    post_ok(client, "/api/v1/mam/groups/", group_body(manager="master"))
    beta = group_body(code="beta", manager="sub", master_login=9001)
    beta.pop("fees")
    post_ok(client, "/api/v1/mam/groups/", beta)
    for login in (3001, 3002):
        post_ok(client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": login})
    post_ok(
        client,
        "/api/v1/mam/equity/",
        [
            {
                "server": "live1",
                "login": 3001,
                "day": "2026-03-01",
                "balance": "6000",
                "equity": "6000",
                "free_margin": "6000",
            },
            {
                "server": "live1",
                "login": 3002,
                "day": "2026-03-01",
                "balance": "4000",
                "equity": "4000",
                "free_margin": "4000",
            },
        ],
    )
    post_ok(
        client,
        "/api/v1/mam/cash-flows/",
        [
            {"id": "dep-1", "server": "live1", "login": 3001, "time": "2026-03-02T09:00:00Z", "amount": "1000"},
            {"id": "dep-2", "server": "live1", "login": 3002, "time": "2026-03-02T09:00:00Z", "amount": "500"},
        ],
    )
    post_ok(client, "/api/v1/mam/master-trades/", open_body(ticket=500, lots="2.00"))
    # For the fuzzer: opened long ago (before any snapshot, so nothing is allocated) and large, so that almost any
    # schema-conforming close (a time, a volume) is one it can make.
    big = open_body(ticket=501, lots="99999999999.00", open_time="1970-01-02T00:00:00Z")
    post_ok(client, "/api/v1/mam/master-trades/", big)
    return {"group": GROUP, "ticket": 500}
