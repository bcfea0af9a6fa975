"""Admin for the partner network: programs, partners and their effective-dated tree, client accounts.

Every write goes through the services. History (parent links, account attributions) is read-only here: a move or an
IB change has its own admin form that calls ``partner_move`` / ``account_attribute``, so the admin can never
rewrite the past. Changelists compute tree positions once per page (``partner_tree_stats``), never per row.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import (
    MAX_ID_DIGITS,
    SERVICE_FORM_TEMPLATE,
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
from core.models import in_force

from .extensions import PARTNER_ADMIN_ACTIONS, PARTNER_PANELS, PartnerPanel
from .models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from .permissions import masked_payout_account, may_set_payout_details, sees_payout_details
from .selectors import partner_downline_at, partner_tree_stats
from .services.accounts import account_attribute, account_update, accounts_upsert
from .services.partners import UPDATABLE_FIELDS, partner_create, partner_move, partner_update
from .services.programs import program_upsert
from .validation import BANK_FILE_FIELDS, PAYOUT_DETAIL_FIELDS, payout_details_errors


def partner_autocomplete() -> AutocompleteSelect:
    """A searchable partner picker (the partner list can be long); searches the partner admin's search fields."""
    return AutocompleteSelect(PartnerLink._meta.get_field("parent"), admin.site)


# --- programs ---------------------------------------------------------------------------------------------------


def _pcts(values) -> str:
    return ", ".join(format(v.normalize(), "f") for v in values) or "—"


def _payout_account_field(request: HttpRequest) -> str:
    """The payout account as it is, or masked for a role that may not see payout details (support)."""
    return "payout_account" if sees_payout_details(request.user) else "masked_payout_account"


def _payout_fields(request: HttpRequest, *, adding: bool) -> tuple:
    """The Payouts fieldset: where the money goes is set here only by whoever may set payout details (finance);
    others set the currency and see the rest read-only, with the link to finance's payout-details form."""
    if may_set_payout_details(request.user):
        return ("payout_currency", "payout_method", "payout_account", *(() if adding else ("payout_details_link",)))
    if adding:
        return ("payout_currency",)
    return ("payout_currency", "payout_method", _payout_account_field(request))


