"""Admin for runs: “Compute period…” (any registered kind), recompute, approve, progress and chunks.

Runs are requested and approved through the services; rows are never edited here. Only registered kinds are offered
(and accepted) — a kind no app provides cannot be computed or approved.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import (
    SERVICE_FORM_TEMPLATE,
    ReadOnlyAdmin,
    ReadOnlyHistoryMixin,
    add_service_errors,
    plain_decimal,
)
from core.exceptions import ApplicationError
from core.periods import server_period

from .models import Run, RunChunk
from .permissions import APPROVE_RUN, REQUEST_RUN
from .registry import UnknownRunKind, get_kind, kind_choices
from .services.approve import run_approval
from .services.requests import run_request

logger = logging.getLogger(__name__)


def _totals_text(totals: dict) -> str:
    return (
        ", ".join(f"{kind} {plain_decimal(Decimal(amount))}" for kind, amount in sorted((totals or {}).items())) or "—"
    )


class RunChunkInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = RunChunk
    fields = ("index", "spec_type", "size", "status", "attempts", "lines_written", "claimed_by", "done_at", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False


class ComputePeriodForm(forms.Form):
    kind = forms.ChoiceField(choices=())
    period = forms.CharField(max_length=7, help_text="YYYY-MM, in the server time zone.")
    scope = forms.CharField(max_length=64, required=False, help_text="Optional, e.g. one MAM group; empty for all.")
    recompute = forms.BooleanField(
        required=False, help_text="Replace a computed, unapproved run with a new one (an approved period is locked)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kind_choices()  # only the kinds an app registered, read when the form is built

    def clean_period(self) -> str:
        try:
            return server_period(self.cleaned_data["period"]).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return kind_choices()

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


RUN_FIELDS = (
    "kind",
    "period",
    "scope",
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
    "snapshot",
    "lines_link",
)


@admin.register(Run)
class RunAdmin(AuditHistoryMixin, admin.ModelAdmin):
    """Runs are requested (“Compute period…”, “Recompute”) and approved through the services; rows are never edited."""

    list_display = ("id", "kind", "period", "scope", "status", "progress", "totals_text", "created_at", "approved_at")
    list_filter = (KindFilter, "status")
    search_fields = ("=period",)
    list_per_page = 100
    actions = ("recompute_selected", "approve_selected")
    fields = RUN_FIELDS
    readonly_fields = RUN_FIELDS
    inlines = (RunChunkInline,)
    change_list_template = "admin/runs/run/change_list.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # runs are requested through “Compute period…”

    def has_change_permission(self, request, obj=None) -> bool:
        # The changelist's actions (recompute, approve) need it; a run's own page is view-only.
        return obj is None and any(request.user.has_perm(p) for p in ("runs.change_run", REQUEST_RUN, APPROVE_RUN))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_compute_permission(self, request) -> bool:
        return request.user.has_perm(REQUEST_RUN)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(APPROVE_RUN)

    @admin.display(description="progress")
    def progress(self, obj: Run) -> str:
        return format_html(
            '<progress value="{}" max="{}" style="width:6em"></progress> {}/{}',
            obj.chunks_done,
            obj.chunks_total or 1,
            obj.chunks_done,
            obj.chunks_total,
        )

    @admin.display(description="totals")
    def totals_text(self, obj: Run) -> str:
        return _totals_text(obj.totals)

    @admin.display(description="lines")
    def lines_link(self, obj: Run) -> str:
        if obj.status in (Run.Status.QUEUED, Run.Status.RUNNING):
            return "The lines appear, all at once, when the run is computed."
        if obj.status == Run.Status.FAILED:
            return "A failed run keeps no lines: see its error."
        try:
            opts = get_kind(obj.kind).line_model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        except (UnknownRunKind, NoReverseMatch, AttributeError):
            return "—"
        return format_html('<a href="{}?run__id__exact={}">Lines of this run</a>', url, obj.pk)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_compute": self.has_compute_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("compute/", self.admin_site.admin_view(self.compute_view), name="{}_{}_compute".format(*info)),
            *super().get_urls(),
        ]

    def _request(self, request: HttpRequest, **options) -> Run | None:
        try:
            result = run_request(user=request.user, **options)
        except (ApplicationError, ValidationError) as exc:
            self.message_user(request, getattr(exc, "message", None) or " ".join(exc.messages), messages.ERROR)
            return None
        run = Run.objects.get(pk=result.run.pk)  # with eager tasks the run is computed by now
        verb = "Requested" if result.created else "Already live:"
        self.message_user(request, f"{verb} {run} — {run.chunks_done}/{run.chunks_total} chunks.")
        return run

    def compute_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for a (kind, period, scope) run through ``run_request``; asking again returns the live run."""
        if not self.has_compute_permission(request):
            raise PermissionDenied
        form = ComputePeriodForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = run_request(user=request.user, **form.cleaned_data)
            except (ApplicationError, ValidationError) as exc:
                add_service_errors(form, exc)
            else:
                run = Run.objects.get(pk=result.run.pk)
                verb = "Requested" if result.created else "Already live:"
                self.message_user(request, f"{verb} {run} — {run.chunks_done}/{run.chunks_total} chunks.")
                return HttpResponseRedirect(reverse("admin:runs_run_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Compute a period",
            "intro": "A run computes a kind for one period. Asking for a period that already has a live run shows "
            "that run; an approved period is locked (later changes become adjustments).",
            "form": form,
            "submit_label": "Compute",
            "cancel_url": reverse("admin:runs_run_changelist"),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    @admin.action(
        description="Recompute selected periods (replaces computed, unapproved runs)", permissions=["compute"]
    )
    def recompute_selected(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        for kind, period, scope in sorted(set(queryset.values_list("kind", "period", "scope"))):
            self._request(request, kind=kind, period=period, scope=scope, recompute=True)

    @admin.action(
        description="Approve selected runs (posts them to the journal and locks the period)", permissions=["approve"]
    )
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        approved, already = 0, []
        for run in queryset.order_by("period", "pk"):
            if run.status == Run.Status.APPROVED:
                already.append(f"#{run.pk}")
                continue
            try:
                result = run_approval(run_id=run.pk, user=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            except DatabaseError as exc:  # rolled back whole: nothing of this run was posted
                logger.exception("admin: run %s could not be approved", run.pk)
                self.message_user(request, f"Run #{run.pk} could not be approved: {exc}", messages.ERROR)
            else:
                if result.approved_now:
                    approved += 1
                    for late in result.late:
                        self.message_user(request, f"Run #{run.pk}: {late.message}", messages.WARNING)
                else:  # approved a moment before: by a colleague, a command, or this user's double submit
                    by = result.run.approved_by
                    already.append(f"#{run.pk} (by {by})" if by else f"#{run.pk}")
        if approved:
            self.message_user(request, f"{approved} run(s) approved and posted to the journal.", messages.SUCCESS)
        if already:
            self.message_user(request, f"Already approved, nothing posted: {', '.join(already)}.", messages.INFO)


@admin.register(RunChunk)
class RunChunkAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "index",
        "spec_type",
        "status",
        "attempts",
        "lines_written",
        "claimed_by",
        "lease_expires_at",
        "done_at",
    )
    list_select_related = ("run",)
    list_filter = ("status", "spec_type")
    list_per_page = 100
