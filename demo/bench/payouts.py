"""The payouts benchmark (``manage.py bench payouts``, in a database of its own): a payout batch for 10 000 partners,
and the CSV export of 1 000 000 attribution lines, each beside its naive way.

Set-up (timed only for the notes): the commission benchmark's broker generator (``commissions.broker_load``:
programs, plans, partners and their tree, accounts, attributions, rebates, trades, COPYed) with 10 000 IBs, every
one of which owns an account that trades; then one commission run of ``rows`` lines through the run framework —
``run_request``, ``run_start`` (snapshot, chunk plan, the run's own lines table), the lines COPYed into that table
with the chunks' own write (``run_lines_write``) and their totals (``chunk_totals``), ``run_settle`` (indexes built,
partition attached, the posting claims boxed) and ``run_approve`` (the real approval: one posting per partner, kind
and currency through ``journal_post``, the period locked). Only the engine is skipped: the lines are generated in
numpy as the differential engine would write them for these plans — level 1 earns its plan's per-lot rate, each
upline the difference to the rate below it (1.5 USD per lot), a client rebate (20 % of level 1's earnings, or
1.5 USD per lot capped at them) as a ``rebate`` line and its ``rebate_funding`` line — on the trades in ticket order
until ``rows`` lines are written (the last of them may pay fewer uplines; trades past that earn nothing in this
run). Then, so that a batch meets every case: payout details for every partner but one in 50 (missing details:
held), one in 50 suspended (``partner_set_status``: held), one in 10 paid in EUR (converted at the recorded rate),
one in 100 with a clawback larger than its earnings (``journal_post``: carried over, netted later), and a program
minimum payout of ``MIN_PAYOUT`` USD (the smallest earners are carried over).

Part ``batch``: ``ledger.services.payouts`` as finance uses it — ``payout_batch_create`` by one Finance user,
``payout_batch_approve`` by another (maker-checker), the batch CSV through ``GET /api/v1/payout-batches/{id}/export/``
(Django's test client: middleware, session auth, role permissions, the streamed response) saved to a file, and
``payout_lines_resolve`` marking every line paid (a payout transaction per item through ``journal_post``). Beside
it: the naive way, per partner (ORM sums of each payable account's legs and holds, a rate lookup per item, each line
and item ``create``\\ d; then each paid line posted by its own ``journal_post`` call and saved), on a sample of
partners and of lines in transactions rolled back, scaled to the batch.

Part ``export``: ``GET /api/v1/lines/export/?period=…`` as a Support user (the role that may read lines), its
stream written to a file (``commissions.selectors.line_export_csv``: one ``COPY (SELECT …) TO STDOUT`` with the
formula neutralisation and the decimals done in SQL, ``core.pgcopy.copy_out``, ``core.downloads.csv_attachment``);
the memory it costs is the peak growth of the process's RSS over the export, sampled with psutil every
``RSS_SAMPLE_SECONDS`` in a thread. It runs ``EXPORT_REPEATS`` times (the figure is the median, every run is in the
notes, the memory the highest growth). The file is then read back (Arrow) and its rows and amounts compared with the
run's. Beside it: the naive per-row ORM export (``csv.writer`` over the ``GET /lines/`` queryset's ``iterator()``,
on a sample, scaled) and the floor (a bare ``COPY`` of the run's partition, no join and no formatting).

``--rows N`` sizes everything: N lines, partners = min(10 000, max(N // 100, 12)), three accounts per partner,
N // 2 trades; the tests run it tiny. The exported files stay in ``--dir`` (``var/bench/`` by default).
"""

from __future__ import annotations

import csv
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, localcontext
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.test import Client
from pyarrow import csv as pa_csv
from rest_framework.authtoken.models import Token

