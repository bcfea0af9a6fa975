"""The integration: a master trade allocated over sub-accounts of clients referred by different IBs earns each IB
chain its commission on its clients' allocated lots through the ordinary commission run — the manager, who refers
one of the sub-accounts, included."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

from tests.commissions.runs_support import post_ok

from .support import GROUP, close_body, setup_mam

pytestmark = pytest.mark.django_db(transaction=True)


def _volume_by_partner(client, run_id: int) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    url = "/api/v1/lines/"
    params = {"run": run_id, "kind": "volume", "page_size": 1000}
    for line in client.get(url, params).json()["results"]:
        totals[line["partner"]] += Decimal(line["amount"])
    return dict(totals)


def test_each_ib_chain_is_paid_on_its_clients_allocated_lots(staff_client, django_capture_on_commit_callbacks):
    setup_mam(staff_client)  # ticket 500: 1 lot → 1001 (sub's) 0.50, 2002 (ib2's) 0.35, 2003 (mgr's) 0.15
    post_ok(staff_client, f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body(lots="0.40"))
    post_ok(staff_client, f"/api/v1/mam/master-trades/{GROUP}/500/close/", close_body(lots="0.60"))
    with django_capture_on_commit_callbacks(execute=True):
        run = post_ok(staff_client, "/api/v1/runs/", {"kind": "commissions", "period": "2026-03"})
    detail = staff_client.get(f"/api/v1/runs/{run['id']}/").json()
    assert detail["status"] == "computed", detail
    # Per-lot plans: sub 5, master 7 (differential: master earns 2 above its sub), ib2 4, mgr 3.
    assert _volume_by_partner(staff_client, run["id"]) == {
        "sub": Decimal("2.5"),  # 0.50 lots × 5
        "master": Decimal("1.0"),  # 0.50 lots × (7 − 5)
        "ib2": Decimal("1.4"),  # 0.35 lots × 4
        "mgr": Decimal("0.45"),  # 0.15 lots × 3: the manager is paid as the IB of its client
    }
    trades = staff_client.get("/api/v1/trades/", {"server": "live1", "page_size": 100}).json()["results"]
    mam_trades = [t for t in trades if t["master_ticket"] == 500]
    assert sorted((t["login"], t["lots"]) for t in mam_trades) == [
        (1001, "0.2000"),
        (1001, "0.3000"),
        (2002, "0.1400"),
        (2002, "0.2100"),
        (2003, "0.0600"),
        (2003, "0.0900"),
    ]
