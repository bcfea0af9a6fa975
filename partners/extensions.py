"""Extension points of the partner endpoints and admin for the apps above ``partners`` (ARCHITECTURE.md: lower apps
offer registries, an upper app never unregisters or shadows a lower app's admin or routes).

- ``PartnerField``: a field an upper app adds to ``POST /partners/``, ``PATCH /partners/{code}/`` and the partner
  output (``commissions`` adds ``plan``). The partner views validate it with the partner's own fields (every error
  reported at once) and apply it in the partner change's transaction.
- ``PartnerPanel`` and partner admin actions: a read-only section of the partner's admin page (``commissions`` shows
  the plan history) and an action on selected partners (``commissions`` links to its own “Assign plan…” page).

Apps register from their ``AppConfig.ready``; the registries are read when a request is served, never at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .models import Partner


@dataclass(frozen=True)
class PartnerField:
    name: str
    input_field: Callable[[], Any]  # a DRF field instance (not required) for the create and patch bodies
    output_field: Callable[[], Any]  # a read-only DRF field instance for the output (its value comes from ``values``)
    # apply(partner=, value=, created=, effective_from=): inside the transaction that created or changed the partner;
    # ``effective_from`` is the partner's first link start on creation and the request's ``effective_from`` (None =
    # now) on a change.
    apply: Callable[..., None]
    values: Callable[[list[int]], dict[int, Any]]  # partner id → current value, for a page of partners at once


@dataclass(frozen=True)
class PartnerPanel:
    title: str
    render: Callable[[Partner], str]  # safe HTML for the partner's admin page


PARTNER_FIELDS: dict[str, PartnerField] = {}
PARTNER_PANELS: list[PartnerPanel] = []
PARTNER_ADMIN_ACTIONS: list[Callable] = []


def register_partner_field(field: PartnerField) -> None:
    PARTNER_FIELDS[field.name] = field


def register_partner_panel(panel: PartnerPanel) -> None:
    if all(p.title != panel.title for p in PARTNER_PANELS):
        PARTNER_PANELS.append(panel)


def register_partner_admin_action(action: Callable) -> None:
    """An admin action ``action(modeladmin, request, queryset)`` with ``short_description``/``allowed_permissions``
    as ``admin.action`` sets them."""
    if action not in PARTNER_ADMIN_ACTIONS:
        PARTNER_ADMIN_ACTIONS.append(action)


def partner_field_values(partners: list[Partner]) -> dict[str, dict[int, Any]]:
    ids = [p.pk for p in partners]
    return {name: field.values(ids) for name, field in PARTNER_FIELDS.items()}


def apply_partner_fields(*, partner: Partner, data: dict[str, Any], created: bool, effective_from: datetime | None):
    for name, field in PARTNER_FIELDS.items():
        if name in data:
            field.apply(partner=partner, value=data[name], created=created, effective_from=effective_from)