from commissions.models import AttributionLine, PartnerPlan, PlanRule, Rebate, Trade
from commissions.selectors import LINE_EXPORT_HEADER, attribution_lines, with_rule_terms_from
from core.csv_export import cell
from core.money import quantize
from core.periods import server_period
from core.pgcopy import copy_out_frame
from core.roles import Role
from ledger.models import ConversionRate, JournalEntry, LedgerAccount, PayoutBatch, PayoutItem, PayoutLine
from ledger.payout_selectors import PAYABLE_PURPOSES, payables, payout_batch_totals
from ledger.postings import AccountRef, Leg, Posting
from ledger.selectors import PAYOUT_KIND, currency_places
from ledger.services.payouts import (
    payout_batch_approve,
    payout_batch_create,
    payout_lines_resolve,
    payout_reference,
)
from ledger.services.posting import journal_post
from ledger.vocabulary import Purpose
from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from partners.services.partners import partner_set_status
from runs.line_store import run_lines_write
from runs.models import Run, RunChunk
from runs.registry import get_kind
from runs.services import requests as requests_module
from runs.services.approve import run_approve
from runs.services.lifecycle import run_settle, run_start
from runs.services.requests import run_request

from .commissions import BrokerShape, broker_load
from .registry import Measurement, register

PERIOD = "2026-03"
PREFIX = "pay"
PARTNERS = 10_000
MIN_PAYOUT = Decimal("50.00")
# One partner in ``every`` is in each case (by its index in the generated codes); the offsets keep them apart.
SUSPENDED, MISSING_DETAILS, PAID_IN_EUR, CLAWBACK = (50, 1), (50, 2), (10, 3), (100, 4)
CLAWBACK_EXCESS = Decimal("25.00")  # what a clawback takes beyond everything the partner earned
NAIVE_PARTNERS = 200  # partners of the naive batch loop
NAIVE_PAID_LINES = 200  # lines of the naive pay loop
NAIVE_LINES = 20_000  # lines of the naive ORM export
RSS_SAMPLE_SECONDS = 0.01
EXPORT_REPEATS = 3
GOAL_ROWS_PER_SECOND = 200_000
GOAL_MEMORY_MB = 200
MICROS = 1_000_000


@dataclass(frozen=True)
class Sizes:
    lines: int
    partners: int
    accounts: int
    trades: int


