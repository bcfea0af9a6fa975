"""Admin for the data feed and the trading record: equity snapshots, cash flows, master trades with their
allocations and closes, sub-account closes. All read-only: they arrive through the API and the services."""

from __future__ import annotations

from django.contrib import admin

from core.admin_helpers import ReadOnlyAdmin, ReadOnlyHistoryMixin, number_term

from ..models import Allocation, CashFlow, EquitySnapshot, MasterClose, MasterTrade, SubClose


class LoginSearchMixin:
    """A number in the search box also finds the account with that login."""

    login_lookup = "account__login"

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        login = number_term(search_term.strip())
        if login is not None:
            queryset |= self.model.objects.filter(**{self.login_lookup: login})
        return queryset, duplicates


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(LoginSearchMixin, ReadOnlyAdmin):
    list_display = ("account", "day", "balance", "equity", "free_margin", "updated_at")
    list_filter = ("day",)
    search_fields = ("account__server",)
    list_select_related = ("account",)
    date_hierarchy = "day"


@admin.register(CashFlow)
class CashFlowAdmin(LoginSearchMixin, ReadOnlyAdmin):
    list_display = ("server", "external_id", "account", "time", "amount")
    search_fields = ("external_id", "server")
    list_select_related = ("account",)
    date_hierarchy = "time"


class AllocationInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = Allocation
    fields = ("member", "weight", "target", "lots", "lots_open", "reason")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member__account")


class MasterCloseInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = MasterClose
    fields = ("seq", "close_id", "lots", "close_time", "close_price", "lots_open_before")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(MasterTrade)
class MasterTradeAdmin(ReadOnlyAdmin):
    list_display = ("ticket", "group", "symbol", "side", "lots", "lots_open", "status", "open_time", "unallocated")
    list_filter = ("status", "group")
    search_fields = ("group__code", "symbol")
    list_select_related = ("group",)
    inlines = [AllocationInline, MasterCloseInline]
    date_hierarchy = "open_time"

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        ticket = number_term(search_term.strip())
        if ticket is not None:
            queryset |= self.model.objects.filter(ticket=ticket)
        return queryset, duplicates


class SubCloseInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = SubClose
    fields = ("allocation", "lots", "ticket", "profit", "reason")
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("allocation__member__account")


@admin.register(MasterClose)
class MasterCloseAdmin(ReadOnlyAdmin):
    list_display = ("master_trade", "seq", "close_id", "lots", "close_time", "close_price")
    list_select_related = ("master_trade__group",)
    inlines = [SubCloseInline]
