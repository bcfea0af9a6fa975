"""Admin for the trade feed: trades with their versions, MT5 deals and open MT5 entries. History: read-only here;
trades arrive only through an import."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.admin_helpers import ReadOnlyAdmin, number_term, plain_decimal
from partners.models import ClientAccount

from ..models import Instrument, Mt5Deal, Mt5OpenDeal, Trade


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
        number = number_term(term)
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
                    plain_decimal(v.lots),
                    plain_decimal(v.open_price),
                    plain_decimal(v.close_price),
                    plain_decimal(v.profit),
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
        number = number_term(term)
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
