"""Admin for reference data and the trade feed.

Reference data (instruments, suffixes, rates) is saved through the reference-data services, which re-resolve
trades whose symbol was unknown. The trade feed is history: trades, imports and open MT5 deals are read-only, and
new trades arrive only through an import — here the "Upload trades file" page, which stores the file under
``IBEX_VAR_DIR/uploads/`` and hands it to the ``commissions.import_trades_file`` task.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import get_valid_filename

from partners.admin import MAX_ID_DIGITS, SERVICE_FORM_TEMPLATE, ServiceSavesMixin, adopt_saved
from partners.models import ClientAccount

from .models import ConversionRate, Instrument, InstrumentAlias, Mt5OpenDeal, SymbolSuffix, Trade, TradeImport
from .models.trades import Mt5Deal
from .services.reference_data import instruments_upsert, rates_upsert, suffixes_upsert

REPORT_ROWS = 50  # rejections shown on an import's page; the stored report keeps up to 1000


def _plain(value: Decimal) -> str:
    """A stored decimal without the column's padding zeros (``1.0850000000`` → ``1.085``), never in exponent form."""
    return format(value.normalize(), "f")


def _number(term: str) -> int | None:
    return int(term) if term.isdigit() and len(term) <= MAX_ID_DIGITS else None


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (the trade feed): viewable, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- reference data ---------------------------------------------------------------------------------------------


class InstrumentAliasInline(admin.TabularInline):
    model = InstrumentAlias
    fields = ("alias",)
    extra = 1


@admin.register(Instrument)
class InstrumentAdmin(ServiceSavesMixin, admin.ModelAdmin):
    list_display = (
        "symbol",
        "group",
        "base",
        "quote",
        "contract_size",
        "pip_size",
        "volume_step",
        "volume_min",
        "volume_max",
        "alias_list",
    )
    list_filter = ("group", "quote")
    search_fields = ("symbol", "aliases__alias")
    list_per_page = 100
    inlines = (InstrumentAliasInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Instrument]:
        return super().get_queryset(request).prefetch_related("aliases")

    def get_readonly_fields(self, request, obj=None):
        # The symbol is the instrument's natural key: a different symbol is a different instrument.
        return ("symbol",) if obj else ()

    @admin.display(description="aliases")
    def alias_list(self, obj: Instrument) -> str:
        return ", ".join(a.alias for a in obj.aliases.all()) or "—"

    def save_model(self, request, obj: Instrument, form, change) -> None:
        counts = instruments_upsert(
            rows=[
                {
                    "symbol": obj.symbol,
                    "group": obj.group,
                    "base": obj.base,
                    "quote": obj.quote,
                    "contract_size": obj.contract_size,
                    "pip_size": obj.pip_size,
                    "volume_step": obj.volume_step,
                    "volume_min": obj.volume_min,
                    "volume_max": obj.volume_max,
                    "aliases": [],
                }
            ]
        )
        adopt_saved(obj, Instrument.objects.get(symbol=obj.symbol))
        self._report_resolved(request, counts.get("trades_resolved", 0))

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if any(formset.has_changed() for formset in formsets):
            # New aliases may match stored trades whose symbol was unknown until now.
            from .services.symbols import trades_resolve_unresolved

            self._report_resolved(request, trades_resolve_unresolved())

    def _report_resolved(self, request: HttpRequest, resolved: int) -> None:
        if resolved:
            self.message_user(
                request, f"{resolved} previously unresolved trade(s) now map to an instrument.", messages.SUCCESS
            )


@admin.register(SymbolSuffix)
class SymbolSuffixAdmin(ServiceSavesMixin, admin.ModelAdmin):
    list_display = ("suffix",)
    search_fields = ("suffix",)

    def has_change_permission(self, request, obj=None) -> bool:
        # A suffix is its only field: replace it by adding the new one (and deleting the old one).
        return False

    def save_model(self, request, obj: SymbolSuffix, form, change) -> None:
        counts = suffixes_upsert(suffixes=[obj.suffix])
        adopt_saved(obj, SymbolSuffix.objects.get(suffix=obj.suffix.strip()))
        if counts.get("trades_resolved"):
            self.message_user(request, f"{counts['trades_resolved']} previously unresolved trade(s) now resolved.")


