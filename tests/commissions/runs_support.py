"""Build a small broker through the public API, for the run, journal and statement tests."""

from __future__ import annotations

PAST = "2026-01-01T00:00:00Z"


def post_ok(client, path, body, *, expect=(200, 201, 202)):
    response = client.post(path, body, format="json")
    assert response.status_code in expect, (path, response.status_code, response.content[:2000])
    return response.json() if response.content else None


EURUSD = {
    "symbol": "EURUSD",
    "group": "forex_major",
    "base": "EUR",
    "quote": "USD",
    "contract_size": "100000",
    "pip_size": "0.0001",
    "aliases": ["EURUSD.m"],
}
USDJPY = {**EURUSD, "symbol": "USDJPY", "base": "USD", "quote": "JPY", "pip_size": "0.01", "aliases": []}


def setup_reference(client, days=None):
    """EURUSD and USDJPY with EUR and JPY rates for ``days`` (default March and April 2026)."""
    post_ok(client, "/api/v1/instruments/", [EURUSD, USDJPY])
    if days is None:
        days = [f"2026-03-{d:02d}" for d in range(1, 32)] + [f"2026-04-{d:02d}" for d in range(1, 31)]
    rates = [{"currency": "EUR", "day": d, "usd_rate": "1.08"} for d in days]
    rates += [{"currency": "JPY", "day": d, "usd_rate": "0.0067"} for d in days]
    post_ok(client, "/api/v1/rates/", rates)


def setup_chain(
    client, *, model="differential", master_rate="7", sub_rate="5", shares=(), override_pct=(), effective_from=None
):
    """Program, plans, a master IB, its sub-IB and one client account, as a broker sets them up: without dates
    (DOMAIN.md 4.0: set-up is not history, so they hold for every earlier trade) unless ``effective_from`` is given."""
    dated = {} if effective_from is None else {"effective_from": effective_from}
    post_ok(
        client,
        "/api/v1/programs/",
        {"code": "prog", "name": "Program", "model": model, "shares": list(shares), "override_pct": list(override_pct)},
    )
    for code, rate in (("plan-master", master_rate), ("plan-sub", sub_rate)):
        post_ok(client, "/api/v1/plans/", {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}]})
    post_ok(
        client,
        "/api/v1/partners/",
        {
            "code": "master",
            "name": "Master IB",
            "program": "prog",
            "plan": "plan-master",
            **dated,
            "payout_method": "bank",
            "payout_account": "DE00 1234",
        },
    )
    post_ok(
        client,
        "/api/v1/partners/",
        {
            "code": "sub",
            "name": "Sub IB",
            "program": "prog",
            "parent": "master",
            "plan": "plan-sub",
            **dated,
        },
    )
    post_ok(
        client,
        "/api/v1/accounts/",
        [
            {
                "server": "live1",
                "login": 1001,
                "currency": "USD",
                "group": "standard",
                "partner": "sub",
                "earns_commission": True,
                **dated,
            }
        ],
    )


def trade(ticket, *, lots="1.00", symbol="EURUSD", close="2026-03-10T12:00:00Z", status="closed", login=1001):
    return {
        "server": "live1",
        "ticket": ticket,
        "login": login,
        "symbol": symbol,
        "side": "buy",
        "lots": lots,
        "open_time": "2026-03-10T10:00:00Z",
        "open_price": "1.08000",
        "close_time": close,
        "close_price": "1.08100",
        "profit": "100.00",
        "swap": "0",
        "commission": "-7.00",
        "status": status,
    }
