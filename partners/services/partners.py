"""Partners and their effective-dated place in the tree.

A partner's first link holds since always unless dated; a move closes the link in force at ``effective_from``
(default now) and opens a new one, back-dated only while no approved period is affected (``core.effective``). Moves
serialise on one transaction-level
advisory lock for the whole tree, because a cycle is a property of two partners' links together, which row locks
on one partner cannot protect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.effective import require_aware, series_latest, series_set_from, series_until
from core.history import Area, Reach, first_open_instant
from core.periods import SINCE_ALWAYS

from ..models import Partner, PartnerLink, PartnerProgram, PartnerStatus, Program
from ..selectors import TREE_DEPTH_GUARD
from ..validation import validate_payout_details

# pg_advisory_xact_lock key shared by every writer that changes the shape of the tree.
TREE_LOCK_KEY = 0x1BE7_0001

UPDATABLE_FIELDS = frozenset(
    {"name", "email", "program", "status", "payout_currency", "payout_method", "payout_account"}
)


def _lock_tree() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])


def partner_create(
    *,
    code: str,
    name: str,
    program: Program,
    parent: Partner | None = None,
    effective_from: datetime | None = None,
    email: str = "",
    status: str = Partner.Status.ACTIVE,
    payout_currency: str = "USD",
    payout_method: str = "",
    payout_account: str = "",
) -> Partner:
    """Create a partner and open its first link under ``parent`` (None = top of the tree) at ``effective_from``
    (default: since always — set-up is not history, DOMAIN.md 4.0). A new partner has no children yet, so its link
    cannot close a cycle."""
    effective_from = require_aware(effective_from) or SINCE_ALWAYS
    validate_payout_details(
        {
            "name": name,
            "payout_currency": payout_currency,
            "payout_method": payout_method,
            "payout_account": payout_account,
        }
    )
    partner = Partner(
        code=code,
        name=name,
        program=program,
        email=email,
        status=status,
        payout_currency=payout_currency,
        payout_method=payout_method,
        payout_account=payout_account,
    )
    partner.full_clean()
    with transaction.atomic():
        partner.save()
        PartnerLink.objects.create(partner=partner, parent=parent, valid_from=effective_from)
        # Its status as first given holds since always, like every first assignment (a partner's trades before
        # its first link have no chain through it anyway).
        PartnerStatus.objects.create(partner=partner, status=status, valid_from=SINCE_ALWAYS)
        PartnerProgram.objects.create(partner=partner, program=program, valid_from=SINCE_ALWAYS)
    return partner


def partner_set_program(*, partner: Partner, program: Program, effective_from: datetime | None = None) -> bool:
    """Move ``partner`` to ``program`` from ``effective_from`` (default now) on; whether anything changed. Dated
    (``PartnerProgram``) under the rules of ``core.effective``, like a status; ``Partner.program`` keeps the latest."""
    with transaction.atomic():
        locked = Partner.objects.select_for_update().get(pk=partner.pk)
        change = series_set_from(
            rows=PartnerProgram.objects.filter(partner=partner),
            effective_from=effective_from,
            same=lambda row: row.program_id == program.pk,
            create=lambda at, until: PartnerProgram.objects.create(
                partner=partner, program=program, valid_from=at, valid_to=until
            ),
            subject=f"Moving {partner.code} to program {program.code}",
            area=Area.TREE,
            reach=Reach.of(partners=[partner.pk]),
        )
        latest = series_latest(PartnerProgram.objects.filter(partner=partner))
        if locked.program_id != latest.program_id:
            Partner.objects.filter(pk=partner.pk).update(program_id=latest.program_id, updated_at=timezone.now())
        partner.program_id = latest.program_id
        return change.changed


def partner_set_status(*, partner: Partner, status: str, effective_from: datetime | None = None) -> bool:
    """Make ``partner`` active or suspended from ``effective_from`` (default now) on; whether anything changed.

    Dated (``PartnerStatus``, DOMAIN.md 4.0) under the rules of ``core.effective``: a back-dating that would alter an
    approved period is a ``Conflict``; the status in force then changes nothing. Trades closed while a partner was
    suspended earn it nothing in any run or adjustment, whatever its status later. ``Partner.status`` keeps the
    latest status set.
    """
    if status not in Partner.Status.values:
        raise ValidationError({"status": [f"Choose one of {', '.join(Partner.Status.values)}, not {status!r}."]})
    with transaction.atomic():
        locked = Partner.objects.select_for_update().get(pk=partner.pk)  # serialise a partner's first status
        change = series_set_from(
            rows=PartnerStatus.objects.filter(partner=partner),
            effective_from=effective_from,
            same=lambda row: row.status == status,
            create=lambda at, until: PartnerStatus.objects.create(
                partner=partner, status=status, valid_from=at, valid_to=until
            ),
            subject=f"{'Suspending' if status == Partner.Status.SUSPENDED else 'Activating'} {partner.code}",
            area=Area.TREE,
            reach=Reach.of(partners=[partner.pk]),
        )
        latest = series_latest(PartnerStatus.objects.filter(partner=partner))
        if latest is not None and locked.status != latest.status:
            Partner.objects.filter(pk=partner.pk).update(status=latest.status, updated_at=timezone.now())
        partner.status = latest.status if latest is not None else status
        return change.changed


def partner_update(*, partner: Partner, effective_from: datetime | None = None, **fields: Any) -> Partner:
    """Change a partner's own attributes. The parent is not one of them: re-parenting is ``partner_move``. A
    ``status`` is dated (``partner_set_status``, from ``effective_from``, default now); the rest are not."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in sorted(unknown)})
    if "status" in fields:
        with transaction.atomic():
            partner_set_status(partner=partner, status=fields.pop("status"), effective_from=effective_from)
            return partner_update(partner=partner, effective_from=effective_from, **fields)
    if "program" in fields:
        with transaction.atomic():
            partner_set_program(partner=partner, program=fields.pop("program"), effective_from=effective_from)
            return partner_update(partner=partner, **fields)
    # Only what changes: a partner stored before a rule existed stays editable in its other fields.
    validate_payout_details({name: value for name, value in fields.items() if getattr(partner, name) != value})
    changed = [name for name, value in fields.items() if getattr(partner, name) != value]
    if not changed:
        return partner
    for name in changed:
        setattr(partner, name, fields[name])
    partner.full_clean(validate_unique=False)
    with transaction.atomic():
        partner.save(update_fields=[*changed, "updated_at"])
    return partner


