from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from .append_only import append_only


class PeriodLock(models.Model):
    """A period closed for one kind of run (``commissions``, ``fees``) by an approval: its money is posted, and later
    changes to it become adjustments in an open period. A commission lock does not lock fees, nor the reverse.

    Locks are append-only (never lifted): reopening a paid period would let its posted money be rewritten.
    """

    kind = models.CharField(max_length=32)
    period = models.CharField(max_length=7)
    scope = models.CharField(max_length=64, blank=True, default="")
    source_key = models.CharField(max_length=200, help_text="what locked it, e.g. run:812")
    locked_at = models.DateTimeField(db_default=Now())
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "period", "scope"]
        constraints = [models.UniqueConstraint(fields=["kind", "period", "scope"], name="periodlock_unique")]
        triggers = append_only("periodlock")

    def __str__(self) -> str:
        return f"{self.kind} {self.period}{f' {self.scope}' if self.scope else ''} locked"
