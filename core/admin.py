"""Core's admin page: the audit log (``core.AuditEvent``), every tracked change of every app in one searchable list.

Filters: the tracked model (the query then reads that model's event table alone), the action, the user, the day;
search: an object id, or any text of the rows' data (a partner's code, a period…). Read-only, and only for
``core.view_auditevent`` (the broker admin's and finance's; support gets a 403, as the diffs show payout details).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from pghistory.core import event_models

from core.admin_audit import audit_events, changes, how, object_label, search_events, who
from core.models import AuditEvent


class TrackedModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return sorted(
            (event_model._meta.label_lower, event_model.pgh_tracked_model._meta.label) for event_model in event_models()
        )

    def queryset(self, request, queryset):
        chosen = [m for m in event_models() if m._meta.label_lower == self.value()]
        return queryset.across(*chosen) if chosen else queryset


class ActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [("insert", "insert"), ("update", "update"), ("delete", "delete")]

    def queryset(self, request, queryset):
        return queryset.filter(pgh_label=self.value()) if self.value() in ("insert", "update", "delete") else queryset


class UserFilter(admin.SimpleListFilter):
    """Staff users (who makes changes), and "nobody" for changes with no user (a command without ``--user``, a
    task nobody queued, a shell)."""

    title = "user"
    parameter_name = "user"

    def lookups(self, request, model_admin):
        staff = get_user_model().objects.filter(Q(is_staff=True) | Q(is_superuser=True)).order_by("username")
        return [*((str(pk), name) for pk, name in staff.values_list("pk", "username")), ("none", "nobody")]

    def queryset(self, request, queryset):
        value = self.value() or ""
        if value == "none":
            return queryset.filter(user__isnull=True)
        if value.isdigit() and len(value) <= 18:
            return queryset.filter(user=int(value))
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("when", "object", "action", "who", "how", "changes")
    list_display_links = None
    list_filter = (TrackedModelFilter, ActionFilter, UserFilter, ("pgh_created_at", admin.DateFieldListFilter))
    search_fields = ("pgh_obj_id",)  # shows the search box; the search itself is search_events
    search_help_text = "An object id, or any text of the rows (a partner's code, a login, a period…)."
    list_per_page = 100
    # Counting the whole trail too would read every event table once more per page.
    show_full_result_count = False

    def get_queryset(self, request):
        return audit_events()

    def get_search_results(self, request, queryset, search_term):
        return search_events(queryset, search_term), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="when (UTC)", ordering="pgh_created_at")
    def when(self, event):
        return event.pgh_created_at.strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="object")
    def object(self, event):
        return object_label(event)

    @admin.display(description="action", ordering="pgh_label")
    def action(self, event):
        return event.pgh_label

    @admin.display(description="who")
    def who(self, event):
        return who(event)

    @admin.display(description="how")
    def how(self, event):
        return how(event)

    @admin.display(description="changes")
    def changes(self, event):
        return changes(event)