class PayoutDetailsRulesMixin:
    """The domain's payout-details rules (``partners.validation``) on an admin form, under each field: the admin
    cannot store a payout account with a line break or an unknown currency. Payout text with blanks at either end
    is refused, never trimmed (as the API refuses it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in PAYOUT_DETAIL_FIELDS:
            if name in self.fields and hasattr(self.fields[name], "strip"):
                self.fields[name].strip = False

    def clean_payout_currency(self) -> str:
        # A convenience of the form, shown back to whoever typed it: "eur" is EUR. The services take only
        # upper-case codes, as the API does.
        return self.cleaned_data["payout_currency"].upper()

    def clean(self):
        data = super().clean()
        # Only what this form changes (an add changes everything): a stored value from before a rule stays editable.
        changed = set(self.changed_data) if self.instance.pk else set(data)
        checked = {k: data[k] for k in BANK_FILE_FIELDS if k in data and k in changed}
        for name, errors in payout_details_errors(checked).items():
            self.add_error(name, errors)
        return data


class PayoutDetailsForm(PayoutDetailsRulesMixin, forms.ModelForm):
    class Meta:
        model = Partner
        fields = ("payout_currency", "payout_method", "payout_account")


class ProgramForm(DatedTermsForm):
    """The program's fields; percentages are checked as the service checks them (0–100). The commission terms
    (model, depth, shares, override percentages) take effect from ``effective_from``."""

    history_area = Area.TREE

    class Meta:
        model = Program
        fields = ("code", "name", "model", "max_depth", "shares", "override_pct", "min_payout", "currency")

    def _percentages(self, name: str) -> list:
        values = self.cleaned_data.get(name) or []
        if any(not 0 <= value <= 100 for value in values):
            raise forms.ValidationError("Percentages are between 0 and 100 (30 means 30 %).")
        return values

    def clean_shares(self) -> list:
        return self._percentages("shares")

    def clean_override_pct(self) -> list:
        return self._percentages("override_pct")


@admin.register(Program)
class ProgramAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    form = ProgramForm
    list_display = (
        "code",
        "name",
        "model",
        "max_depth",
        "shares",
        "override_pct",
        "min_payout",
        "currency",
        "partner_count",
    )
    list_filter = ("model", "currency")
    search_fields = ("code", "name")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Program]:
        return super().get_queryset(request).annotate(partner_count=Count("partners"))

    @admin.display(description="partners", ordering="partner_count")
    def partner_count(self, obj: Program) -> int:
        return obj.partner_count

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "model", "max_depth", "shares", "override_pct", "effective_from"]
        return [*fields, "min_payout", "currency", *(["terms_history"] if obj else [])]

    def get_readonly_fields(self, request, obj=None):
        return ("code", "terms_history") if obj else ()

    @admin.display(description="terms history")
    def terms_history(self, obj: Program) -> str:
        return history_table(
            (
                (
                    t.model,
                    t.max_depth,
                    ", ".join(map(str, t.shares)),
                    ", ".join(map(str, t.override_pct)),
                    t.valid_from,
                    t.valid_to,
                )
                for t in obj.terms.order_by("valid_from")
            ),
            ["model", "max depth", "shares", "override %"],
        )

    def save_model(self, request, obj: Program, form, change) -> None:
        saved = program_upsert(
            code=obj.code,
            name=obj.name,
            model=obj.model,
            max_depth=obj.max_depth,
            shares=obj.shares,
            override_pct=obj.override_pct,
            min_payout=obj.min_payout,
            currency=obj.currency,
            effective_from=form.cleaned_data.get("effective_from"),
        )
        adopt_saved(obj, saved)


# --- partners ---------------------------------------------------------------------------------------------------


class TreePositionFilter(admin.SimpleListFilter):
    """Top-level partners (no parent now) or sub-IBs."""

    title = "position in the tree"
    parameter_name = "position"

    def lookups(self, request, model_admin):
        return [("top", "Top level"), ("sub", "Sub-IB")]

    def queryset(self, request, queryset):
        has_parent = Exists(
            PartnerLink.objects.filter(in_force(timezone.now()), partner=OuterRef("pk"), parent__isnull=False)
        )
        if self.value() == "top":
            return queryset.filter(~has_parent)
        if self.value() == "sub":
            return queryset.filter(has_parent)
        return queryset


class DownlineFilter(admin.SimpleListFilter):
    """``?downline_of=<code>``: the partners below one partner now (linked from the partner's page)."""

    title = "downline of"
    parameter_name = "downline_of"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            return queryset.none()
        return queryset.filter(pk__in=[p.pk for p, _ in partner_downline_at(partner=partner)])


class PartnerLinkInline(ReadOnlyHistoryMixin, admin.TabularInline):
    """The partner's parent history, oldest first. Read-only: moves go through the Move form."""

    model = PartnerLink
    fk_name = "partner"
    fields = ("parent", "valid_from", "valid_to")
    readonly_fields = fields
    ordering = ("valid_from",)
    extra = 0
    verbose_name = "parent link"
    verbose_name_plural = "parent history (effective-dated; use “Move…” to change it)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("parent")


class PartnerAddForm(PayoutDetailsRulesMixin, forms.ModelForm):
    """A new partner and its place in the tree (its first parent link)."""

    parent = forms.ModelChoiceField(
        Partner.objects.all(),
        required=False,
        widget=partner_autocomplete(),
        help_text="Leave empty for a top-level partner.",
    )
    effective_from = effective_from_field(
        "When the partner's first parent link starts; empty means since always (set-up is not history).", required=False
    )

    class Meta:
        model = Partner
        fields = ("code", "name", "email", "program", "status", "payout_currency", "payout_method", "payout_account")


class PartnerChangeForm(PayoutDetailsRulesMixin, DatedTermsForm):
    """A partner's own fields; a status change takes effect from ``effective_from`` (default now)."""

    history_area = Area.TREE

    class Meta:
        model = Partner
        fields = ("name", "email", "program", "status", "payout_currency", "payout_method", "payout_account")


class PartnerMoveForm(forms.Form):
    parent = forms.ModelChoiceField(
        Partner.objects.all(),
        required=False,
        widget=partner_autocomplete(),
        help_text="The new parent. Leave empty to move to the top of the tree.",
    )
    effective_from = effective_from_field(
        "Trades closed from this instant on follow the new tree; earlier ones keep the old one. It may be in the "
        "past while no approved commission period is affected. Blank: now, or since always for a first assignment.",
        required=False,
    )


_PANEL_FIELDS: dict[str, object] = {}


def _panel_field(panel: PartnerPanel):
    """A read-only admin field showing an extension's panel (one callable per panel, so the field is stable)."""
    if panel.title not in _PANEL_FIELDS:

        def render(obj: Partner) -> str:
            return panel.render(obj)

        render.short_description = panel.title
        render.__name__ = "panel_" + "".join(c if c.isalnum() else "_" for c in panel.title.lower())
        _PANEL_FIELDS[panel.title] = render
    return _PANEL_FIELDS[panel.title]


BASE_PARTNER_ACTIONS = ("move_selected", "suspend_selected", "activate_selected")


@admin.register(Partner)
class PartnerAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # Django lets a query string filter on any of the model's own fields: ``?payout_account__startswith=`` one
        # character at a time would read an account that support sees masked.
        if lookup.startswith("payout_") and not (request is not None and sees_payout_details(request.user)):
            return False
        return super().lookup_allowed(lookup, value, request)

    list_display = (
        "code",
        "name",
        "program",
        "status",
        "parent_code",
        "level",
        "downline_size",
        "current_clients",
    )
    list_filter = ("status", "program", TreePositionFilter, DownlineFilter)
    list_select_related = ("program",)
    search_fields = ("code", "name", "email")
    list_per_page = 100
    inlines = (PartnerLinkInline,)
    change_form_template = "admin/partners/partner/change_form.html"

    @property
    def actions(self):
        # This app's actions and those other apps registered (``partners.extensions``), read when a page is built.
        return (*BASE_PARTNER_ACTIONS, *PARTNER_ADMIN_ACTIONS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Partner]:
        now = timezone.now()
        clients = (
            AccountAttribution.objects.filter(in_force(now), partner=OuterRef("pk"))
            .order_by()
            .values("partner")
            .annotate(n=Count("*"))
            .values("n")
        )
        return super().get_queryset(request).annotate(current_clients=Coalesce(Subquery(clients), 0))

    def get_changelist_instance(self, request: HttpRequest):
        """Attach each listed partner's tree position, read for the whole page in one query."""
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)  # evaluates (and caches) the page the template will render
        stats = partner_tree_stats(partner_ids=[p.pk for p in page], at=timezone.now())
        for partner in page:
            partner.tree_stats = stats.get(partner.pk)
        return changelist

    def get_inline_instances(self, request, obj=None):
        # A partner being added has no history to show yet.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = PartnerChangeForm if obj is not None else PartnerAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ("code", "name", "email", "program", "status")}),
                ("Place in the tree", {"fields": ("parent", "effective_from")}),
                ("Payouts", {"fields": _payout_fields(request, adding=True)}),
            ]
        return [
            (None, {"fields": ("code", "name", "email", "program", "user")}),
            ("Status (dated)", {"fields": ("status", "effective_from", "status_history")}),
            ("Tree and clients", {"fields": ("tree_position", "attribution_counts")}),
            ("Payouts", {"fields": _payout_fields(request, adding=False)}),
            *((panel.title, {"fields": (_panel_field(panel),)}) for panel in PARTNER_PANELS),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "code",
            "user",
            "status_history",
            "tree_position",
            "attribution_counts",
            "masked_payout_account",
            "payout_details_link",
            *(() if may_set_payout_details(request.user) else ("payout_method", "payout_account")),
            *(_panel_field(p) for p in PARTNER_PANELS),
        )

    @admin.display(description="set payout details")
    def payout_details_link(self, obj: Partner) -> str:
        url = reverse("admin:partners_partner_payout_details", args=[obj.pk])
        return format_html('<a href="{}">Change the payout method and account…</a>', url)

    @admin.display(description="payout account")
    def masked_payout_account(self, obj: Partner) -> str:
        return masked_payout_account(obj.payout_account)

    @admin.display(description="status history")
    def status_history(self, obj: Partner) -> str:
        return history_table(
            ((row.status, row.valid_from, row.valid_to) for row in obj.statuses.order_by("valid_from")), ["status"]
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # A partner carries history (links, attributions, earnings): suspend it instead of deleting it.
        return False

    # Columns computed per page in get_changelist_instance.

    @admin.display(description="parent")
    def parent_code(self, obj: Partner) -> str:
        stats = getattr(obj, "tree_stats", None)
        if stats is None or stats.parent_code is None:
            return "—"
        url = reverse("admin:partners_partner_changelist")
        return format_html('<a href="{}?q={}">{}</a>', url, stats.parent_code, stats.parent_code)

    @admin.display(description="level")
    def level(self, obj: Partner) -> int | str:
        stats = getattr(obj, "tree_stats", None)
        return stats.level if stats else "—"

    @admin.display(description="downline")
    def downline_size(self, obj: Partner) -> int | str:
        stats = getattr(obj, "tree_stats", None)
        if stats is None:
            return "—"
        if not stats.downline_size:
            return 0
        url = reverse("admin:partners_partner_changelist")
        return format_html('<a href="{}?downline_of={}">{}</a>', url, obj.code, stats.downline_size)

    @admin.display(description="clients now", ordering="current_clients")
    def current_clients(self, obj: Partner) -> int:
        return obj.current_clients

    # Change page.

    @admin.display(description="tree position now")
    def tree_position(self, obj: Partner) -> str:
        stats = partner_tree_stats(partner_ids=[obj.pk]).get(obj.pk)
        if stats is None:
            return "—"
        parent = stats.parent_code or "none (top level)"
        url = reverse("admin:partners_partner_changelist")
        return format_html(
            'level {}, parent {}, <a href="{}?downline_of={}">{} partner(s) below</a>',
            stats.level,
            parent,
            url,
            obj.code,
            stats.downline_size,
        )

    @admin.display(description="client accounts")
    def attribution_counts(self, obj: Partner) -> str:
        counts = AccountAttribution.objects.filter(partner=obj).aggregate(
            stretches=Count("pk"),
            accounts=Count("account", distinct=True),
            now=Count("pk", filter=in_force(timezone.now())),
        )
        url = reverse("admin:partners_accountattribution_changelist")
        return format_html(
            '{} attributed now; {} account(s) ever, in <a href="{}?partner__id__exact={}">{} attribution '
            "stretch(es)</a>",
            counts["now"],
            counts["accounts"],
            url,
            obj.pk,
            counts["stretches"],
        )

    def save_model(self, request, obj: Partner, form, change) -> None:
        data = form.cleaned_data
        if change:
            current = Partner.objects.get(pk=obj.pk)
            saved = partner_update(
                partner=current,
                effective_from=data.get("effective_from"),
                **{name: data[name] for name in UPDATABLE_FIELDS if name in data},
            )
        else:
            saved = partner_create(
                code=data["code"],
                name=data["name"],
                program=data["program"],
                parent=data.get("parent"),
                effective_from=data.get("effective_from"),
                email=data.get("email", ""),
                status=data["status"],
                payout_currency=data["payout_currency"],
                payout_method=data.get("payout_method", ""),
                payout_account=data.get("payout_account", ""),
            )
        adopt_saved(obj, saved)

    # Moves.

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("move/", self.admin_site.admin_view(self.move_view), name="{}_{}_move".format(*info)),
            path(
                "<int:partner_id>/payout-details/",
                self.admin_site.admin_view(self.payout_details_view),
                name="{}_{}_payout_details".format(*info),
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Move selected partners under another parent…", permissions=["change"])
    def move_selected(self, request: HttpRequest, queryset: QuerySet[Partner]) -> HttpResponse:
        return HttpResponseRedirect(ids_url("admin:partners_partner_move", queryset.values_list("pk", flat=True)))

    @admin.action(description="Suspend selected partners (they earn nothing while suspended)", permissions=["change"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_status(request, queryset, Partner.Status.SUSPENDED)

    @admin.action(description="Re-activate selected partners", permissions=["change"])
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[Partner]) -> None:
        self._set_status(request, queryset, Partner.Status.ACTIVE)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Partner], status: str) -> None:
        changed = 0
        with transaction.atomic():
            for partner in queryset.select_for_update():
                if partner.status != status:
                    partner_update(partner=partner, status=status)
                    self.log_change(request, partner, f"Status set to {status}.")
                    changed += 1
        self.message_user(request, f"{changed} partner(s) set to {status}.")

    def payout_details_view(self, request: HttpRequest, partner_id: int) -> HttpResponse:
        """Where a partner's money goes, set by finance alone (``change_payout_details``): the partner's page is
        read-only for finance, and the broker admin who edits it cannot redirect payouts."""
        if not may_set_payout_details(request.user):
            raise PermissionDenied
        partner = Partner.objects.filter(pk=partner_id).first()
        if partner is None:
            raise Http404
        form = PayoutDetailsForm(request.POST or None, instance=Partner.objects.get(pk=partner.pk))
        if request.method == "POST" and form.is_valid():
            was = f"{partner.payout_method or '—'} {masked_payout_account(partner.payout_account) or '—'}"
            partner_update(partner=partner, **form.cleaned_data)
            self.log_change(request, partner, f"Payout details set (were {was}).")
            self.message_user(request, f"Payout details of {partner.code} set.")
            return HttpResponseRedirect(reverse("admin:partners_partner_change", args=[partner.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Payout details of {partner.code}",
            "intro": "Where this partner's payouts go. The next payout batch copies them onto its line, which "
            "another user approves before it is exported.",
            "form": form,
            "submit_label": "Save",
            "cancel_url": reverse("admin:partners_partner_change", args=[partner.pk]),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    def move_view(self, request: HttpRequest) -> HttpResponse:
        """Re-parent the partners in ``?ids=`` through ``partner_move``: all of them or none."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        return bulk_service_form_view(
            self,
            request,
            spec=MOVE_FORM,
            queryset=Partner.objects.order_by("code"),
            changelist_url=reverse("admin:partners_partner_changelist"),
        )


def _where(data: dict) -> str:
    return data["parent"].code if data["parent"] else "the top of the tree"


MOVE_FORM = BulkServiceForm(
    form_class=PartnerMoveForm,
    apply=lambda partner, data: partner_move(
        partner=partner, parent=data["parent"], effective_from=data["effective_from"]
    ),
    title=lambda partners: "Move partners" if len(partners) > 1 else f"Move {partners[0].code}",
    intro="Moving never rewrites an approved period: each partner's parent link in force at the instant given is "
    "closed there and the new one holds from then on (until the next change already recorded).",
    submit_label="Move",
    describe=lambda p: f"{p.code} — {p.name}",
    log_message=lambda data: f"Moved under {_where(data)} from {when_label(data)}.",
    done_message=lambda partners, data: (
        f"Moved {', '.join(p.code for p in partners)} under {_where(data)} from {when_label(data)}."
    ),
    change_url=lambda partner: reverse("admin:partners_partner_change", args=[partner.pk]),
)


@admin.register(PartnerLink)
class PartnerLinkAdmin(AuditHistoryMixin, ReadOnlyHistoryMixin, admin.ModelAdmin):
    list_display = ("partner", "parent", "valid_from", "valid_to")
    list_select_related = ("partner", "parent")
    list_filter = (("valid_to", admin.EmptyFieldListFilter),)
    search_fields = ("partner__code", "parent__code")
    date_hierarchy = "valid_from"
    list_per_page = 100


# --- client accounts --------------------------------------------------------------------------------------------


class CurrentIBFilter(admin.SimpleListFilter):
    """Accounts with an IB now, or without one."""

    title = "IB now"
    parameter_name = "has_ib"

    def lookups(self, request, model_admin):
        return [("yes", "Has an IB"), ("no", "No IB")]

    def queryset(self, request, queryset):
        has_ib = Exists(
            AccountAttribution.objects.filter(in_force(timezone.now()), account=OuterRef("pk"), partner__isnull=False)
        )
        if self.value() == "yes":
            return queryset.filter(has_ib)
        if self.value() == "no":
            return queryset.filter(~has_ib)
        return queryset


class AccountAttributionInline(ReadOnlyHistoryMixin, admin.TabularInline):
    """The account's IB history, oldest first. Read-only: IB changes go through the “Change IB…” form."""

    model = AccountAttribution
    fields = ("partner", "valid_from", "valid_to")
    readonly_fields = fields
    ordering = ("valid_from",)
    extra = 0
    verbose_name = "attribution"
    verbose_name_plural = "IB history (effective-dated; use “Change IB…” to change it)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("partner")


class ClientAccountAddForm(forms.ModelForm):
    partner = forms.ModelChoiceField(
        Partner.objects.all(), required=False, widget=partner_autocomplete(), help_text="The account's IB, if any."
    )
    effective_from = effective_from_field(
        "When the IB attribution starts; empty means since always (set-up is not history).", required=False
    )

    class Meta:
        model = ClientAccount
        fields = ("server", "login", "currency", "group", "earns_commission")


class ClientAccountChangeForm(DatedTermsForm):
    """An account's own fields; a changed group or ``earns_commission`` takes effect from ``effective_from``."""

    history_area = Area.ACCOUNT_TERMS

    class Meta:
        model = ClientAccount
        fields = ("currency", "group", "earns_commission")


class AccountAttributeForm(forms.Form):
    partner = forms.ModelChoiceField(
        Partner.objects.all(),
        required=False,
        widget=partner_autocomplete(),
        help_text="The new IB. Leave empty for “no IB” from that instant on.",
    )
    effective_from = effective_from_field(
        "Trades closed from this instant on belong to the new IB; earlier ones keep the old attribution. It may be "
        "in the past while no approved commission period is affected. Blank: now, or since always for a first "
        "assignment.",
        required=False,
    )


@admin.register(ClientAccount)
class ClientAccountAdmin(AuditHistoryMixin, ServiceSavesMixin, admin.ModelAdmin):
    list_display = ("server", "login", "currency", "group", "earns_commission", "current_partner", "created_at")
    list_filter = ("server", "currency", "group", "earns_commission", CurrentIBFilter)
    search_fields = ("login",)
    search_help_text = "A login, a server name or an IB code."
    list_per_page = 100
    show_full_result_count = False
    inlines = (AccountAttributionInline,)
    actions = ("attribute_selected",)
    change_form_template = "admin/partners/clientaccount/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClientAccount]:
        current = AccountAttribution.objects.filter(in_force(timezone.now()), account=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                current_partner_code=Subquery(current.values("partner__code")[:1]),
                current_partner_pk=Subquery(current.values("partner_id")[:1]),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(server__iexact=term) | Q(current_partner_code=term)
        if term.isdigit() and len(term) <= MAX_ID_DIGITS:
            match |= Q(login=int(term))
        return queryset.filter(match), False

    def get_inline_instances(self, request, obj=None):
        # An account being added has no history to show yet.
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ClientAccountChangeForm if obj is not None else ClientAccountAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("server", "login", "currency", "group", "earns_commission", "partner", "effective_from")
        return (
            "server",
            "login",
            "currency",
            "group",
            "earns_commission",
            "effective_from",
            "terms_history",
            "created_at",
        )

    def get_readonly_fields(self, request, obj=None):
        return ("server", "login", "terms_history", "created_at") if obj else ()

    @admin.display(description="group and flag history")
    def terms_history(self, obj: ClientAccount) -> str:
        rows = (
            (t.group or "—", "yes" if t.earns_commission else "no", t.valid_from, t.valid_to)
            for t in obj.terms.order_by("valid_from")
        )
        return history_table(rows, ["group", "earns commission"])

    def has_delete_permission(self, request, obj=None) -> bool:
        # An account carries its attribution history and its trades' earnings.
        return False

    @admin.display(description="IB now", ordering="current_partner_code")
    def current_partner(self, obj: ClientAccount) -> str:
        if not obj.current_partner_code:
            return "—"
        url = reverse("admin:partners_partner_change", args=[obj.current_partner_pk])
        return format_html('<a href="{}">{}</a>', url, obj.current_partner_code)

    def save_model(self, request, obj: ClientAccount, form, change) -> None:
        data = form.cleaned_data
        row = {
            "server": obj.server,
            "login": obj.login,
            "currency": data["currency"],
            "group": data.get("group", ""),
            "earns_commission": data["earns_commission"],
        }
        if change:
            # The account's own fields only: its IB is changed through “Change IB…”.
            account_update(
                account=ClientAccount.objects.get(pk=obj.pk),
                currency=row["currency"],
                group=row["group"],
                earns_commission=row["earns_commission"],
                effective_from=data.get("effective_from"),
            )
        else:
            row["partner"] = data["partner"].code if data.get("partner") else None
            row["effective_from"] = data.get("effective_from")
            accounts_upsert(rows=[row])
        adopt_saved(obj, ClientAccount.objects.get(server=obj.server, login=obj.login))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("attribute/", self.admin_site.admin_view(self.attribute_view), name="{}_{}_attribute".format(*info)),
            *super().get_urls(),
        ]

    @admin.action(description="Change the IB of selected accounts…", permissions=["change"])
    def attribute_selected(self, request: HttpRequest, queryset: QuerySet[ClientAccount]) -> HttpResponse:
        url = ids_url("admin:partners_clientaccount_attribute", queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(url)

    def attribute_view(self, request: HttpRequest) -> HttpResponse:
        """Attribute the accounts in ``?ids=`` to a partner through ``account_attribute``: all of them or none."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        return bulk_service_form_view(
            self,
            request,
            spec=ATTRIBUTE_FORM,
            queryset=ClientAccount.objects.order_by("server", "login"),
            changelist_url=reverse("admin:partners_clientaccount_changelist"),
        )


def _who(data: dict) -> str:
    return data["partner"].code if data["partner"] else "no IB"


ATTRIBUTE_FORM = BulkServiceForm(
    form_class=AccountAttributeForm,
    apply=lambda account, data: account_attribute(
        account=account, partner=data["partner"], effective_from=data["effective_from"]
    ),
    title=lambda accounts: "Change IB" if len(accounts) > 1 else f"Change the IB of {accounts[0]}",
    intro="An IB change never rewrites an approved period: each account's attribution in force at the instant given is "
    "closed there and the new one holds from then on (until the next change already recorded).",
    submit_label="Change IB",
    describe=str,
    log_message=lambda data: f"Attributed to {_who(data)} from {when_label(data)}.",
    done_message=lambda accounts, data: (
        f"{len(accounts)} account(s) attributed to {_who(data)} from {when_label(data)}."
    ),
    change_url=lambda account: reverse("admin:partners_clientaccount_change", args=[account.pk]),
)


@admin.register(AccountAttribution)
class AccountAttributionAdmin(AuditHistoryMixin, ReadOnlyHistoryMixin, admin.ModelAdmin):
    list_display = ("account", "partner", "valid_from", "valid_to")
    list_select_related = ("account", "partner")
    list_filter = (("valid_to", admin.EmptyFieldListFilter), ("partner", admin.EmptyFieldListFilter))
    search_fields = ("partner__code", "account__server")
    search_help_text = "An IB code, a server or a login."
    date_hierarchy = "valid_from"
    list_per_page = 100

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.isdigit() and len(term) <= MAX_ID_DIGITS:
            return queryset.filter(account__login=int(term)), False
        return super().get_search_results(request, queryset, search_term)
