"""Admin building blocks shared by the apps."""


class ReadOnlyHistoryMixin:
    """For history and posted money (links, attributions, lines, journal rows): viewable, never added, changed or
    deleted from the admin; changes go through the services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
