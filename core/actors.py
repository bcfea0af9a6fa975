"""Who a service acts for: the type of the ``user`` its callers pass (a request's user, a command's none)."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

# Services record the user only when authenticated; an anonymous user or None (a command, a task) records nobody.
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


def recorded_user(user: Actor) -> AbstractBaseUser | None:
    """The user to store as ``created_by``/``approved_by``: the authenticated one, else nobody."""
    return user if getattr(user, "is_authenticated", False) else None
