"""Engine benchmark (not a test): time and peak memory of compute_lines on generated trades.

Run: .venv/bin/python tests/engine/perf_engine.py [--trades 1000000] [--partners 5000] [--seed 7] [--model differential]
The lead's ``manage.py bench commissions`` can call ``measure(...)`` and print its dict.
Times are wall clock and process CPU (the CPU figure is the one to compare when other work shares the
machine). Peak memory is the process's peak resident set (ru_maxrss), plus the peak of Python allocations traced
with tracemalloc when ``--trace`` is given (slower; numpy buffers are included).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from commissions.engine import compute_lines, tier_context
from commissions.engine.synthetic import generate_engine_inputs


def _rss_mib() -> float:
    # Linux reports ru_maxrss in KiB; this is a report figure, never money.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(
    n_trades: int = 1_000_000,
    n_partners: int = 5_000,
    seed: int = 7,
    *,
    model: str = "differential",
    chain_depth: int = 5,
    trace: bool = False,
    with_decimals: bool = True,
    chunks: int = 1,
) -> dict:
    """Generate inputs, build the tier context, compute the lines; return timings (s) and memory (MiB)."""
    started = time.perf_counter()
    inputs = generate_engine_inputs(n_trades, n_partners, seed, model=model, chain_depth=chain_depth)
    generated = time.perf_counter()
    rss_inputs = _rss_mib()
    gc.collect()
    if trace:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    context = tier_context(inputs.trades, inputs.trade_chains, inputs.plans)
    t1, c1 = time.perf_counter(), time.process_time()
    if chunks <= 1:
        lines = compute_lines(inputs, context, with_decimals=with_decimals)
    else:
        # As a run does it: chunks by account, one shared tier context.
        parts = []
        account = inputs.trades["account_id"].to_numpy() % chunks
        chain_trade_chunk = pd.Series(account, index=inputs.trades["trade_id"]).reindex(inputs.trade_chains["trade_id"])
        for chunk in range(chunks):
            trades = inputs.trades[account == chunk].reset_index(drop=True)
            chains = inputs.trade_chains[(chain_trade_chunk == chunk).to_numpy()].reset_index(drop=True)
            part = dataclasses.replace(inputs, trades=trades, trade_chains=chains)
            parts.append(compute_lines(part, context, with_decimals=with_decimals))
        lines = pd.concat(parts, ignore_index=True)
    t2, c2 = time.perf_counter(), time.process_time()
    traced_peak = None
    if trace:
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return {
        "trades": n_trades,
        "chain_rows": len(inputs.trade_chains),
        "lines": len(lines),
        "model": model,
        "chunks": chunks,
        "with_decimals": with_decimals,
        "generate_s": round(generated - started, 2),
        "tier_context_s": round(t1 - t0, 2),
        "compute_lines_s": round(t2 - t1, 2),
        "engine_total_s": round(t2 - t0, 2),
        "compute_lines_cpu_s": round(c2 - c1, 2),
        "engine_total_cpu_s": round(c2 - c0, 2),
        "rss_after_inputs_mib": round(rss_inputs),
        "peak_rss_mib": round(_rss_mib()),
        "traced_engine_peak_mib": None if traced_peak is None else round(traced_peak),
        "amount_total_usd": _total(lines),
    }


def _total(lines) -> str:
    micros = int(lines["amount_micros"].sum())
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 10**6)
    return f"{sign}{whole}.{frac:06d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default="differential", choices=["differential", "cascade", "override"])
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    parser.add_argument("--micros-only", action="store_true", help="skip the Decimal output columns")
    parser.add_argument("--chunks", type=int, default=1, help="compute in this many chunks by account")
    args = parser.parse_args()
    result = measure(
        args.trades,
        args.partners,
        args.seed,
        model=args.model,
        chain_depth=args.depth,
        trace=args.trace,
        with_decimals=not args.micros_only,
        chunks=args.chunks,
    )
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