def sizes_for(rows: int) -> Sizes:
    partners = min(PARTNERS, max(rows // 100, 12))
    accounts = 3 * partners
    return Sizes(lines=rows, partners=partners, accounts=accounts, trades=max(rows // 2, accounts))


@register("payouts", "Payouts: a batch for 10,000 partners (make, approve, export, pay); 1,000,000 lines to CSV")
def run(
    *,
    rows: int,
    seed: int,
    directory: Path,
    write: Callable[[str], None],
    progress_factory: Callable[..., object],
) -> list[Measurement]:
    sizes = sizes_for(rows)
    directory.mkdir(parents=True, exist_ok=True)
    write(f"payouts: {sizes}")
    shape = BrokerShape(
        trades=sizes.trades,
        ibs=sizes.partners,
        accounts=sizes.accounts,
        seed=seed,
        prefix=PREFIX,
        period=PERIOD,
        every_ib_earns=True,
    )
    loaded = broker_load(shape=shape, write=write)
    write(f"payouts: broker loaded with COPY in {loaded.seconds:.1f} s")
    maker, checker, support = _users()
    setup = _approved_run(sizes, write)
    setup.notes.update(_payout_cases(sizes, write))
    batch = _batch_part(sizes, maker=maker, checker=checker, directory=directory, write=write)
    export = _export_part(sizes, run_id=setup.notes["run_id"], reader=support, directory=directory, write=write)
    return [setup, *batch, *export]


# --- set-up ---------------------------------------------------------------------------------------------------------


def _users():
    """Two Finance clerks (maker and checker) and a Support user: each step needs its role's permissions."""
    users = []
    for name, role in (("bench-maker", Role.FINANCE), ("bench-checker", Role.FINANCE), ("bench-support", Role.SUPPORT)):
        user = get_user_model().objects.create_user(name, is_staff=True)
        user.groups.add(Group.objects.get(name=role.value))
        users.append(user)
    return users


def _codes(partners: int) -> list[str]:
    return [f"{PREFIX}-ib-{i:05d}" for i in range(partners)]


def _in_case(partners: int, case: tuple[int, int]) -> list[str]:
    every, offset = case
    return [code for i, code in enumerate(_codes(partners)) if i % every == offset]


def _approved_run(sizes: Sizes, write) -> Measurement:
    """A commission run of ``sizes.lines`` generated lines, through the framework (see the module docstring)."""
    dispatch = requests_module.dispatch_start
    requests_module.dispatch_start = lambda run_id: None  # this process starts the run itself
    try:
        run_ = run_request(kind="commissions", period=PERIOD).run
    finally:
        requests_module.dispatch_start = dispatch
    run_start(run_id=run_.pk, enqueue=lambda run_id, index: None)  # snapshot, chunks, the run's lines table
    run_ = Run.objects.get(pk=run_.pk)
    started = time.perf_counter()
    lines = _generated_lines(run_, sizes.lines)
    generated = time.perf_counter() - started
    kind = get_kind("commissions")
    started = time.perf_counter()
    with transaction.atomic():
        written = run_lines_write(parent=kind.line_table, run_id=run_.pk, lines=lines[list(kind.line_columns)])
        totals = {key: str(amount) for key, amount in kind.chunk_totals(lines).items()}
        chunks = list(RunChunk.objects.filter(run=run_).order_by("index"))
        for chunk in chunks:  # the whole run's lines came in one write: the first chunk carries them
            first = chunk is chunks[0]
            chunk.status, chunk.lines_written = RunChunk.Status.DONE, written if first else 0
            chunk.totals = totals if first else {}
        RunChunk.objects.bulk_update(chunks, ["status", "lines_written", "totals"])
    copied = time.perf_counter() - started
    started = time.perf_counter()
    run_ = run_settle(run_id=run_.pk)
    settled = time.perf_counter() - started
    if run_.status != Run.Status.COMPUTED:
        raise CommandError(f"the generated run did not compute: {run_.status} {run_.error}")
    write(f"payouts: run {run_.pk} computed with {written:,} lines; approving it …")
    started = time.perf_counter()
    run_approve(run_id=run_.pk)
    seconds = time.perf_counter() - started
    earning = payables(period=PERIOD)
    return Measurement(
        label="set-up: approving the run (postings from its lines)",
        rows=written,
        seconds=seconds,
        part="set-up",
        notes={
            "run_id": run_.pk,
            "lines": written,
            "amount_total": str(sum((Decimal(v) for v in totals.values()), Decimal(0))),
            "partners_with_payables": len({p.partner_id for p in earning}),
            "generate_s": round(generated, 2),
            "copy_s": round(copied, 2),
            "index_and_attach_s": round(settled, 2),
        },
    )


def _generated_lines(run_: Run, count: int) -> pd.DataFrame:
    """``count`` lines of the run's trades (ticket order), shaped as the engine's: see the module docstring."""
    snapshot_trades = copy_out_frame(
        f"""
        SELECT t.id AS trade_id, a.id AS account_id, att.partner_id, (t.lots * 100)::bigint AS lot_cents
          FROM {Trade._meta.db_table} t
          JOIN {ClientAccount._meta.db_table} a ON a.server = t.server AND a.login = t.login
          JOIN {AccountAttribution._meta.db_table} att ON att.account_id = a.id AND att.valid_to IS NULL
         WHERE t.is_current AND t.close_time >= %s AND t.close_time < %s AND t.server = %s
         ORDER BY t.id
        """,
        [run_.period_start, run_.period_end, f"{PREFIX}-live"],
        {"trade_id": pa.int64(), "account_id": pa.int64(), "partner_id": pa.int64(), "lot_cents": pa.int64()},
    )
    links = dict(
        PartnerLink.objects.filter(partner__code__startswith=f"{PREFIX}-", valid_to__isnull=True).values_list(
            "partner_id", "parent_id"
        )
    )
    plan_of = dict(PartnerPlan.objects.filter(valid_to__isnull=True).values_list("partner_id", "plan_id"))
    rules = {
        plan: (rule, int(rate * MICROS)) for plan, rule, rate in PlanRule.objects.values_list("plan_id", "id", "rate")
    }
    blanket = set(Rebate.objects.filter(account__isnull=True).values_list("partner_id", flat=True))
    per_lot = {
        account: int(amount * MICROS)
        for account, amount in Rebate.objects.filter(account__isnull=False).values_list("account_id", "per_lot")
    }
    blanket_pct = 20
    chains: dict[int, list[int]] = {}
    for partner in plan_of:
        chain, at = [], partner
        while at is not None and len(chain) < 10:
            chain.append(at)
            at = links.get(at)
        chains[partner] = chain
    out: dict[str, list] = {k: [] for k in ("trade_id", "account_id", "partner_id", "beneficiary", "kind", "level",
                                           "rule_id", "base", "rate", "multiplier", "amount")}  # fmt: skip

    def line(trade, account, partner, beneficiary, kind, level, rule, base, rate, multiplier, amount):
        for key, value in zip(out, (trade, account, partner, beneficiary, kind, level, rule, base, rate, multiplier,
                                    amount), strict=True):  # fmt: skip
            out[key].append(value)

    written = 0
    for trade, account, owner, cents in snapshot_trades.itertuples(index=False):
        if written >= count:
            break
        room = count - written
        chain = chains[owner]
        volume: list[tuple] = []
        below = 0
        for level, partner in enumerate(chain, start=1):
            rule, rate = rules[plan_of[partner]]
            paid = rate - below
            if paid <= 0:
                break
            volume.append((partner, level, rule, paid))
            below = rate
        earned = volume[0][3] * cents // 100
        rebate = 0
        if owner in blanket:
            rebate, rebate_rate = earned * blanket_pct // 100, blanket_pct * MICROS
        elif account in per_lot:
            rebate, rebate_rate = min(per_lot[account] * cents // 100, earned), per_lot[account]
        if rebate and room < len(volume) + 2:
            continue  # a rebate and its funding come together or not at all: the next trade may fit the room
        for partner, level, rule, paid in volume[:room]:
            line(
                trade, account, partner, None, "volume", level, rule, cents * 10_000, paid, MICROS, paid * cents // 100
            )
        if rebate:
            line(trade, account, None, account, "rebate", 1, None, earned, rebate_rate, None, rebate)
            line(trade, account, owner, account, "rebate_funding", 1, None, earned, rebate_rate, None, -rebate)
        written += min(len(volume), room) + (2 if rebate else 0)
    if written != count:
        raise CommandError(f"the generated trades hold only {written:,} of the {count:,} lines: load more trades")

    def ints(key):
        return pd.array(out[key], dtype="Int64")

    return pd.DataFrame(
        {
            "run_id": run_.pk,
            "period": run_.period,
            "trade_id": np.array(out["trade_id"], dtype=np.int64),
            "account_id": ints("account_id"),
            "partner_id": ints("partner_id"),
            "beneficiary_account_id": ints("beneficiary"),
            "kind": np.array(out["kind"], dtype=object),
            "level": np.array(out["level"], dtype=np.int64),
            "rule_id": ints("rule_id"),
            "base_micros": ints("base"),
            "rate_micros": ints("rate"),
            "tier": pd.array([None] * count, dtype="Int64"),
            "multiplier_micros": ints("multiplier"),
            "amount_micros": np.array(out["amount"], dtype=np.int64),
            "currency": "USD",
            "reason": "",
            "adjusts_period": "",
        }
    )


def _payout_cases(sizes: Sizes, write) -> dict:
    """Payout details, suspensions, EUR payouts, clawbacks and the program's minimum (see the module docstring)."""
    codes = _codes(sizes.partners)
    missing = _in_case(sizes.partners, MISSING_DETAILS)
    partners = Partner.objects.filter(code__in=codes)
    # Payout settings are current settings (not dated): the partner API writes them as plain columns too.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Partner._meta.db_table} SET payout_method = 'bank', payout_account = 'IBAN-' || code "
            "WHERE code = ANY(%s) AND NOT code = ANY(%s)",
            [codes, missing],
        )
    partners.filter(code__in=_in_case(sizes.partners, PAID_IN_EUR)).update(payout_currency="EUR")
    Program.objects.filter(code=f"{PREFIX}-prog").update(min_payout=MIN_PAYOUT)
    for partner in partners.filter(code__in=_in_case(sizes.partners, SUSPENDED)):
        partner_set_status(partner=partner, status=Partner.Status.SUSPENDED)
    clawed = list(partners.filter(code__in=_in_case(sizes.partners, CLAWBACK)).values_list("pk", flat=True))
    owed = {p.partner_id: p.owed for p in payables(period=PERIOD, partner_ids=clawed)}
    postings = [
        Posting(
            source_key=f"bench:clawback:{pk}:USD",
            kind="adjustment",
            period=PERIOD,
            currency="USD",
            memo="bench clawback: a correction larger than the earnings",
            legs=(
                Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), -(owed.get(pk, 0) + CLAWBACK_EXCESS), exact=True),
                Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=pk), owed.get(pk, 0) + CLAWBACK_EXCESS),
            ),
        )
        for pk in clawed
    ]
    journal_post(postings=postings)
    write(f"payouts: {len(missing)} without payout details, {len(clawed)} clawbacks, minimum {MIN_PAYOUT} USD")
    return {"missing_details": len(missing), "clawbacks": len(clawed)}


