from ledger.models import PeriodLock


class LockedCommissionPeriod(PeriodLock):
    """The ledger's period locks of the commission kind, as the commissions admin shows them: each approved period
    with what is waiting to be carried into the next open period (adjustments and reversals)."""

    class Meta:
        proxy = True
        verbose_name = "locked commission period"
        ordering = ["-period"]