@admin.register(ConversionRate)
class ConversionRateAdmin(ServiceSavesMixin, admin.ModelAdmin):
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


# --- trades -----------------------------------------------------------------------------------------------------


class ResolvedFilter(admin.SimpleListFilter):
    """Trades whose platform symbol maps to an instrument, or not (unresolved: stored, reported, earning nothing
    until an alias or suffix is added)."""

    title = "symbol resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("yes", "Resolved"), ("no", "Unresolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(instrument__isnull=False)
        if self.value() == "no":
            return queryset.filter(instrument__isnull=True)
        return queryset


class SymbolGroupFilter(admin.SimpleListFilter):
    """The instrument's symbol group; choices come from the (small) instrument table, not the trades."""

    title = "symbol group"
    parameter_name = "symbol_group"

    def lookups(self, request, model_admin):
        groups = Instrument.objects.order_by("group").values_list("group", flat=True).distinct()
        return [(group, group) for group in groups]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(instrument__group=self.value())
        return queryset


TRADE_FIELDS = (
    "server",
    "ticket",
    "version",
    "is_current",
    "status",
    "login",
    "symbol",
    "instrument",
    "side",
    "lots",
    "open_time",
    "open_price",
    "close_time",
    "close_price",
    "profit",
    "swap",
    "commission",
    "spread_pips",
    "master_ticket",
    "content_hash",
    "trade_import",
    "ingested_at",
    "superseded_at",
)


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "server",
        "ticket",
        "version",
        "is_current",
        "status",
        "login",
        "symbol",
        "instrument",
        "side",
        "lots",
        "close_time",
        "close_price",
        "profit",
    )
    list_select_related = ("instrument",)
    list_filter = ("is_current", "status", "server", ResolvedFilter, SymbolGroupFilter)
    search_fields = ("symbol",)
    search_help_text = "A ticket or login (exact), or the start of a platform symbol."
    show_full_result_count = False
    list_per_page = 100
    fieldsets = (
        (None, {"fields": (*TRADE_FIELDS[:8], "account")}),
        ("Execution", {"fields": TRADE_FIELDS[8:19]}),
        ("Ingest", {"fields": TRADE_FIELDS[19:]}),
        ("All versions of this trade", {"fields": ("version_history",)}),
    )
    readonly_fields = (*TRADE_FIELDS, "account", "version_history")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(symbol__istartswith=term)
        number = _number(term)
        if number is not None:
            match |= Q(ticket=number) | Q(login=number)
        return queryset.filter(match), False

    @admin.display(description="account")
    def account(self, obj: Trade) -> str:
        account = ClientAccount.objects.filter(server=obj.server, login=obj.login).first()
        if account is None:
            return f"{obj.server}/{obj.login} (not a known account)"
        url = reverse("admin:partners_clientaccount_change", args=[account.pk])
        return format_html('<a href="{}">{}</a>', url, account)

    @admin.display(description="versions")
    def version_history(self, obj: Trade) -> str:
        versions = (
            Trade.objects.filter(server=obj.server, ticket=obj.ticket)
            .select_related("trade_import")
            .order_by("version")
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">v{}</a>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:commissions_trade_change", args=[v.pk]),
                    v.version,
                    " (current)" if v.is_current else "",
                    v.get_status_display(),
                    v.symbol,
                    _plain(v.lots),
                    _plain(v.open_price),
                    _plain(v.close_price),
                    _plain(v.profit),
                    v.ingested_at.strftime("%Y-%m-%d %H:%M:%S"),
                    v.superseded_at.strftime("%Y-%m-%d %H:%M:%S") if v.superseded_at else "—",
                    v.trade_import or "—",
                )
                for v in versions
            ),
        )
        return format_html(
            '<table class="trade-versions"><thead><tr><th>version</th><th>status</th><th>symbol</th><th>lots</th>'
            "<th>open price</th><th>close price</th><th>profit</th><th>ingested</th><th>superseded</th>"
            "<th>import</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


class DealSearchMixin:
    """Search MT5 deals by position id, deal or login (exact numbers) or by the start of the symbol."""

    search_fields = ("symbol",)
    search_help_text = "A position id, deal or login (exact), or the start of a symbol."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(symbol__istartswith=term)
        number = _number(term)
        if number is not None:
            match |= Q(position_id=number) | Q(deal=number) | Q(login=number)
        return queryset.filter(match), False


@admin.register(Mt5Deal)
class Mt5DealAdmin(DealSearchMixin, ReadOnlyAdmin):
    """Every MT5 deal imported: the trades of a position are rebuilt from these."""

    list_display = (
        "server",
        "deal",
        "position_id",
        "login",
        "symbol",
        "side",
        "entry",
        "time",
        "price",
        "lots",
        "profit",
        "trade_import",
    )
    list_select_related = ("trade_import",)
    list_filter = ("server", "entry")
    show_full_result_count = False
    list_per_page = 100


@admin.register(Mt5OpenDeal)
class Mt5OpenDealAdmin(DealSearchMixin, ReadOnlyAdmin):
    list_display = (
        "server",
        "position_id",
        "deal",
        "login",
        "symbol",
        "side",
        "time",
        "price",
        "lots",
        "remaining_lots",
    )
    list_filter = ("server",)
    list_per_page = 100


# --- imports and uploads ------------------------------------------------------------------------------------------


class TradeUploadForm(forms.Form):
    file = forms.FileField(help_text="A generic trades CSV, an MT4 trades table export or an MT5 deals export.")
    format = forms.ChoiceField(
        choices=[
            (TradeImport.Format.GENERIC, TradeImport.Format.GENERIC.label),
            (TradeImport.Format.MT4, TradeImport.Format.MT4.label),
            (TradeImport.Format.MT5, TradeImport.Format.MT5.label),
        ]
    )
    server = forms.CharField(
        required=False,
        max_length=64,
        help_text="The trading server the file comes from (required for MT4/MT5; a generic CSV names it per row).",
    )

    def clean(self):
        data = super().clean()
        if data.get("format") in (TradeImport.Format.MT4, TradeImport.Format.MT5) and not data.get("server"):
            self.add_error("server", "MT4 and MT5 exports do not name their server: enter it.")
        return data


def _upload_path(original_name: str, token: str) -> Path:
    name = get_valid_filename(Path(original_name).name)[-100:] or "trades.csv"
    return Path(settings.IBEX_VAR_DIR) / "uploads" / f"{timezone.now():%Y%m%d-%H%M%S}-{token}-{name}"


@admin.register(TradeImport)
class TradeImportAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "format",
        "source_name",
        "server",
        "status",
        "rows_read",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "rejected",
        "unresolved",
        "created_by",
    )
    list_display_links = ("id", "source_name")
    list_select_related = ("created_by",)
    list_filter = ("status", "format")
    search_fields = ("source_name", "server")
    list_per_page = 100
    change_list_template = "admin/commissions/tradeimport/change_list.html"
    fieldsets = (
        (
            None,
            {"fields": ("format", "source_name", "server", "status", "started_at", "finished_at", "created_by")},
        ),
        ("Counts", {"fields": ("rows_read", "created", "updated", "unchanged", "skipped", "rejected", "unresolved")}),
        ("Report", {"fields": ("trades_link", "skipped_report", "rejections_report", "unresolved_report", "error")}),
    )
    readonly_fields = (
        "format",
        "source_name",
        "server",
        "status",
        "started_at",
        "finished_at",
        "created_by",
        "rows_read",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "rejected",
        "unresolved",
        "trades_link",
        "skipped_report",
        "rejections_report",
        "unresolved_report",
        "error",
    )

    @admin.display(description="trades")
    def trades_link(self, obj: TradeImport) -> str:
        url = reverse("admin:commissions_trade_changelist")
        return format_html(
            '<a href="{}?trade_import__id__exact={}">Trade versions written by this import</a>', url, obj.pk
        )

    @admin.display(description="skipped rows by reason")
    def skipped_report(self, obj: TradeImport) -> str:
        reasons = sorted((obj.skipped_reasons or {}).items(), key=lambda item: (-int(item[1]), item[0]))
        if not reasons:
            return "—"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", reasons)
        return format_html("<table><tr><th>reason</th><th>rows</th></tr>{}</table>", rows)

    @admin.display(description="rejected rows")
    def rejections_report(self, obj: TradeImport) -> str:
        rejections = obj.rejections or []
        if not rejections:
            return "—"
        shown = rejections[:REPORT_ROWS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((r.get("line", r.get("index", "?")), _describe_errors(r.get("errors"))) for r in shown),
        )
        more = f"First {len(shown)} of {obj.rejected} rejected rows." if obj.rejected > len(shown) else ""
        return format_html("<table><tr><th>line</th><th>errors</th></tr>{}</table>{}", rows, more)

    @admin.display(description="unresolved symbols")
    def unresolved_report(self, obj: TradeImport) -> str:
        symbols = sorted((obj.unresolved_symbols or {}).items(), key=lambda item: (-int(item[1]), item[0]))
        if not symbols:
            return "—"
        url = reverse("admin:commissions_trade_changelist")
        rows = format_html_join(
            "",
            '<tr><td><a href="{}?resolved=no&amp;q={}">{}</a></td><td>{}</td></tr>',
            ((url, symbol, symbol, count) for symbol, count in symbols),
        )
        return format_html(
            "<table><tr><th>platform symbol</th><th>trades</th></tr>{}</table>"
            "<p>Add an alias on the instrument or a symbol suffix: the trades resolve at once and earn when their "
            "period is recomputed.</p>",
            rows,
        )

    # Upload.

    def _can_upload(self, request: HttpRequest) -> bool:
        return request.user.has_perm("commissions.add_tradeimport")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_upload": self._can_upload(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="{}_{}_upload".format(*info)),
            path(
                "upload/<slug:token>/",
                self.admin_site.admin_view(self.upload_status_view),
                name="{}_{}_upload_status".format(*info),
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Store the uploaded file under ``IBEX_VAR_DIR/uploads/`` and queue its import once this request's writes
        are committed; then follow the import to its report."""
        if not self._can_upload(request):
            raise PermissionDenied
        form = TradeUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            from .tasks import import_trades_file

            token = uuid.uuid4().hex[:16]
            upload = form.cleaned_data["file"]
            destination = _upload_path(upload.name, token)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with destination.open("wb") as handle:
                for chunk in upload.chunks():
                    handle.write(chunk)
            args = (
                str(destination),
                form.cleaned_data["format"],
                form.cleaned_data["server"] or None,
                request.user.pk,
                destination.name,
            )
            # robust: a failing import is recorded by the service and logged; the upload itself has succeeded.
            transaction.on_commit(lambda: import_trades_file.delay(*args), robust=True)
            return HttpResponseRedirect(reverse("admin:commissions_tradeimport_upload_status", args=[token]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Upload trades file",
            "intro": "The file is imported by a background task; re-uploading the same file changes nothing. "
            "You are taken to the import's report when it is ready.",
            "form": form,
            "multipart": True,
            "submit_label": "Upload and import",
            "cancel_url": reverse("admin:commissions_tradeimport_changelist"),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    def upload_status_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """The import's report once the task has started it; until then a page that refreshes itself."""
        trade_import = TradeImport.objects.filter(source_name__contains=f"-{token}-").order_by("-pk").first()
        if trade_import is not None:
            return HttpResponseRedirect(reverse("admin:commissions_tradeimport_change", args=[trade_import.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import queued",
            "token": token,
        }
        return TemplateResponse(request, "admin/commissions/tradeimport/upload_pending.html", context)


def _describe_errors(errors) -> str:
    if isinstance(errors, dict):
        return "; ".join(
            f"{field}: {' '.join(map(str, messages_)) if isinstance(messages_, list) else messages_}"
            for field, messages_ in errors.items()
        )
    if isinstance(errors, list):
        return "; ".join(map(str, errors))
    return str(errors)