# --- part batch -----------------------------------------------------------------------------------------------------


def _batch_part(sizes: Sizes, *, maker, checker, directory: Path, write) -> list[Measurement]:
    naive_make = _naive_make(sizes, maker=maker, write=write)
    write(f"payouts: making the batch of {PERIOD} …")
    started = time.perf_counter()
    batch = payout_batch_create(period=PERIOD, user=maker)
    make_s = time.perf_counter() - started
    lines = PayoutLine.objects.filter(batch=batch)
    line_count = lines.count()
    started = time.perf_counter()
    payout_batch_approve(batch_id=batch.pk, user=checker)
    approve_s = time.perf_counter() - started
    target = directory / f"payouts-batch-{PERIOD}.csv"
    started = time.perf_counter()
    exported_bytes, records = _download(maker, f"/api/v1/payout-batches/{batch.pk}/export/", target)
    export_s = time.perf_counter() - started
    naive_pay = _naive_pay(batch, write=write)
    write("payouts: marking every line to pay paid …")
    started = time.perf_counter()
    payout_lines_resolve(batch_id=batch.pk, user=maker)
    pay_s = time.perf_counter() - started
    batch.refresh_from_db()
    paid = lines.filter(status=PayoutLine.Status.PAID).count()
    posted = PayoutItem.objects.filter(line__batch=batch, transaction__isnull=False).count()
    exported_totals = _batch_csv_totals(target)
    by_status = [
        {**row, "amount": str(quantize(row["amount"], currency_places(row["currency"])))}
        for row in payout_batch_totals(batch=batch)
    ]
    write(f"payouts: batch {batch.pk} {batch.status}: {line_count:,} lines, {paid:,} paid, {posted:,} payouts posted")
    total = make_s + approve_s + export_s + pay_s
    return [
        Measurement(
            label="batch: make + approve + export + pay",
            rows=line_count,
            seconds=total,
            part="batch",
            notes={"batch": batch.pk, "status": batch.status, "lines_by_status_and_currency": by_status},
        ),
        Measurement(
            label=f"naive per-partner loop: make + pay (sample of {naive_make.sample_rows:,}, scaled)",
            rows=line_count,
            seconds=naive_make.seconds + naive_pay.seconds,
            baseline=True,
            sample_rows=naive_make.sample_rows,
            part="batch",
            notes={"make_s": round(naive_make.seconds, 1), "pay_s": round(naive_pay.seconds, 1), **naive_pay.notes},
        ),
        Measurement(label="step: make (payout_batch_create)", rows=line_count, seconds=make_s, part="batch steps"),
        Measurement(label="step: approve (another user)", rows=line_count, seconds=approve_s, part="batch steps"),
        Measurement(
            label="step: export (GET …/export/ streamed to a file)",
            rows=records,
            seconds=export_s,
            part="batch steps",
            notes={"bytes": exported_bytes, "file": str(target), "csv_totals": exported_totals},
        ),
        Measurement(
            label="step: mark paid (payout_lines_resolve)",
            rows=paid,
            seconds=pay_s,
            part="batch steps",
            notes={"payout_transactions": posted},
        ),
    ]


