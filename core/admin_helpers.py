"""Admin building blocks shared by every app's admin: read-only history, service-backed saves and service forms.

Every admin write goes through a service; these helpers make that uniform: ``ServiceSavesMixin`` shows a service's
refusal as a message instead of a server error, ``adopt_saved`` lets the admin's redirect and log use the row the
service saved, and service forms (moves, IB changes, plan assignments, compute a period) render with
``SERVICE_FORM_TEMPLATE`` and take the selected rows as ``?ids=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.exceptions import ApplicationError
from core.history import Area, check_history_open

SERVICE_FORM_TEMPLATE = "admin/ibex/service_form.html"
# Logins and tickets are bigint columns: a longer number in a search box is "no match", not a database error.
MAX_ID_DIGITS = 18


class ReadOnlyHistoryMixin:
    """For history and posted money (links, attributions, lines, journal rows): viewable, never added, changed or
    deleted from the admin; changes go through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyHistoryMixin, admin.ModelAdmin):
    """Rows written only by services (the trade feed, runs' lines, the journal): viewable, never edited here."""


class ServiceSavesMixin:
    """For admins whose saves call a service: a ValidationError or domain error the form did not catch is shown as a
    message (the admin's transaction is rolled back) instead of a server error."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, "Not saved: " + " ".join(exc.messages), messages.ERROR)
        except ApplicationError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


def adopt_saved(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved ``obj`` stand for the row a service saved, so the admin's redirect and log use it."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def add_service_errors(form: forms.Form, exc: ValidationError | ApplicationError) -> None:
    """Show a service's refusal on the form: under its field when the form has it, else at the top."""
    if isinstance(exc, ApplicationError):
        # A refused back-dating names its approved period: show it under the date the user typed.
        dated = "period" in exc.extra and "effective_from" in form.fields
        form.add_error("effective_from" if dated else None, exc.message)
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, errors in exc.message_dict.items():
        if field in form.fields:
            form.add_error(field, errors)
        else:
            form.add_error(None, [f"{field}: {message}" for message in errors])


def selected_ids(request: HttpRequest) -> list[int]:
    """The ``ids`` query parameter (comma-separated primary keys) of a service form opened from an action."""
    raw = request.GET.get("ids", "")
    return sorted({int(part) for part in raw.split(",") if part.strip().isdigit() and len(part.strip()) <= 18})


def ids_url(url_name: str, ids: Iterable[int]) -> str:
    return f"{reverse(url_name)}?ids={','.join(str(pk) for pk in ids)}"


def effective_from_field(help_text: str, *, required: bool = True) -> forms.SplitDateTimeField:
    return forms.SplitDateTimeField(
        label="Effective from (UTC)", widget=AdminSplitDateTime, required=required, help_text=help_text
    )


class DatedTermsForm(forms.ModelForm):
    """A change form whose dated terms (plan content, program terms, a partner's status, an account's group and flag)
    take effect from ``effective_from``: blank means now for a change and since always for something new
    (DOMAIN.md 4.0). A date reaching into an approved period is refused under the date field before anything is
    saved (the service would refuse it too)."""

    effective_from = effective_from_field(
        "When changed terms take effect: blank means now (since always for something new). Trades closed earlier "
        "keep the terms they had. It may be in the past while no approved period is affected.",
        required=False,
    )

    # What the form's terms are (``core.history.Area``): only the kinds of run that read them refuse the date.
    history_area: Area | None = None

    def clean(self):
        data = super().clean()
        at = data.get("effective_from")
        if at is not None and at < timezone.now():
            try:
                check_history_open(
                    since=at, subject=f"Changing {self._meta.model._meta.verbose_name}", area=self.history_area
                )
            except ApplicationError as exc:
                add_service_errors(self, exc)
        return data


def history_table(rows: Iterable[tuple], headers: Sequence[str]) -> str:
    """A read-only table of a dated series (oldest first): each row's cells, then its from and to instants."""
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (
                format_html_join(
                    "",
                    "<td>{}</td>",
                    (
                        (f"{cell:%Y-%m-%d %H:%M}" if isinstance(cell, datetime) else ("—" if cell is None else cell),)
                        for cell in row
                    ),
                ),
            )
            for row in rows
        ),
    )
    head = format_html_join("", "<th>{}</th>", ((h,) for h in [*headers, "from (UTC)", "to (UTC)"]))
    return format_html('<table class="terms-history"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)


def when_label(data: dict) -> str:
    """A service form's ``effective_from`` for messages: the instant, or what a blank one means."""
    at = data.get("effective_from")
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "now (since always for a first assignment)"


def plain_decimal(value: Decimal) -> str:
    """A stored decimal without the column's padding zeros (``1.0850000000`` → ``1.085``), never in exponent form."""
    return format(value.normalize(), "f")


def number_term(term: str) -> int | None:
    """A search term that is an id-sized number (a ticket, a login), else None."""
    return int(term) if term.isdigit() and len(term) <= MAX_ID_DIGITS else None


@dataclass(frozen=True)
class BulkServiceForm:
    """A service form applied to every selected row at once (move partners, change accounts' IB, assign a plan):
    the rows come from ``?ids=``, ``apply(obj, cleaned_data)`` calls the service for one of them, and all of them
    change or none (one transaction; a service's refusal is shown on the form)."""

    form_class: type[forms.Form]
    apply: Callable[[models.Model, dict], object]
    title: Callable[[list], str]
    intro: str
    submit_label: str
    describe: Callable[[models.Model], str]  # a row as listed on the page
    log_message: Callable[[dict], str]  # the admin log entry of each changed row
    done_message: Callable[[list, dict], str]
    change_url: Callable[[models.Model], str]  # where one changed row is shown afterwards


def bulk_service_form_view(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    spec: BulkServiceForm,
    queryset: QuerySet,
    changelist_url: str,
    opts=None,
) -> HttpResponse:
    rows = list(queryset.filter(pk__in=selected_ids(request)))
    if not rows:
        modeladmin.message_user(request, "Select the rows to change first.", messages.WARNING)
        return HttpResponseRedirect(changelist_url)
    form = spec.form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                for row in rows:
                    spec.apply(row, form.cleaned_data)
        except (ValidationError, ApplicationError) as exc:
            add_service_errors(form, exc)
        else:
            for row in rows:
                modeladmin.log_change(request, row, spec.log_message(form.cleaned_data))
            modeladmin.message_user(request, spec.done_message(rows, form.cleaned_data))
            return HttpResponseRedirect(spec.change_url(rows[0]) if len(rows) == 1 else changelist_url)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": opts or modeladmin.opts,
        "title": spec.title(rows),
        "intro": spec.intro,
        "objects": [spec.describe(row) for row in rows],
        "form": form,
        "submit_label": spec.submit_label,
        "cancel_url": changelist_url,
    }
    return TemplateResponse(request, SERVICE_FORM_TEMPLATE, context)
