"""The commissions benchmark: one month of trades (1 000 000 by default) under a network of 2 000 IBs up to five levels
deep, differential per-lot plans with client rebates, computed as a real run (``run_request`` and its chunks,
eagerly, in this process), beside the naive way (a per-trade, per-level ORM loop saving lines one by one, measured
on a sample and scaled) and the floor (PostgreSQL COPYing the same number of line rows into a scratch copy of the
lines table).

The data set is generated with numpy and loaded set-based with COPY (programs, plans, partners, links, accounts,
attributions, rebates, trades) -- never through the API. :func:`broker_load` is also used by the run reliability
tests with a few hundred accounts. The benchmark runs in a database of its own (``manage.py bench`` creates it).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.utils import timezone
from psycopg.sql import SQL, Identifier

from commissions import adapters
from commissions.models import AttributionLine, Instrument, PartnerPlan, PlanRule, PlanTerms, Rebate, Trade
from commissions.models import Plan as CommissionPlan
from commissions.services import run_kind as run_kind_module
from commissions.services.run_kind import CommissionRunKind
from commissions.services.trade_ingest import trades_ingest_frame
from config.celery import app
from core.periods import SINCE_ALWAYS, server_period
from core.pgcopy import copy_frame
from ledger.models import ConversionRate, JournalEntry, JournalTransaction
from partners.models import (
    AccountAttribution,
    AccountTerms,
    ClientAccount,
    Partner,
    PartnerLink,
    PartnerProgram,
    PartnerStatus,
    Program,
    ProgramTerms,
)
from partners.models.network import new_referral_code
from runs.line_store import partition_index_statements, run_lines_prepare, run_lines_publish, run_lines_table
from runs.models import Run
from runs.registry import run_source_prefix
from runs.services import chunks as chunks_module
from runs.services import lifecycle
from runs.services import requests as requests_module
from runs.services.approve import run_approve
from runs.services.chunks import chunk_process
from runs.services.lifecycle import run_start
from runs.services.requests import run_request

from .generate import INSTRUMENTS
from .registry import Measurement, register

NAIVE_SAMPLE = 10_000
LINES = AttributionLine._meta.db_table
PERIOD = "2026-03"
# Per-lot USD rate of the plan of an IB at each depth (0 = top of the tree): differential pays each upline IB the
# difference between its rate and the rate below it, so deeper IBs get lower rates.
DEPTH_RATES = ("10", "8.5", "7", "5.5", "4")
LOADED_MODELS = (
    Partner, PartnerLink, PartnerStatus, PartnerProgram, PartnerPlan, ClientAccount, AccountTerms, AccountAttribution,
    Rebate, Trade,
)  # fmt: skip
REBATE_PCT = "20"
REBATE_PER_LOT = "1.5"
# Rough USD value of one unit of each currency; rates are written as exact 6-dp text.
USD_RATES = {"EUR": "1.08", "GBP": "1.27", "JPY": "0.0067", "CAD": "0.74", "CHF": "1.13", "AUD": "0.66",
             "NZD": "0.61", "XAU": "2035", "BTC": "42500"}  # fmt: skip


@dataclass(frozen=True)
class BrokerShape:
    """How big a generated broker is. ``prefix`` keeps codes, logins and servers apart from other data."""

    trades: int
    ibs: int
    accounts: int
    max_depth: int = 5
    seed: int = 7
    period: str = PERIOD
    prefix: str = "bench"
    # Every IB owns an account (the first ``ibs`` accounts, one each) and every account trades (the first
    # ``accounts`` trades, one each): ``bench payouts`` needs every IB to earn.
    every_ib_earns: bool = False


@dataclass(frozen=True)
class BrokerLoaded:
    partners: int
    accounts: int
    trades: int
    rebates: int
    seconds: float


def broker_load(*, shape: BrokerShape, write: Callable[[str], None] = lambda _: None) -> BrokerLoaded:
    """Generate a broker of ``shape`` and COPY it into the database in one transaction.

    Every IB is active on a differential per-lot plan by depth; one IB in five rebates 20 % to all its clients and
    one account in twenty gets a 1.5 USD per-lot rebate from its own IB (IBs without a blanket rebate only). Trades
    close inside ``shape.period`` on ``USD`` accounts of server ``<prefix>-live``.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(shape.seed)
    bounds = server_period(shape.period)
    since = bounds.start - timedelta(days=60)
    now = timezone.now()
    with transaction.atomic():
        instruments = _ensure_reference_data(bounds.start.date() - timedelta(days=5), bounds.end.date())
        program_id = _insert_returning_id(
            f"INSERT INTO {Program._meta.db_table} (created_at, updated_at, code, name, model, max_depth, shares, "
            "override_pct, min_payout, currency) "
            "VALUES (%s, %s, %s, %s, 'differential', 10, '{}', '{}', 0, 'USD') RETURNING id",
            [now, now, f"{shape.prefix}-prog", f"{shape.prefix} program"],
        )
        plan_ids = []
        for depth, rate in enumerate(DEPTH_RATES[: shape.max_depth]):
            plan_id = _insert_returning_id(
                f"INSERT INTO {CommissionPlan._meta.db_table} "
                "(created_at, updated_at, code, name, currency, both_legs, tier_mode) "
                "VALUES (%s, %s, %s, %s, 'USD', false, 'retroactive') RETURNING id",
                [now, now, f"{shape.prefix}-plan-{depth}", f"Depth {depth} plan"],
            )
            rule_id = _insert_returning_id(
                f"INSERT INTO {PlanRule._meta.db_table} "
                "(plan_id, type, symbol_group, account_group, rate, priority, active) "
                "VALUES (%s, 'per_lot', '', '', %s, 100, true) RETURNING id",
                [plan_id, Decimal(rate)],
            )
            # The plan's content as its terms since always, as ``plan_upsert`` records it.
            terms_id = _insert_returning_id(
                f"INSERT INTO {PlanTerms._meta.db_table} (plan_id, valid_from, currency, both_legs, tier_mode, tiers) "
                "VALUES (%s, %s, 'USD', false, 'retroactive', '[]') RETURNING id",
                [plan_id, SINCE_ALWAYS],
            )
            _execute(
                f"INSERT INTO {PlanTerms.rules.through._meta.db_table} (planterms_id, planrule_id) VALUES (%s, %s)",
                [terms_id, rule_id],
            )
            plan_ids.append(plan_id)
        _execute(
            f"INSERT INTO {ProgramTerms._meta.db_table} "
            "(program_id, valid_from, model, max_depth, shares, override_pct) "
            "VALUES (%s, %s, 'differential', 10, '{}', '{}')",
            [program_id, SINCE_ALWAYS],
        )

        parents, depths = _tree(rng, shape.ibs, shape.max_depth)
        codes = [f"{shape.prefix}-ib-{i:05d}" for i in range(shape.ibs)]
        copy_frame(
            Partner._meta.db_table,
            pd.DataFrame(
                {
                    "created_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                    "code": codes,
                    "name": [f"IB {i}" for i in range(shape.ibs)],
                    "email": "",
                    "status": "active",
                    "payout_currency": "USD",
                    "payout_method": "",
                    "payout_account": "",
                    "program_id": program_id,
                    # COPY skips Django's Python default: each partner gets its own code as a created one would.
                    "referral_code": [new_referral_code() for _ in codes],
                }
            ),
        )
        partner_ids = _ids_by_key(f"SELECT code, id FROM {Partner._meta.db_table} WHERE code = ANY(%s)", codes)
        pid = np.array([partner_ids[c] for c in codes], dtype=np.int64)
        parent_ids = pd.array([pid[p] if p >= 0 else pd.NA for p in parents], dtype="Int64")
        copy_frame(
            PartnerStatus._meta.db_table,
            pd.DataFrame({"partner_id": pid, "status": "active", "valid_from": SINCE_ALWAYS.isoformat()}),
        )
        copy_frame(
            PartnerProgram._meta.db_table,
            pd.DataFrame({"partner_id": pid, "program_id": program_id, "valid_from": SINCE_ALWAYS.isoformat()}),
        )
        copy_frame(
            PartnerLink._meta.db_table,
            pd.DataFrame({"partner_id": pid, "parent_id": parent_ids, "valid_from": since.isoformat()}),
        )
        copy_frame(
            PartnerPlan._meta.db_table,
            pd.DataFrame(
                {"partner_id": pid, "plan_id": [plan_ids[d] for d in depths], "valid_from": since.isoformat()}
            ),
        )

        server = f"{shape.prefix}-live"
        logins = 1_000_000 + np.arange(shape.accounts, dtype=np.int64)
        copy_frame(
            ClientAccount._meta.db_table,
            pd.DataFrame(
                {
                    "created_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                    "server": server,
                    "login": logins,
                    "currency": "USD",
                    "group": "standard",
                    "earns_commission": True,
                }
            ),
        )
        account_ids = _ids_by_key(
            f"SELECT login, id FROM {ClientAccount._meta.db_table} WHERE server = %s AND login = ANY(%s)",
            logins.tolist(),
            server,
        )
        aid = np.array([account_ids[int(login)] for login in logins], dtype=np.int64)
        copy_frame(
            AccountTerms._meta.db_table,
            pd.DataFrame(
                {
                    "account_id": aid,
                    "group": "standard",
                    "earns_commission": True,
                    "valid_from": SINCE_ALWAYS.isoformat(),
                }
            ),
        )
        owner = rng.integers(0, shape.ibs, shape.accounts)
        if shape.every_ib_earns:
            owner[: shape.ibs] = np.arange(min(shape.ibs, shape.accounts))
        copy_frame(
            AccountAttribution._meta.db_table,
            pd.DataFrame({"account_id": aid, "partner_id": pid[owner], "valid_from": since.isoformat()}),
        )

        blanket = np.arange(shape.ibs) % 5 == 0
        per_account = (rng.random(shape.accounts) < 0.05) & ~blanket[owner]
        rebates = pd.concat(
            [
                pd.DataFrame({"partner_id": pid[blanket], "account_id": pd.NA, "pct": REBATE_PCT, "per_lot": pd.NA}),
                pd.DataFrame(
                    {
                        "partner_id": pid[owner[per_account]],
                        "account_id": aid[per_account],
                        "pct": pd.NA,
                        "per_lot": REBATE_PER_LOT,
                    }
                ),
            ]
        ).assign(valid_from=since.isoformat())
        copy_frame(Rebate._meta.db_table, rebates)

        write(f"commissions: {shape.ibs:,} IBs, {shape.accounts:,} accounts, {len(rebates):,} rebates loaded")
        for start in range(0, shape.trades, 250_000):
            count = min(250_000, shape.trades - start)
            trades = _trades(rng, count, start, server, logins, instruments, bounds, now, cover=shape.every_ib_earns)
            copy_frame(Trade._meta.db_table, trades)
            write(f"commissions: {start + count:,}/{shape.trades:,} trades loaded")
    with connection.cursor() as cursor:  # fresh statistics, so the run's queries are planned for this size
        for model in LOADED_MODELS:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return BrokerLoaded(
        partners=shape.ibs,
        accounts=shape.accounts,
        trades=shape.trades,
        rebates=len(rebates),
        seconds=time.perf_counter() - started,
    )


