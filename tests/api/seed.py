"""A small broker seeded through the public API for the contract tests: two partners, a client account, two
instruments with rates, trades, an approved run (March) and a computed one (April). ``real_path_parameters`` names a
real object for every path parameter, so the fuzzer's detail requests also reach existing objects."""

from __future__ import annotations

from dataclasses import dataclass

from tests.commissions.runs_support import post_ok, setup_chain, setup_reference, trade


@dataclass(frozen=True)
class Seeded:
    approved_run: int
    computed_run: int
    trade_import: int

    def path_parameters(self) -> dict[str, dict]:
        """OpenAPI path template → real values for its parameters."""
        return {
            "/api/v1/accounts/{server}/{login}/": {"server": "live1", "login": 1001},
            "/api/v1/accounts/{server}/{login}/attribute/": {"server": "live1", "login": 1001},
            "/api/v1/partners/{code}/": {"code": "sub"},
            "/api/v1/partners/{code}/chain/": {"code": "sub"},
            "/api/v1/partners/{code}/downline/": {"code": "master"},
            "/api/v1/partners/{code}/move/": {"code": "sub"},
            "/api/v1/partners/{code}/statement/": {"code": "sub"},
            "/api/v1/partners/{code}/tokens/": {"code": "sub"},
            "/api/v1/plans/{code}/": {"code": "plan-sub"},
            "/api/v1/programs/{code}/": {"code": "prog"},
            "/api/v1/runs/{id}/": {"id": self.approved_run},
            "/api/v1/runs/{id}/approve/": {"id": self.computed_run},
            "/api/v1/trade-imports/{id}/": {"id": self.trade_import},
            "/api/v1/trades/{server}/{ticket}/": {"server": "live1", "ticket": 1},
        }


def seed_broker(client) -> Seeded:
    setup_reference(client)
    setup_chain(client, master_rate="7", sub_rate="5")
    post_ok(client, "/api/v1/rebates/", {"partner": "sub", "account": {"server": "live1", "login": 1001}, "pct": "10"})
    ingest = post_ok(
        client,
        "/api/v1/trades/",
        [trade(1, lots="1.25"), trade(2, lots="0.10", symbol="USDJPY"), trade(3, close="2026-04-02T09:00:00Z")],
    )
    march = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    post_ok(client, f"/api/v1/runs/{march['id']}/approve/", {})
    april = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-04"})
    assert client.get(f"/api/v1/runs/{april['id']}/").json()["status"] == "computed"
    return Seeded(approved_run=march["id"], computed_run=april["id"], trade_import=ingest["import_id"])
