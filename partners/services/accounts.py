"""Client accounts, their effective-dated IB attribution and their dated terms (group, ``earns_commission``).

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

from core.effective import require_aware, series_latest, series_set_from
from core.exceptions import Conflict, RowErrors
from core.history import Area, Reach, ensure_history_open, hold_approvals
from core.names import server_name_error
from core.periods import SINCE_ALWAYS

from ..models import AccountAttribution, AccountTerms, ClientAccount, Partner

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
            area=Area.ATTRIBUTION,
            now=now,
            reach=Reach.of(accounts=[account.pk]),
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
    if server not in (None, "") and server_name_error(server):
        errors["server"] = [server_name_error(server)]  # the trade feed's rule: the feed can post for it
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

    Row: ``server``, ``login``, ``currency``, ``group``, ``partner`` (code, or None/"" for no IB),
    ``earns_commission``, optional ``effective_from``. A new account takes the defaults for what its row omits
    (currency USD, group "", no IB, earning commission); for an existing account a row changes only the fields it
    holds — an omitted field keeps the account's value (omitting ``partner`` keeps its IB; an explicit None ends the
    attribution from ``effective_from``; a row giving only one of ``group`` and ``earns_commission`` keeps the
    other's current value). An account's first IB holds from
    ``effective_from``, by default since always (set-up is not history); its first group and flag hold since always.
    The group and flag are dated like the IB (``AccountTerms``: an undated change from now, a dated row states them
    from that instant); the currency is not dated. For an existing account an undated row with
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
        if len(existing) < len(keys):
            # A new account's trades earn from now (its first IB holds since always): an approval counts them as
            # trades of accounts created after its run started, so it must see this upsert or follow it. Taken once
            # the existing accounts (the owners) are locked, as every dated write does (``core.history``).
            hold_approvals()
        # Each existing account's latest IB stretch and latest terms: an undated change of an account whose latest
        # stretch is open and started before now is closed and reopened in bulk; anything else (a dated row, a
        # stretch scheduled for later) goes through ``_attribute`` / ``_set_terms`` one row at a time.
        account_ids = [a.pk for a in existing.values()]
        latest_by_account = _latest(AccountAttribution, account_ids)
        latest_terms = _latest(AccountTerms, account_ids)
        to_create: list[ClientAccount] = []
        create_partners: list[tuple[ClientAccount, Partner, datetime | None]] = []
        to_update: dict[int, ClientAccount] = {}
        changes: list[tuple[int, ClientAccount, Partner | None, datetime | None]] = []
        terms_changes: list[tuple[int, ClientAccount, str, bool, datetime | None]] = []
        to_close: list[AccountAttribution] = []
        new_attributions: list[AccountAttribution] = []
        terms_to_close: list[AccountTerms] = []
        new_terms: list[AccountTerms] = []
        row_changed: dict[int, bool] = {}
        created = 0
        for index, row in enumerate(rows):
            key = (row["server"], row["login"])
            effective_from = row.get("effective_from")
            partner = partners.get(row.get("partner") or "")
            account = existing.get(key)
            if account is None:
                currency = row.get("currency", "USD")
                group, earns = row.get("group", ""), row.get("earns_commission", True)
                account = ClientAccount(
                    server=key[0], login=key[1], currency=currency, group=group, earns_commission=earns
                )
                to_create.append(account)
                # Its group and flag as first given hold since always (set-up is not history).
                new_terms.append(
                    AccountTerms(account=account, group=group, earns_commission=earns, valid_from=SINCE_ALWAYS)
                )
                if partner is not None:
                    create_partners.append((account, partner, effective_from))
                created += 1
                continue
            # An upsert changes only what the row gives: an omitted field keeps the account's current value.
            changed = False
            currency = row.get("currency", account.currency)
            if account.currency != currency:
                account.currency = currency
                to_update[account.pk] = account
                changed = True
            terms = latest_terms.get(account.pk)
            group = row.get("group", account.group)
            earns = row.get("earns_commission", account.earns_commission)
            if "group" not in row and "earns_commission" not in row:
                pass
            elif effective_from is None and terms is not None and terms.valid_to is None and terms.valid_from < now:
                if (terms.group, terms.earns_commission) != (group, earns):
                    terms.valid_to = now
                    terms_to_close.append(terms)
                    new_terms.append(AccountTerms(account=account, group=group, earns_commission=earns, valid_from=now))
                    account.group, account.earns_commission = group, earns
                    to_update[account.pk] = account
                    changed = True
            else:
                terms_changes.append((index, account, group, earns, effective_from))
            wanted_partner_id = partner.pk if partner else None
            latest = latest_by_account.get(account.pk)
            simple = latest is not None and latest.valid_to is None and latest.valid_from < now
            if "partner" not in row:
                pass  # omitted: the IB stays (an explicit null ends the attribution)
            elif effective_from is None and simple:
                if latest.partner_id != wanted_partner_id:
                    latest.valid_to = now
                    to_close.append(latest)
                    new_attributions.append(AccountAttribution(account=account, partner=partner, valid_from=now))
                    changed = True
            elif latest is not None or partner is not None:
                # A dated row restates the IB from that instant (possibly back-dating it); a first IB holds since
                # always. ``_attribute`` decides whether that changes anything.
                changes.append((index, account, partner, effective_from))
            row_changed[index] = changed

        ClientAccount.objects.bulk_create(to_create, batch_size=2000)
        for account in to_update.values():
            account.updated_at = now  # bulk_update skips auto_now
        if to_update:
            ClientAccount.objects.bulk_update(to_update.values(), [*_ACCOUNT_FIELDS, "updated_at"], batch_size=2000)
        if to_close or terms_to_close:
            ensure_history_open(
                since=now,
                subject="Changing accounts' IBs and terms",
                area=Area.ATTRIBUTION,
                reach=Reach.of(accounts=[row.account_id for row in [*to_close, *terms_to_close]]),
            )
        AccountAttribution.objects.bulk_update(to_close, ["valid_to"], batch_size=2000)
        AccountTerms.objects.bulk_update(terms_to_close, ["valid_to"], batch_size=2000)
        new_attributions += [
            AccountAttribution(account=account, partner=partner, valid_from=effective_from or SINCE_ALWAYS)
            for account, partner, effective_from in create_partners
        ]
        AccountAttribution.objects.bulk_create(new_attributions, batch_size=2000)
        AccountTerms.objects.bulk_create(new_terms, batch_size=2000)
        conflicts: list[tuple[int, ClientAccount, Conflict]] = []
        deferred = [
            (
                index,
                account,
                lambda a=account, g=group, e=earns, at=at: _set_terms(
                    account=a, group=g, earns_commission=e, effective_from=at, now=now
                ),
            )
            for index, account, group, earns, at in terms_changes
        ] + [
            (
                index,
                account,
                lambda a=account, p=partner, at=at: _attribute(account=a, partner=p, effective_from=at, now=now),
            )
            for index, account, partner, at in changes
        ]
        for index, account, apply in deferred:
            if index in errors or any(i == index for i, _, _ in conflicts):
                continue
            try:
                with transaction.atomic():  # a refused row rolls back alone here; any refusal undoes all below
                    change = apply()
            except Conflict as exc:
                conflicts.append((index, account, exc))
                continue
            except ValidationError as exc:
                errors[index] = exc.message_dict
                continue
            row_changed[index] = row_changed[index] or change.changed
        if conflicts:
            index, account, exc = conflicts[0]
            raise Conflict(
                f"row {index} ({account}): {exc.message}",
                extra={**exc.extra, "index": index, "rows": sorted({i for i, _, _ in conflicts})},
            )
        if errors:
            raise RowErrors(errors)
        updated = sum(row_changed.values())
        return {"created": created, "updated": updated, "unchanged": len(row_changed) - updated}


def _latest(model, account_ids: list[int]) -> dict:
    """Each account's latest row of the dated series ``model`` (attributions or terms)."""
    rows = model.objects.filter(account__in=account_ids).order_by("account_id", "-valid_from").distinct("account_id")
    return {row.account_id: row for row in rows}


