"""Equity snapshots (upsert, bulk, set-based) and cash flows (idempotent by id).

Both check every row first and write nothing when one is bad (``RowErrors`` keyed by index). Accounts are named by
(server, login) and must exist (the CRM sends accounts first).

- ``equity_upsert``: one ``INSERT … ON CONFLICT (account, day) DO UPDATE … WHERE changed``; returns created,
  updated and unchanged counts. Equity is never negative (400): the allocation and fee engines read it as capital.
- ``cash_flows_record``: a flow is keyed by ``(server, id)``. Re-sending the same id with the same content is a
  no-op (counted unchanged); the same id with other content is a 409 naming the rows (nothing is written): a flow
  is a record of money that moved, so a correction is a new flow with its own id, never an edit.

Approved fee periods (decided: no fee adjustments yet): a new cash flow, or a new or changed snapshot, dated (server
day) in a period whose fees are approved for the group the account was a member of that day, is a 409 naming the
rows and the period (nothing is written), as back-dated fee terms into approved periods are. The fees of that month
are paid and never recomputed, so accepting it would leave it silently uncounted. A re-sent unchanged row is still a
no-op. Both take the fee approvals' shared hold (``approvals_hold``) before the check, so no approval commits between
the check and the write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import Conflict, RowErrors
from core.models import exact_decimal_for
from core.money import MoneyError
from core.periods import FIRST_YEAR, LAST_YEAR
from ledger.services.locks import approvals_hold
from partners.models import ClientAccount

from ..fee_selectors import FEES_KIND, fee_locked_days
from ..models import CashFlow, EquitySnapshot
from .master_trades import server_day

SNAPSHOTS = EquitySnapshot._meta.db_table
ACCOUNTS = ClientAccount._meta.db_table
# Serialises flow records of one server (second key: the server's hash), so two sends of one id cannot both insert.
FLOWS_LOCK_CLASS = 0x1BE9


def _accounts(keys: set[tuple[str, int]]) -> dict[tuple[str, int], ClientAccount]:
    if not keys:
        return {}
    sql = f"""
        SELECT a.* FROM {ACCOUNTS} a
        JOIN unnest(%s::text[], %s::bigint[]) AS k(server, login) ON k.server = a.server AND k.login = a.login
    """
    keys_list = sorted(keys)
    found = ClientAccount.objects.raw(sql, [[k[0] for k in keys_list], [k[1] for k in keys_list]])
    return {(a.server, a.login): a for a in found}


def _amount(errors: dict, model, name: str, raw: Any) -> Decimal | None:
    try:
        return exact_decimal_for(model, name, raw)
    except MoneyError as exc:
        errors[name] = [str(exc)]
        return None


def _snapshots_changing(cleaned: list[tuple[int, date, Decimal, Decimal, Decimal]]) -> set[tuple[int, date]]:
    """The (account, day) of ``cleaned`` that the upsert would insert or change (a re-sent snapshot is no change)."""
    columns = [list(c) for c in zip(*cleaned, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT k.account_id, k.day
              FROM unnest(%s::bigint[], %s::date[], %s::numeric[], %s::numeric[], %s::numeric[])
                   AS k(account_id, day, balance, equity, free_margin)
              LEFT JOIN {SNAPSHOTS} s ON s.account_id = k.account_id AND s.day = k.day
             WHERE s.id IS NULL
                OR (s.balance, s.equity, s.free_margin) IS DISTINCT FROM (k.balance, k.equity, k.free_margin)
            """,
            columns,
        )
        return set(cursor.fetchall())


def _refuse_in_approved_fees(
    rows: list[tuple[int, int, date]], *, changing: set[tuple[int, date]] | None, field: str, what: str
) -> None:
    """409 naming each row (index, account id, server day) that would change an approved fee period of the
    account's group (``changing``: the (account, day) that change, None when all do). Fees of an approved period
    are posted and paid; they are never recomputed, and fee adjustments do not exist yet, so such a correction is
    refused rather than silently left out of the fees."""
    keys = [
        (index, account_id, day) for index, account_id, day in rows if changing is None or (account_id, day) in changing
    ]
    locked = fee_locked_days(keys=[(account_id, day) for _, account_id, day in keys])
    if not locked:
        return
    errors = {}
    for position, (code, period) in sorted(locked.items()):
        index, _, day = keys[position]
        errors[index] = {
            field: [
                f"{what.capitalize()} of {day.isoformat()} falls in {period}, whose fees of group {code} are approved: "
                "a paid fee month is not adjusted."
            ]
        }
    raise Conflict(
        f"Some rows fall in approved fee periods: {what} there would change fees already paid, so it is refused.",
        extra={"rows": [{"index": i, "errors": e} for i, e in sorted(errors.items())]},
    )


