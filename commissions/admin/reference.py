"""Admin for reference data: instruments (with their aliases) and broker symbol suffixes.

Saved through the reference-data services, which re-resolve trades whose symbol was unknown. (Daily rates are in the
ledger's admin.)
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import ServiceSavesMixin, adopt_saved

from ..models import Instrument, InstrumentAlias, SymbolSuffix
from ..services.reference_data import instruments_upsert, suffixes_upsert
from ..services.symbols import trades_resolve_unresolved


class InstrumentAliasInline(admin.TabularInline):
    model = InstrumentAlias
    fields = ("alias",)
    extra = 1


@admin.register(Instrument)
class InstrumentAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    list_display = (
        "symbol",
        "group",
        "base",
        "quote",
        "contract_size",
        "pip_size",
        "digits",
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
                    "digits": obj.digits,
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
            self._report_resolved(request, trades_resolve_unresolved())

    def _report_resolved(self, request: HttpRequest, resolved: int) -> None:
        if resolved:
            self.message_user(
                request, f"{resolved} previously unresolved trade(s) now map to an instrument.", messages.SUCCESS
            )


@admin.register(SymbolSuffix)
class SymbolSuffixAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
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
