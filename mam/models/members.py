"""Members of a group: client sub-accounts with their own balance, equity and risk limits (DOMAIN.md 5.0).

Membership is dated by days of the server time zone: a member is in the group from its joining day (``joined``; when
not given, the day of the account's first equity snapshot on or after ``since``) until ``left``, the first day it is
no longer a member (NULL: still a member). ``since`` is the earliest day the membership can cover — the day the
account's previous membership ended, or since always — and is what the database checks: an account is in at most one
group at a time (an exclusion constraint over ``[since, left)`` per account). A member that left and joins again is
a new row, so a past allocation keeps pointing at the membership it was made under.

Settings (``param``, ``risk_factor``, ``active`` and the limits) are the member's current settings, read at each
master open; what an open gave every account, and why, is recorded on its ``Allocation`` rows and never recomputed,
so changing a setting never rewrites a past allocation.
"""

from __future__ import annotations

from datetime import date

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Func, Q

from core.models import TimeStamped
from partners.models import ClientAccount

from .groups import MamGroup

# ``since`` of a first membership given without a joining day: before any snapshot a server can report.
SINCE_ALWAYS_DAY = date(1900, 1, 1)


class DateRange(Func):
    function = "DATERANGE"
    output_field = models.DateField()


class Member(TimeStamped):
    group = models.ForeignKey(MamGroup, on_delete=models.PROTECT, related_name="members")
    account = models.ForeignKey(ClientAccount, on_delete=models.PROTECT, related_name="mam_memberships")
    # Lots per account (lot), percent (percent), multiplier of the master volume (multiplier), lots (fixed_lot);
    # unused by equal, balance, equity, free_margin and risk.
    param = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    risk_factor = models.DecimalField(max_digits=12, decimal_places=6, default=1)
    active = models.BooleanField(default=True)
    joined = models.DateField(null=True, blank=True, help_text="Empty: the day of the first equity snapshot")
    since = models.DateField(default=SINCE_ALWAYS_DAY, help_text="The earliest day this membership can cover")
    left = models.DateField(null=True, blank=True, help_text="The first day no longer a member")
    max_lots = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True)
    equity_stop = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    max_drawdown_pct = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["group_id", "account_id", "since"]
        indexes = [models.Index(fields=["group", "left"])]
        constraints = [
            ExclusionConstraint(
                name="member_one_group_at_a_time",
                expressions=[
                    (DateRange(F("since"), F("left"), models.Value("[)")), RangeOperators.OVERLAPS),
                    ("account", RangeOperators.EQUAL),
                ],
            ),
            models.CheckConstraint(condition=Q(left__isnull=True) | Q(left__gt=F("since")), name="member_left_after"),
            models.CheckConstraint(
                condition=Q(joined__isnull=True)
                | (Q(joined__gte=F("since")) & (Q(left__isnull=True) | Q(left__gt=F("joined")))),
                name="member_joined_in_range",
            ),
            models.CheckConstraint(condition=Q(risk_factor__gt=0), name="member_risk_factor_positive"),
            models.CheckConstraint(condition=Q(param__isnull=True) | Q(param__gte=0), name="member_param_non_negative"),
            models.CheckConstraint(
                condition=Q(max_lots__isnull=True) | Q(max_lots__gt=0), name="member_max_lots_positive"
            ),
            models.CheckConstraint(
                condition=Q(equity_stop__isnull=True) | Q(equity_stop__gte=0), name="member_equity_stop_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(max_drawdown_pct__isnull=True) | Q(max_drawdown_pct__gt=0, max_drawdown_pct__lte=100),
                name="member_drawdown_pct_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.account_id} from {self.joined or self.since}"
