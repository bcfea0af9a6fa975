"""Admin for the ledger: currencies, daily rates, ledger accounts, the journal, period locks, the trial balance and a
period's reconciliation (every registered check, its figures and flagged differences with the rows behind them; also
as CSV).

Posted money is read-only here (and append-only in PostgreSQL); rates are saved through ``rates_upsert``.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import ReadOnlyAdmin, ReadOnlyHistoryMixin, ServiceSavesMixin, adopt_saved, plain_decimal
from core.downloads import csv_attachment
from core.periods import server_period

from ..models import ConversionRate, Currency, JournalEntry, JournalTransaction, LedgerAccount, PeriodLock
from ..permissions import VIEW_RECONCILIATION
from ..reconciliation.export import reconciliation_csv
from ..reconciliation.registry import Status, areas, reconcile
from ..selectors import trial_balance, trial_balance_totals
from ..services.rates import rates_upsert


@admin.register(Currency)
class CurrencyAdmin(AuditHistoryMixin, ReadOnlyAdmin):
    """Created on first posting with babel's minor unit (explicit overrides for crypto units); fixed from then on."""

    list_display = ("code", "name", "minor_unit")
    search_fields = ("code", "name")


@admin.register(ConversionRate)
class ConversionRateAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    list_display = ("currency", "day", "usd_rate")
    list_filter = ("currency",)
    search_fields = ("=currency",)
    date_hierarchy = "day"
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        return ("currency", "day") if obj else ()

    def save_model(self, request, obj: ConversionRate, form, change) -> None:
        rates_upsert(rows=[{"currency": obj.currency, "day": obj.day, "usd_rate": obj.usd_rate}])
        adopt_saved(obj, ConversionRate.objects.get(currency=obj.currency.strip().upper(), day=obj.day))


class ReconciliationForm(forms.Form):
    period = forms.CharField(max_length=7, help_text="YYYY-MM, in the server time zone.")
    area = forms.ChoiceField(choices=(), required=False, help_text="Only one area's checks; empty for all.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = [("", "all"), *((a, a) for a in areas())]

    def clean_period(self) -> str:
        try:
            return server_period(self.cleaned_data["period"]).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "purpose", "nature", "currency", "partner", "client_account", "balance")
    list_select_related = ("partner", "client_account")
    list_filter = ("purpose", "nature", "currency")
    search_fields = ("partner__code", "name")
    list_per_page = 100
    change_list_template = "admin/ledger/ledgeraccount/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        return super().get_queryset(request).annotate(posted=Sum("entries__amount"))

    @admin.display(description="balance (debit > 0)", ordering="posted")
    def balance(self, obj: LedgerAccount) -> str:
        return plain_decimal(obj.posted) if obj.posted is not None else "0"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "trial-balance/",
                self.admin_site.admin_view(self.trial_balance_view),
                name="{}_{}_trial_balance".format(*info),
            ),
            path(
                "reconciliation/",
                self.admin_site.admin_view(self.reconciliation_view),
                name="{}_{}_reconciliation".format(*info),
            ),
            *super().get_urls(),
        ]

    def reconciliation_view(self, request: HttpRequest) -> HttpResponse:
        """A period's reconciliation (``ledger.reconciliation``): each check's figures, its differences first with
        the rows behind them; ``?export=csv`` streams the same as CSV. Read-only, for the roles holding
        ``ledger.view_reconciliation`` (broker admin, finance; not support)."""
        if not request.user.has_perm(VIEW_RECONCILIATION):
            raise PermissionDenied
        form = ReconciliationForm(request.GET or None)
        result = None
        if form.is_bound and form.is_valid():
            area = form.cleaned_data.get("area")
            result = reconcile(period=form.cleaned_data["period"], areas=[area] if area else None)
            if request.GET.get("export") == "csv":
                return csv_attachment(reconciliation_csv(result), f"reconciliation-{result.period}.csv")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reconciliation",
            "form": form,
            "result": result,
            "difference": Status.DIFFERENCE,
            "query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/ledger/reconciliation.html", context)

    def trial_balance_view(self, request: HttpRequest) -> HttpResponse:
        """Every account's posted debits and credits, and each currency's net (zero in a sound ledger): the balances
        the account list already shows, so for whoever may view ledger accounts (support included)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        rows = trial_balance()
        totals = trial_balance_totals(rows)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Trial balance",
            "rows": rows,
            "totals": sorted(totals.items()),
            "balanced": all(total == Decimal(0) for total in totals.values()),
        }
        return TemplateResponse(request, "admin/ledger/trial_balance.html", context)


class JournalEntryInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = JournalEntry
    fields = ("account", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "posted_at", "source_key", "period", "kind", "currency", "memo", "reverses")
    list_filter = ("kind", "currency")
    search_fields = ("source_key", "=period")
    search_help_text = "A source key (or its start, e.g. run:812:) or a period (YYYY-MM, exact)."
    date_hierarchy = "posted_at"
    show_full_result_count = False
    list_per_page = 100
    inlines = (JournalEntryInline,)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(source_key__startswith=term) | queryset.filter(period=term), False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("transaction", "account", "amount")
    list_select_related = ("transaction", "account")
    list_filter = ("account__currency", "account__purpose")
    search_fields = ("account__partner__code",)
    show_full_result_count = False
    list_per_page = 100


@admin.register(PeriodLock)
class PeriodLockAdmin(ReadOnlyAdmin):
    list_display = ("kind", "period", "scope", "source_key", "locked_at", "locked_by")
    list_filter = ("kind",)
    search_fields = ("=period",)
