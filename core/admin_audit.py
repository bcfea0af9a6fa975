"""The audit trail in the admin: every object's History page and the searchable log (``core.admin``).

Both read ``core.AuditEvent`` (pghistory's events of every tracked model, each with its diff against the object's
previous event) and need ``core.view_auditevent`` — the broker admin's and finance's, not support's, because the
diffs show partners' payout details in full. Without it the History button shows Django's own change log of the
object (who saved it in the admin, which fields, no values).

An object's History lists the events of the object itself and of every tracked row that refers to it: a partner's
page shows its own changes (payout details included), its dated parents, statuses, programs and plans, the
attributions of its clients, its rebates and its payout lines; a run's its state changes; a batch's its steps and
its lines' outcomes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html_join

from core.models import AuditEvent
from core.permissions import VIEW_AUDIT_LOG

AUDIT_HISTORY_TEMPLATE = "admin/ibex/audit_history.html"
HISTORY_PAGE_SIZE = 100
# Keys of a row that name it better than its id, first found wins (a partner's code, an instrument's symbol…).
LABEL_KEYS = ("code", "symbol", "alias", "suffix", "period", "currency", "username")


def audit_events(queryset=None):
    """Events newest first, with their data and diff as JSON text (read back with exact decimals, never floats)."""
    queryset = AuditEvent.objects.all() if queryset is None else queryset
    return queryset.annotate(data_text=Cast("pgh_data", TextField()), diff_text=Cast("pgh_diff", TextField())).order_by(
        "-pgh_created_at", "-pgh_model", "-pgh_id"
    )


def _json(text: str | None) -> dict:
    return json.loads(text, parse_float=Decimal) if text else {}


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def object_label(event) -> str:
    """``partners.Partner ib-001 (#12)``: the model, the row's natural key when it has one, its id."""
    data = _json(event.data_text)
    key = next((str(data[k]) for k in LABEL_KEYS if data.get(k) not in (None, "")), None)
    return f"{event.pgh_obj_model} {key} (#{event.pgh_obj_id})" if key else f"{event.pgh_obj_model} #{event.pgh_obj_id}"


def who(event) -> str:
    context = event.pgh_context or {}
    if context.get("username"):
        return context["username"]
    if context.get("os_user"):
        return f"({context['os_user']} on the server)"
    return "—"


def how(event) -> str:
    """How the change was made: the request, command or task of its context ("—": no context, e.g. a shell)."""
    context = event.pgh_context or {}
    via = context.get("via")
    if via == "request":
        text = f"{context.get('method', '')} {context.get('path', '')}".strip()
    elif via == "command":
        text = f"manage.py {context.get('command', '')}"
    elif via == "task":
        text = f"task {context.get('task', '')}"
        queued = context.get("method") and f"{context.get('method')} {context.get('path', '')}"
        queued = queued or (context.get("command") and f"manage.py {context['command']}")
        return f"{text}, queued by {queued}" if queued else text
    else:
        return "—"
    return f"{text}, task {context['task']}" if context.get("task") else text


def changes(event):
    """An update's changed fields (old → new); an insert's or a delete's row as it was."""
    diff = _json(event.diff_text)
    if event.pgh_label == "update" and diff:
        return format_html_join(
            "", "<div><b>{}</b>: {} → {}</div>", ((k, _value(v[0]), _value(v[1])) for k, v in sorted(diff.items()))
        )
    data = _json(event.data_text)
    return format_html_join("", "<div><b>{}</b>: {}</div>", ((k, _value(v)) for k, v in sorted(data.items())))


def audit_row(event) -> dict[str, Any]:
    return {
        "when": event.pgh_created_at,
        "object": object_label(event),
        "action": event.pgh_label,
        "who": who(event),
        "how": how(event),
        "changes": changes(event),
    }


def search_events(queryset, term: str):
    """The log's search: a number is an object id (or anything in a row's data), anything else a text in the rows'
    data (a partner's code, an account's login, a payout account…). A NUL matches nothing (PostgreSQL text has
    none)."""
    term = term.strip()
    if not term:
        return queryset
    if "\x00" in term:
        return queryset.none()
    match = Q(data_text__icontains=term)
    if term.isdigit():
        match |= Q(pgh_obj_id=term)
    return queryset.filter(match)


class AuditHistoryMixin:
    """Replaces a ModelAdmin's History page with the audit trail of the object (and of the tracked rows that refer
    to it): diffs, who, when, how — for users who may read the trail; others get Django's change log."""

    def history_view(self, request, object_id, extra_context=None):
        if not request.user.has_perm(VIEW_AUDIT_LOG):
            return super().history_view(request, object_id, extra_context)
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        page = Paginator(audit_events(AuditEvent.objects.references(obj)), HISTORY_PAGE_SIZE).get_page(
            request.GET.get("p")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "opts": self.opts,
            "object": obj,
            "page": page,
            "rows": [audit_row(event) for event in page],
            "log_url": reverse("admin:core_auditevent_changelist"),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, AUDIT_HISTORY_TEMPLATE, context)
