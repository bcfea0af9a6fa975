"""The ``fees`` run kind: how the run framework plans, computes, posts and settles a period's MAM fees.

Units: line amounts in each member account's currency, 6 places (integer micro-units in the line table); postings
per currency. Rounding point: the fee engine rounds each crystallised fee to the account currency's minor unit and
each fee share to 6 places (``mam.engine.fees``); approval rounds each posted leg once more, to the minor unit, in the
ledger's posting API — a no-op for fees (already at the minor unit), the one rounding of a fee share's sum.

Scope: a run covers the whole period (scope "") or one group (scope = the group's code); the framework keeps a
period's runs from overlapping.

Chunks (typed specs): ``groups``, a set of groups with about ``IBEX_RUN_CHUNK_FEE_MEMBERS`` memberships in the
period; a group is never split (a larger one is a chunk alone). The snapshot (``fee_adapters.FeeSnapshot``) fixes
the memberships and cash flows every chunk reads; a chunk's lines and the states it carries are written together.

Order of periods (decided: fees are a chain — each period starts from the previous one's high-water marks and
accrual day — so a period is computed only on a settled predecessor): a run of month m fails at its start, with
the groups listed, if a group it computes had memberships in month m−1 and m−1 is not approved (locked) for that
group: a missing or unapproved predecessor would make m start from an older state and charge m−1's accrual twice.
The first month of a group is the first month it has members.

Postings (``postings``), every one balanced and keyed under the run:
- per (manager, kind, currency) for management and performance fees: each investor account's fees of the run debit
  its investor fee charge account (``INVESTOR_FEE_CHARGE``, owned by the client account: the broker owes the
  investor that much less) and their sum credits the manager's payable (``MANAGER_PAYABLE``, owned by the
  manager's partner) — key ``run:{run}:partner:{manager}:{kind}:{currency}``;
- per (IB, manager, currency) for fee shares, paid out of the manager's fee (not on top, so no broker expense): the
  sum debits the manager's payable and credits the IB's partner payable (``PARTNER_PAYABLE``); both legs are rounded
  once to the minor unit, so the IB is paid exactly what the manager gives up — key
  ``run:{run}:partner:{ib}:fee_share:{currency}:manager:{manager}``.

Approving (``approving``) copies the run's state rows into ``MemberFeeState`` (one per member and period, append
only): only an approved run ever becomes the start of the next; a superseded or failed run's rows are never read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

from core.exact import INT64_MAX, max_abs
from ledger.postings import AccountRef, Leg, Posting
from ledger.selectors import period_is_locked
from ledger.vocabulary import Purpose
from runs.models import Run
from runs.registry import ChunkFailure, ChunkSpec, LateChange, PlannedChunk, RunKind, run_source_key

from ..fee_adapters import (
    LINE_COLUMNS,
    LINES,
    STATES,
    FeeSnapshot,
    RunDays,
    fee_snapshot_take,
    group_sizes,
    late_counts,
)
from ..models import FeeLine, MamGroup
from ..vocabulary import FEE_KINDS, INVESTOR_FEE_KINDS, FeeLineKind
from .fee_compute import fee_chunk_lines

KIND = "fees"
PREDECESSOR_NOT_APPROVED = "groups whose previous month's fees are not approved (group previous-month)"

_LATE_MESSAGES = {
    "cash_flows": "{n} cash flow(s) of {period} were recorded after this run read its data",
    "equity_snapshots": "{n} equity snapshot(s) of {period} were written or corrected after this run read its data",
    "memberships": "{n} membership(s) of {period} were added or changed after this run read its data",
    "dated_changes": "{n} dated change(s) (fee terms, IBs, …) reaching into {period} were made after this run started",
}


@dataclass(frozen=True)
class GroupsChunk(ChunkSpec):
    type: ClassVar[str] = "groups"
    group_ids: tuple[int, ...] = ()


def _previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


class FeeRunKind(RunKind):
    name = KIND
    label = "MAM fees"
    line_model = FeeLine
    line_columns = LINE_COLUMNS
    spec_types = (GroupsChunk,)
    scoped = True

    def check_scope(self, scope: str) -> None:
        if scope and not MamGroup.objects.filter(code=scope).exists():
            raise ValidationError({"scope": [f"Unknown MAM group {scope!r}: a fee run's scope is a group's code."]})

    def _group_ids(self, run: Run) -> list[int] | None:
        if not run.scope:
            return None
        return list(MamGroup.objects.filter(code=run.scope).values_list("pk", flat=True))

    def take_snapshot(self, run: Run) -> dict:
        return fee_snapshot_take().as_json()

    def plan_chunks(self, run: Run) -> list[PlannedChunk]:
        days = RunDays.of(run)
        snapshot = FeeSnapshot.of(run)
        group_ids = self._group_ids(run)
        sizes = group_sizes(start=days.start, end=days.end, member_max_id=snapshot.member_max_id, group_ids=group_ids)
        self._check_predecessor(run, days=days, sizes=sizes)
        target = int(settings.IBEX_RUN_CHUNK_FEE_MEMBERS)
        planned: list[PlannedChunk] = []
        current: list[int] = []
        size = 0
        for group_id, count in zip(sizes["group_id"], sizes["members"], strict=True):
            if current and size + int(count) > target:
                planned.append(PlannedChunk(GroupsChunk(group_ids=tuple(current)), size))
                current, size = [], 0
            current.append(int(group_id))
            size += int(count)
        if current:
            planned.append(PlannedChunk(GroupsChunk(group_ids=tuple(current)), size))
        return planned

    def _check_predecessor(self, run: Run, *, days: RunDays, sizes: pd.DataFrame) -> None:
        """Refuse the run if a group it computes had memberships in the previous month and that month is not
        approved for it (see the module docstring)."""
        if sizes.empty:
            return
        previous = _previous_period(run.period)
        before_end = days.start
        before_start = (days.start - timedelta(days=1)).replace(day=1)
        earlier = group_sizes(
            start=before_start,
            end=before_end,
            member_max_id=FeeSnapshot.of(run).member_max_id,
            group_ids=[int(g) for g in sizes["group_id"]],
        )
        missing = [
            f"{code} {previous}"
            for code in earlier["code"]
            if not period_is_locked(kind=self.name, period=previous, scope=code)
        ]
        if missing:
            raise ChunkFailure(
                f"fees of {run.period} start from {previous}'s approved fee states, and {previous} is not approved for "
                f"{len(missing)} group(s): approve {previous}'s fee run first",
                details={PREDECESSOR_NOT_APPROVED: missing},
            )

    def compute_chunk(self, run: Run, spec: ChunkSpec) -> pd.DataFrame:
        if not isinstance(spec, GroupsChunk):
            raise ChunkFailure(f"kind {self.name} has no chunk type {spec.type!r}")
        return fee_chunk_lines(run=run, group_ids=spec.group_ids)

    def chunk_totals(self, lines: pd.DataFrame) -> dict[str, Decimal]:
        """Exact sums of the money lines by ``kind:currency`` (a run's fees may be in several currencies)."""
        money = lines[lines["kind"].isin([k.value for k in FEE_KINDS])] if not lines.empty else lines
        if money.empty:
            return {}
        values = money["amount_micros"].to_numpy(dtype=np.int64)
        keys = (money["kind"].astype(str) + ":" + money["currency"].astype(str)).to_numpy()
        codes, uniques = pd.factorize(keys)
        big = max_abs(values) * len(values) > INT64_MAX
        sums = np.zeros(len(uniques), dtype=object if big else np.int64)
        np.add.at(sums, codes, values.astype(object) if big else values)
        return {str(k): Decimal(int(s)).scaleb(-self.total_scale) for k, s in sorted(zip(uniques, sums, strict=True))}

    def postings(self, run: Run) -> list[Posting]:
        return [*_investor_postings(run), *_share_postings(run)]

    def approving(self, run: Run) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {STATES} (member_id, run_id, period, hwm, accrue_from, created_at)
                SELECT member_id, run_id, period, hwm_after, accrue_from, clock_timestamp()
                  FROM {LINES} WHERE run_id = %s AND kind = %s
                """,
                [run.pk, FeeLineKind.STATE.value],
            )

    def late_changes(self, run: Run) -> list[LateChange]:
        counts = late_counts(run=run, group_ids=self._group_ids(run))
        return [
            LateChange(
                code=code,
                count=int(count),
                message=f"{_LATE_MESSAGES[code].format(n=count, period=run.period)}: they are not in its figures "
                "(recompute the run to include them).",
            )
            for code, count in counts.items()
            if count
        ]


def _investor_postings(run: Run) -> list[Posting]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT partner_id, kind, currency, account_id, SUM(amount)
              FROM {LINES}
             WHERE run_id = %s AND kind = ANY(%s)
             GROUP BY partner_id, kind, currency, account_id
            HAVING SUM(amount) <> 0
             ORDER BY partner_id, kind, currency, account_id
            """,
            [run.pk, sorted(k.value for k in INVESTOR_FEE_KINDS)],
        )
        rows = cursor.fetchall()
    legs: dict[tuple[int, str, str], list[Leg]] = defaultdict(list)
    for manager_id, kind, currency, account_id, amount in rows:
        legs[(manager_id, kind, currency)].append(
            Leg(AccountRef(Purpose.INVESTOR_FEE_CHARGE, currency, client_account_id=account_id), Decimal(amount))
        )
    postings = []
    for (manager_id, kind, currency), charges in legs.items():
        total = sum((leg.amount for leg in charges), Decimal(0))
        postings.append(
            Posting(
                source_key=run_source_key(run, f"partner:{manager_id}", kind, currency),
                kind=kind,
                period=run.period,
                currency=currency,
                memo=f"{kind} {run.period} run {run.pk}",
                legs=(*charges, Leg(AccountRef(Purpose.MANAGER_PAYABLE, currency, partner_id=manager_id), -total)),
            )
        )
    return postings


def _share_postings(run: Run) -> list[Posting]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT partner_id, manager_id, currency, SUM(amount)
              FROM {LINES}
             WHERE run_id = %s AND kind = %s
             GROUP BY partner_id, manager_id, currency
            HAVING SUM(amount) <> 0
             ORDER BY partner_id, manager_id, currency
            """,
            [run.pk, FeeLineKind.FEE_SHARE.value],
        )
        rows = cursor.fetchall()
    kind = FeeLineKind.FEE_SHARE.value
    return [
        Posting(
            source_key=run_source_key(run, f"partner:{ib_id}", kind, currency, f"manager:{manager_id}"),
            kind=kind,
            period=run.period,
            currency=currency,
            memo=f"{kind} {run.period} run {run.pk}",
            legs=(
                Leg(AccountRef(Purpose.MANAGER_PAYABLE, currency, partner_id=manager_id), Decimal(total)),
                Leg(AccountRef(Purpose.PARTNER_PAYABLE, currency, partner_id=ib_id), -Decimal(total)),
            ),
        )
        for ib_id, manager_id, currency, total in rows
    ]
