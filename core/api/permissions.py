from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    """Broker resources: authenticated staff users only (a partner's token gets 403)."""

    message = "Staff permission is required."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