def account_update(
    *,
    account: ClientAccount,
    currency: str,
    group: str,
    earns_commission: bool,
    effective_from: datetime | None = None,
) -> ClientAccount:
    """Change an account's own fields, never its IB: the currency at once (not dated), the group and flag from
    ``effective_from`` (``account_set_terms``)."""
    errors = _row_errors(
        {
            "server": account.server,
            "login": account.login,
            "currency": currency,
            "group": group,
            "earns_commission": earns_commission,
            "effective_from": effective_from,
        }
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if account.currency != currency:
            ClientAccount.objects.filter(pk=account.pk).update(currency=currency, updated_at=timezone.now())
            account.currency = currency
        account_set_terms(
            account=account, group=group, earns_commission=earns_commission, effective_from=effective_from
        )
    return account


def account_set_terms(
    *, account: ClientAccount, group: str, earns_commission: bool, effective_from: datetime | None = None
) -> bool:
    """Give ``account`` this group and ``earns_commission`` flag from ``effective_from`` (default now) on; whether
    anything changed. Dated (``AccountTerms``) under the rules of ``core.effective``: a back-dating that would alter
    an approved period is a ``Conflict``; the terms in force then change nothing."""
    return _set_terms(
        account=account, group=group, earns_commission=earns_commission, effective_from=effective_from
    ).changed


def _set_terms(*, account: ClientAccount, group: str, earns_commission: bool, effective_from, now=None):
    with transaction.atomic():
        locked = ClientAccount.objects.select_for_update().get(pk=account.pk)  # serialise changes to this account
        change = series_set_from(
            rows=AccountTerms.objects.filter(account=account),
            effective_from=effective_from,
            same=lambda row: (row.group, row.earns_commission) == (group, earns_commission),
            create=lambda at, until: AccountTerms.objects.create(
                account=account, group=group, earns_commission=earns_commission, valid_from=at, valid_to=until
            ),
            subject=f"Setting {account}'s group and commission flag",
            area=Area.ACCOUNT_TERMS,
            now=now,
            reach=Reach.of(accounts=[account.pk]),
        )
        latest = series_latest(AccountTerms.objects.filter(account=account))
        if (locked.group, locked.earns_commission) != (latest.group, latest.earns_commission):
            ClientAccount.objects.filter(pk=account.pk).update(
                group=latest.group, earns_commission=latest.earns_commission, updated_at=timezone.now()
            )
        account.group, account.earns_commission = latest.group, latest.earns_commission
        return change
