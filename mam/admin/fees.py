"""Admin for what fee runs write: fee lines and members' fee states of record. Read-only (posted money, settled
states); fee runs themselves are in the runs admin with every other kind."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q

from core.admin_helpers import ReadOnlyAdmin, number_term
from runs.models import Run
from runs.selectors import runs_of_record

from ..models import FeeLine, MemberFeeState

FEE_KIND = "fees"

LINE_FIELDS = (
    "run",
    "period",
    "group",
    "member",
    "account",
    "kind",
    "partner",
    "manager",
    "currency",
    "amount",
    "day",
    "reason",
    "cash_flow",
    "days_accrued",
    "base_sum",
    "equity_before_fee",
    "hwm_before",
    "hurdle",
    "hwm_after",
    "accrue_from",
)


class FeePeriodFilter(admin.SimpleListFilter):
    """The periods that have fee runs (read from the small runs table, not the lines)."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        periods = Run.objects.filter(kind=FEE_KIND).order_by("-period").values_list("period", flat=True).distinct()
        return [(p, p) for p in periods]

    def queryset(self, request, queryset):
        return queryset.filter(period=self.value()) if self.value() else queryset


class _FeeLinesOfRecordChangeList(ChangeList):
    """The list shows fee lines of record (approved, else computed runs): a superseded or failed run's lines only
    when its run is asked for (``?run__id__exact=``). A line's own page shows any line."""

    def get_queryset(self, request, exclude_parameters=None):
        lines = super().get_queryset(request, exclude_parameters)
        if any(key.startswith("run") for key in request.GET):
            return lines
        return lines.filter(run__in=runs_of_record(kind=FEE_KIND).values("pk"))


@admin.register(FeeLine)
class FeeLineAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "period",
        "group",
        "account",
        "kind",
        "partner",
        "amount",
        "currency",
        "day",
        "reason",
        "hwm_before",
        "hwm_after",
    )
    list_select_related = ("run", "group", "account", "partner")
    list_filter = ("kind", "reason", FeePeriodFilter)
    search_fields = ("group__code", "partner__code")
    search_help_text = "A login (exact), a group code or a partner code (exact)."
    show_full_result_count = False
    list_per_page = 100
    fields = LINE_FIELDS
    readonly_fields = LINE_FIELDS

    def get_changelist(self, request, **kwargs):
        return _FeeLinesOfRecordChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(group__code=term) | Q(partner__code=term)
        login = number_term(term)
        if login is not None:
            match |= Q(account__login=login)
        return queryset.filter(match), False


@admin.register(MemberFeeState)
class MemberFeeStateAdmin(ReadOnlyAdmin):
    list_display = ("member", "period", "run", "hwm", "accrue_from", "created_at")
    list_select_related = ("member__account", "member__group", "run")
    list_filter = ("period",)
    search_fields = ("member__group__code",)
    fields = ("member", "period", "run", "hwm", "accrue_from", "created_at")
    readonly_fields = fields
