"""Admin for payout batches: “New batch…” makes a draft for a period; actions approve (another user than the maker),
discard, export (the CSV download) and mark paid; a batch's page lists its lines with their status, reason and
amount, read-only. Every step goes through ``ledger.services.payouts``, as the API's do.

Permissions: making a batch needs ``ledger.add_payoutbatch``; approving ``ledger.approve_payoutbatch``; exporting
``ledger.export_payoutbatch``; marking paid ``ledger.pay_payoutbatch``; discarding ``ledger.change_payoutbatch``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_audit import AuditHistoryMixin
from core.admin_helpers import SERVICE_FORM_TEMPLATE, ReadOnlyHistoryMixin, add_service_errors
from core.csv_export import csv_lines
from core.downloads import csv_attachment
from core.exceptions import ApplicationError
from core.money import quantize
from core.periods import server_period
from partners.permissions import masked_payout_account, sees_payout_details

from ..models import PayoutBatch, PayoutLine
from ..payout_selectors import payout_batch_totals
from ..permissions import ADD_PAYOUT, APPROVE_PAYOUT, CHANGE_PAYOUT, EXPORT_PAYOUT, PAY_PAYOUT
from ..selectors import currency_places
from ..services.payouts import (
    APPROVAL_HOLD,
    EXPORT_HEADER,
    REASON_MAX_LENGTH,
    LineOutcome,
    approval_holds,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_discard,
    payout_batch_export,
    payout_export_rows,
    payout_lines_resolve,
)


class NewBatchForm(forms.Form):
    period = forms.CharField(max_length=7, help_text="YYYY-MM: pays what was approved up to this period's end")

    def clean_period(self) -> str:
        try:
            return server_period(self.cleaned_data["period"]).label
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class PayoutLineInline(ReadOnlyHistoryMixin, admin.TabularInline):
    model = PayoutLine
    fields = ("partner", "status", "reason", "payout_method", "payout_account", "payout_currency", "shown_amount")
    readonly_fields = fields
    ordering = ("partner__code",)
    extra = 0

    def get_fields(self, request, obj=None):
        if sees_payout_details(request.user):
            return self.fields
        return tuple("masked_payout_account" if f == "payout_account" else f for f in self.fields)

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="payout account")
    def masked_payout_account(self, line: PayoutLine) -> str:
        return masked_payout_account(line.payout_account)

    @admin.display(description="amount")
    def shown_amount(self, line: PayoutLine) -> str:
        return format(quantize(line.amount, currency_places(line.payout_currency)), "f")


class OutcomesForm(forms.Form):
    failures = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        required=False,
        help_text="One failed line per row: PARTNER_CODE: the bank's reason (e.g. ib-17: account closed).",
    )
    pay_the_rest = forms.BooleanField(required=False, label="Mark every other line still to pay paid")

    def clean_failures(self) -> list[tuple[str, str]]:
        failures = []
        for number, row in enumerate(self.cleaned_data["failures"].splitlines(), start=1):
            if not row.strip():
                continue
            code, _, reason = row.partition(":")
            if not code.strip() or not reason.strip():
                raise ValidationError(f"Row {number}: write PARTNER_CODE: reason.")
            if len(reason.strip()) > REASON_MAX_LENGTH:  # the line's column; the service checks it too
                raise ValidationError(f"Row {number}: the reason is at most {REASON_MAX_LENGTH} characters.")
            failures.append((code.strip(), reason.strip()))
        return failures

    def clean(self):
        data = super().clean()
        if not data.get("failures") and not data.get("pay_the_rest"):
            raise ValidationError("List the failed lines, or tick the box to mark the lines paid.")
        return data


def _steps_error(admin_view, request: HttpRequest, exc: Exception) -> None:
    text = getattr(exc, "message", None) or " ".join(getattr(exc, "messages", [str(exc)]))
    admin_view.message_user(request, text, messages.ERROR)


@admin.register(PayoutBatch)
class PayoutBatchAdmin(AuditHistoryMixin, admin.ModelAdmin):
    list_display = ("id", "period", "status", "line_count", "to_pay_count", "created_by", "approved_by", "export_link")
    list_filter = ("status",)
    search_fields = ("=period",)
    list_select_related = ("created_by", "approved_by")
    actions = ("approve_selected", "mark_paid_selected", "discard_selected")
    fields = (
        "period",
        "status",
        "created_by",
        "created_at",
        "approved_by",
        "approved_at",
        "exported_by",
        "exported_at",
        "closed_by",
        "closed_at",
        "totals_text",
        "export_link",
        "outcomes_link",
    )
    readonly_fields = fields
    inlines = (PayoutLineInline,)
    change_list_template = "admin/ledger/payoutbatch/change_list.html"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # made through “New batch…”

    def has_change_permission(self, request, obj=None) -> bool:
        # The changelist's actions (approve, mark paid, discard); a batch's own page is view-only.
        return obj is None and any(request.user.has_perm(p) for p in (CHANGE_PAYOUT, APPROVE_PAYOUT, PAY_PAYOUT))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_create_permission(self, request) -> bool:
        return request.user.has_perm(ADD_PAYOUT)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(APPROVE_PAYOUT)

    def has_pay_permission(self, request) -> bool:
        return request.user.has_perm(PAY_PAYOUT)

    def has_discard_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_PAYOUT)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PayoutBatch]:
        # The list's counts in its one query (the amounts by currency are on a batch's own page).
        return (
            super()
            .get_queryset(request)
            .annotate(
                lines_total=Count("lines"),
                lines_to_pay=Count("lines", filter=Q(lines__status=PayoutLine.Status.TO_PAY)),
            )
        )

    @admin.display(description="lines", ordering="lines_total")
    def line_count(self, batch: PayoutBatch) -> int:
        return batch.lines_total

    @admin.display(description="to pay", ordering="lines_to_pay")
    def to_pay_count(self, batch: PayoutBatch) -> int:
        return batch.lines_to_pay

    @admin.display(description="lines by status")
    def totals_text(self, batch: PayoutBatch) -> str:
        parts = [
            f"{row['status']}: {row['lines']} · {quantize(row['amount'], currency_places(row['currency']))} "
            f"{row['currency']}"
            for row in payout_batch_totals(batch=batch)
        ]
        return "; ".join(parts) or "no lines"

    @admin.display(description="CSV")
    def export_link(self, batch: PayoutBatch) -> str:
        if batch.status in (PayoutBatch.Status.DRAFT, PayoutBatch.Status.DISCARDED):
            return "—"
        url = reverse("admin:ledger_payoutbatch_export", args=[batch.pk])
        label = "Export…" if batch.status == PayoutBatch.Status.APPROVED else "Download"
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="lines paid or failed")
    def outcomes_link(self, batch: PayoutBatch) -> str:
        if batch.status != PayoutBatch.Status.EXPORTED:
            return "—"
        url = reverse("admin:ledger_payoutbatch_outcomes", args=[batch.pk])
        return format_html('<a href="{}">Record what the bank paid and what failed…</a>', url)

    def outcomes_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """Finance reports the bank's answer: the lines that failed, each with the bank's reason (back to payable),
        and, if ticked, every other line still to pay paid — a bounced transfer is never posted as paid."""
        if not self.has_pay_permission(request):
            raise PermissionDenied
        batch = PayoutBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise Http404
        form = OutcomesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            failures = form.cleaned_data["failures"]
            outcomes = [
                LineOutcome(partner=code, status=PayoutLine.Status.FAILED, reason=why) for code, why in failures
            ]
            try:
                payout_lines_resolve(
                    batch_id=batch.pk,
                    user=request.user,
                    outcomes=outcomes,
                    pay_rest=form.cleaned_data["pay_the_rest"],
                )
            except (ApplicationError, ValidationError) as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, f"{len(failures)} line(s) failed; {batch} updated.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:ledger_payoutbatch_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Lines of {batch} paid or failed",
            "intro": "List the lines the bank did not pay, one per line as PARTNER_CODE: reason. They go back to "
            "the partner's payable with the reason; tick the box to mark every other line still to pay paid.",
            "form": form,
            "submit_label": "Record",
            "cancel_url": reverse("admin:ledger_payoutbatch_change", args=[batch.pk]),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_create": self.has_create_permission(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("new/", self.admin_site.admin_view(self.new_batch_view), name="{}_{}_new".format(*info)),
            path(
                "<int:batch_id>/outcomes/",
                self.admin_site.admin_view(self.outcomes_view),
                name="{}_{}_outcomes".format(*info),
            ),
            path(
                "<int:batch_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name="{}_{}_export".format(*info),
            ),
            *super().get_urls(),
        ]

    def new_batch_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_create_permission(request):
            raise PermissionDenied
        form = NewBatchForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = payout_batch_create(period=form.cleaned_data["period"], user=request.user)
            except (ApplicationError, ValidationError) as exc:
                add_service_errors(form, exc)
            else:
                self.message_user(request, f"Made {batch}: another user approves it.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:ledger_payoutbatch_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New payout batch",
            "intro": "A draft batch pays each partner what was approved up to the period's end and no open batch "
            "holds, converted to the partner's payout currency at the period's last rate. Lines below the "
            "program minimum are carried over; suspended partners and missing payout details are held.",
            "form": form,
            "submit_label": "Make the draft",
            "cancel_url": reverse("admin:ledger_payoutbatch_changelist"),
        }
        return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)

    def export_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        """The CSV. The first export changes the batch (it becomes exported, by this user): that takes a POST from a
        confirmation page, so a prefetching browser, a crawler or a link preview never exports a batch; an exported
        or paid batch's file is a plain GET (downloading it again changes nothing)."""
        if not request.user.has_perm(EXPORT_PAYOUT):
            raise PermissionDenied
        batch = PayoutBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise Http404
        if batch.status == PayoutBatch.Status.APPROVED and request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"Export {batch}",
                "intro": "Exporting marks the batch exported by you and downloads its CSV for the bank or payment "
                "provider; then its lines are marked paid or failed. Downloading it again later changes nothing.",
                "form": forms.Form(),
                "submit_label": "Export and download the CSV",
                "cancel_url": reverse("admin:ledger_payoutbatch_change", args=[batch.pk]),
            }
            return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
        try:
            batch = payout_batch_export(batch_id=batch_id, user=request.user)
        except ApplicationError as exc:
            _steps_error(self, request, exc)
            return HttpResponseRedirect(reverse("admin:ledger_payoutbatch_changelist"))
        return csv_attachment(
            csv_lines(EXPORT_HEADER, payout_export_rows(batch=batch)), f"payout-batch-{batch.pk}-{batch.period}.csv"
        )

    def _each(self, request: HttpRequest, queryset: QuerySet[PayoutBatch], step, done: str) -> None:
        count = 0
        for batch_id in queryset.order_by("pk").values_list("pk", flat=True):  # one batch at a time, in id order
            try:
                step(batch_id=batch_id, user=request.user)
            except (ApplicationError, ValidationError) as exc:
                _steps_error(self, request, exc)
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} batch(es) {done}.", messages.SUCCESS)

    @admin.action(description="Approve selected drafts (another user than the maker)", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> None:
        self._each(request, queryset, payout_batch_approve, "approved")
        # The approval re-checks every line: name those it held, so the approver sees what the batch no longer pays.
        for batch in queryset.filter(status=PayoutBatch.Status.APPROVED).order_by("pk"):
            held = approval_holds(batch=batch)
            if held:
                listed = "; ".join(f"{code}: {reason.removeprefix(APPROVAL_HOLD)}" for code, reason in held)
                self.message_user(
                    request, f"{batch}: {len(held)} line(s) held at approval — {listed}", messages.WARNING
                )

    @admin.action(description="Mark every line still to pay of selected exported batches paid", permissions=["pay"])
    def mark_paid_selected(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> None:
        self._each(request, queryset, payout_lines_resolve, "marked paid")

    @admin.action(description="Discard selected drafts", permissions=["discard"])
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[PayoutBatch]) -> None:
        self._each(request, queryset, payout_batch_discard, "discarded")
