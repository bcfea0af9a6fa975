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
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import get_valid_filename

from core.admin_mixins import ReadOnlyHistoryMixin
from core.api.errors import Conflict
from partners.admin import (
    MAX_ID_DIGITS,
    SERVICE_FORM_TEMPLATE,
    PartnerAdmin,
    ServiceSavesMixin,
    add_service_errors,
    adopt_saved,
    effective_from_field,
    ids_url,
    selected_ids,
)
from partners.models import ClientAccount, Partner

from .models import (
    AttributionLine,
    ConversionRate,
    Instrument,
    InstrumentAlias,
    JournalEntry,
    JournalTransaction,
    LedgerAccount,
    Mt5OpenDeal,
    PartnerPlan,
    Plan,
    PlanRule,
    PlanTier,
    Rebate,
    Run,
    RunChunk,
    SymbolSuffix,
    Trade,
    TradeImport,
)
from .models.trades import Mt5Deal
from .services.plans import partner_plan_assign, plan_upsert, rebate_set
from .services.reference_data import instruments_upsert, rates_upsert, suffixes_upsert

REPORT_ROWS = 50  # rejections shown on an import's page; the stored report keeps up to 1000


def _plain(value: Decimal) -> str:
    """A stored decimal without the column's padding zeros (``1.0850000000`` → ``1.085``), never in exponent form."""
    return format(value.normalize(), "f")


def _number(term: str) -> int | None:
    return int(term) if term.isdigit() and len(term) <= MAX_ID_DIGITS else None


class ReadOnlyAdmin(ReadOnlyHistoryMixin, admin.ModelAdmin):
    """Rows written only by services (the trade feed): viewable, never added, edited or deleted here."""


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


# --- plans, assignments and rebates -------------------------------------------------------------------------------
# Plans are saved through ``plan_upsert`` (rules referenced by lines are retired, never deleted), assignments through
# ``partner_plan_assign`` and rebates through ``rebate_set``: effective-dated history is never edited here.


class PlanTierInline(admin.TabularInline):
    model = PlanTier
    fields = ("from_lots", "multiplier")
    extra = 0
    verbose_name_plural = "volume tiers (on the partner's direct period lots)"


class PlanRuleInline(admin.TabularInline):
    """The plan's active rules; a changed or removed rule that lines refer to is retired by ``plan_upsert``."""

    model = PlanRule
    fields = ("type", "instrument", "symbol_group", "account_group", "rate", "pct", "priority")
    extra = 0
    verbose_name_plural = "rules (the most specific matching rule of each kind prices a trade)"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(active=True).select_related("instrument")


class RetiredPlanRuleInline(ReadOnlyHistoryMixin, admin.TabularInline):
    """Rules retired because posted lines refer to them: kept so every line keeps its explanation."""

    model = PlanRule
    fields = ("type", "instrument", "symbol_group", "account_group", "rate", "pct", "priority")
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "retired rules (read-only: lines refer to them)"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(active=False).select_related("instrument")


def _kept_rows(formset) -> list[dict]:
    """The cleaned rows an inline formset keeps: not marked for deletion, not an untouched extra form."""
    rows = []
    for form in formset.forms:
        if not hasattr(form, "cleaned_data") or formset._should_delete_form(form):
            continue
        if form.instance.pk is None and not form.has_changed():
            continue
        rows.append(form.cleaned_data)
    return rows


