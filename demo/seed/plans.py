"""The demo's commercial terms and its computed history: plans, plan assignments and rebates through the plan
services, then a run per month through ``run_request`` (complete months approved through ``run_approve``, the
current month left computed for review); then the MAM fee runs of the complete months, each approved.
Deterministic: assignments follow each partner's level and code."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum

from commissions.models import AttributionLine
from commissions.services.plans import partner_plan_assign, plan_upsert, rebate_set
from partners.models import AccountAttribution, Partner
from partners.selectors import partner_tree_stats
from runs.models import Run
from runs.services.approve import run_approve
from runs.services.chunks import chunk_process
from runs.services.lifecycle import run_start
from runs.services.requests import run_request

# Masters earn more per lot than their sub-IBs (a differential program pays the difference up the tree).
PLANS: tuple[dict[str, Any], ...] = (
    {
        "code": "master-per-lot",
        "name": "Master IB — per lot by symbol group",
        "rules": [
            {"type": "per_lot", "symbol_group": "forex_major", "rate": "8"},
            {"type": "per_lot", "symbol_group": "forex_minor", "rate": "10"},
            {"type": "per_lot", "symbol_group": "metals", "rate": "14"},
            {"type": "per_lot", "symbol_group": "indices", "rate": "3"},
            {"type": "per_lot", "symbol": "XAUUSD", "rate": "16", "priority": 50},
            {"type": "per_lot", "rate": "6"},  # catch-all: crypto and anything added later
            {"type": "commission_share", "account_group": "ecn", "pct": "20"},
        ],
    },
    {
        "code": "standard-per-lot",
        "name": "Standard IB — per lot by symbol group",
        "rules": [
            {"type": "per_lot", "symbol_group": "forex_major", "rate": "5"},
            {"type": "per_lot", "symbol_group": "forex_minor", "rate": "6"},
            {"type": "per_lot", "symbol_group": "metals", "rate": "9"},
            {"type": "per_lot", "symbol_group": "indices", "rate": "2"},
            {"type": "per_lot", "rate": "4"},
        ],
    },
    {
        "code": "spread-share",
        "name": "Spread share 35 % with a small per-lot floor on FX",
        "rules": [
            {"type": "spread_share", "pct": "35"},
            {"type": "per_lot", "symbol_group": "forex_major", "rate": "1"},
            {"type": "per_lot", "symbol_group": "forex_minor", "rate": "1.5"},
        ],
    },
    {
        "code": "volume-million",
        "name": "Per million USD traded, with volume tiers",
        "tier_mode": "retroactive",
        "rules": [
            {"type": "per_million", "symbol_group": "forex_major", "rate": "30"},
            {"type": "per_million", "symbol_group": "forex_minor", "rate": "35"},
            {"type": "per_million", "rate": "20"},
        ],
        "tiers": [
            {"from_lots": "0", "multiplier": "1"},
            {"from_lots": "50", "multiplier": "1.15"},
            {"from_lots": "200", "multiplier": "1.3"},
        ],
    },
)
SPREAD_SHARE_EVERY = 7  # every 7th sub-IB by code is on the spread-share plan
VOLUME_PLAN_FROM_LEVEL = 3
# Every 8th partner (by code) with clients rebates one of them, alternately a percent and a fixed amount per lot.
# One rebated account per partner: approving a run where one partner funds rebates to several accounts currently
# trips the journal's one-transaction-per-(run, partner, kind) key (reported to the lead; see the report).
REBATE_EVERY = 8
REBATE_PCT = Decimal("25")
REBATE_PER_LOT = Decimal("1.50")


@dataclass(frozen=True)
class DemoRunSummary:
    """One demo run as the summary prints it."""

    period: str
    run_id: int
    status: str
    chunks: int
    totals: dict[str, str]
    seconds: float
    kind: str = "commissions"


def demo_terms_load(*, epoch: datetime) -> dict[str, int]:
    """Create the demo plans, put every partner on one from ``epoch`` on and set a few rebates: all or nothing."""
    with transaction.atomic():
        plans = {row["code"]: plan_upsert(**row) for row in PLANS}
        partners = list(Partner.objects.order_by("code"))
        stats = partner_tree_stats(partner_ids=[p.pk for p in partners], at=epoch)
        for index, partner in enumerate(partners):
            level = stats[partner.pk].level if partner.pk in stats else 1
            if level == 1:
                code = "master-per-lot"
            elif index % SPREAD_SHARE_EVERY == 0:
                code = "spread-share"
            elif level >= VOLUME_PLAN_FROM_LEVEL:
                code = "volume-million"
            else:
                code = "standard-per-lot"
            partner_plan_assign(partner=partner, plan=plans[code], effective_from=epoch)
        rebates = _demo_rebates(epoch=epoch)
    return {"plans": len(plans), "assigned": len(partners), "rebates": rebates}


def _demo_rebates(*, epoch: datetime) -> int:
    first_client: dict[int, Any] = {}
    attributions = (
        AccountAttribution.objects.filter(valid_from=epoch, partner__isnull=False)
        .select_related("account", "partner")
        .order_by("partner__code", "account__server", "account__login")
    )
    for attribution in attributions:
        first_client.setdefault(attribution.partner_id, attribution)
    chosen = list(first_client.values())[REBATE_EVERY - 1 :: REBATE_EVERY]
    for index, attribution in enumerate(chosen):
        terms = {"pct": REBATE_PCT} if index % 2 == 0 else {"per_lot": REBATE_PER_LOT}
        rebate_set(partner=attribution.partner, account=attribution.account, effective_from=epoch, **terms)
    return len(chosen)


def demo_periods(today: date) -> tuple[list[str], str]:
    """The three complete months before ``today``'s month (the demo's window) and the current month."""
    months = []
    year, month = today.year, today.month
    for back in (3, 2, 1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        months.append(f"{y:04d}-{m + 1:02d}")
    return months, f"{year:04d}-{month:02d}"


def _compute(period: str, kind: str = "commissions") -> Run:
    """Request the period's run and make sure it is computed here, whether or not a worker picked it up.

    With eager Celery the run is already computed when ``run_request`` returns; when its start was deferred (inside
    an outer transaction) or went to a broker, this process runs the chunks itself: the chunk leases make a second
    worker's attempt harmless."""
    run = Run.objects.get(pk=run_request(kind=kind, period=period).run.pk)
    if run.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        run_start(run_id=run.pk, enqueue=lambda run_id, index: chunk_process(run_id=run_id, index=index))
        # Chunks a broker holds already: compute them here too (the lease makes a worker's duplicate harmless).
        for index in run.chunks.exclude(status="done").values_list("index", flat=True):
            chunk_process(run_id=run.pk, index=index)
        run.refresh_from_db()
    return run


