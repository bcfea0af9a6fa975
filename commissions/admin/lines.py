"""Admin for attribution lines (read-only: posted money and its explanation), with "Download CSV" of the list as it
is filtered (``commissions.selectors.line_export_csv``, the COPY export ``GET /lines/export/`` streams)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.core.exceptions import EmptyResultSet, PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from core.admin_helpers import ReadOnlyAdmin, number_term
from core.downloads import csv_attachment
from runs.models import Run
from runs.selectors import record_run_ids

from ..models import AttributionLine
from ..selectors import line_export_csv, line_export_filename, line_export_sql
from ..vocabulary import Reason

MAX_LEVEL = 32767  # the column's bound (a positive small integer), as GET /lines/ bounds it


class PeriodFilter(admin.SimpleListFilter):
    """The periods that have runs (read from the small runs table, not the lines)."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        periods = Run.objects.order_by("-period").values_list("period", flat=True).distinct()
        return [(p, p) for p in periods]

    def queryset(self, request, queryset):
        return queryset.filter(period=self.value()) if self.value() else queryset


class ReasonFilter(admin.SimpleListFilter):
    """Why a line carries no amount (the engine's fixed list of reasons)."""

    title = "reason"
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        return [("none", "(none: paid)"), *Reason.choices]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(reason="")
        return queryset.filter(reason=self.value()) if self.value() else queryset


class LevelFilter(admin.SimpleListFilter):
    title = "level"
    parameter_name = "level"

    def lookups(self, request, model_admin):
        return [(str(level), f"L{level}") for level in range(0, 11)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        if not self.value().isascii() or not self.value().isdigit() or int(self.value()) > MAX_LEVEL:
            raise IncorrectLookupParameters(f"level {self.value()!r} is no level")
        return queryset.filter(level=int(self.value()))


LINE_FIELDS = (
    "run",
    "period",
    "trade",
    "account",
    "partner",
    "beneficiary_account",
    "kind",
    "level",
    "rule",
    "base",
    "rate",
    "tier",
    "multiplier",
    "amount",
    "currency",
    "reason",
    "adjusts_period",
)


class _LinesOfRecordChangeList(ChangeList):
    """The list shows lines of record, as GET /lines/ does: a superseded or failed run's lines only when its run is
    asked for (``?run__id__exact=``, the run page's link). A line's own page shows any line."""

    def get_queryset(self, request, exclude_parameters=None):
        lines = super().get_queryset(request, exclude_parameters)
        if any(key.startswith("run") for key in request.GET):
            return lines
        return lines.filter(run_id__in=record_run_ids(kind="commissions"))  # constants: partitions pruned


@admin.register(AttributionLine)
class AttributionLineAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "period",
        "trade",
        "partner",
        "beneficiary_account",
        "kind",
        "level",
        "base",
        "rate",
        "tier",
        "multiplier",
        "amount",
        "reason",
    )
    list_select_related = ("run", "trade", "partner", "beneficiary_account")
    list_filter = ("kind", LevelFilter, ReasonFilter, PeriodFilter)
    search_fields = ("partner__code",)
    search_help_text = "A ticket (exact) or a partner code (exact)."
    show_full_result_count = False
    list_per_page = 100
    fields = LINE_FIELDS
    readonly_fields = LINE_FIELDS
    change_list_template = "admin/commissions/attributionline/change_list.html"

    def get_changelist(self, request, **kwargs):
        return _LinesOfRecordChangeList

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The lines the list shows for the same query string (filters, search; every page) as the CSV of
        ``GET /lines/export/``, streamed from PostgreSQL. Needs the permission to view lines."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            if any("\x00" in value for value in request.GET.values()):
                raise IncorrectLookupParameters("a NUL character")  # PostgreSQL text cannot hold one
            lines = self.get_changelist_instance(request).get_queryset(request)
            line_export_sql(lines)  # compiled now: a filter no row can match fails here, not in the middle of the file
        except (IncorrectLookupParameters, EmptyResultSet):
            return HttpResponseRedirect(f"{reverse('admin:commissions_attributionline_changelist')}?{ERROR_FLAG}=1")
        shown = ("period", "run__id__exact", "kind__exact", "level", "reason", "q")
        names = {"run__id__exact": "run", "kind__exact": "kind", "q": "search"}
        filename = line_export_filename((names.get(key, key), request.GET.get(key, "")) for key in shown)
        return csv_attachment(line_export_csv(lines=lines), filename)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(partner__code=term)
        number = number_term(term)
        if number is not None:
            match |= Q(trade__ticket=number)
        return queryset.filter(match), False
