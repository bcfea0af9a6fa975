"""Groups, their managers and their dated fee terms.

- ``group_upsert`` creates a group or changes one by ``code``. The manager is a partner named by code; its
  ``MoneyManager`` record is created the first time a group names it. The master account (server, login) and the
  currency of a group with master trades are fixed (a 409): its allocations, closes and fees were made on them.
  Method, residual and below-minimum policies and the overflow login change freely: they apply to later opens.
- ``group_fee_terms_set`` dates the fee schedule like every dated term (``core.effective``): the first schedule of
  a group holds since always unless dated; a change defaults to now, may be back-dated while no approved period
  is affected (else a 409 naming it), and setting the terms in force changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.effective import SeriesChange, series_set_from
from core.exceptions import Conflict, FieldErrors
from core.history import Area
from partners.models import Partner

from ..models import GroupFeeTerms, MamGroup, MasterTrade, Member, MoneyManager
from ..vocabulary import (
    AllocationMethod,
    BelowMinPolicy,
    CrystallisationPeriod,
    FeeBase,
    FlowMode,
    HwmMode,
    ManagementBasis,
    ResidualPolicy,
)

FEE_FIELDS = (
    "management_rate",
    "management_basis",
    "management_base",
    "performance_rate",
    "hwm_mode",
    "flow_mode",
    "hurdle_pct",
    "period",
    "ib_fee_share_pct",
)
FEE_DEFAULTS: dict[str, Any] = {
    "management_rate": Decimal(0),
    "management_basis": ManagementBasis.CALENDAR.value,
    "management_base": FeeBase.EQUITY.value,
    "performance_rate": Decimal(0),
    "hwm_mode": HwmMode.NET.value,
    "flow_mode": FlowMode.ABSOLUTE.value,
    "hurdle_pct": Decimal(0),
    "period": CrystallisationPeriod.MONTHLY.value,
    "ib_fee_share_pct": Decimal(0),
}
_FIXED_ONCE_TRADED = ("master_server", "master_login", "currency")
_UNSET = object()
# A new group's settings where the caller gives none; an existing group keeps what it has (an upsert changes only
# what it is given: renaming a group must not reset its method or currency).
NEW_GROUP_SETTINGS: dict[str, object] = {
    "name": "",
    "currency": "USD",
    "method": AllocationMethod.EQUITY.value,
    "residual_policy": ResidualPolicy.LARGEST_WEIGHT.value,
    "below_min": BelowMinPolicy.SKIP.value,
    "overflow_login": None,
}


def manager_for(*, partner: Partner) -> MoneyManager:
    """The partner's manager record, created on first use."""
    manager, _ = MoneyManager.objects.get_or_create(partner=partner)
    return manager


def _check(*, method: str, residual_policy: str, below_min: str, overflow_login: int | None, master_login: int) -> None:
    errors: dict[str, list[str]] = {}
    for name, value, vocabulary in (
        ("method", method, AllocationMethod),
        ("residual_policy", residual_policy, ResidualPolicy),
        ("below_min", below_min, BelowMinPolicy),
    ):
        if value not in vocabulary.values:
            errors[name] = [f"Unknown value {value!r}."]
    if residual_policy == ResidualPolicy.OVERFLOW and overflow_login is None:
        errors["overflow_login"] = ["The overflow residual policy needs the overflow account's login."]
    if overflow_login is not None and overflow_login == master_login:
        errors["overflow_login"] = ["The overflow account is a sub-account, not the master."]
    if errors:
        raise ValidationError(errors)