def _tree(rng: np.random.Generator, ibs: int, max_depth: int) -> tuple[list[int], list[int]]:
    """Parents (index, -1 for a top IB) and depths: a tenth of the IBs are top level, the others hang under an
    earlier IB that still has room below it (so chains are at most ``max_depth`` long)."""
    roots = max(1, ibs // 10)
    parents = [-1] * roots
    depths = [0] * roots
    open_ = list(range(roots)) if max_depth > 1 else []
    for i in range(roots, ibs):
        if not open_:
            parents.append(-1)
            depths.append(0)
            continue
        # Prefer recent IBs so deep chains exist, not only a wide first level.
        parent = open_[int(len(open_) * (1 - rng.random() ** 2))]
        parents.append(parent)
        depths.append(depths[parent] + 1)
        if depths[-1] < max_depth - 1:
            open_.append(i)
    return parents, depths


def _trades(rng, count, offset, server, logins, instruments, bounds, now, *, cover=False) -> pd.DataFrame:
    """``count`` closed trades on skewed accounts (a few very active ones), with lots 0.01-5.00 and exact prices;
    with ``cover``, the first trade of each account comes first (ticket order), one per account."""
    weights = np.array([i[7] for i in INSTRUMENTS])
    which = rng.choice(len(INSTRUMENTS), size=count, p=weights / weights.sum())
    symbols = np.array([i[0] for i in INSTRUMENTS], dtype=object)[which]
    digits = np.array([i[5] for i in INSTRUMENTS])[which]
    typical = np.array([i[6] for i in INSTRUMENTS])[which]
    account = (len(logins) * rng.random(count) ** 2).astype(np.int64)
    if cover:
        first = offset + np.arange(count)
        account = np.where(first < len(logins), first, account)
    span = int((bounds.end - bounds.start).total_seconds())
    start = pd.Timestamp(bounds.start).tz_convert("UTC")
    close = start + pd.to_timedelta(60 + rng.integers(0, span - 120, count), unit="s")
    hold = pd.to_timedelta(rng.integers(30, 86_400, count), unit="s")
    open_price = typical + rng.integers(-500, 500, count)
    close_price = open_price + rng.integers(-300, 300, count)
    lots = rng.integers(1, 501, count)
    return pd.DataFrame(
        {
            "server": server,
            "ticket": 10_000_000 + offset + np.arange(count),
            "version": 1,
            "is_current": True,
            "login": logins[account],
            "symbol": symbols,
            "instrument_id": [instruments[s] for s in symbols],
            "side": np.where(rng.random(count) < 0.5, 1, -1),
            "lots": _scaled(lots, 2),
            "open_time": (close - hold).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open_price": _scaled(open_price, digits),
            "close_time": close.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "close_price": _scaled(close_price, digits),
            "profit": "0",
            "swap": "0",
            "commission": _scaled(-lots * 7, 2),
            "status": "closed",
            "content_hash": "0" * 32,
            "ingested_at": now.isoformat(),
        }
    )


def _scaled(values: np.ndarray, digits) -> list[str]:
    """Integers as exact decimal text with ``digits`` decimals (per row or one for all); no float involved."""
    digits = np.broadcast_to(np.asarray(digits), values.shape)
    out = []
    for v, d in zip(values.tolist(), digits.tolist(), strict=True):
        sign = "-" if v < 0 else ""
        text = str(abs(v)).rjust(d + 1, "0")
        out.append(f"{sign}{text[:-d]}.{text[-d:]}" if d else f"{sign}{text}")
    return out


def _ensure_reference_data(first_day, last_day) -> dict[str, int]:
    """Instruments of the generated mix and a USD rate for every currency and day (existing rows are kept)."""
    for symbol, base, quote, contract, pip, digits, *_ in INSTRUMENTS:
        Instrument.objects.get_or_create(
            symbol=symbol,
            defaults={
                "group": "indices" if symbol == "US30" else "crypto" if base == "BTC" else "forex",
                "base": base,
                "quote": quote,
                "contract_size": Decimal(contract),
                "pip_size": Decimal(pip),
                "digits": digits,
            },
        )
    _execute(
        f"""
        INSERT INTO {ConversionRate._meta.db_table} (currency, day, usd_rate)
        SELECT c.currency, d::date, c.rate::numeric
          FROM unnest(%s::text[], %s::text[]) AS c(currency, rate), generate_series(%s::date, %s::date, '1 day') d
        ON CONFLICT (currency, day) DO NOTHING
        """,
        [list(USD_RATES), list(USD_RATES.values()), first_day, last_day],
    )
    return dict(Instrument.objects.filter(symbol__in=[i[0] for i in INSTRUMENTS]).values_list("symbol", "id"))


def _execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_returning_id(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _ids_by_key(sql: str, keys: list, *extra) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(sql, [*extra, keys])
        return dict(cursor.fetchall())


# --- the benchmark -------------------------------------------------------------------------------------------------


@register("commissions", "Commission run (1M trades, 2,000 IBs, 5 levels, differential + rebates) vs naive ORM loop")
def run(
    *,
    rows: int,
    seed: int,
    directory: Path,
    write: Callable[[str], None],
    progress_factory: Callable[..., object],
) -> list[Measurement]:
    shape = shape_for(rows, seed)
    write(f"commissions: generating {shape}")
    _load_in_child(shape, write)

    measured = _timed_run(shape, write, progress_factory)
    lines = measured.notes["lines_written"]
    parallel = _parallel_run(shape, write, workers=2, expected=measured.notes["totals"])
    naive = _naive(shape, write)
    floor = _floor(measured.notes["run_id"], lines, shape.trades, write)
    approval = _approval(shape, write)
    corrections = _corrections(shape, write)
    return [measured, parallel, naive, *floor, approval, *corrections]


# Shares of the approved period's trades corrected afterwards, each carried by the adjustments of a later period.
CORRECTED_SHARES = (Decimal("0.001"), Decimal("0.01"))


def _corrections(shape: BrokerShape, write) -> list[Measurement]:
    """After the period is approved, correct a share of its trades (lots doubled: new versions through the ordinary
    ingest) and compute the next open period, which has no trades of its own: its run is the adjustments chunk
    (reversals and the corrected versions, priced with the locked run's terms). Its time follows the number of
    corrections, not the locked period's size; each round is approved so the next goes to the following period."""
    results = []
    bounds = server_period(shape.period)
    target = bounds
    step = {Decimal("0.001"): 1000, Decimal("0.01"): 100}
    for round_, share in enumerate(CORRECTED_SHARES, start=1):
        target = server_period(f"{target.next_first_day:%Y-%m}")
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT server, ticket, login, symbol, CASE WHEN side = 1 THEN 'buy' ELSE 'sell' END,
                       (lots * 2)::text, open_time, open_price::text, close_time, close_price::text, profit::text,
                       swap::text, commission::text, status
                  FROM {Trade._meta.db_table}
                 WHERE server = %s AND is_current AND close_time >= %s AND close_time < %s AND ticket %% %s = %s
                """,
                [f"{shape.prefix}-live", bounds.start, bounds.end, step[share], round_],
            )
            columns = ["server", "ticket", "login", "symbol", "side", "lots", "open_time", "open_price",
                       "close_time", "close_price", "profit", "swap", "commission", "status"]  # fmt: skip
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
        write(f"commissions: correcting {len(frame):,} trades ({share:%}) of the approved {shape.period} …")
        started = time.perf_counter()
        trades_ingest_frame(frame=frame, source_name="bench corrections")
        ingest_seconds = time.perf_counter() - started
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            started = time.perf_counter()
            result = run_request(kind="commissions", period=target.label)
            seconds = time.perf_counter() - started
        finally:
            app.conf.task_always_eager = eager
        run_ = Run.objects.get(pk=result.run.pk)
        if run_.status != Run.Status.COMPUTED:
            raise CommandError(f"the adjustments run did not compute: {run_.status} {run_.error}")
        lines = AttributionLine.objects.filter(run=run_).count()
        write(
            f"commissions: {target.label} carried {len(frame):,} corrections in {seconds:.1f} s "
            f"({lines:,} reversal and adjustment lines); ingest {ingest_seconds:.1f} s"
        )
        run_approve(run_id=run_.pk)
        results.append(
            Measurement(
                label=f"adjustments run for {share:%} of the period corrected",
                rows=len(frame),
                seconds=seconds,
                notes={"lines": lines, "ingest_s": round(ingest_seconds, 1), "period": target.label},
            )
        )
    return results


def _approval(shape: BrokerShape, write) -> Measurement:
    """Approve the period's computed run: its postings (one per beneficiary, kind and currency, summed from its
    lines), the journal rows, the period lock — one transaction, timed as finance would wait for it."""
    run_ = Run.objects.get(kind="commissions", period=shape.period, status=Run.Status.COMPUTED)
    write(f"commissions: approving run {run_.pk} …")
    started = time.perf_counter()
    run_approve(run_id=run_.pk)
    seconds = time.perf_counter() - started
    posted = JournalTransaction.objects.filter(source_key__startswith=run_source_prefix(run_))
    entries = JournalEntry.objects.filter(transaction__in=posted).count()
    write(f"commissions: approved in {seconds:.1f} s: {posted.count():,} transactions, {entries:,} entries")
    return Measurement(
        label="approval (postings from the lines, journal, lock)",
        rows=shape.trades,
        seconds=seconds,
        notes={"run_id": run_.pk, "transactions": posted.count(), "entries": entries},
    )


def _chunk_worker(queue) -> None:
    """A worker process, as a Celery worker would be: claim and process chunks until none are left."""
    while (item := queue.get()) is not None:
        chunk_process(run_id=item[0], index=item[1], worker=f"bench-worker-{os.getpid()}")
    connections.close_all()


def _parallel_run(shape: BrokerShape, write, *, workers: int, expected: dict) -> Measurement:
    """Recompute the period with ``workers`` processes sharing its chunks (what ``workers`` Celery workers on this
    machine do): each claims chunks under the lease protocol; whoever settles the last one publishes the run."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    write(f"commissions: recomputing run {shape.period} with {workers} worker processes …")
    connections.close_all()
    started = time.perf_counter()
    processes = [context.Process(target=_chunk_worker, args=(queue,)) for _ in range(workers)]
    for process in processes:
        process.start()
    dispatch = requests_module.dispatch_start
    requests_module.dispatch_start = lambda run_id: None  # this process starts the run itself, below
    try:
        result = run_request(kind="commissions", period=shape.period, recompute=True)
    finally:
        requests_module.dispatch_start = dispatch
    run_start(run_id=result.run.pk, enqueue=lambda run_id, index: queue.put((run_id, index)))
    for _ in processes:
        queue.put(None)
    for process in processes:
        process.join()
    run_ = Run.objects.get(pk=result.run.pk)
    if run_.status != Run.Status.COMPUTED or run_.totals != expected:
        raise CommandError(f"the parallel run did not compute the same totals: {run_.status} {run_.error}")
    seconds = time.perf_counter() - started
    claimed = sorted(set(run_.chunks.values_list("claimed_by", flat=True)))
    write(f"commissions: {workers} workers computed the run in {seconds:.1f} s")
    return Measurement(
        label=f"run ({workers} worker processes sharing the chunks)",
        rows=shape.trades,
        seconds=seconds,
        notes={"run_id": run_.pk, "workers_used": len(claimed), "totals_equal_single_process": True},
    )


def _load_child(shape: BrokerShape) -> None:
    loaded = broker_load(shape=shape, write=print)
    print(f"commissions: data set loaded with COPY in {loaded.seconds:.1f} s", flush=True)


def _load_in_child(shape: BrokerShape, write: Callable[[str], None]) -> None:
    """Generate and load in a forked child so this process's peak RSS measures the run alone."""
    connections.close_all()
    child = multiprocessing.get_context("fork").Process(target=_load_child, args=(shape,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise CommandError(f"generating the data set failed (exit code {child.exitcode})")


@contextmanager
def _phase_timers(timings: dict[str, float]) -> Iterator[None]:
    """Time the run's phases by wrapping the functions the run calls where they are looked up (restored after)."""
    targets = [
        (CommissionRunKind, "plan_chunks", "plan chunks"),
        (CommissionRunKind, "prepare", "tier context"),
        (run_kind_module, "load_trades", "load trades (COPY out)"),
        (adapters, "engine_inputs", "load chains and terms"),
        (adapters, "compute_lines", "compute (engine)"),
        (adapters, "shape_lines", "shape lines"),
        (chunks_module, "run_lines_write", "write (COPY into the run's lines table)"),
        (lifecycle, "run_lines_publish", "index + attach the run's lines"),
        (lifecycle, "_summed_totals", "totals (from the chunks' totals)"),
    ]
    originals = []
    for owner, name, label in targets:
        original = getattr(owner, name)
        originals.append((owner, name, original))

        def timed(*args, __original=original, __label=label, **kwargs):
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                timings[__label] = timings.get(__label, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed_run(shape: BrokerShape, write, progress_factory) -> Measurement:
    timings: dict[str, float] = {}
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the whole run in this process: run_request, run_start, every chunk
    write(f"commissions: computing run {shape.period} eagerly …")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with _phase_timers(timings):
            started = time.perf_counter()
            cpu = time.process_time()
            result = run_request(kind="commissions", period=shape.period, recompute=True)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
    finally:
        app.conf.task_always_eager = eager
    run_ = Run.objects.get(pk=result.run.pk)
    if run_.status != Run.Status.COMPUTED:
        raise CommandError(f"the run did not compute: {run_.status} {run_.error}")
    # Nested phases are not counted twice: the tier context contains loads and an engine pass.
    nested = ("tier context",)
    timed = sum(v for k, v in timings.items() if k not in nested)
    timings["other (claims, commits)"] = seconds - timed
    lines = AttributionLine.objects.filter(run=run_).count()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    write(f"commissions: run computed in {seconds:.1f} s: {lines:,} lines, {run_.chunks_total} chunks")
    return Measurement(
        label="run (eager: run_request + chunks)",
        rows=shape.trades,
        seconds=seconds,
        notes={
            "run_id": run_.pk,
            "lines_written": lines,
            "chunks": run_.chunks_total,
            "peak_rss_mb": round(peak_mb),
            "rss_before_run_mb": round(rss_before / 1024),
            "python_cpu_s": round(cpu, 1),
            "phases_s": {k: round(v, 2) for k, v in timings.items()},
            "totals": run_.totals,
        },
    )


SCALE_SIZES = (250_000, 1_000_000, 2_000_000)


def shape_for(rows: int, seed: int) -> BrokerShape:
    """The benchmark broker for ``rows`` trades: about one IB per 100 trades (2,000 at most), one account per 20."""
    return BrokerShape(
        trades=rows, ibs=min(2_000, max(10, rows // 100)), accounts=min(50_000, max(50, rows // 20)), seed=seed
    )


def _scale_child(rows: int, seed: int, out) -> None:
    """In a forked child of its own (so its peak RSS is the run's alone): time the run of the loaded broker."""
    measured = _timed_run(shape_for(rows, seed), lambda _: None, None)
    out.send(
        {
            "rows": rows,
            "run_s": round(measured.seconds, 1),
            "lines": measured.notes["lines_written"],
            "chunks": measured.notes["chunks"],
            "peak_rss_mb": measured.notes["peak_rss_mb"],
            "phases_s": measured.notes["phases_s"],
        }
    )


def scale(*, sizes: tuple[int, ...] = SCALE_SIZES, seed: int, run_in_database, write: Callable[[str], None]) -> list:
    """Time the run at each size, each in a fresh scratch database and a forked process of its own (so each peak
    RSS is that size's alone); return one dict per size."""
    results = []
    for rows in sizes:
        with run_in_database(f"commissions_scale_{rows}"):
            write(f"commissions --scale: {rows:,} trades …")
            _load_in_child(shape_for(rows, seed), write)
            connections.close_all()
            parent, child_end = multiprocessing.get_context("fork").Pipe()
            child = multiprocessing.get_context("fork").Process(target=_scale_child, args=(rows, seed, child_end))
            child.start()
            result = parent.recv() if parent.poll(7200) else None
            child.join()
            if child.exitcode != 0 or result is None:
                raise CommandError(f"the {rows:,}-trade run failed (exit code {child.exitcode})")
            write(
                f"commissions --scale: {rows:,} trades run in {result['run_s']} s, peak RSS {result['peak_rss_mb']} MB"
            )
            results.append(result)
    return results


def format_scale(results: list[dict]) -> str:
    lines = [
        "\ncommissions --scale (each size in its own database and process)",
        f"  {'trades':>11} {'lines':>11} {'chunks':>7} {'run s':>8} {'trades/s':>10} {'s per 1M':>9}"
        f" {'peak RSS MB':>12}",
    ]
    for r in results:
        per_million = r["run_s"] * 1_000_000 / r["rows"]
        lines.append(
            f"  {r['rows']:>11,} {r['lines']:>11,} {r['chunks']:>7} {r['run_s']:>8.1f}"
            f" {r['rows'] / r['run_s']:>10,.0f} {per_million:>9.1f} {r['peak_rss_mb']:>12,}"
        )
    for r in results:
        lines.append(f"  {r['rows']:,}: {json.dumps(r['phases_s'])}")
    return "\n".join(lines)


def _naive(shape: BrokerShape, write) -> Measurement:
    """Per trade, per level: look up the account, its IB, each upline and its plan's rate with the ORM, compute the
    differential amount in Decimal and save one AttributionLine at a time (rebates ignored: it is already slower)."""
    sample = min(NAIVE_SAMPLE, shape.trades)
    bounds = server_period(shape.period)
    write(f"commissions: naive ORM loop on {sample:,} trades …")
    started = time.perf_counter()
    saved = 0
    with transaction.atomic():
        naive_run = Run.objects.create(
            kind="commissions",
            period=shape.period,
            period_start=bounds.start,
            period_end=bounds.end,
            status=Run.Status.FAILED,  # not live: it must not collide with the measured run
        )
        # The naive way saves into an indexed table row by row: give the run its (empty) partition first. A
        # published partition refuses new lines (``attributionline_published``); this scratch one, in a transaction
        # rolled back below, takes them, as the naive way's table would.
        run_lines_prepare(parent=LINES, run_id=naive_run.pk)
        run_lines_publish(parent=LINES, run_id=naive_run.pk)
        _admit_row_inserts(run_lines_table(LINES, naive_run.pk))
        trades = Trade.objects.filter(is_current=True, close_time__gte=bounds.start, close_time__lt=bounds.end)
        for trade in trades.order_by("id")[:sample]:
            account = ClientAccount.objects.get(server=trade.server, login=trade.login)
            attribution = (
                AccountAttribution.objects.filter(account=account, valid_from__lte=trade.close_time)
                .order_by("-valid_from")
                .first()
            )
            partner_id = attribution.partner_id if attribution else None
            level, below = 1, Decimal(0)
            while partner_id is not None and level <= 10:
                plan = PartnerPlan.objects.filter(partner_id=partner_id, valid_from__lte=trade.close_time).first()
                rule = PlanRule.objects.filter(plan_id=plan.plan_id, type="per_lot", active=True).first()
                rate = rule.rate - below if rule.rate > below else Decimal(0)
                amount = (trade.lots * rate).quantize(Decimal("0.000001"))
                AttributionLine(
                    run=naive_run,
                    period=shape.period,
                    trade=trade,
                    account=account,
                    partner_id=partner_id,
                    kind="volume",
                    level=level,
                    rule=rule,
                    base_micros=int(trade.lots * 1_000_000),
                    rate_micros=int(rate * 1_000_000),
                    amount_micros=int(amount * 1_000_000),
                ).save()
                saved += 1
                below = max(below, rule.rate)
                link = PartnerLink.objects.filter(partner_id=partner_id, valid_from__lte=trade.close_time).first()
                partner_id = link.parent_id if link else None
                level += 1
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return Measurement(
        label=f"naive ORM loop (sample of {sample:,}, scaled)",
        rows=shape.trades,
        seconds=seconds * shape.trades / sample,
        baseline=True,
        sample_rows=sample,
        notes={"lines_saved_in_sample": saved},
    )


def _admit_row_inserts(partition: str) -> None:
    """Disable the published-lines guard on one scratch partition (the bench database's owner may)."""
    [guard] = [t for t in AttributionLine._meta.triggers if t.name == "attributionline_published"]
    with connection.cursor() as cursor:
        cursor.execute(
            SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                Identifier(partition), Identifier(guard.get_pgid(AttributionLine))
            )
        )


def _floor(run_id: int, lines: int, trades: int, write) -> list[Measurement]:
    """COPY the run's line rows (dumped to a file first) into a scratch copy of the lines table without any index
    (the floor of writing them), then build the lines table's indexes on it as a finished run does."""
    columns = [
        f.column
        for f in AttributionLine._meta.concrete_fields
        if f.column != "id" and not f.generated  # NUMERIC columns are generated by PostgreSQL
    ]
    column_list = ", ".join(f'"{c}"' for c in columns)
    write(f"commissions: floor: COPY of {lines:,} line rows into a scratch table …")
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "lines.copy")
        with connection.cursor() as cursor:
            raw = cursor.connection.cursor()
            with (
                open(dump, "wb") as out,
                raw.copy(
                    f"COPY (SELECT {column_list} FROM {LINES} WHERE run_id = %s) TO STDOUT",
                    [run_id],
                ) as copy,
            ):
                for block in copy:
                    out.write(block)
            cursor.execute("DROP TABLE IF EXISTS bench_line_scratch")
            cursor.execute(
                "CREATE TABLE bench_line_scratch "
                f"(LIKE {LINES} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            )
            try:
                started = time.perf_counter()
                with (
                    transaction.atomic(),
                    open(dump, "rb") as source,
                    raw.copy(f"COPY bench_line_scratch ({column_list}) FROM STDIN") as copy,
                ):
                    while block := source.read(1 << 20):
                        copy.write(block)
                seconds = time.perf_counter() - started
                write("commissions: floor: building the lines' indexes on the scratch table …")
                started = time.perf_counter()
                with transaction.atomic():
                    cursor.execute(
                        "SELECT set_config('maintenance_work_mem', %s, true)", [settings.IBEX_RUN_INDEX_BUILD_MEMORY]
                    )
                    for statement in partition_index_statements(cursor, LINES, "bench_line_scratch"):
                        cursor.execute(statement)
                indexing = time.perf_counter() - started
            finally:
                cursor.execute("DROP TABLE IF EXISTS bench_line_scratch")
    return [
        Measurement(
            label="floor: bare COPY of the run's lines (no index)",
            rows=trades,
            seconds=seconds,
            baseline=True,
            notes={"line_rows_copied": lines},
        ),
        Measurement(
            label="floor + building the lines' indexes once",
            rows=trades,
            seconds=seconds + indexing,
            baseline=True,
            notes={"index_build_s": round(indexing, 2)},
        ),
    ]