def _batch_csv_totals(path: Path) -> dict:
    """The batch CSV read back: rows and amounts per currency (exact Decimals, as text)."""
    totals: dict[str, Decimal] = {}
    rows = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
            rows += 1
    return {"rows": rows, **{currency: str(amount) for currency, amount in sorted(totals.items())}}


def _naive_make(sizes: Sizes, *, maker, write) -> Measurement:
    """Per partner, with the ORM: each payable account's legs summed, its holds summed, each rate looked up, the
    status decided, the line and each item ``create``\\ d — in a transaction rolled back."""
    period = server_period(PERIOD)
    last_day = period.next_first_day - timedelta(days=1)
    ids = list(Partner.objects.filter(code__in=_codes(sizes.partners)).order_by("code").values_list("pk", flat=True))
    sample = ids[:: max(1, len(ids) // NAIVE_PARTNERS)][:NAIVE_PARTNERS]
    write(f"payouts: naive per-partner batch loop on {len(sample):,} partners …")

    def usd_rate(code: str) -> Decimal:
        if code == "USD":
            return Decimal(1)
        return ConversionRate.objects.filter(currency=code, day__lte=last_day).order_by("-day").first().usd_rate

    started = time.perf_counter()
    with transaction.atomic():
        batch = PayoutBatch.objects.create(period=PERIOD, created_by=maker)
        for partner in Partner.objects.filter(pk__in=sample).select_related("program").order_by("code"):
            items = []
            accounts = LedgerAccount.objects.filter(partner=partner, purpose__in=PAYABLE_PURPOSES)
            for account in accounts.order_by("purpose", "currency_id"):
                legs = JournalEntry.objects.filter(account=account).filter(
                    Q(transaction__period__lte=PERIOD) | Q(transaction__kind=PAYOUT_KIND)
                )
                owed = -(legs.aggregate(s=Sum("amount"))["s"] or Decimal(0))
                held = PayoutItem.objects.filter(
                    account=account, line__status=PayoutLine.Status.TO_PAY, line__batch__status__in=PayoutBatch.OPEN
                ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
                if owed - held:
                    with localcontext(prec=60):
                        rate = quantize(usd_rate(account.currency_id) / usd_rate(partner.payout_currency), 18)
                    items.append((account, owed - held, rate))
            if not items:
                continue
            with localcontext(prec=60):
                exact = sum((amount * rate for _, amount, rate in items), Decimal(0))
            amount = quantize(exact, currency_places(partner.payout_currency))
            if partner.status == Partner.Status.SUSPENDED or not partner.payout_account:
                status = PayoutLine.Status.HELD
            elif amount <= 0 or amount < partner.program.min_payout:
                status = PayoutLine.Status.CARRIED_OVER
            else:
                status = PayoutLine.Status.TO_PAY
            line = PayoutLine.objects.create(
                batch=batch,
                partner=partner,
                status=status,
                partner_name=partner.name,
                payout_method=partner.payout_method,
                payout_account=partner.payout_account,
                payout_currency=partner.payout_currency,
                amount=amount,
                minimum=partner.program.min_payout,
                minimum_currency=partner.program.currency,
                amount_in_minimum_currency=amount,
            )
            for account, available, rate in items:
                PayoutItem.objects.create(
                    line=line,
                    account=account,
                    currency=account.currency_id,
                    amount=available,
                    rate=rate,
                    rate_day=last_day,
                    converted=available * rate,
                )
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return Measurement(
        label="naive make",
        rows=len(ids),
        seconds=seconds * len(ids) / max(1, len(sample)),
        baseline=True,
        sample_rows=len(sample),
    )


def _naive_pay(batch: PayoutBatch, *, write) -> Measurement:
    """Per line to pay: lock it, post each item by its own ``journal_post`` call, save the item and the line — in a
    transaction rolled back, on a sample of the batch's lines to pay, scaled to all of them."""
    to_pay = PayoutLine.objects.filter(batch=batch, status=PayoutLine.Status.TO_PAY)
    count = to_pay.count()
    sample = list(to_pay.order_by("pk").values_list("pk", flat=True)[:NAIVE_PAID_LINES])
    write(f"payouts: naive per-line pay loop on {len(sample):,} lines …")
    started = time.perf_counter()
    with transaction.atomic():
        for pk in sample:
            line = PayoutLine.objects.select_for_update().select_related("partner").get(pk=pk)
            for item in line.items.select_related("account"):
                key = f"payout:{batch.pk}:{line.pk}:{item.account_id}"
                posted = journal_post(
                    postings=[
                        Posting(
                            source_key=key,
                            kind=PAYOUT_KIND,
                            period=PERIOD,
                            currency=item.currency,
                            memo=f"payout {payout_reference(batch.pk, line.partner.code)}",
                            legs=(
                                Leg(
                                    AccountRef(
                                        Purpose(item.account.purpose), item.currency, partner_id=line.partner_id
                                    ),
                                    item.amount,
                                ),
                                Leg(AccountRef(Purpose.PAYOUT_CLEARING, item.currency), -item.amount),
                            ),
                        )
                    ]
                )
                item.transaction_id = posted.transaction_ids[key]
                item.save(update_fields=["transaction"])
            line.status = PayoutLine.Status.PAID
            line.save(update_fields=["status"])
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return Measurement(
        label="naive pay",
        rows=count,
        seconds=seconds * count / max(1, len(sample)),
        baseline=True,
        sample_rows=len(sample),
        notes={"pay_sample_lines": len(sample)},
    )


# --- part export ----------------------------------------------------------------------------------------------------


def _download(user, url: str, target: Path) -> tuple[int, int]:
    """GET ``url`` as ``user`` through the whole Django stack and save the streamed body to ``target``; the bytes
    and CSV records (CRLF-ended: none of the generated values holds a line break) written. With an API token, as a
    script does: the first export of a batch refuses a session cookie (a browser's prefetch must not export it)."""
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    response = client.get(url)
    if response.status_code != 200:
        raise CommandError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
    size = records = 0
    with target.open("wb") as sink:
        for block in response.streaming_content:
            sink.write(block)
            size += len(block)
            records += block.count(b"\r\n")
    response.close()
    return size, records - 1  # the header is no row


@contextmanager
def _peak_rss_growth() -> Iterator[dict]:
    """Sample this process's RSS every ``RSS_SAMPLE_SECONDS`` in a thread; on exit ``found["peak_growth_mb"]`` is the
    highest RSS seen minus the RSS at the start."""
    process = psutil.Process()
    found = {"start_mb": process.memory_info().rss / 2**20}
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(RSS_SAMPLE_SECONDS):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)
        found["peak_mb"] = peak[0] / 2**20
        found["peak_growth_mb"] = found["peak_mb"] - found["start_mb"]


def _export_part(sizes: Sizes, *, run_id: int, reader, directory: Path, write) -> list[Measurement]:
    target = directory / f"payouts-lines-{PERIOD}.csv"
    write(f"payouts: exporting {sizes.lines:,} lines through GET /api/v1/lines/export/ …")
    load_before = os.getloadavg()[0]
    times, growths, peaks = [], [], []
    for _ in range(EXPORT_REPEATS):  # a shared machine's noise: the median of a few, each one noted
        with _peak_rss_growth() as memory:
            started = time.perf_counter()
            size, records = _download(reader, f"/api/v1/lines/export/?period={PERIOD}", target)
            times.append(time.perf_counter() - started)
        growths.append(memory["peak_growth_mb"])
        peaks.append(memory["peak_mb"])
    seconds = statistics.median(times)
    check = _lines_csv_check(target)
    expected = AttributionLine.objects.filter(run_id=run_id).aggregate(n=Count("id"), amount=Sum("amount"))
    if check["rows"] != expected["n"] or Decimal(check["amount_total"]) != expected["amount"]:
        raise CommandError(f"the exported file does not hold the run's lines: {check} vs {expected}")
    growth, peak = max(growths), max(peaks)
    measured = Measurement(
        label="lines export: GET /lines/export/ (COPY, streamed)",
        rows=records,
        seconds=seconds,
        part="export",
        notes={
            "mib": round(size / 2**20, 1),
            "runs_s": [round(t, 2) for t in times],
            "load_average_1min": [round(load_before, 1), round(os.getloadavg()[0], 1)],  # before, after
            "peak_rss_growth_mb": round(growth, 1),
            "peak_rss_mb": round(peak),
            "rss_at_start_mb": round(memory["start_mb"]),
            "memory_measured_by": f"psutil RSS sampled every {RSS_SAMPLE_SECONDS * 1000:.0f} ms in a thread",
            "read_back": check,
        },
    )
    met = measured.rows_per_second >= GOAL_ROWS_PER_SECOND and growth < GOAL_MEMORY_MB
    goal = f">= {GOAL_ROWS_PER_SECOND:,} rows/s and < {GOAL_MEMORY_MB} MB"
    measured.notes["goal"] = f"{goal}: {'met' if met else 'NOT met'}"
    write(
        f"payouts: exported {records:,} lines ({size / 2**20:,.0f} MiB) in {seconds:.1f} s (median of {len(times)}), "
        f"RSS +{growth:.0f} MB (peak {peak:.0f} MB)"
    )
    return [
        measured,
        _naive_export(sizes, directory=directory, write=write),
        _export_floor(run_id, sizes, write=write),
    ]


def _lines_csv_check(path: Path) -> dict:
    """The lines CSV read back with Arrow: its header, rows and the exact sum of ``amount``."""
    table = pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={"amount": pa.decimal128(24, 6)}, include_columns=["amount"]
        ),
    )
    header = path.open(encoding="utf-8").readline().rstrip("\r\n").split(",")
    if tuple(header) != LINE_EXPORT_HEADER:
        raise CommandError(f"the exported header is {header}")
    total = pa.compute.sum(table["amount"]).as_py() or Decimal(0)
    return {"rows": table.num_rows, "amount_total": str(total)}