def _cycle_instant(
    *, partner: Partner, parent: Partner, effective_from: datetime, until: datetime | None = None
) -> datetime | None:
    """The earliest instant in ``[effective_from, until)`` (open-ended without ``until``) at which ``partner`` is an
    ancestor of ``parent`` (None if never): the new link holds only that long.

    Walks up from ``parent`` intersecting time ranges, so every later tree change (future-dated links of other
    partners) is covered exactly, not sampled. The walk stops at ``partner``: its own links do not matter, since
    from ``effective_from`` on they are replaced by the new one.
    """
    sql = f"""
        WITH RECURSIVE up(node, vf, vt, depth, path) AS (
            SELECT %(parent)s::bigint, %(start)s::timestamptz, COALESCE(%(until)s::timestamptz, 'infinity'), 0,
                   ARRAY[%(parent)s::bigint]
            UNION ALL
            SELECT l.parent_id, greatest(u.vf, l.valid_from), least(u.vt, coalesce(l.valid_to, 'infinity')),
                   u.depth + 1, u.path || l.parent_id
            FROM up u
            JOIN {PartnerLink._meta.db_table} l ON l.partner_id = u.node
            WHERE u.node <> %(partner)s AND l.parent_id IS NOT NULL
              AND l.valid_from < u.vt AND (l.valid_to IS NULL OR l.valid_to > u.vf)
              AND NOT l.parent_id = ANY(u.path) AND u.depth < %(guard)s
        )
        SELECT min(vf) FROM up WHERE node = %(partner)s
    """
    params = {
        "parent": parent.pk,
        "partner": partner.pk,
        "start": effective_from,
        "until": until,
        "guard": TREE_DEPTH_GUARD,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def partner_move(*, partner: Partner, parent: Partner | None, effective_from: datetime | None = None) -> PartnerLink:
    """Re-parent ``partner`` under ``parent`` (None = top of the tree) from ``effective_from`` (default now) on.

    Follows the dating rules of ``core.effective``: a partner still on its first, top-level link gets its first parent
    from when that link started (since always, or from the end of the approved periods); otherwise the link in force
    then is closed and the new one holds from then on (until the next change already recorded); a back-dated move
    that would alter an approved period is a ``Conflict``; moving to the parent already in force changes nothing.
    Rejected (ValidationError): self-parenting, and a parent that has ``partner`` among its ancestors at
    ``effective_from`` or at any later instant.
    """
    require_aware(effective_from)
    if parent is not None and parent.pk == partner.pk:
        raise ValidationError({"parent": ["A partner cannot be its own parent."]})
    parent_id = parent.pk if parent else None
    with transaction.atomic():
        _lock_tree()
        links = list(PartnerLink.objects.filter(partner=partner))
        if effective_from is None and len(links) == 1 and links[0].parent_id is None and links[0].valid_to is None:
            # A partner created at the top and linked afterwards (the usual CRM order): its first parent, like any
            # first assignment, holds since always — from the end of the approved periods when there are any.
            effective_from = (
                first_open_instant(since=links[0].valid_from, area=Area.TREE) if parent is not None else None
            )
        start = effective_from or timezone.now()
        if parent is not None:
            until = series_until(PartnerLink.objects.filter(partner=partner), start)
            cycle_at = _cycle_instant(partner=partner, parent=parent, effective_from=start, until=until)
            if cycle_at is not None:
                raise ValidationError(
                    {
                        "parent": [
                            f"Moving {partner.code} under {parent.code} would create a cycle: {partner.code} is an "
                            f"ancestor of {parent.code} at {cycle_at.isoformat()}."
                        ]
                    }
                )
        change = series_set_from(
            rows=PartnerLink.objects.filter(partner=partner),
            effective_from=start,
            same=lambda link: link.parent_id == parent_id,
            create=lambda at, until: PartnerLink.objects.create(
                partner=partner, parent=parent, valid_from=at, valid_to=until
            ),
            subject=f"Moving {partner.code}",
            area=Area.TREE,
            reach=Reach.of(partners=[partner.pk]),  # its subtree's trades: their chains run through it
        )
        return change.row


def partner_issue_token(*, partner: Partner) -> str:
    """Return the API token of ``partner``'s own login user, creating the user (username = code, no usable
    password, never staff) and the token if missing."""
    user_model = get_user_model()
    with transaction.atomic():
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        user = partner.user
        if user is None:
            if user_model.objects.filter(username=partner.code).exists():
                raise ValidationError(
                    {"code": [f"A user named {partner.code!r} already exists and is not this partner's user."]}
                )
            user = user_model(username=partner.code, email=partner.email)
            user.set_unusable_password()
            user.save()
            partner.user = user
            partner.save(update_fields=["user", "updated_at"])
        elif user.is_staff or user.is_superuser:
            raise ValidationError({"user": ["The partner's user is a staff user; refusing to issue a partner token."]})
        token, _ = Token.objects.get_or_create(user=user)
    return token.key


def partner_edit(*, partner: Partner, changes: dict[str, Any], effective_from: datetime | None = None) -> Partner:
    """Apply an API-style partial update atomically: own attributes through ``partner_update``, and a ``parent``
    key (a Partner or None) as a move, and a ``status`` change, from ``effective_from`` (default now; a no-op when
    it is what holds then)."""
    changes = dict(changes)
    with transaction.atomic():
        # The owner's row before any dated write holds approvals off (``core.history``'s lock order): a move then
        # a status change would otherwise lock it while holding them.
        Partner.objects.select_for_update().get(pk=partner.pk)
        if "parent" in changes:
            partner_move(partner=partner, parent=changes.pop("parent"), effective_from=effective_from)
        return partner_update(partner=partner, effective_from=effective_from, **changes)
