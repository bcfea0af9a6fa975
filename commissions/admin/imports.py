"""Admin for trade imports and the “Upload trades file” page.

The upload is kept in Django's default storage (``uploads/``: a shared volume or object storage in production) and
its storage name — never a local path — goes to the ``commissions.import_trades_file`` task, so any worker machine
can import it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import get_valid_filename

from core.admin_helpers import SERVICE_FORM_TEMPLATE, ReadOnlyAdmin

from ..models import TradeImport
from ..tasks import import_trades_file

REPORT_ROWS = 50  # rejections shown on an import's page; the stored report keeps up to 1000


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


def _upload_name(original_name: str, token: str) -> str:
    name = get_valid_filename(Path(original_name).name)[-100:] or "trades.csv"
    return f"uploads/{timezone.now():%Y%m%d-%H%M%S}-{token}-{name}"


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
        """Keep the uploaded file in the default storage and queue its import (by storage name) once this request's
        writes are committed; then follow the import to its report."""
        if not self._can_upload(request):
            raise PermissionDenied
        form = TradeUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            token = uuid.uuid4().hex[:16]
            upload = form.cleaned_data["file"]
            stored = default_storage.save(_upload_name(upload.name, token), upload)
            args = (
                stored,
                form.cleaned_data["format"],
                form.cleaned_data["server"] or None,
                request.user.pk,
                Path(stored).name,
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