def group_upsert(
    *,
    code: str,
    manager: Partner,
    master_server: str,
    master_login: int,
    currency: str | object = _UNSET,
    method: str | object = _UNSET,
    residual_policy: str | object = _UNSET,
    below_min: str | object = _UNSET,
    overflow_login: int | object | None = _UNSET,
    name: str | object = _UNSET,
    fees: Mapping[str, Any] | None = None,
    fees_effective_from: datetime | None = None,
) -> tuple[MamGroup, bool]:
    """Create or change the group ``code``; return it and whether it was created. A setting left out keeps the
    group's value (a new group takes ``NEW_GROUP_SETTINGS``), as ``fees`` (any of ``FEE_FIELDS``; the others keep
    the terms in force, or their defaults for a new group), which are dated from ``fees_effective_from``."""
    given = {
        name_: value
        for name_, value in {
            "name": name,
            "currency": currency,
            "method": method,
            "residual_policy": residual_policy,
            "below_min": below_min,
            "overflow_login": overflow_login,
        }.items()
        if value is not _UNSET
    }
    with transaction.atomic():
        group = MamGroup.objects.select_for_update().filter(code=code).first()
        base = {f: getattr(group, f) for f in NEW_GROUP_SETTINGS} if group is not None else NEW_GROUP_SETTINGS
        values = {**base, **given, "master_server": master_server, "master_login": master_login}
        _check(
            method=values["method"],
            residual_policy=values["residual_policy"],
            below_min=values["below_min"],
            overflow_login=values["overflow_login"],
            master_login=master_login,
        )
        other = MamGroup.objects.filter(master_server=master_server, master_login=master_login).exclude(code=code)
        if other.exists():
            raise Conflict(
                f"{master_server}/{master_login} is already the master of group {other.first().code}.",
                extra={"group": other.first().code},
            )
        if Member.objects.filter(
            account__server=master_server, account__login=master_login, left__isnull=True
        ).exists():
            raise ValidationError(
                {"master_login": ["This account is a member of a group: a master is no sub-account."]}
            )
        created = group is None
        if created:
            group = MamGroup.objects.create(code=code, manager=manager_for(partner=manager), **values)
        else:
            if MasterTrade.objects.filter(group=group).exists():
                changed = [f for f in _FIXED_ONCE_TRADED if getattr(group, f) != values[f]]
                if changed:
                    raise Conflict(
                        f"Group {code} has master trades: its {', '.join(changed)} cannot change "
                        "(its allocations, closes and fees were made on them); create a new group.",
                        extra={"fields": changed},
                    )
            if (
                Member.objects.filter(group=group, left__isnull=True).exclude(account__server=master_server).exists()
                and master_server != group.master_server
            ):
                raise Conflict(f"Group {code} has members on {group.master_server}: its server cannot change.")
            group.manager = manager_for(partner=manager)
            for field, value in values.items():
                setattr(group, field, value)
            group.save()
        if fees is not None or created:
            group_fee_terms_set(group=group, terms=fees or {}, effective_from=fees_effective_from)
    return group, created


def fee_terms_in_force(*, group: MamGroup) -> dict[str, Any]:
    """The group's latest fee terms as a dict of ``FEE_FIELDS`` (defaults when it has none)."""
    latest = GroupFeeTerms.objects.filter(group=group).order_by("-valid_from").first()
    if latest is None:
        return dict(FEE_DEFAULTS)
    return {field: getattr(latest, field) for field in FEE_FIELDS}


def _fee_errors(terms: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in terms:
        if field not in FEE_FIELDS:
            errors[field] = ["Unknown fee term."]
    for field in ("management_rate", "performance_rate"):
        value = terms.get(field)
        if value is not None and not Decimal(0) <= value <= Decimal(1):
            errors[field] = ["A fraction from 0 to 1 (0.02 = 2 %)."]
    for field in ("hurdle_pct", "ib_fee_share_pct"):
        value = terms.get(field)
        if value is not None and not Decimal(0) <= value <= Decimal(100):
            errors[field] = ["A percent from 0 to 100."]
    for field, vocabulary in (
        ("management_basis", ManagementBasis),
        ("management_base", FeeBase),
        ("hwm_mode", HwmMode),
        ("flow_mode", FlowMode),
        ("period", CrystallisationPeriod),
    ):
        value = terms.get(field)
        if value is not None and value not in vocabulary.values:
            errors[field] = [f"Unknown value {value!r}."]
    return errors


def group_fee_terms_set(
    *, group: MamGroup, terms: Mapping[str, Any], effective_from: datetime | None = None
) -> SeriesChange[GroupFeeTerms]:
    """Make the fee schedule ``terms`` (missing fields: as in force now) hold from ``effective_from``."""
    errors = _fee_errors(terms)
    if errors:
        raise FieldErrors({"fees": errors})
    wanted = fee_terms_in_force(group=group) | {k: v for k, v in terms.items() if v is not None}
    with transaction.atomic():
        MamGroup.objects.select_for_update().get(pk=group.pk)
        return series_set_from(
            rows=GroupFeeTerms.objects.filter(group=group),
            effective_from=effective_from,
            same=lambda row: all(getattr(row, f) == wanted[f] for f in FEE_FIELDS),
            create=lambda at, until: GroupFeeTerms.objects.create(group=group, valid_from=at, valid_to=until, **wanted),
            subject=f"Fee terms of MAM group {group.code}",
            area=Area.MAM_FEE_TERMS,
        )
