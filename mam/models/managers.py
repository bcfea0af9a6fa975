"""Money managers: a manager is a partner record (``partners.Partner``), one-to-one.

Being a partner gives a manager its payables (``ledger`` purpose ``MANAGER_PAYABLE`` is owned by a partner), payouts
and portal for free, and a manager who also refers clients is an IB in the partner tree like any other: nothing here
duplicates a partner's name, contact or payout details.
"""

from __future__ import annotations

from django.db import models

from core.models import TimeStamped
from partners.models import Partner


class MoneyManager(TimeStamped):
    """The manager side of a partner: created the first time a group names the partner as its manager."""

    partner = models.OneToOneField(Partner, on_delete=models.PROTECT, related_name="money_manager")

    class Meta:
        ordering = ["partner__code"]

    def __str__(self) -> str:
        return self.partner.code
