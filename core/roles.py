"""The staff roles, as Django groups whose permissions each app declares for itself.

- **Broker admin** sets the broker up and runs it: every permission of the Ibex apps (partners, plans, accounts,
  imports, runs and their approval, MAM, rates, locks, the reconciliation), partners' own API tokens — but not
  payout batches beyond reading them (make, discard, approve, export, mark paid) nor the platform balance-operation
  exports (client rebates, MAM fees): moving money out is finance's alone.
- **Finance** pays and proves: reads everything, makes, approves, exports and pays payout batches (maker-checker:
  the approver is never the batch's creator, enforced by the service and PostgreSQL), reconciles, exports balance
  operations, keeps the rates, approves runs (a run's approval posts it; it reviews what it will pay).
- **Support** answers partners' questions: reads everything except partners' payout details (bank or wallet data:
  masked in the API and admin, and no filtering on them) and the reconciliation; changes nothing.
- Staff users, their groups and staff tokens are no role's: whoever may edit them could make itself finance (or a
  second finance clerk) and pay alone. Superusers manage them.

Each app registers its part in ``AppConfig.ready`` with :func:`register` — what a role gets by default is every
permission of the app (broker admin) or every ``view_`` one (finance, support), minus what the app ``withhold``\\ s,
plus the ``extra`` it names — and :func:`sync_roles` (after every ``migrate``, and ``manage.py sync_roles``) makes
each group hold exactly its set: a permission taken from a role is taken from its group.
Superusers bypass roles (Django's rule), so the demo's and a broker's day-to-day users are role members instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """The staff roles; the value is the Django group's name."""

    BROKER_ADMIN = "Broker admin"
    FINANCE = "Finance"
    SUPPORT = "Support"


# A role's default share of a registered app's permissions: everything, or only the view_ ones.
_ALL, _VIEW = "all", "view"
_DEFAULTS = {Role.BROKER_ADMIN: _ALL, Role.FINANCE: _VIEW, Role.SUPPORT: _VIEW}


@dataclass
class _AppGrants:
    withhold: dict[Role, set[str]] = field(default_factory=dict)
    extra: dict[Role, set[str]] = field(default_factory=dict)


_registry: dict[str, _AppGrants] = {}


def register(
    app_label: str,
    *,
    withhold: dict[Role, Iterable[str]] | None = None,
    extra: dict[Role, Iterable[str]] | None = None,
) -> None:
    """Declare an app's permissions for the roles. ``withhold`` and ``extra`` name permissions as ``app.codename``
    (``extra`` may name another app's)."""
    grants = _registry.setdefault(app_label, _AppGrants())
    for role, names in (withhold or {}).items():
        grants.withhold.setdefault(role, set()).update(names)
    for role, names in (extra or {}).items():
        grants.extra.setdefault(role, set()).update(names)


def registered_apps() -> list[str]:
    return sorted(_registry)


def role_permissions(role: Role, using: str = "default") -> set[str]:
    """The ``app.codename`` permissions ``role`` holds, from the registry and the permissions in the database."""
    from django.contrib.auth.models import Permission

    held: set[str] = set()
    rows = (
        Permission.objects.using(using)
        .filter(content_type__app_label__in=_registry)
        .values_list("content_type__app_label", "codename")
    )
    for app_label, codename in rows:
        if _DEFAULTS[role] == _ALL or codename.startswith("view_"):
            held.add(f"{app_label}.{codename}")
    for grants in _registry.values():
        held -= grants.withhold.get(role, set())
    for grants in _registry.values():
        held |= grants.extra.get(role, set())
    return held


def sync_roles(using: str = "default") -> dict[Role, int]:
    """Create the role groups and give each exactly its permissions; how many each holds. Permissions not in the
    database yet (an app migrated later in the same ``migrate``) are picked up by the next call."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    counts: dict[Role, int] = {}
    for role in Role:
        names = role_permissions(role, using)
        match = Q(pk__in=[])
        for name in names:
            app_label, codename = name.split(".", 1)
            match |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.using(using).filter(match))
        group, _ = Group.objects.using(using).get_or_create(name=role.value)
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts


def sync_roles_after_migrate(sender, using: str = "default", **kwargs) -> None:
    sync_roles(using)
