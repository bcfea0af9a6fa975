"""The MAM benchmark, in PostgreSQL on generated data (``manage.py bench mam``, in a database of its own).

(a) Allocation: master trades (10 000 at full size) over one equity-weighted group of 1 000 sub-accounts, each
opened (``master_trade_open``: allocation engine, one allocation row per member) and fully closed
(``master_trade_close``: one closed sub-account trade per member through the ordinary ingest). The services are
per master trade (one open or close per call, as the platform sends them), so that is what is measured: on a sample
of master trades, scaled to the full count (``sample_rows``). No batched path exists, none is faked. Beside it: the
naive per-account loop (ORM ``create`` of each allocation, sub-close and trade, the weights summed in Decimal, on a
smaller sample, scaled) and the floor: a bare COPY of the same number of trade rows (the sampled sub-account trades
dumped and repeated) into an index-free scratch copy of the trades table, on up to ``FLOOR_MAX_ROWS`` rows, scaled.

(b) Fees: one month of daily snapshots (10 000 sub-accounts at full size, groups of 1 000, a deposit for one account
in ten and a withdrawal for one in twenty) computed and approved as a real ``fees`` run (``run_request``, its chunks
eagerly in this process, ``run_approve``). Beside it: the naive per-account loop (ORM reads of each account's
snapshots and flows, the fees summed in Decimal, each line saved with the ORM; on a sample, scaled) and the floor: a
bare COPY of the run's fee lines into an index-free scratch copy of the fee lines table.

Sizes: ``--rows`` caps everything (master trades = min(rows, 10 000), allocation members = min(max(rows // 10, 3),
1 000), fee accounts = min(rows, 10 000)), so the tests run it tiny. The set-up (accounts, members, snapshots) is
loaded set-based and not timed. Money is exact: integer cents turned into ``Decimal``; no float reaches an amount.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from psycopg.sql import SQL, Identifier

from commissions.models import Instrument, Trade
from core.money import round_minor
from core.pgcopy import copy_frame
from mam.models import (
    Allocation,
    CashFlow,
    EquitySnapshot,
    FeeLine,
    MamGroup,
    MasterClose,
    MasterTrade,
    Member,
    SubClose,
)
from mam.services.equity import cash_flows_record
from mam.services.groups import group_upsert
from mam.services.master_trades import master_trade_close, master_trade_open
from partners.models import ClientAccount, Partner
from partners.services.accounts import accounts_upsert
from partners.services.partners import partner_create
from partners.services.programs import program_upsert
from runs.line_store import run_lines_prepare, run_lines_publish, run_lines_table
from runs.models import Run
from runs.services.approve import run_approve
from runs.services.chunks import chunk_process
from runs.services.lifecycle import run_start
from runs.services.requests import run_request

from .registry import Measurement, register

SERVER = "bench-mam"
SYMBOL = "EURUSD"
PERIOD = "2026-03"  # the fees month
ALLOCATION_DAY = date(2026, 5, 4)  # after the fees month: the allocation group is no part of its fee run
MASTER_TRADES = 10_000
ALLOCATION_MEMBERS = 1_000
FEE_ACCOUNTS = 10_000
FEE_GROUP_SIZE = 1_000
SERVICE_SAMPLE = 10  # master trades opened and closed through the services
NAIVE_SAMPLE = 2  # master trades of the naive allocation loop
NAIVE_FEE_SAMPLE = 500  # accounts of the naive fee loop
FLOOR_MAX_ROWS = 1_000_000
TRADES = Trade._meta.db_table
FEE_LINES = FeeLine._meta.db_table


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


@register("mam", "MAM: 10,000 master trades over 1,000 sub-accounts; a month of fees for 10,000 sub-accounts")
def run(
    *,
    rows: int,
    seed: int,
    directory: Path,
    write: Callable[[str], None],
    progress_factory: Callable[..., object],
) -> list[Measurement]:
    rng = np.random.default_rng([seed, 5151])
    masters = min(rows, MASTER_TRADES)
    members = min(max(rows // 10, 3), ALLOCATION_MEMBERS)
    fee_accounts = min(rows, FEE_ACCOUNTS)
    manager = _manager()
    write(f"mam: allocation: {masters:,} master trades over {members:,} sub-accounts")
    group = _allocation_group(rng, manager=manager, members=members)
    allocation = _allocation(rng, group=group, masters=masters, members=members, write=write)
    write(f"mam: fees: a month for {fee_accounts:,} sub-accounts with daily snapshots")
    fees = _fees(rng, manager=manager, accounts=fee_accounts, write=write)
    return [*allocation, *fees]


# --- set-up (not timed) ---------------------------------------------------------------------------------------------


def _manager() -> Partner:
    Instrument.objects.get_or_create(
        symbol=SYMBOL,
        defaults={
            "group": "forex_major",
            "base": "EUR",
            "quote": "USD",
            "contract_size": Decimal(100_000),
            "pip_size": Decimal("0.0001"),
            "digits": 5,
        },
    )
    program = program_upsert(code="bench-mam", name="Bench MAM", model="differential")
    return partner_create(code="bench-manager", name="Bench manager", program=program)


def _accounts(first_login: int, n: int) -> list[ClientAccount]:
    accounts_upsert(
        rows=[{"server": SERVER, "login": first_login + i, "currency": "USD", "partner": None} for i in range(n)]
    )
    return list(
        ClientAccount.objects.filter(server=SERVER, login__gte=first_login, login__lt=first_login + n).order_by("login")
    )


def _members(group: MamGroup, accounts: list[ClientAccount], joined: date) -> list[Member]:
    Member.objects.bulk_create([Member(group=group, account=a, joined=joined) for a in accounts], batch_size=5_000)
    return list(Member.objects.filter(group=group).select_related("account").order_by("account__login"))


def _snapshots(accounts: list[ClientAccount], days: list[date], cents: np.ndarray) -> int:
    """COPY ``cents[account, day]`` as equity (balance the same less open P&L, free margin 80 %)."""
    ids = np.repeat([a.pk for a in accounts], len(days))
    day_col = np.tile(np.array([d.isoformat() for d in days], dtype=object), len(accounts))
    flat = cents.reshape(-1)
    frame = pd.DataFrame(
        {
            "account_id": ids,
            "day": day_col,
            "balance": [_money(c - c % 1_000) for c in flat.tolist()],
            "equity": [_money(c) for c in flat.tolist()],
            "free_margin": [_money(c * 4 // 5) for c in flat.tolist()],
            "updated_at": timezone.now().isoformat(),
        }
    )
    return copy_frame(EquitySnapshot._meta.db_table, frame)


def _allocation_group(rng: np.random.Generator, *, manager: Partner, members: int) -> MamGroup:
    group, _ = group_upsert(code="bench-alloc", manager=manager, master_server=SERVER, master_login=1, method="equity")
    accounts = _accounts(100_000, members)
    day = ALLOCATION_DAY
    _members(group, accounts, joined=day)
    _snapshots(accounts, [day], rng.integers(1_000_00, 100_000_00, size=(members, 1)))
    return group


# --- (a) allocation ------------------------------------------------------------------------------------------------


def _master_moments(index: int) -> tuple[datetime, datetime]:
    opened = datetime.combine(ALLOCATION_DAY, datetime.min.time(), _tz()) + timedelta(hours=8, seconds=17 * index)
    return opened, opened + timedelta(hours=3)


def _master_lots(rng: np.random.Generator, members: int) -> Decimal:
    """A master volume of 0.10 to 0.20 lots per sub-account (50 to 100 lots over 1 000 sub-accounts, equities of 1 000
    to 100 000): nearly every sub-account gets a share, so the sub-account trades are about one per member."""
    return Decimal(int(rng.integers(10, 21)) * members).scaleb(-2)


def _allocation(rng: np.random.Generator, *, group: MamGroup, masters: int, members: int, write) -> list[Measurement]:
    sample = min(masters, SERVICE_SAMPLE)
    write(f"mam: allocation: services on {sample:,} master trades (open + full close each) …")
    opens = closes = 0.0
    written = 0
    for index in range(sample):
        opened, closed = _master_moments(index)
        lots = _master_lots(rng, members)
        started = time.perf_counter()
        master_trade_open(
            group=group,
            ticket=1_000_000 + index,
            symbol=SYMBOL,
            side="buy",
            lots=lots,
            open_time=opened,
            open_price=Decimal("1.08000"),
        )
        opens += time.perf_counter() - started
        started = time.perf_counter()
        result = master_trade_close(
            group=group, ticket=1_000_000 + index, lots=lots, close_time=closed, close_price=Decimal("1.08125")
        )
        closes += time.perf_counter() - started
        written += sum(1 for s in result.sub_closes if s.ticket is not None)
    scale = masters / sample
    # The rows are the sub-account trades the full count would write (those of the sample, scaled).
    sub_rows = written * masters // sample
    service = Measurement(
        part="allocation",
        label=f"services: open + close per master trade ({sample}, scaled)",
        rows=sub_rows,
        seconds=(opens + closes) * scale,
        sample_rows=sample * members,
        notes={
            "master_trades": masters,
            "members": members,
            "open_s_per_master": round(opens / sample, 4),
            "close_s_per_master": round(closes / sample, 4),
            "sub_trades_written_in_sample": written,
        },
    )
    naive = _naive_allocation(group=group, masters=masters, members=members, rows=sub_rows, write=write)
    floor = _trade_floor(rows=sub_rows, write=write)
    return [service, naive, floor]


def _naive_allocation(*, group: MamGroup, masters: int, members: int, rows: int, write) -> Measurement:
    """Per master trade, per account: read its latest snapshot, share the lots by equity in Decimal (floored to the
    step, no residual handling: already slower), and ``create`` the allocation, then on the close the trade, the
    sub-close and the allocation's update, one row at a time. Rolled back afterwards."""
    sample = min(masters, NAIVE_SAMPLE)
    write(f"mam: allocation: naive ORM loop on {sample:,} master trades …")
    instrument = Instrument.objects.get(symbol=SYMBOL)
    step = Decimal("0.01")
    written = 0
    started = time.perf_counter()
    with transaction.atomic():
        for index in range(sample):
            opened, closed = _master_moments(index)
            lots = Decimal(15 * members).scaleb(-2)
            master = MasterTrade.objects.create(
                group=group,
                ticket=2_000_000 + index,
                symbol=SYMBOL,
                instrument=instrument,
                side=Trade.Side.BUY,
                lots=lots,
                open_time=opened,
                open_price=Decimal("1.08000"),
                lots_open=lots,
                allocated=lots,
                unallocated=Decimal(0),
            )
            equities = []
            for member in Member.objects.filter(group=group).select_related("account").order_by("account__login"):
                snapshot = EquitySnapshot.objects.filter(account=member.account).order_by("-day").first()
                equities.append((member, snapshot.equity))
            total = sum((e for _, e in equities), Decimal(0))
            allocations = []
            for member, equity in equities:
                share = (lots * equity / total // step) * step
                allocations.append(
                    Allocation.objects.create(
                        master_trade=master, member=member, weight=equity, target=share, lots=share, lots_open=share
                    )
                )
            close = MasterClose.objects.create(
                master_trade=master,
                seq=1,
                lots=lots,
                close_time=closed,
                close_price=Decimal("1.08125"),
                lots_open_before=lots,
            )
            for n, allocation in enumerate(allocations):
                if allocation.lots == 0:
                    continue
                written += 1
                profit = round_minor((Decimal("1.08125") - Decimal("1.08000")) * allocation.lots * 100_000, "USD")
                ticket = 800_000_000_000 + index * 10_000 + n
                Trade.objects.create(
                    server=SERVER,
                    ticket=ticket,
                    login=allocation.member.account.login,
                    symbol=SYMBOL,
                    instrument=instrument,
                    side=Trade.Side.BUY,
                    lots=allocation.lots,
                    open_time=opened,
                    open_price=Decimal("1.08000"),
                    close_time=closed,
                    close_price=Decimal("1.08125"),
                    profit=profit,
                    master_ticket=master.ticket,
                    content_hash="0" * 32,
                    ingested_at=timezone.now(),
                )
                SubClose.objects.create(
                    master_close=close, allocation=allocation, lots=allocation.lots, ticket=ticket, profit=profit
                )
                allocation.lots_open = Decimal(0)
                allocation.save(update_fields=["lots_open"])
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return Measurement(
        part="allocation",
        label=f"naive ORM loop per account ({sample}, scaled)",
        rows=rows,
        seconds=seconds * masters / sample,
        baseline=True,
        sample_rows=sample * members,
        notes={"sub_trades_written_in_sample": written},
    )


def _copy_floor(*, table: str, where: str, params: list, rows: int, label: str, write) -> Measurement:
    """COPY ``rows`` rows (the selected rows dumped once, repeated; at most ``FLOOR_MAX_ROWS``, scaled) into an
    index-free scratch copy of ``table``."""
    columns = [
        f.column
        for f in (Trade if table == TRADES else FeeLine)._meta.concrete_fields
        if f.column != "id" and not f.generated
    ]
    column_list = ", ".join(f'"{c}"' for c in columns)
    with tempfile.TemporaryDirectory() as tmp, connection.cursor() as cursor:
        dump = os.path.join(tmp, "rows.copy")
        raw = cursor.connection.cursor()
        with (
            open(dump, "wb") as out,
            raw.copy(f"COPY (SELECT {column_list} FROM {table} {where}) TO STDOUT", params) as copy,
        ):
            for block in copy:
                out.write(block)
        cursor.execute(f"SELECT count(*) FROM {table} {where}", params)
        dumped = cursor.fetchone()[0]
        target = min(rows, FLOOR_MAX_ROWS)
        repeats = max(1, -(-target // max(dumped, 1)))
        copied = dumped * repeats
        write(f"mam: floor: COPY of {copied:,} rows into a scratch copy of {table} …")
        cursor.execute("DROP TABLE IF EXISTS bench_mam_scratch")
        cursor.execute(
            f"CREATE TABLE bench_mam_scratch (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING GENERATED INCLUDING CONSTRAINTS)"
        )
        try:
            data = Path(dump).read_bytes()
            started = time.perf_counter()
            with transaction.atomic(), raw.copy(f"COPY bench_mam_scratch ({column_list}) FROM STDIN") as copy:
                for _ in range(repeats):
                    copy.write(data)
            seconds = time.perf_counter() - started
        finally:
            cursor.execute("DROP TABLE IF EXISTS bench_mam_scratch")
    return Measurement(
        part="allocation",
        label=label + (" (scaled)" if copied < rows else ""),
        rows=rows,
        seconds=seconds * rows / copied if copied else 0.0,
        baseline=True,
        sample_rows=copied if copied < rows else None,
    )


def _trade_floor(*, rows: int, write) -> Measurement:
    return _copy_floor(
        table=TRADES,
        where="WHERE server = %s AND master_ticket IS NOT NULL",
        params=[SERVER],
        rows=rows,
        label="floor: bare COPY of as many trade rows",
        write=write,
    )


# --- (b) fees ------------------------------------------------------------------------------------------------------


def _fees(rng: np.random.Generator, *, manager: Partner, accounts: int, write) -> list[Measurement]:
    first = date.fromisoformat(f"{PERIOD}-01")
    days = [first + timedelta(days=i) for i in range(31)]
    groups = []
    all_accounts = _accounts(500_000, accounts)
    for g, start in enumerate(range(0, accounts, FEE_GROUP_SIZE)):
        group, _ = group_upsert(
            code=f"bench-fees-{g:02d}",
            manager=manager,
            master_server=SERVER,
            master_login=10 + g,
            method="equity",
            fees={"management_rate": Decimal("0.02"), "performance_rate": Decimal("0.20"), "hwm_mode": "net"},
            fees_effective_from=datetime(2020, 1, 1, tzinfo=_tz()),
        )
        groups.append(group)
        _members(group, all_accounts[start : start + FEE_GROUP_SIZE], joined=first)
    # Daily equity in integer cents: a start of 1 000 to 100 000 and daily moves of -1.2 % to +1.5 %.
    start_cents = rng.integers(1_000_00, 100_000_00, size=accounts)
    moves = rng.integers(-120, 151, size=(accounts, len(days)))
    cents = np.empty((accounts, len(days)), dtype=np.int64)
    level = start_cents.copy()
    for d in range(len(days)):
        level = level * (10_000 + moves[:, d]) // 10_000
        cents[:, d] = level
    flows = []
    for i, account in enumerate(all_accounts):
        if i % 10 == 0 or i % 20 == 7:
            day = days[10 + i % 15]
            amount = 500_000 if i % 10 == 0 else -(int(cents[i, 10 + i % 15]) // 10)
            cents[i, 10 + i % 15 :] += amount
            moment = datetime.combine(day, datetime.min.time(), _tz()) + timedelta(hours=12)
            flows.append(
                {
                    "id": f"bench-{account.login}",
                    "server": SERVER,
                    "login": account.login,
                    "time": moment,
                    "amount": _money(amount),
                }
            )
    write(f"mam: fees: loading {accounts * len(days):,} snapshots and {len(flows):,} cash flows …")
    _snapshots(all_accounts, days, np.maximum(cents, 0))
    if flows:
        cash_flows_record(rows=flows)

    naive = _naive_fees(groups=groups, accounts=accounts, first=first, last=days[-1], write=write)
    write("mam: fees: the fees run (request, chunks, approval) …")
    started = time.perf_counter()
    fee_run = _compute_fees()
    computed = time.perf_counter() - started
    approved = run_approve(run_id=fee_run.pk)
    seconds = time.perf_counter() - started
    lines = FeeLine.objects.filter(run_id=fee_run.pk).count()
    measured = Measurement(
        part="fees",
        label="fees run: compute + approve",
        rows=accounts,
        seconds=seconds,
        notes={
            "status": approved.status,
            "chunks": approved.chunks_total,
            "compute_s": round(computed, 2),
            "approve_s": round(seconds - computed, 2),
            "fee_lines": lines,
            "totals": dict(approved.totals),
        },
    )
    floor = _copy_floor(
        table=FEE_LINES,
        where="WHERE run_id = %s",
        params=[fee_run.pk],
        rows=lines,
        label="floor: bare COPY of the run's fee lines",
        write=write,
    )
    floor = Measurement(
        part="fees", label=floor.label, rows=accounts, seconds=floor.seconds, baseline=True, notes={"fee_lines": lines}
    )
    return [measured, naive, floor]


def _compute_fees() -> Run:
    """Request the period's fees run and make sure it is computed here (as ``demo.seed.plans`` does)."""
    fee_run = Run.objects.get(pk=run_request(kind="fees", period=PERIOD).run.pk)
    if fee_run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        run_start(run_id=fee_run.pk, enqueue=lambda run_id, index: chunk_process(run_id=run_id, index=index))
        for index in fee_run.chunks.exclude(status="done").values_list("index", flat=True):
            chunk_process(run_id=fee_run.pk, index=index)
        fee_run.refresh_from_db()
    if fee_run.status != Run.Status.COMPUTED:
        raise RuntimeError(f"the bench fees run is {fee_run.status}: {fee_run.error}")
    return fee_run


def _naive_fees(*, groups: list[MamGroup], accounts: int, first: date, last: date, write) -> Measurement:
    """Per account: read its snapshots and flows with the ORM, accrue 2 %/365 of each day's equity and 20 % of the
    month's gain over its starting equity net of flows in Decimal, round each fee to the cent and save each line
    with the ORM into a scratch partition (rolled back)."""
    sample = min(accounts, NAIVE_FEE_SAMPLE)
    write(f"mam: fees: naive ORM loop on {sample:,} accounts …")
    bounds_start = datetime.combine(first, datetime.min.time(), _tz())
    started = time.perf_counter()
    with transaction.atomic():
        naive_run = Run.objects.create(
            kind="fees",
            period=PERIOD,
            period_start=bounds_start,
            period_end=bounds_start + timedelta(days=31),
            status=Run.Status.FAILED,  # not live: it must not collide with the measured run
        )
        run_lines_prepare(parent=FEE_LINES, run_id=naive_run.pk)
        run_lines_publish(parent=FEE_LINES, run_id=naive_run.pk)
        _admit_row_inserts(run_lines_table(FEE_LINES, naive_run.pk))
        members = Member.objects.filter(group__in=groups).select_related("account", "group__manager").order_by("pk")
        for member in members[:sample]:
            snapshots = list(
                EquitySnapshot.objects.filter(account=member.account, day__gte=first, day__lte=last).order_by("day")
            )
            flows = list(CashFlow.objects.filter(account=member.account))
            management = sum((s.equity * Decimal("0.02") / 365 for s in snapshots), Decimal(0))
            management = round_minor(management, "USD")
            net_flows = sum((f.amount for f in flows), Decimal(0))
            gain = snapshots[-1].equity - management - snapshots[0].equity - net_flows
            performance = round_minor(max(gain, Decimal(0)) * Decimal("0.20"), "USD")
            for kind, amount in (("management_fee", management), ("performance_fee", performance)):
                FeeLine(
                    run=naive_run,
                    period=PERIOD,
                    group=member.group,
                    member=member,
                    account=member.account,
                    kind=kind,
                    partner_id=member.group.manager.partner_id,
                    manager_id=member.group.manager.partner_id,
                    currency="USD",
                    amount_micros=int(amount * 1_000_000),
                    day=last,
                    reason="period_end",
                ).save()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return Measurement(
        part="fees",
        label=f"naive per-account Decimal ORM loop ({sample:,}, scaled)",
        rows=accounts,
        seconds=seconds * accounts / sample,
        baseline=True,
        sample_rows=sample,
    )


def _admit_row_inserts(partition: str) -> None:
    """Disable the published-lines guard on one scratch partition (the bench database's owner may)."""
    [guard] = [t for t in FeeLine._meta.triggers if t.name == "feeline_published"]
    with connection.cursor() as cursor:
        cursor.execute(
            SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(Identifier(partition), Identifier(guard.get_pgid(FeeLine)))
        )


__all__ = ["run"]
