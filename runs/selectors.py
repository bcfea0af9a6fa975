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


def record_run_ids(*, kind: str) -> list[int]:
    """The ids of ``runs_of_record`` of ``kind``, as a list for filtering a partitioned line table with constants:
    PostgreSQL then prunes it to those runs' partitions when it plans the query and estimates rows from their own
    statistics. Filtered by the subquery instead, it scanned every run's partition and, while ``runs_run`` had no
    statistics yet (a small table autovacuum rarely analyses), planned a million-line export as two thousand rows —
    nested loops over the trades, 30 % slower. ``[0]`` (an id no run has) when there is none, so the filter still
    compiles and matches nothing."""
    return list(runs_of_record(kind=kind).order_by("pk").values_list("pk", flat=True)) or [0]


def approved_run_ids(*, kind: str, period: str) -> list[int]:
    """The ids of a period's approved runs of ``kind``, oldest first (an adjustment run after the first)."""
    approved = Run.objects.filter(kind=kind, period=period, status=Run.Status.APPROVED)
    return list(approved.order_by("id").values_list("pk", flat=True))
