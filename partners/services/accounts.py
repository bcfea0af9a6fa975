"""Client accounts and their effective-dated IB attribution.

An account's first IB holds since always unless dated (set-up is not history); a change closes the stretch in force
at ``effective_from`` (default now) and opens a new one (``partner`` NULL = no IB from then), back-dated only while
no approved period is affected (``core.effective``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.effective import require_aware, series_set_from
from core.exceptions import Conflict, RowErrors
from core.history import ensure_history_open
from core.periods import SINCE_ALWAYS

from ..models import AccountAttribution, ClientAccount, Partner

# Serialises bulk upserts so two CRM syncs cannot both decide to create the same account.
ACCOUNTS_LOCK_KEY = 0x1BE7_0002

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_ACCOUNT_FIELDS = ("currency", "group", "earns_commission")


def account_attribute(
    *, account: ClientAccount, partner: Partner | None, effective_from: datetime | None = None
) -> AccountAttribution:
    """Attribute ``account`` to ``partner`` (None = no IB) from ``effective_from`` on.

    The dating rules of ``core.effective``: an account's first IB holds since always unless dated; a change defaults
    to now and may be back-dated while no approved period is affected (else ``Conflict``); attributing to the IB
    already in force changes nothing. Returns the attribution in force from then on.
    """
    return _attribute(account=account, partner=partner, effective_from=effective_from).row


def _attribute(*, account: ClientAccount, partner: Partner | None, effective_from: datetime | None, now=None):
    partner_id = partner.pk if partner else None
    with transaction.atomic():
        ClientAccount.objects.select_for_update().get(pk=account.pk)  # serialise changes to this account
        return series_set_from(
            rows=AccountAttribution.objects.filter(account=account),
            effective_from=effective_from,
            same=lambda row: row.partner_id == partner_id,
            create=lambda at, until: AccountAttribution.objects.create(
                account=account, partner=partner, valid_from=at, valid_to=until
            ),
            subject=f"Attributing {account} to {partner.code if partner else 'no IB'}",
            now=now,
        )


def _row_errors(row: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in ("server", "login"):
        if row.get(name) in (None, ""):
            errors[name] = ["This field is required."]
    login = row.get("login")
    if login not in (None, "") and (isinstance(login, bool) or not isinstance(login, int) or login < 0):
        errors["login"] = ["A login is a non-negative integer."]
    server = row.get("server")
    if server not in (None, "") and (not isinstance(server, str) or len(server) > 64):
        errors["server"] = ["A server name is text of at most 64 characters."]
    currency = row.get("currency", "USD")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        errors["currency"] = ["Enter a three-letter upper-case currency code."]
    group = row.get("group", "")
    if not isinstance(group, str) or len(group) > 64:
        errors["group"] = ["A group is text of at most 64 characters."]
    if not isinstance(row.get("earns_commission", True), bool):
        errors["earns_commission"] = ["Must be true or false."]
    effective_from = row.get("effective_from")
    if effective_from is not None and (not isinstance(effective_from, datetime) or timezone.is_naive(effective_from)):
        errors["effective_from"] = ["A time-zone-aware datetime is required."]
    elif effective_from is not None:
        try:
            require_aware(effective_from)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    return errors


def _existing_accounts(keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ClientAccount]:
    """The accounts among ``keys`` that exist, locked for update, in one query."""
    if not keys:
        return {}
    table = ClientAccount._meta.db_table
    sql = f"""
        SELECT a.* FROM {table} a
        JOIN unnest(%s::text[], %s::bigint[]) AS k(server, login) ON k.server = a.server AND k.login = a.login
        FOR UPDATE OF a
    """
    accounts = ClientAccount.objects.raw(sql, [[k[0] for k in keys], [k[1] for k in keys]])
    return {(a.server, a.login): a for a in accounts}


def accounts_upsert(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Create or update accounts in bulk; return ``{"created", "updated", "unchanged"}`` counts.

    Row: ``server``, ``login``, ``currency`` (default USD), ``group`` (default ""), ``partner`` (code or None),
    ``earns_commission`` (default true), optional ``effective_from``. An account's first IB holds from
    ``effective_from``, by default since always (set-up is not history). For an existing account an undated row with
    a different ``partner`` changes the IB from now; a dated row states the IB from that instant on (a back-dating
    when earlier), under the rules of ``account_attribute``; re-sending a row changes nothing. All rows are checked
    first; any error raises ``RowErrors`` keyed by row index (a change reaching into an approved period:
    ``Conflict`` naming the row and the period) and nothing is written.
    """
    now = timezone.now()
    errors: dict[int, dict[str, list[str]]] = {}
    keys: list[tuple[str, int]] = []
    seen: dict[tuple[str, int], int] = {}
    for index, row in enumerate(rows):
        row_errors = _row_errors(row)
        if not row_errors:
            key = (row["server"], row["login"])
            if key in seen:
                row_errors["login"] = [f"Duplicate of row {seen[key]} ({key[0]}/{key[1]})."]
            seen[key] = index
            keys.append(key)
        if row_errors:
            errors[index] = row_errors
    codes = {row["partner"] for row in rows if row.get("partner") not in (None, "")}
    partners = {p.code: p for p in Partner.objects.filter(code__in=codes)}
    for index, row in enumerate(rows):
        code = row.get("partner")
        if code not in (None, "") and code not in partners:
            errors.setdefault(index, {})["partner"] = [f"Unknown partner code {code!r}."]
    if errors:
        raise RowErrors(errors)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ACCOUNTS_LOCK_KEY])
        existing = _existing_accounts(keys)
        # Each existing account's latest stretch: an undated change of an account whose latest stretch is open and
        # started before now is closed and reopened in bulk; anything else (a dated row, a stretch scheduled for
        # later) goes through ``_attribute`` one row at a time.
        latest_by_account = {
            a.account_id: a
            for a in AccountAttribution.objects.filter(account__in=[a.pk for a in existing.values()])
            .order_by("account_id", "-valid_from")
            .distinct("account_id")
        }
        to_create: list[ClientAccount] = []
        create_partners: list[tuple[ClientAccount, Partner, datetime | None]] = []
        to_update: list[ClientAccount] = []
        changes: list[tuple[int, ClientAccount, Partner | None, datetime | None, bool]] = []
        to_close: list[AccountAttribution] = []
        new_attributions: list[AccountAttribution] = []
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for index, row in enumerate(rows):
            key = (row["server"], row["login"])
            values = {
                "currency": row.get("currency", "USD"),
                "group": row.get("group", ""),
                "earns_commission": row.get("earns_commission", True),
            }
            partner = partners.get(row.get("partner") or "")
            account = existing.get(key)
            if account is None:
                account = ClientAccount(server=key[0], login=key[1], **values)
                to_create.append(account)
                if partner is not None:
                    create_partners.append((account, partner, row.get("effective_from")))
                counts["created"] += 1
                continue
            changed = False
            if any(getattr(account, f) != v for f, v in values.items()):
                for f, v in values.items():
                    setattr(account, f, v)
                account.updated_at = now  # bulk_update skips auto_now
                to_update.append(account)
                changed = True
            wanted_partner_id = partner.pk if partner else None
            latest = latest_by_account.get(account.pk)
            simple = latest is not None and latest.valid_to is None and latest.valid_from < now
            if row.get("effective_from") is None and simple:
                if latest.partner_id != wanted_partner_id:
                    latest.valid_to = now
                    to_close.append(latest)
                    new_attributions.append(AccountAttribution(account=account, partner=partner, valid_from=now))
                    changed = True
            elif latest is not None or partner is not None:
                # A dated row restates the IB from that instant (possibly back-dating it); a first IB holds since
                # always. ``_attribute`` decides whether that changes anything.
                changes.append((index, account, partner, row.get("effective_from"), changed))
                continue
            counts["updated" if changed else "unchanged"] += 1

        ClientAccount.objects.bulk_create(to_create, batch_size=2000)
        if to_update:
            ClientAccount.objects.bulk_update(to_update, [*_ACCOUNT_FIELDS, "updated_at"], batch_size=2000)
        if to_close:
            ensure_history_open(since=now, subject="Changing accounts' IBs")
            AccountAttribution.objects.bulk_update(to_close, ["valid_to"], batch_size=2000)
        new_attributions += [
            AccountAttribution(account=account, partner=partner, valid_from=effective_from or SINCE_ALWAYS)
            for account, partner, effective_from in create_partners
        ]
        AccountAttribution.objects.bulk_create(new_attributions, batch_size=2000)
        conflicts: list[tuple[int, ClientAccount, Conflict]] = []
        for index, account, partner, effective_from, fields_changed in changes:
            try:
                with transaction.atomic():  # a refused row rolls back alone here; any refusal undoes all below
                    change = _attribute(account=account, partner=partner, effective_from=effective_from, now=now)
            except Conflict as exc:
                conflicts.append((index, account, exc))
                continue
            except ValidationError as exc:
                errors[index] = exc.message_dict
                continue
            counts["updated" if fields_changed or change.changed else "unchanged"] += 1
        if conflicts:
            index, account, exc = conflicts[0]
            raise Conflict(
                f"row {index} ({account}): {exc.message}",
                extra={**exc.extra, "index": index, "rows": [i for i, _, _ in conflicts]},
            )
        if errors:
            raise RowErrors(errors)
        return counts
