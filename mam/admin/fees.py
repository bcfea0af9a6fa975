"""Admin for what fee runs write: fee lines and members' fee states of record. Read-only (posted money, settled
states); fee runs themselves are in the runs admin with every other kind. The fee lines page also downloads a
period's approved fees as platform balance operations ("Export approved fees…", the same CSV as
``GET /api/v1/mam/fees/export/``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin_helpers import SERVICE_FORM_TEMPLATE, ReadOnlyAdmin, number_term
from core.downloads import csv_attachment
from core.periods import server_period
from ledger.permissions import EXPORT_BALANCE_OPERATIONS
from runs.models import Run
from runs.selectors import runs_of_record

from ..models import FeeLine, MamGroup, MemberFeeState
from ..services.fee_export import fee_export

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


class FeeExportForm(forms.Form):
    period = forms.CharField(max_length=7, help_text="YYYY-MM, in the server time zone.")
    group = forms.ModelChoiceField(
        queryset=MamGroup.objects.order_by("code"), required=False, help_text="Empty: every group."
    )

    def clean_period(self) -> str:
        try:
            return server_period(self.cleaned_data["period"]).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


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
    change_list_template = "admin/mam/feeline/change_list.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Download a period's approved fees as platform balance operations (CSV): finance's, as in the API."""
        if not request.user.has_perm(EXPORT_BALANCE_OPERATIONS):
            raise PermissionDenied
        form = FeeExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            period, group = form.cleaned_data["period"], form.cleaned_data["group"]
            name = f"fees-{period}{f'-{group.code}' if group else ''}.csv"
            return csv_attachment(fee_export(period=period, group=group, user=request.user), name)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Export approved fees",
            "intro": "The period's approved fees as balance operations for the trading platform: one debit per "
            "investor account and fee kind, at the currency's minor unit, with a reference that stays the same on "
            "every export. Fees of computed runs are not exported before they are approved.",
            "form": form,
            "submit_label": "Download CSV",
            "cancel_url": reverse("admin:mam_feeline_changelist"),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

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
