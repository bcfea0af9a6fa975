"""Locked commission periods with what is pending for adjustment (issue 8's visibility): per approved period, the
trade versions its approved run never saw (late trades, corrections, cancellations, symbols resolved, and the
trades restated because set-up or terms reaching them arrived after the run read its data) and the posted versions
to reverse, which the next open period's run will carry (``services.adjustments.pending_versions``). Counted once
per page, as of now."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList

from core.admin_helpers import ReadOnlyAdmin

from ..models import LockedCommissionPeriod
from ..services.adjustments import pending_by_locked_period


class _PendingChangeList(ChangeList):
    def get_results(self, request) -> None:
        super().get_results(request)
        pending = pending_by_locked_period()
        for lock in self.result_list:
            counts = pending.get(lock.period, {})
            lock.to_compute = counts.get("to_compute", 0)
            lock.to_reverse = counts.get("to_reverse", 0)


@admin.register(LockedCommissionPeriod)
class LockedCommissionPeriodAdmin(ReadOnlyAdmin):
    list_display = ("period", "locked_at", "locked_by", "source_key", "pending_to_compute", "pending_to_reverse")
    list_select_related = ("locked_by",)
    search_fields = ("period",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind="commissions")

    def get_changelist(self, request, **kwargs):
        return _PendingChangeList

    @admin.display(description="trades to adjust")
    def pending_to_compute(self, lock) -> int:
        return getattr(lock, "to_compute", 0)

    @admin.display(description="posted versions to reverse")
    def pending_to_reverse(self, lock) -> int:
        return getattr(lock, "to_reverse", 0)
