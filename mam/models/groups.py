"""MAM groups and their dated fee schedule.

A group is a master account on one trading server plus the client sub-accounts that follow it (``Member``). Every
member trades on the master's server: a MAM master copies to sub-accounts of its own server, which is why the master
and the overflow account are plain ``(server, login)`` columns here — the master is the manager's trading account,
not necessarily a client account the CRM sent — and the overflow account is a login on that server.

Fee terms are dated (``GroupFeeTerms``, the project's dated-terms pattern, ``core.effective``): one row per change,
``[valid_from, valid_to)``, never overlapping; a fee run prices each day with the terms in force then. Rates are
fractions (``0.02`` = 2 % a year, ``0.25`` = 25 % of the profit), as ``mam.engine.fees.FeeTerms`` takes them; the
``_pct`` fields are percents (``hurdle_pct`` of the HWM per crystallisation period, ``ib_fee_share_pct`` of the
manager's fee on an investor paid to that investor's IB).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.models import TimeStamped, effective_dated_constraints

from ..vocabulary import (
    AllocationMethod,
    BelowMinPolicy,
    CrystallisationPeriod,
    FeeBase,
    FlowMode,
    HwmMode,
    ManagementBasis,
    ResidualPolicy,
)
from .managers import MoneyManager


class MamGroup(TimeStamped):
    """A master account and how its trades are shared over the group's sub-accounts (DOMAIN.md 5.1)."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    manager = models.ForeignKey(MoneyManager, on_delete=models.PROTECT, related_name="groups")
    master_server = models.CharField(max_length=64)
    master_login = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD", help_text="The group's reporting and fee currency")
    method = models.CharField(max_length=16, choices=AllocationMethod.choices, default=AllocationMethod.EQUITY.value)
    residual_policy = models.CharField(
        max_length=20, choices=ResidualPolicy.choices, default=ResidualPolicy.LARGEST_WEIGHT.value
    )
    below_min = models.CharField(max_length=8, choices=BelowMinPolicy.choices, default=BelowMinPolicy.SKIP.value)
    # A login on the master's server that takes every leftover step under the ``overflow`` residual policy.
    overflow_login = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["master_server", "master_login"], name="mamgroup_master_unique"),
            models.CheckConstraint(condition=Q(master_login__gte=0), name="mamgroup_master_login_non_negative"),
            models.CheckConstraint(
                condition=~Q(residual_policy=ResidualPolicy.OVERFLOW.value) | Q(overflow_login__isnull=False),
                name="mamgroup_overflow_has_account",
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="mamgroup_currency_format"),
        ]

    def __str__(self) -> str:
        return self.code


class GroupFeeTerms(models.Model):
    """The fee schedule a group had during ``[valid_from, valid_to)`` (the same fields as the fee engine's
    ``FeeTerms``)."""

    group = models.ForeignKey(MamGroup, on_delete=models.CASCADE, related_name="fee_terms")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    management_rate = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    management_basis = models.CharField(
        max_length=3, choices=ManagementBasis.choices, default=ManagementBasis.CALENDAR.value
    )
    management_base = models.CharField(max_length=8, choices=FeeBase.choices, default=FeeBase.EQUITY.value)
    performance_rate = models.DecimalField(max_digits=12, decimal_places=8, default=0)
    hwm_mode = models.CharField(max_length=8, choices=HwmMode.choices, default=HwmMode.NET.value)
    flow_mode = models.CharField(max_length=16, choices=FlowMode.choices, default=FlowMode.ABSOLUTE.value)
    hurdle_pct = models.DecimalField(max_digits=9, decimal_places=4, default=0)
    period = models.CharField(
        max_length=10, choices=CrystallisationPeriod.choices, default=CrystallisationPeriod.MONTHLY.value
    )
    ib_fee_share_pct = models.DecimalField(max_digits=9, decimal_places=4, default=0)

    class Meta:
        ordering = ["group_id", "valid_from"]
        verbose_name_plural = "group fee terms"
        constraints = [
            *effective_dated_constraints("group", "groupfeeterms"),
            models.CheckConstraint(
                condition=Q(management_rate__gte=0, management_rate__lte=1), name="groupfeeterms_management_rate"
            ),
            models.CheckConstraint(
                condition=Q(performance_rate__gte=0, performance_rate__lte=1), name="groupfeeterms_performance_rate"
            ),
            models.CheckConstraint(condition=Q(hurdle_pct__gte=0, hurdle_pct__lte=100), name="groupfeeterms_hurdle"),
            models.CheckConstraint(
                condition=Q(ib_fee_share_pct__gte=0, ib_fee_share_pct__lte=100), name="groupfeeterms_ib_share"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} fees from {self.valid_from:%Y-%m-%d %H:%M}"