def equity_upsert(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Row: ``server``, ``login``, ``day`` (server-time-zone day), ``balance``, ``equity`` (≥ 0), ``free_margin``."""
    accounts = _accounts({(r["server"], r["login"]) for r in rows if "server" in r and "login" in r})
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: list[tuple[int, date, Decimal, Decimal, Decimal]] = []
    seen: dict[tuple[int, date], int] = {}
    indexes: list[int] = []
    for index, row in enumerate(rows):
        row_errors: dict[str, list[str]] = {}
        account = accounts.get((row.get("server"), row.get("login")))
        if account is None:
            row_errors["login"] = [f"Unknown account {row.get('server')}/{row.get('login')}."]
        day = row.get("day")
        if not isinstance(day, date) or not FIRST_YEAR <= day.year <= LAST_YEAR:
            row_errors["day"] = [f"A date between the years {FIRST_YEAR} and {LAST_YEAR}."]
        values = [
            _amount(row_errors, EquitySnapshot, name, row.get(name)) for name in ("balance", "equity", "free_margin")
        ]
        if values[1] is not None and values[1] < 0:
            row_errors["equity"] = ["Equity must not be negative."]
        if not row_errors:
            key = (account.pk, day)
            if key in seen:
                row_errors["day"] = [f"Duplicate of row {seen[key]}."]
            seen[key] = index
            cleaned.append((account.pk, day, *values))
            indexes.append(index)
        if row_errors:
            errors[index] = row_errors
    if errors:
        raise RowErrors(errors)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not cleaned:
        return counts
    columns = list(zip(*cleaned, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        approvals_hold(kind=FEES_KIND)  # before the check: no fee approval commits between it and the write
        _refuse_in_approved_fees(
            [(index, account_id, day) for index, (account_id, day, *_) in zip(indexes, cleaned, strict=True)],
            changing=_snapshots_changing(cleaned),
            field="day",
            what="an equity snapshot",
        )
        cursor.execute(
            f"""
            WITH written AS (
                INSERT INTO {SNAPSHOTS} (account_id, day, balance, equity, free_margin, updated_at)
                SELECT * , now() FROM unnest(%s::bigint[], %s::date[], %s::numeric[], %s::numeric[], %s::numeric[])
                ON CONFLICT (account_id, day) DO UPDATE
                   SET balance = EXCLUDED.balance, equity = EXCLUDED.equity, free_margin = EXCLUDED.free_margin,
                       updated_at = now()
                 WHERE ({SNAPSHOTS}.balance, {SNAPSHOTS}.equity, {SNAPSHOTS}.free_margin)
                       IS DISTINCT FROM (EXCLUDED.balance, EXCLUDED.equity, EXCLUDED.free_margin)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
            """,
            [list(c) for c in columns],
        )
        created, updated = cursor.fetchone()
    counts.update(created=created, updated=updated, unchanged=len(cleaned) - created - updated)
    return counts


def cash_flows_record(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Row: ``id`` (the platform's or CRM's, unique per server), ``server``, ``login``, ``time`` (aware),
    ``amount`` (deposit > 0, withdrawal < 0). Returns created and unchanged counts."""
    accounts = _accounts({(r["server"], r["login"]) for r in rows if "server" in r and "login" in r})
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: list[tuple[int, str, ClientAccount, datetime, Decimal]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        row_errors: dict[str, list[str]] = {}
        account = accounts.get((row.get("server"), row.get("login")))
        if account is None:
            row_errors["login"] = [f"Unknown account {row.get('server')}/{row.get('login')}."]
        flow_id = row.get("id")
        if not isinstance(flow_id, str) or not flow_id or len(flow_id) > 100:
            row_errors["id"] = ["An id of 1 to 100 characters."]
        moment = row.get("time")
        if not isinstance(moment, datetime) or timezone.is_naive(moment):
            row_errors["time"] = ["A time-zone-aware datetime is required."]
        elif not FIRST_YEAR <= moment.year <= LAST_YEAR:
            row_errors["time"] = [f"Must be between the years {FIRST_YEAR} and {LAST_YEAR}."]
        amount = _amount(row_errors, CashFlow, "amount", row.get("amount"))
        if amount is not None and amount == 0:
            row_errors["amount"] = ["A deposit is positive, a withdrawal negative: never zero."]
        if not row_errors:
            key = (account.server, flow_id)
            if key in seen:
                row_errors["id"] = [f"Duplicate of row {seen[key]}."]
            seen[key] = index
            cleaned.append((index, flow_id, account, moment, amount))
        if row_errors:
            errors[index] = row_errors
    if errors:
        raise RowErrors(errors)
    counts = {"created": 0, "unchanged": 0}
    if not cleaned:
        return counts
    with transaction.atomic():
        approvals_hold(kind=FEES_KIND)  # before the check below: no fee approval commits between it and the write
        with connection.cursor() as cursor:
            for server in sorted({a.server for _, _, a, _, _ in cleaned}):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [FLOWS_LOCK_CLASS, server])
        existing = {
            (f.server, f.external_id): f
            for f in CashFlow.objects.filter(external_id__in={fid for _, fid, _, _, _ in cleaned})
        }
        conflicts: dict[int, dict[str, list[str]]] = {}
        new: list[CashFlow] = []
        new_indexed: list[tuple[int, CashFlow]] = []
        for index, flow_id, account, moment, amount in cleaned:
            known = existing.get((account.server, flow_id))
            if known is None:
                flow = CashFlow(server=account.server, external_id=flow_id, account=account, time=moment, amount=amount)
                new.append(flow)
                new_indexed.append((index, flow))
                continue
            differs = [
                name
                for name, same in (
                    ("login", known.account_id == account.pk),
                    ("time", known.time == moment),
                    ("amount", known.amount == amount),
                )
                if not same
            ]
            if differs:
                conflicts[index] = {
                    name: [f"Flow {flow_id} was recorded with another {name}: a flow is never edited."]
                    for name in differs
                }
            else:
                counts["unchanged"] += 1
        if conflicts:
            raise Conflict(
                "Some flow ids were recorded with other content: a correction is a new flow with its own id.",
                extra={"rows": [{"index": i, "errors": e} for i, e in sorted(conflicts.items())]},
            )
        _refuse_in_approved_fees(
            [(index, flow.account_id, server_day(flow.time)) for index, flow in new_indexed],
            changing=None,
            field="time",
            what="a cash flow",
        )
        CashFlow.objects.bulk_create(new)
        counts["created"] = len(new)
    return counts
