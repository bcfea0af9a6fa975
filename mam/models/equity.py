"""Daily equity snapshots and capital flows of client accounts (the inputs of allocation and fees).

Snapshots are end-of-day figures per server-time-zone day, one per ``(account, day)``, upserted; equity is never
negative (a negative figure is refused: a MAM account at negative equity is a platform error to correct first).
Cash flows are deposits (> 0) and withdrawals (< 0) identified by the platform's or CRM's id, unique per server;
a flow is a record of money moved and is never edited (a correction is a new, offsetting flow with its own id).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from partners.models import ClientAccount


class EquitySnapshot(models.Model):
    account = models.ForeignKey(ClientAccount, on_delete=models.PROTECT, related_name="equity_snapshots")
    day = models.DateField()
    balance = models.DecimalField(max_digits=20, decimal_places=6)
    equity = models.DecimalField(max_digits=20, decimal_places=6)
    free_margin = models.DecimalField(max_digits=20, decimal_places=6)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="equitysnapshot_account_day_unique"),
            models.CheckConstraint(condition=Q(equity__gte=0), name="equitysnapshot_equity_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} equity {self.equity}"


class CashFlow(models.Model):
    # The account's server, kept beside the account so the id's uniqueness per server is a database constraint.
    server = models.CharField(max_length=64)
    external_id = models.CharField(max_length=100)
    account = models.ForeignKey(ClientAccount, on_delete=models.PROTECT, related_name="cash_flows")
    time = models.DateTimeField()
    amount = models.DecimalField(max_digits=20, decimal_places=6)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "time", "id"]
        indexes = [models.Index(fields=["account", "time"])]
        constraints = [
            models.UniqueConstraint(fields=["server", "external_id"], name="cashflow_server_id_unique"),
            models.CheckConstraint(condition=~Q(amount=0), name="cashflow_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.server}:{self.external_id} {self.amount}"
