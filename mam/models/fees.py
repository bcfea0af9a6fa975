"""What fee runs write: their lines (``FeeLine``, one partition per run) and, once a run is approved, each member's
fee state of record (``MemberFeeState``), which the next run starts from.

Units: line amounts are in the member account's currency, stored as integer micro-units (``amount_micros``, 6
places, as commission lines are) with ``amount`` the exact NUMERIC PostgreSQL derives from them; the figures a line
came from (base sum, equity before the fee, high-water marks, hurdle) are exact NUMERIC at up to 8 places (the
engine's scale: the finest minor unit, 6 places for snapshots).

``FeeLine`` rows, per run, member and crystallisation (a period end, a withdrawal, leaving):
- ``management_fee`` and ``performance_fee``: what the investor's account is charged, beneficiary the group's
  manager (its partner); written for every crystallisation, 0 included, so a crystallisation that charged nothing
  still records the high-water mark it measured against;
- ``fee_share``: the part of the manager's fee on that investor paid to the investor's IB at the crystallisation
  (beneficiary the IB, ``manager`` the payer), only when there is an IB and the share is above 0;
- ``state`` (amount 0), one per member staying in its group: the HWM after every flow of the period
  (``hwm_after``) and the first day not yet charged a management fee (``accrue_from``). It is written with the
  member's lines, in the same chunk transaction, so a run's lines and the state it carries can never come from two
  different readings of the data; approving copies it into ``MemberFeeState``.

Both tables are append-only (PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE), as commission lines and the
journal are: a fee line is evidence of what was computed and posted, a state is what an approved period settled.
"""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Coalesce

from ledger.models.append_only import append_only
from ledger.models.guards import GuardTrigger
from partners.models import ClientAccount, Partner
from runs.models import Run

from ..vocabulary import CrystallisationReason, FeeLineKind
from .equity import CashFlow
from .groups import MamGroup
from .members import Member

# The figures' NUMERIC columns: 8 places hold the engine's scale for every currency (a satoshi is the finest unit).
FIGURE_DIGITS, FIGURE_PLACES = 30, 8
# ``cash_flow`` of a crystallisation that is not a withdrawal, in the natural key.
NO_FLOW = 0


def _figure(help_text: str = "") -> models.DecimalField:
    return models.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=FIGURE_PLACES, null=True, blank=True, help_text=help_text
    )


class FeeLine(models.Model):
    """One immutable fee line of a run (see the module docstring). Written by COPY into the run's own table, indexed
    and attached as the run's partition when the run is computed (``runs.line_store``); the foreign keys carry no
    database constraint (a check per row per key would double the write time) and no index of their own."""

    Kind = FeeLineKind

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    period = models.CharField(max_length=7)
    group = models.ForeignKey(
        MamGroup, on_delete=models.PROTECT, related_name="fee_lines", db_constraint=False, db_index=False
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="fee_lines", db_constraint=False, db_index=False
    )
    account = models.ForeignKey(
        ClientAccount, on_delete=models.PROTECT, related_name="fee_lines", db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=16, choices=FeeLineKind.choices)
    # The beneficiary: the manager's partner (management and performance fees), the investor's IB (fee share); none
    # for a state row.
    partner = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fee_lines",
        db_constraint=False,
        db_index=False,
    )
    # The group's manager (its partner) when the run computed: who is paid the fees, and who pays a fee share.
    manager = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    currency = models.CharField(max_length=3, help_text="The member account's currency")
    amount_micros = models.BigIntegerField()
    amount = models.GeneratedField(
        # The dividend carries six decimals: PostgreSQL keeps only about 16 significant digits of a quotient of
        # scale-0 operands, so 1234567890123456789 / 1000000 would come out as 1234567890123.4568.
        expression=Cast(F("amount_micros"), models.DecimalField(max_digits=26, decimal_places=6))
        / Value(Decimal(1_000_000)),
        output_field=models.DecimalField(max_digits=20, decimal_places=6),
        db_persist=True,
    )
    day = models.DateField(help_text="The crystallisation day (a state row: the period's last day)")
    reason = models.CharField(max_length=16, choices=CrystallisationReason.choices, blank=True)
    cash_flow = models.ForeignKey(
        CashFlow,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        help_text="The withdrawal that crystallised the fees",
    )
    days_accrued = models.PositiveIntegerField(null=True, blank=True)
    base_sum = _figure("Sum of the daily management-fee bases accrued")
    equity_before_fee = _figure("Equity at the crystallisation, less this crystallisation's management fee")
    hwm_before = _figure()
    hurdle = _figure()
    hwm_after = _figure("After the fee (a state row: after every flow of the period)")
    accrue_from = models.DateField(null=True, blank=True, help_text="State row: the first day not yet charged")

    class Meta:
        ordering = ["run_id", "group_id", "account_id", "day", "kind"]
        indexes = [
            # GET /mam/groups/{code}/fees/ and the export read one run's lines of one group.
            models.Index(fields=["group", "account"], name="feeline_group_account"),
            models.Index(fields=["partner", "period"], name="feeline_partner_period"),
        ]
        constraints = [
            models.UniqueConstraint(
                F("member"),
                F("run"),
                F("kind"),
                F("day"),
                F("reason"),
                Coalesce(F("cash_flow"), Value(NO_FLOW)),
                name="feeline_natural_key",
            ),
        ]
        # As commission lines: never edited or deleted; the row triggers are cloned onto each run's partition when it
        # is attached; chunks COPY into the stand-alone table, which has none, and nothing is added once attached.
        triggers = [
            *append_only("feeline"),
            GuardTrigger(
                name="feeline_published",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert,
                func="RAISE EXCEPTION 'the fee lines of run % are published: no line is added to a computed run', "
                "NEW.run_id USING ERRCODE = 'insufficient_privilege';",
            ),
        ]

    def __str__(self) -> str:
        return f"fee line {self.account_id}/{self.kind}/{self.day}"


class MemberFeeState(models.Model):
    """A member's fee state as an approved fee run settled it: the HWM carried (None: not known yet, the member has
    not joined) and the first day not yet charged a management fee (None: from joining). The next run of the member
    starts from its latest state (the greatest ``period`` before the run's); one state per member and period."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="fee_states")
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    period = models.CharField(max_length=7)
    hwm = models.DecimalField(max_digits=FIGURE_DIGITS, decimal_places=FIGURE_PLACES, null=True, blank=True)
    accrue_from = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["member_id", "period"]
        constraints = [
            # Approval happens once per period (it locks it): a second state for a member and period is a bug.
            models.UniqueConstraint(fields=["member", "period"], name="memberfeestate_one_per_period"),
            models.CheckConstraint(condition=Q(hwm__isnull=True) | Q(hwm__gte=0), name="memberfeestate_hwm"),
        ]
        triggers = append_only("memberfeestate")

    def __str__(self) -> str:
        return f"member {self.member_id} after {self.period}: hwm {self.hwm}"
