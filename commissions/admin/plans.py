"""Admin for plans, plan assignments and rebates, and this app's additions to the partner admin.

Plans are saved through ``plan_upsert`` (rules referenced by lines are retired, never deleted), assignments through
``partner_plan_assign`` and rebates through ``rebate_set``: stored stretches are never edited by hand, and the
services refuse a back-dating that reaches into an approved period (``core.effective``). The
partner admin (``partners``) shows each partner's plan history and offers “Assign a plan…” through its extension
points; the assignment page itself is this app's own (``PartnerPlanAdmin``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import (
    BulkServiceForm,
    DatedTermsForm,
    ReadOnlyHistoryMixin,
    ServiceSavesMixin,
    adopt_saved,
    bulk_service_form_view,
    effective_from_field,
    history_table,
    ids_url,
    when_label,
)
from core.history import Area
from partners.extensions import PartnerPanel, register_partner_admin_action, register_partner_panel
from partners.models import Partner

from ..models import PartnerPlan, Plan, PlanRule, PlanTier, Rebate
from ..services.plans import partner_plan_assign, plan_upsert, rebate_set


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
        if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE", False):
            continue
        if form.instance.pk is None and not form.has_changed():
            continue
        rows.append(form.cleaned_data)
    return rows


class PlanForm(DatedTermsForm):
    """A plan's settings; with its tiers and rules they are its content, dated from ``effective_from``."""

    history_area = Area.PLANS

    class Meta:
        model = Plan
        fields = ("code", "name", "currency", "both_legs", "min_hold_seconds", "min_points", "tier_mode")


@admin.register(Plan)
class PlanAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    form = PlanForm
    list_display = ("code", "name", "currency", "tier_mode", "both_legs", "min_hold_seconds", "min_points", "rules")
    list_filter = ("currency", "tier_mode")
    search_fields = ("code", "name")
    inlines = (PlanTierInline, PlanRuleInline, RetiredPlanRuleInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(active_rules=Count("rules", filter=Q(rules__active=True)))

    def get_readonly_fields(self, request, obj=None):
        # The code is the plan's natural key (URLs, assignments): a different code is a different plan.
        return ("code", "terms_history") if obj else ()

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "currency", "both_legs", "min_hold_seconds", "min_points", "tier_mode"]
        return [*fields, "effective_from", *(["terms_history"] if obj else [])]

    @admin.display(description="content history (trades are priced with the content in force at their close)")
    def terms_history(self, obj: Plan) -> str:
        return history_table(
            (
                (
                    t.currency,
                    t.tier_mode,
                    len(t.tiers),
                    t.rules.count(),
                    t.valid_from,
                    t.valid_to,
                )
                for t in obj.terms.order_by("valid_from")
            ),
            ["currency", "tier mode", "tiers", "rules"],
        )

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
            effective_from=form.cleaned_data.get("effective_from"),
        )
        adopt_saved(obj, saved)


class PlanAssignForm(forms.Form):
    plan = forms.ModelChoiceField(Plan.objects.all(), to_field_name="code")
    effective_from = effective_from_field(
        "Trades closed from this instant on are priced with the new plan; earlier ones keep the old one. It may be "
        "in the past while no approved commission period is affected. Blank: now, or since always for a first "
        "assignment.",
        required=False,
    )


def plan_history(partner: Partner) -> str:
    """The partner's plans, oldest first (a panel of the partner admin page)."""
    assignments = PartnerPlan.objects.filter(partner=partner).select_related("plan").order_by("valid_from")
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
    assign = reverse("admin:commissions_partnerplan_assign") + f"?ids={partner.pk}"
    return format_html(
        '<table class="plan-history"><thead><tr><th>plan</th><th>from (UTC)</th><th>to (UTC)</th></tr></thead>'
        '<tbody>{}</tbody></table><p><a href="{}">Assign a plan…</a></p>',
        rows,
        assign,
    )


@admin.action(description="Assign a plan to selected partners…", permissions=["change"])
def assign_plan_selected(modeladmin, request: HttpRequest, queryset: QuerySet[Partner]) -> HttpResponse:
    return HttpResponseRedirect(ids_url("admin:commissions_partnerplan_assign", queryset.values_list("pk", flat=True)))


register_partner_panel(
    PartnerPanel(title="Plans (effective-dated; use “Assign a plan…” to change)", render=plan_history)
)
register_partner_admin_action(assign_plan_selected)


@admin.register(PartnerPlan)
class PartnerPlanAdmin(AuditHistoryMixin, ReadOnlyHistoryMixin, admin.ModelAdmin):
    """Plan assignments are history: read-only rows; “Assign a plan…” (here, or from the partner admin) ends each
    selected partner's current plan at an instant and starts the new one there."""

    list_display = ("partner", "plan", "valid_from", "valid_to")
    list_select_related = ("partner", "plan")
    list_filter = (("valid_to", admin.EmptyFieldListFilter), "plan")
    search_fields = ("partner__code", "plan__code")
    date_hierarchy = "valid_from"
    list_per_page = 100

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("assign/", self.admin_site.admin_view(self.assign_view), name="{}_{}_assign".format(*info)),
            *super().get_urls(),
        ]

    def assign_view(self, request: HttpRequest) -> HttpResponse:
        """Put the partners in ``?ids=`` on a plan through ``partner_plan_assign``: all of them or none."""
        if not request.user.has_perm("commissions.add_partnerplan"):
            raise PermissionDenied
        return bulk_service_form_view(
            self,
            request,
            spec=ASSIGN_FORM,
            queryset=Partner.objects.order_by("code"),
            changelist_url=reverse("admin:partners_partner_changelist"),
            opts=Partner._meta,
        )


ASSIGN_FORM = BulkServiceForm(
    form_class=PlanAssignForm,
    apply=lambda partner, data: partner_plan_assign(
        partner=partner, plan=data["plan"], effective_from=data["effective_from"]
    ),
    title=lambda partners: "Assign plan" if len(partners) > 1 else f"Assign a plan to {partners[0].code}",
    intro="Assigning never rewrites an approved period: each partner's plan in force at the instant given ends there "
    "and the new one holds from then on (until the next change already recorded).",
    submit_label="Assign plan",
    describe=lambda p: f"{p.code} — {p.name}",
    log_message=lambda data: f"Put on plan {data['plan'].code} from {when_label(data)}.",
    done_message=lambda partners, data: (
        f"{', '.join(p.code for p in partners)} on plan {data['plan'].code} from {when_label(data)}."
    ),
    change_url=lambda partner: reverse("admin:partners_partner_change", args=[partner.pk]),
)


class RebateForm(forms.ModelForm):
    """A new rebate stretch; it closes the partner's current rebate to the same account (or to all clients)."""

    valid_from = effective_from_field(
        "The rebate applies to trades closed from this instant on (in the past only while no approved commission "
        "period is affected)."
    )

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
class RebateAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
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
