"""Fee engine benchmark (not a test): compute_fees on generated members with daily snapshots and some flows.

Run: .venv/bin/python tests/engine/mam_fees/perf_fees.py [--members 10000] [--days 31] [--repeat 3]
Prints the best wall-clock and CPU time of ``compute_fees`` (inputs built beforehand, not timed), in seconds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from mam.engine.fees import FeeTerms, compute_fees
from mam.vocabulary import FlowMode


def generate(members: int, days: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    start = date(2024, 3, 1)
    end = start + timedelta(days=days)
    member_rows, snapshot_rows, flow_rows = [], [], []
    for login in range(members):
        joined = start - timedelta(days=400) if login % 10 else start + timedelta(days=rng.randrange(days))
        member_rows.append(
            {
                "server": "MT5",
                "login": login,
                "places": 2,
                "joined": joined,
                "left": end - timedelta(days=3) if login % 50 == 0 else None,
                "hwm": Decimal(rng.randrange(500_000, 2_000_000)).scaleb(-2) if login % 10 else None,
                "accrue_from": start if login % 10 else None,
            }
        )
        equity = rng.randrange(500_000, 2_000_000)
        for offset in range(-1, days):
            equity += rng.randrange(-20_000, 21_000)
            day = start + timedelta(days=offset)
            snapshot_rows.append(
                {
                    "server": "MT5",
                    "login": login,
                    "day": day,
                    "balance": Decimal(equity - 1_000).scaleb(-2),
                    "equity": Decimal(equity).scaleb(-2),
                }
            )
        if login % 5 == 0:  # one account in five moves money during the month
            day = start + timedelta(days=rng.randrange(days))
            amount = rng.choice([-1, 1]) * rng.randrange(10_000, 200_000)
            amount = Decimal(amount).scaleb(-2)
            flow_rows.append({"server": "MT5", "login": login, "day": day, "seq": 1, "amount": amount})
    return {
        "terms": FeeTerms(
            management_rate=Decimal("0.02"),
            performance_rate=Decimal("0.2"),
            hurdle_pct=Decimal("0.5"),
            flow_mode=FlowMode.PROPORTIONAL,
            ib_fee_share_pct=Decimal(10),
        ),
        "period_start": start,
        "period_end": end,
        "members": pd.DataFrame(member_rows),
        "snapshots": pd.DataFrame(snapshot_rows),
        "flows": pd.DataFrame(flow_rows, columns=["server", "login", "day", "seq", "amount"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    inputs = generate(args.members, args.days)
    best_wall = best_cpu = None
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = compute_fees(**inputs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best_wall = wall if best_wall is None else min(best_wall, wall)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    print(
        f"{args.members} members x {args.days} days ({len(inputs['snapshots'])} snapshots,"
        f" {len(inputs['flows'])} flows): {len(result.events)} events;"
        f" best of {args.repeat}: wall {best_wall:.3f} s, cpu {best_cpu:.3f} s"
    )


if __name__ == "__main__":
    main()