def _naive_export(sizes: Sizes, *, directory: Path, write) -> Measurement:
    """``csv.writer`` over the ``GET /lines/`` queryset's ``iterator()``: a model instance per line, its related
    objects and the plan terms looked up per line, every value written by Python."""
    sample = min(sizes.lines, NAIVE_LINES)
    write(f"payouts: naive per-row ORM export of {sample:,} lines …")
    lines = with_rule_terms_from(
        attribution_lines()
        .filter(period=PERIOD)
        .select_related("partner", "trade", "beneficiary_account", "rule__plan", "rule__instrument")
    )
    started = time.perf_counter()
    with (directory / "payouts-lines-naive.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(LINE_EXPORT_HEADER)
        for line in lines[:sample].iterator(chunk_size=2000):
            trade, rule, beneficiary = line.trade, line.rule, line.beneficiary_account
            row = (
                line.pk, line.run_id, line.period, trade.server, trade.ticket, trade.version, trade.login,
                trade.symbol, line.partner.code if line.partner else None,
                line.partner.name if line.partner else None, beneficiary.server if beneficiary else None,
                beneficiary.login if beneficiary else None, line.kind, line.level, line.rule_id,
                rule.plan.code if rule else None, line.rule_terms_from, rule.type if rule else None,
                rule.instrument.symbol if rule and rule.instrument else None,
                (rule.symbol_group or None) if rule else None, (rule.account_group or None) if rule else None,
                rule.priority if rule else None, line.base, line.rate, line.tier, line.multiplier, line.amount,
                line.currency, line.reason, line.adjusts_period,
            )  # fmt: skip
            writer.writerow([cell(value) for value in row])
    seconds = time.perf_counter() - started
    return Measurement(
        label=f"naive per-row ORM export (sample of {sample:,}, scaled)",
        rows=sizes.lines,
        seconds=seconds * sizes.lines / sample,
        baseline=True,
        sample_rows=sample,
        part="export",
    )


def _export_floor(run_id: int, sizes: Sizes, *, write) -> Measurement:
    """A bare ``COPY`` of the run's partition to a sink that only counts: no join, no formatting."""
    write("payouts: floor: bare COPY of the run's line rows …")
    size = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.connection.cursor()
        with raw.copy(
            f"COPY (SELECT * FROM {AttributionLine._meta.db_table} WHERE run_id = %s) TO STDOUT (FORMAT csv)", [run_id]
        ) as copy:
            for block in copy:
                size += len(block)
    seconds = time.perf_counter() - started
    return Measurement(
        label="floor: bare COPY of the run's line rows",
        rows=sizes.lines,
        seconds=seconds,
        baseline=True,
        part="export",
        notes={"mib": round(size / 2**20, 1)},
    )
