"""The run framework's rows: one ``Run`` per computation and its ``RunChunk`` slices (ARCHITECTURE.md "The run
framework"). The framework knows no domain: a run's ``kind`` names a registered kind (``runs.registry``) that plans,
computes and posts it; a chunk's ``spec`` is that kind's typed chunk spec, stored as JSON with its ``type``.

Times that leases and the sweeper compare (``lease_expires_at``, ``dispatched_at``, ``start_dispatched_at``) are
written and read with the database's clock only, so workers on machines whose clocks disagree still agree on them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import tracked

LIVE_STATUSES = ("queued", "running", "computed", "approved")


class Run(models.Model):
    """One computation of a kind (``commissions``, ``fees``) for one period (and optional scope), with a state machine
    ``queued → running → computed → approved``, or ``failed``; recomputing a computed run marks it ``superseded``.
    At most one live run per (kind, period, scope), enforced by a partial unique index.

    ``snapshot`` is what the run reads, fixed when it starts (the kind decides: for commissions, the trades and
    accounts that existed then); ``totals`` are summed from the chunks' own totals when it finishes."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPUTED = "computed", "Computed"
        APPROVED = "approved", "Approved"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    kind = models.CharField(max_length=32, help_text="a registered run kind")
    period = models.CharField(max_length=7, help_text="YYYY-MM in the server time zone")
    scope = models.CharField(max_length=64, blank=True, default="", help_text="e.g. a MAM group; empty for all")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True, help_text="line kind → amount (6 dp, as text)")
    snapshot = models.JSONField(default=dict, blank=True, help_text="what the run reads, fixed when it starts")
    error = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    start_dispatched_at = models.DateTimeField(null=True, blank=True, help_text="when its start was last sent")
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "runs_run"
        ordering = ["-created_at"]
        # Approving posts the run to the journal: its own permission, not "change run" (core/roles.py).
        permissions = [("approve_run", "Can approve a computed run (posts it to the journal)")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "period", "scope"], condition=Q(status__in=LIVE_STATUSES), name="run_one_live"
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="run_status_kind")]

    def __str__(self) -> str:
        scope = f" [{self.scope}]" if self.scope else ""
        return f"{self.kind} {self.period}{scope} #{self.pk} ({self.status})"


class RunChunk(models.Model):
    """A slice of a run that one worker claims under a lease, computes and writes in one transaction.

    ``spec`` is the kind's typed chunk spec (``{"type": …, …}``); ``totals`` the sums of the lines it wrote (so
    finishing the run never rescans them); ``attempts`` counts claims (capped: a chunk that keeps failing fails its
    run with the reason)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    spec_type = models.CharField(max_length=32)
    spec = models.JSONField(default=dict)
    size = models.PositiveIntegerField(default=0, help_text="rows the kind expects it to read (progress)")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    dispatched_at = models.DateTimeField(null=True, blank=True, help_text="when its message was last sent")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lines_written = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "runs_runchunk"
        ordering = ["run_id", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="runchunk_unique_index")]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="runchunk_status_lease")]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index} ({self.status})"


# The audit trail (core.models.tracked; README "Audit trail"): a run's request and every change of its state — who
# requested, recomputed and approved it, when it started, computed or failed. Not its progress (``chunks_done``, the
# sweeper's ``start_dispatched_at``) nor its snapshot, and never ``RunChunk``: leases and heartbeats change every few
# seconds on the hot path and say nothing of who did what.
tracked(exclude=["chunks_total", "chunks_done", "start_dispatched_at", "snapshot", "error_details"])(Run)
