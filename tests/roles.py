"""Staff users in roles (core/roles.py), for tests."""

from __future__ import annotations


def with_roles(user, *roles):
    """``user`` made a member of the role groups (``core/roles.py``), created first if a flushed database lost them."""
    from django.contrib.auth.models import Group

    from core.roles import sync_roles

    if Group.objects.filter(name__in=[r.value for r in roles]).count() < len(roles):
        sync_roles()
    user.groups.add(*Group.objects.filter(name__in=[r.value for r in roles]))
    return user


def staff_with_roles(username: str, *roles, **fields):
    """A staff user holding ``roles`` (default: broker admin and finance, i.e. every staff route)."""
    from django.contrib.auth import get_user_model

    from core.roles import Role

    user = get_user_model().objects.create_user(username, is_staff=True, **fields)
    return with_roles(user, *(roles or (Role.BROKER_ADMIN, Role.FINANCE)))
