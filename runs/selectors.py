"""Reads over runs: which runs' lines are the lines of record, and a run's chunks."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Run

RECORD_STATUSES = (Run.Status.COMPUTED, Run.Status.APPROVED)


def runs_of_record(*, kind: str | None = None) -> QuerySet[Run]:
    """The runs whose lines are current: the approved run of a period, else its computed one. Never a superseded,
    failed, queued or running run (at most one live run per (kind, period, scope), so there is one per period)."""
    runs = Run.objects.filter(status__in=RECORD_STATUSES)
    return runs.filter(kind=kind) if kind is not None else runs


def approved_run_ids(*, kind: str, period: str) -> list[int]:
    """The ids of a period's approved runs of ``kind``, oldest first (an adjustment run after the first)."""
    approved = Run.objects.filter(kind=kind, period=period, status=Run.Status.APPROVED)
    return list(approved.order_by("id").values_list("pk", flat=True))
