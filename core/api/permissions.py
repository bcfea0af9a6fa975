"""Who may call a broker (staff) route: an authenticated staff user holding the permissions the view declares for
the request's method — not ``is_staff`` alone (the roles of ``core/roles.py`` are sets of these permissions).

A view declares ``required_permissions``, built with :func:`requires`::

    required_permissions = requires(read="partners.view_partner", write=("partners.add_partner",))

``read`` covers GET (and so HEAD and OPTIONS), ``write`` every other method the view serves, and ``per_method``
overrides one method (``{"PATCH": (...)}``). It fails closed: a view that serves a method its declaration does not
cover refuses everyone, superusers aside (and ``tests/api/test_roles.py`` checks that no route does). A method the
view does not serve passes, so that the client gets its 405 rather than a misleading 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rest_framework.permissions import BasePermission

READ_METHODS = ("GET", "HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

Declared = Mapping[str, tuple[str, ...]]


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def requires(
    *,
    read: str | Iterable[str] | None = None,
    write: str | Iterable[str] | None = None,
    per_method: Mapping[str, str | Iterable[str]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """The permissions (``"app.codename"``) each HTTP method of a view needs; a method left out refuses everyone."""
    declared: dict[str, tuple[str, ...]] = {}
    for methods, names in ((READ_METHODS, _names(read)), (WRITE_METHODS, _names(write))):
        if names is not None:
            declared.update(dict.fromkeys(methods, names))
    for method, names in (per_method or {}).items():
        declared[method.upper()] = _names(names) or ()
    return declared


def served_methods(view) -> list[str]:
    """The HTTP methods a view class or instance has a handler for."""
    return [m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")]


class StaffPermission(BasePermission):
    """A staff user with the permissions ``view.required_permissions`` lists for the request's method."""

    message = "Staff permission is required."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        method = request.method.upper()
        declared: Declared = getattr(view, "required_permissions", {})
        if method not in declared:
            if method not in ("HEAD", "OPTIONS") and not hasattr(view, method.lower()):
                return True  # not served: the view answers 405
            self.message = f"No permission is declared for {method} on this route."
            return bool(user.is_superuser)
        missing = [name for name in declared[method] if not user.has_perm(name)]
        if missing:
            self.message = f"Your role lacks the permission {', '.join(missing)}."
            return False
        return True
