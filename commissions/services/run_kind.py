"""The ``commissions`` run kind: how the run framework plans, computes and posts a period's IB commissions.

Units: line amounts in USD at 6 places (integer micro-units in the line table); postings in USD.

Chunks (typed specs):
- ``accounts``: a set of client accounts with about ``IBEX_RUN_CHUNK_TRADES`` trades in the period (an account is
  never split, so a chunk holds every trade of its accounts);
- ``no_account``: the period's trades whose login has no client account row (they earn nothing, reason ``no_ib``);
- ``adjustments``: reversals and adjustments for trades of locked periods changed since (``services.adjustments``).
The snapshot (trades and accounts as of the run's start) and the tier context (every partner's direct tier volume,
computed once) make every chunk read the same data, on any worker, however often it is retried.

Rounding point of the posting: approval posts, per (beneficiary, kind, currency), the exact 6-dp sum of the lines
to the commission expense and that sum rounded once, half-up, to the currency's minor unit to the payable (the
ledger's posting API sends the difference to the rounding account). The beneficiary is the partner, or for a client
rebate the client account (a partner's rebate funding lines name the rebated account too, but the partner pays).
Inside the approval's transaction, what the approval locks in that the dated records now contradict — trades priced
on terms changed while the run waited (``stale``), trades paid 0 for want of set-up that arrived since
(``late_setup``) — is restated, and queued with the period's other late versions for the next open period.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import pandas as pd
from django.conf import settings
from django.db import connection

from ledger.postings import AccountRef, Leg, Posting
from ledger.vocabulary import Purpose
from runs.models import Run
from runs.registry import ChunkFailure, ChunkSpec, LateChange, PlannedChunk, RunKind, run_source_key

from ..adapters import (
    account_trade_counts,
    compute_trades,
    load_trades,
    tier_volumes_discard,
    tier_volumes_store,
    trades_snapshot_take,
)
from ..engine import EngineError, MissingRates
from ..models import AttributionLine
from .adjustments import adjustment_lines, has_pending_adjustments, late_versions_settle
from .late import late_changes
from .late_setup import trades_restate_newly_payable
from .stale import trades_restate_changed_under

# The line columns a chunk writes (engine output in integer micro-units; NUMERIC ones are generated).
LINE_COLUMNS = (
    "run_id",
    "period",
    "trade_id",
    "account_id",
    "partner_id",
    "beneficiary_account_id",
    "kind",
    "level",
    "rule_id",
    "base_micros",
    "rate_micros",
    "tier",
    "multiplier_micros",
    "amount_micros",
    "currency",
    "reason",
    "adjusts_period",
)
MISSING_RATES = "missing conversion rates (currency, day)"


@dataclass(frozen=True)
class AccountsChunk(ChunkSpec):
    type: ClassVar[str] = "accounts"
    account_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class NoAccountChunk(ChunkSpec):
    type: ClassVar[str] = "no_account"


@dataclass(frozen=True)
class AdjustmentsChunk(ChunkSpec):
    type: ClassVar[str] = "adjustments"


class CommissionRunKind(RunKind):
    name = "commissions"
    label = "Commissions"
    line_model = AttributionLine
    line_columns = LINE_COLUMNS
    spec_types = (AccountsChunk, NoAccountChunk, AdjustmentsChunk)

    def take_snapshot(self, run: Run) -> dict:
        # Trades of paid periods whose set-up arrived since are restated first, so this run's adjustments see them.
        trades_restate_newly_payable(before=run.period_start)
        snapshot = trades_snapshot_take()
        return snapshot.to_json()

    def plan_chunks(self, run: Run) -> list[PlannedChunk]:
        target = int(settings.IBEX_RUN_CHUNK_TRADES)
        planned: list[PlannedChunk] = []
        current: list[int] = []
        size = 0
        orphans = 0
        for account_id, count in account_trade_counts(run=run):
            if account_id is None:
                orphans = count
                continue
            if current and size + count > target:
                planned.append(PlannedChunk(AccountsChunk(account_ids=tuple(current)), size))
                current, size = [], 0
            current.append(account_id)
            size += count
        if current:
            planned.append(PlannedChunk(AccountsChunk(account_ids=tuple(current)), size))
        if orphans:
            planned.append(PlannedChunk(NoAccountChunk(), orphans))
        if has_pending_adjustments(run=run):
            planned.append(PlannedChunk(AdjustmentsChunk()))
        return planned

    def prepare(self, run: Run) -> None:
        try:
            tier_volumes_store(run=run)
        except EngineError as exc:
            raise _failure(exc) from exc

    def compute_chunk(self, run: Run, spec: ChunkSpec) -> pd.DataFrame:
        try:
            if isinstance(spec, AdjustmentsChunk):
                return adjustment_lines(run=run)
            if isinstance(spec, NoAccountChunk):
                trades = load_trades(run=run, without_account=True)
            else:
                trades = load_trades(run=run, account_ids=spec.account_ids)
            if trades.empty:
                return pd.DataFrame()
            return compute_trades(run=run, trades=trades)
        except EngineError as exc:
            raise _failure(exc) from exc

    def postings(self, run: Run) -> list[Posting]:
        table = AttributionLine._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT partner_id, CASE WHEN partner_id IS NULL THEN beneficiary_account_id END AS client,
                       kind, currency, SUM(amount)
                  FROM {table}
                 WHERE run_id = %s
                 GROUP BY partner_id, client, kind, currency
                HAVING SUM(amount) <> 0
                 ORDER BY partner_id NULLS LAST, client NULLS LAST, kind, currency
                """,
                [run.pk],
            )
            groups = cursor.fetchall()
        return [_posting(run, *group) for group in groups]

    def discard(self, run: Run) -> None:
        tier_volumes_discard(run=run)

    def approving(self, run: Run) -> None:
        # What the approval locks in that the dated records now contradict is restated first (terms changed while
        # the run waited; set-up that arrived since), then queued with the other late versions of its period.
        trades_restate_changed_under(run=run)
        trades_restate_newly_payable(approving=run)
        late_versions_settle(run=run)

    def late_changes(self, run: Run) -> list[LateChange]:
        return late_changes(run=run)


def _posting(run: Run, partner_id: int | None, client_id: int | None, kind: str, currency: str, total) -> Posting:
    exact = Decimal(total)
    if partner_id is not None:
        owner = f"partner:{partner_id}"
        payable = AccountRef(Purpose.PARTNER_PAYABLE, currency, partner_id=partner_id)
    else:
        owner = f"client:{client_id}"
        payable = AccountRef(Purpose.CLIENT_PAYABLE, currency, client_account_id=client_id)
    return Posting(
        source_key=run_source_key(run, owner, kind, currency),
        kind=kind,
        period=run.period,
        currency=currency,
        memo=f"{kind} {run.period} run {run.pk}",
        legs=(
            Leg(AccountRef(Purpose.COMMISSION_EXPENSE, currency), exact, exact=True),
            Leg(payable, -exact),
        ),
    )


def _failure(exc: EngineError) -> ChunkFailure:
    if isinstance(exc, MissingRates):
        return ChunkFailure(str(exc), details={MISSING_RATES: [f"{c} {d.isoformat()}" for c, d in exc.missing]})
    return ChunkFailure(str(exc))
