"""Admin for managers, groups and members: every save goes through the services (``group_upsert``,
``member_upsert``), so the admin follows the same rules as the API; fee terms are shown as their dated history."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import ReadOnlyHistoryMixin, ServiceSavesMixin, adopt_saved, history_table, number_term
from partners.models import Partner

from ..models import GroupFeeTerms, MamGroup, Member, MoneyManager
from ..services.groups import FEE_FIELDS, group_upsert
from ..services.members import member_upsert


@admin.register(MoneyManager)
class MoneyManagerAdmin(AuditHistoryMixin, ReadOnlyHistoryMixin, admin.ModelAdmin):
    """Created the first time a group names a partner as its manager."""

    list_display = ("partner", "group_count", "created_at")
    search_fields = ("partner__code", "partner__name")
    list_select_related = ("partner",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MoneyManager]:
        return super().get_queryset(request).annotate(group_total=Count("groups"))

    @admin.display(description="groups", ordering="group_total")
    def group_count(self, obj: MoneyManager) -> int:
        return obj.group_total


class MemberInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = Member
    fields = ("account", "active", "param", "risk_factor", "joined", "left", "max_lots", "equity_stop")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


class GroupForm(forms.ModelForm):
    manager_partner = forms.ModelChoiceField(Partner.objects.order_by("code"), label="Manager (partner)")

    class Meta:
        model = MamGroup
        fields = (
            "code",
            "name",
            "master_server",
            "master_login",
            "currency",
            "method",
            "residual_policy",
            "below_min",
            "overflow_login",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["manager_partner"].initial = self.instance.manager.partner_id


@admin.register(MamGroup)
class MamGroupAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    form = GroupForm
    list_display = ("code", "name", "manager", "master_server", "master_login", "currency", "method", "member_count")
    list_filter = ("method", "residual_policy", "below_min", "currency")
    search_fields = ("code", "name", "manager__partner__code")
    list_select_related = ("manager__partner",)
    inlines = [MemberInline]
    readonly_fields = ("fee_terms_history",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MamGroup]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    def get_readonly_fields(self, request, obj=None):
        return ("code", "fee_terms_history") if obj else ("fee_terms_history",)

    @admin.display(description="memberships", ordering="member_total")
    def member_count(self, obj: MamGroup) -> int:
        return obj.member_total

    @admin.display(description="fee terms (dated)")
    def fee_terms_history(self, obj: MamGroup) -> str:
        rows = GroupFeeTerms.objects.filter(group=obj).order_by("valid_from") if obj.pk else []
        return history_table(
            ([*(getattr(t, f) for f in FEE_FIELDS), t.valid_from, t.valid_to] for t in rows), headers=FEE_FIELDS
        )

    def save_model(self, request, obj: MamGroup, form, change) -> None:
        data = form.cleaned_data
        group, _ = group_upsert(
            code=obj.code,
            manager=data["manager_partner"],
            master_server=data["master_server"],
            master_login=data["master_login"],
            currency=data["currency"],
            method=data["method"],
            residual_policy=data["residual_policy"],
            below_min=data["below_min"],
            overflow_login=data.get("overflow_login"),
            name=data.get("name") or "",
        )
        adopt_saved(obj, group)


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = (
            "group",
            "account",
            "param",
            "risk_factor",
            "active",
            "joined",
            "left",
            "max_lots",
            "equity_stop",
            "max_drawdown_pct",
        )


@admin.register(Member)
class MemberAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    form = MemberForm
    list_display = ("account", "group", "active", "param", "risk_factor", "joined", "left", "max_lots", "equity_stop")
    list_filter = ("active", "group")
    search_fields = ("group__code", "account__server")
    list_select_related = ("group", "account")
    raw_id_fields = ("account",)

    def get_readonly_fields(self, request, obj=None):
        return ("group", "account", "since") if obj else ("since",)

    def get_search_results(self, request, queryset, search_term):
        queryset, duplicates = super().get_search_results(request, queryset, search_term)
        login = number_term(search_term.strip())
        if login is not None:
            queryset |= self.model.objects.filter(account__login=login)
        return queryset, duplicates

    def save_model(self, request, obj: Member, form, change) -> None:
        data = form.cleaned_data
        member, _ = member_upsert(
            group=obj.group,
            account=obj.account,
            param=data.get("param"),
            risk_factor=data["risk_factor"],
            active=data["active"],
            joined=data.get("joined"),
            left=data.get("left"),
            max_lots=data.get("max_lots"),
            equity_stop=data.get("equity_stop"),
            max_drawdown_pct=data.get("max_drawdown_pct"),
        )
        adopt_saved(obj, member)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # leaving is dated (``left``), never a delete: past allocations keep their membership
