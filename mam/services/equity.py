"""Equity snapshots (upsert, bulk, set-based) and cash flows (idempotent by id).

Both check every row first and write nothing when one is bad (``RowErrors`` keyed by index). Accounts are named by
(server, login) and must exist (the CRM sends accounts first).

- ``equity_upsert``: one ``INSERT … ON CONFLICT (account, day) DO UPDATE … WHERE changed``; returns created,
  updated and unchanged counts. Equity is never negative (400): the allocation and fee engines read it as capital.
- ``cash_flows_record``: a flow is keyed by ``(server, id)``. Re-sending the same id with the same content is a
  no-op (counted unchanged); the same id with other content is a 409 naming the rows (nothing is written): a flow
  is a record of money that moved, so a correction is a new flow with its own id, never an edit.
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
from partners.models import ClientAccount

from ..models import CashFlow, EquitySnapshot

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


def equity_upsert(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Row: ``server``, ``login``, ``day`` (server-time-zone day), ``balance``, ``equity`` (≥ 0), ``free_margin``."""
    accounts = _accounts({(r["server"], r["login"]) for r in rows if "server" in r and "login" in r})
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: list[tuple[int, date, Decimal, Decimal, Decimal]] = []
    seen: dict[tuple[int, date], int] = {}
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
        if row_errors:
            errors[index] = row_errors
    if errors:
        raise RowErrors(errors)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not cleaned:
        return counts
    columns = list(zip(*cleaned, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
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
        with connection.cursor() as cursor:
            for server in sorted({a.server for _, _, a, _, _ in cleaned}):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [FLOWS_LOCK_CLASS, server])
        existing = {
            (f.server, f.external_id): f
            for f in CashFlow.objects.filter(external_id__in={fid for _, fid, _, _, _ in cleaned})
        }
        conflicts: dict[int, dict[str, list[str]]] = {}
        new: list[CashFlow] = []
        for index, flow_id, account, moment, amount in cleaned:
            known = existing.get((account.server, flow_id))
            if known is None:
                new.append(
                    CashFlow(server=account.server, external_id=flow_id, account=account, time=moment, amount=amount)
                )
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
        CashFlow.objects.bulk_create(new)
        counts["created"] = len(new)
    return counts