@admin.register(Plan)
class PlanAdmin(ServiceSavesMixin, admin.ModelAdmin):
    list_display = ("code", "name", "currency", "tier_mode", "both_legs", "min_hold_seconds", "min_points", "rules")
    list_filter = ("currency", "tier_mode")
    search_fields = ("code", "name")
    inlines = (PlanTierInline, PlanRuleInline, RetiredPlanRuleInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(active_rules=Count("rules", filter=Q(rules__active=True)))

    def get_readonly_fields(self, request, obj=None):
        # The code is the plan's natural key (URLs, assignments): a different code is a different plan.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        # Assignments and lines refer to plans: a plan no longer used is simply not assigned.
        return False

    @admin.display(description="active rules", ordering="active_rules")
    def rules(self, obj: Plan) -> int:
        return obj.active_rules

    def save_model(self, request, obj: Plan, form, change) -> None:
        # Saved with its tiers and rules in save_related: plan_upsert needs all three at once.
        pass

    def save_related(self, request, form, formsets, change) -> None:
        obj: Plan = form.instance
        tiers: list[dict] = []
        rules: list[dict] = []
        for formset in formsets:
            # The service saved the rows, not the formsets: the admin's change message lists no inline objects.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is PlanTier:
                tiers += [
                    {"from_lots": row["from_lots"], "multiplier": row["multiplier"]} for row in _kept_rows(formset)
                ]
            elif formset.model is PlanRule and "type" in formset.form.base_fields:  # not the read-only retired rules
                rules += [
                    {
                        "type": row["type"],
                        "symbol": row["instrument"].symbol if row.get("instrument") else None,
                        "symbol_group": row.get("symbol_group") or "",
                        "account_group": row.get("account_group") or "",
                        "rate": row.get("rate"),
                        "pct": row.get("pct"),
                        "priority": row.get("priority"),
                    }
                    for row in _kept_rows(formset)
                ]
        saved = plan_upsert(
            code=obj.code,
            name=obj.name,
            currency=obj.currency,
            both_legs=obj.both_legs,
            min_hold_seconds=obj.min_hold_seconds,
            min_points=obj.min_points,
            tier_mode=obj.tier_mode,
            tiers=tiers,
            rules=rules,
        )
        adopt_saved(obj, saved)


class PlanAssignForm(forms.Form):
    plan = forms.ModelChoiceField(Plan.objects.all(), to_field_name="code")
    effective_from = effective_from_field(
        "Trades closed from this instant on are priced with the new plan; earlier ones keep the old one. It must be "
        "after the start of each partner's current assignment."
    )


class PartnerWithPlansAdmin(PartnerAdmin):
    """The partners admin (partners app) plus plan history and an “Assign plan…” form. Registered from here because
    the partners app never imports commissions."""

    actions = (*PartnerAdmin.actions, "assign_plan_selected")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        # A read-only field, not an inline: the partner form posts no extra formset for history it cannot change.
        return [*fieldsets, ("Plans (effective-dated; use “Assign a plan…” to change)", {"fields": ("plan_history",)})]

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "plan_history") if obj else readonly

    @admin.display(description="plan history")
    def plan_history(self, obj: Partner) -> str:
        assignments = PartnerPlan.objects.filter(partner=obj).select_related("plan").order_by("valid_from")
        if not assignments:
            return "no plan: this partner earns nothing until one is assigned"
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:commissions_plan_change", args=[a.plan_id]),
                    a.plan.code,
                    f"{a.valid_from:%Y-%m-%d %H:%M}",
                    f"{a.valid_to:%Y-%m-%d %H:%M}" if a.valid_to else "—",
                )
                for a in assignments
            ),
        )
        return format_html(
            '<table class="plan-history"><thead><tr><th>plan</th><th>from (UTC)</th><th>to (UTC)</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "assign-plan/",
                self.admin_site.admin_view(self.assign_plan_view),
                name="{}_{}_assign_plan".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Assign a plan to selected partners…")
    def assign_plan_selected(self, request: HttpRequest, queryset: QuerySet[Partner]) -> HttpResponse:
        return HttpResponseRedirect(
            ids_url("admin:partners_partner_assign_plan", queryset.values_list("pk", flat=True))
        )

    def assign_plan_view(self, request: HttpRequest) -> HttpResponse:
        """Put the partners in ``?ids=`` on a plan through ``partner_plan_assign``: all of them or none."""
        if not request.user.has_perm("commissions.add_partnerplan"):
            raise PermissionDenied
        partners = list(Partner.objects.filter(pk__in=selected_ids(request)).order_by("code"))
        changelist_url = reverse("admin:partners_partner_changelist")
        if not partners:
            self.message_user(request, "Select the partners first.", messages.WARNING)
            return HttpResponseRedirect(changelist_url)
        form = PlanAssignForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            plan = form.cleaned_data["plan"]
            effective_from = form.cleaned_data["effective_from"]
            try:
                with transaction.atomic():
                    for partner in partners:
                        partner_plan_assign(partner=partner, plan=plan, effective_from=effective_from)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                for partner in partners:
                    self.log_change(request, partner, f"Put on plan {plan.code} from {effective_from.isoformat()}.")
                codes = ", ".join(p.code for p in partners)
                self.message_user(request, f"{codes} on plan {plan.code} from {effective_from:%Y-%m-%d %H:%M} UTC.")
                if len(partners) == 1:
                    return HttpResponseRedirect(reverse("admin:partners_partner_change", args=[partners[0].pk]))
                return HttpResponseRedirect(changelist_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Assign plan" if len(partners) > 1 else f"Assign a plan to {partners[0].code}",
            "intro": "Assigning never rewrites history: each partner's current plan ends at the instant given and the "
            "new one starts there.",
            "objects": [f"{p.code} — {p.name}" for p in partners],
            "form": form,
            "submit_label": "Assign plan",
            "cancel_url": changelist_url,
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)


admin.site.unregister(Partner)
admin.site.register(Partner, PartnerWithPlansAdmin)


@admin.register(PartnerPlan)
class PartnerPlanAdmin(ReadOnlyHistoryMixin, admin.ModelAdmin):
    list_display = ("partner", "plan", "valid_from", "valid_to")
    list_select_related = ("partner", "plan")
    list_filter = (("valid_to", admin.EmptyFieldListFilter), "plan")
    search_fields = ("partner__code", "plan__code")
    date_hierarchy = "valid_from"
    list_per_page = 100


class RebateForm(forms.ModelForm):
    """A new rebate stretch; it closes the partner's current rebate to the same account (or to all clients)."""

    valid_from = effective_from_field("The rebate applies to trades closed from this instant on.")

    class Meta:
        model = Rebate
        fields = ("partner", "account", "pct", "per_lot", "valid_from")
        help_texts = {
            "account": "Leave empty for a rebate to all the partner's clients.",
            "pct": "Percent of what the IB earned on the trade (30 means 30 %).",
            "per_lot": "A fixed amount per lot, capped at what the IB earned.",
        }

    def clean(self):
        data = super().clean()
        if data.get("pct") is None and data.get("per_lot") is None:
            raise forms.ValidationError("Give a percent or an amount per lot.")
        return data


@admin.register(Rebate)
class RebateAdmin(ServiceSavesMixin, admin.ModelAdmin):
    form = RebateForm
    list_display = ("partner", "account", "pct", "per_lot", "valid_from", "valid_to")
    list_select_related = ("partner", "account")
    list_filter = (("valid_to", admin.EmptyFieldListFilter), ("account", admin.EmptyFieldListFilter))
    search_fields = ("partner__code",)
    autocomplete_fields = ("partner", "account")
    date_hierarchy = "valid_from"
    list_per_page = 100

    def has_change_permission(self, request, obj=None) -> bool:
        # History: a new rebate (added here) ends the current one; stored stretches are never edited.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: Rebate, form, change) -> None:
        saved = rebate_set(
            partner=obj.partner,
            account=obj.account,
            pct=obj.pct,
            per_lot=obj.per_lot,
            effective_from=obj.valid_from,
        )
        adopt_saved(obj, saved)


# --- runs -----------------------------------------------------------------------------------------------------------


def _totals_text(totals: dict) -> str:
    return ", ".join(f"{kind} {_plain(Decimal(amount))}" for kind, amount in sorted((totals or {}).items())) or "—"


class RunChunkInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = RunChunk
    fields = ("index", "status", "account_count", "attempts", "lines_written", "claimed_by", "done_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="accounts")
    def account_count(self, obj: RunChunk) -> int:
        return len(obj.account_ids or [])


class ComputePeriodForm(forms.Form):
    kind = forms.ChoiceField(choices=Run.Kind.choices)
    period = forms.CharField(max_length=7, help_text="YYYY-MM, in the server time zone.")
    recompute = forms.BooleanField(
        required=False, help_text="Replace a computed, unapproved run with a new one (an approved period is locked)."
    )

    def clean_period(self) -> str:
        from core.periods import server_period

        try:
            return server_period(self.cleaned_data["period"]).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


RUN_FIELDS = (
    "kind",
    "period",
    "status",
    "progress",
    "totals_text",
    "period_start",
    "period_end",
    "supersedes",
    "created_by",
    "created_at",
    "started_at",
    "computed_at",
    "approved_by",
    "approved_at",
    "error",
    "lines_link",
)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs are requested (“Compute period…”, “Recompute”) and approved through the services; rows are never edited."""

    list_display = ("id", "kind", "period", "status", "progress", "totals_text", "created_at", "approved_at")
    list_filter = ("kind", "status")
    search_fields = ("=period",)
    list_per_page = 100
    actions = ("recompute_selected", "approve_selected")
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS
    inlines = (RunChunkInline,)
    change_list_template = "admin/commissions/run/change_list.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # runs are requested through “Compute period…”

    def has_change_permission(self, request, obj=None) -> bool:
        # The changelist (and its actions) need it; a run's own page is view-only.
        return obj is None and request.user.has_perm("commissions.change_run")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_compute_permission(self, request) -> bool:
        return request.user.has_perm("commissions.add_run")

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("commissions.change_run")

    @admin.display(description="progress")
    def progress(self, obj: Run) -> str:
        return format_html(
            '<progress value="{}" max="{}" style="width:6em"></progress> {}/{}',
            obj.chunks_done,
            obj.chunks_total or 1,
            obj.chunks_done,
            obj.chunks_total,
        )

    @admin.display(description="totals (USD)")
    def totals_text(self, obj: Run) -> str:
        return _totals_text(obj.totals)

    @admin.display(description="lines")
    def lines_link(self, obj: Run) -> str:
        if obj.status in (Run.Status.QUEUED, Run.Status.RUNNING):
            return "The lines appear, all at once, when the run is computed."
        if obj.status == Run.Status.FAILED:
            return "A failed run keeps no lines: see its error."
        url = reverse("admin:commissions_attributionline_changelist")
        return format_html('<a href="{}?run__id__exact={}">Attribution lines of this run</a>', url, obj.pk)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_compute": self.has_compute_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("compute/", self.admin_site.admin_view(self.compute_view), name="{}_{}_compute".format(*info)),
            *super().get_urls(),
        ]

    def _request(self, request: HttpRequest, *, kind: str, period: str, recompute: bool) -> Run | None:
        from .services.runs import run_request

        try:
            result = run_request(kind=kind, period=period, user=request.user, recompute=recompute)
        except Conflict as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
            return None
        run = Run.objects.get(pk=result.run.pk)  # with eager tasks the run is computed by now
        verb = "Requested" if result.created else "Already live:"
        self.message_user(request, f"{verb} {run} — {run.chunks_done}/{run.chunks_total} chunks.")
        return run

    def compute_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for a (kind, period) run through ``run_request``; asking again returns the live run."""
        if not self.has_compute_permission(request):
            raise PermissionDenied
        form = ComputePeriodForm(request.POST or None, initial={"kind": Run.Kind.COMMISSIONS})
        if request.method == "POST" and form.is_valid():
            run = self._request(request, **form.cleaned_data)
            if run is not None:
                return HttpResponseRedirect(reverse("admin:commissions_run_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Compute a period",
            "intro": "A run computes every trade closed in the period. Asking for a period that already has a live "
            "run shows that run; an approved period is locked (later changes become adjustments).",
            "form": form,
            "submit_label": "Compute",
            "cancel_url": reverse("admin:commissions_run_changelist"),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    @admin.action(
        description="Recompute selected periods (replaces computed, unapproved runs)", permissions=["compute"]
    )
    def recompute_selected(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for kind, period in sorted(set(queryset.values_list("kind", "period"))):
            self._request(request, kind=kind, period=period, recompute=True)

    @admin.action(
        description="Approve selected runs (posts them to the journal and locks the period)", permissions=["approve"]
    )
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        from .services.journal import run_approve

        approved = 0
        for run in queryset.order_by("period", "pk"):
            try:
                run_approve(run_id=run.pk, user=request.user)
            except Conflict as exc:
                self.message_user(request, str(exc.detail), messages.ERROR)
            else:
                approved += 1
        if approved:
            self.message_user(request, f"{approved} run(s) approved and posted to the journal.", messages.SUCCESS)


@admin.register(RunChunk)
class RunChunkAdmin(ReadOnlyAdmin):
    list_display = ("run", "index", "status", "attempts", "lines_written", "claimed_by", "lease_expires_at", "done_at")
    list_select_related = ("run",)
    list_filter = ("status",)
    list_per_page = 100


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
        from .engine.schema import REASONS

        return [("none", "(none: paid)"), *((r, r.replace("_", " ")) for r in REASONS)]

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
        return queryset.filter(level=int(self.value())) if self.value() else queryset


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

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(partner__code=term)
        number = _number(term)
        if number is not None:
            match |= Q(trade__ticket=number)
        return queryset.filter(match), False


# --- journal (posted money: read-only) -----------------------------------------------------------------------------


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "type", "currency", "partner", "client_account", "balance")
    list_select_related = ("partner", "client_account")
    list_filter = ("type", "currency")
    search_fields = ("partner__code", "name")
    list_per_page = 100

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        return super().get_queryset(request).annotate(posted=Sum("entries__amount"))

    @admin.display(description="balance (debit > 0)", ordering="posted")
    def balance(self, obj: LedgerAccount) -> str:
        return _plain(obj.posted) if obj.posted is not None else "0"


class JournalEntryInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = JournalEntry
    fields = ("account", "amount", "currency")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


@admin.register(JournalTransaction)
class JournalTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "posted_at", "period", "kind", "partner", "client_account", "currency", "run", "memo")
    list_select_related = ("partner", "client_account", "run")
    list_filter = ("kind", "currency")
    search_fields = ("partner__code", "=period")
    date_hierarchy = "posted_at"
    show_full_result_count = False
    list_per_page = 100
    inlines = (JournalEntryInline,)


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("transaction", "account", "amount", "currency")
    list_select_related = ("transaction", "account")
    list_filter = ("currency", "account__type")
    search_fields = ("account__partner__code",)
    show_full_result_count = False
    list_per_page = 100