def demo_runs(*, today: date, progress: Callable[[str], object] | None = None) -> list[DemoRunSummary]:
    """Compute every month of the demo; approve the complete ones, leave the current one computed."""
    complete, current = demo_periods(today)
    summaries = []
    for period in [*complete, current]:
        started = time.monotonic()
        run = _compute(period)
        if run.status not in (Run.Status.COMPUTED, Run.Status.APPROVED):
            raise RuntimeError(f"demo run for {period} is {run.status}: {run.error}")
        if period in complete:
            run = run_approve(run_id=run.pk)
        summaries.append(
            DemoRunSummary(
                period=period,
                run_id=run.pk,
                status=run.status,
                chunks=run.chunks_total,
                totals=dict(run.totals),
                seconds=time.monotonic() - started,
            )
        )
        if progress is not None:
            progress(period)
    return summaries


def demo_fee_runs(*, today: date, progress: Callable[[str], object] | None = None) -> list[DemoRunSummary]:
    """Compute and approve the MAM fees of every complete month of the demo, oldest first (a month starts from the
    previous month's approved high-water marks). The current month is not run: its fees crystallise at its end, and
    approving a period that has not ended is refused."""
    complete, _current = demo_periods(today)
    summaries = []
    for period in complete:
        started = time.monotonic()
        run = _compute(period, kind="fees")
        if run.status not in (Run.Status.COMPUTED, Run.Status.APPROVED):
            raise RuntimeError(f"demo fee run for {period} is {run.status}: {run.error}")
        run = run_approve(run_id=run.pk)
        summaries.append(
            DemoRunSummary(
                period=period,
                run_id=run.pk,
                status=run.status,
                chunks=run.chunks_total,
                totals=dict(run.totals),
                seconds=time.monotonic() - started,
                kind="fees",
            )
        )
        if progress is not None:
            progress(period)
    return summaries


def demo_busy_partner(*, period: str) -> Partner | None:
    """The partner who earned most in ``period``'s approved run (for the sample statement)."""
    row = (
        AttributionLine.objects.filter(run__period=period, run__status=Run.Status.APPROVED, partner__isnull=False)
        .values("partner")
        .annotate(total=Sum("amount"))
        .order_by("-total", "partner")
        .first()
    )
    return Partner.objects.get(pk=row["partner"]) if row else None
