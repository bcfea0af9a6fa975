"""Reads over attribution lines: the lines of record (what ``GET /lines/`` and the lines admin list) and their CSV
export, streamed straight from PostgreSQL.

The export is one ``COPY (SELECT …) TO STDOUT (FORMAT csv, HEADER)`` over the very queryset the caller filtered (the
API's ``LineFilter``, the admin changelist's filters), so "the lines of record" and every filter mean exactly what
they mean in the list. Everything a spreadsheet needs is done in the SELECT, so COPY stays the fast path and memory
stays constant whatever the number of lines:

- amounts, bases, rates and multipliers as plain decimals at the stored scale (6 places: ``12.500000``);
- free text (server, symbol, partner code and name, the rule's plan, symbol and groups) neutralised against formula
  injection (``core.csv_export.neutralised_sql``: a leading ``= + - @``, tab or CR gets a ``'``);
- the ``effective_from`` of the plan terms that priced each line (``rule_terms_from``, as ``GET /lines/`` shows
  it), joined from the plan's few terms rows rather than looked up per line;
- RFC 4180 records: PostgreSQL ends each with ``\\n``, ``core.pgcopy.copy_out`` makes it CRLF (line breaks inside a
  quoted value are kept as they are).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from django.db.models import F, OuterRef, Q, QuerySet, Subquery

from core.csv_export import neutralised_sql
from core.pgcopy import copy_out
from runs.selectors import record_run_ids

from .models import AttributionLine, Instrument, Plan, PlanRule, PlanTerms


def attribution_lines(*, of_record: bool = True) -> QuerySet[AttributionLine]:
    """Attribution lines by id: those of the runs of record (each period's approved commission run, else its
    computed one) or, with ``of_record`` False, every run's (a filter names the run)."""
    lines = AttributionLine.objects.order_by("id")
    if of_record:
        lines = lines.filter(run_id__in=record_run_ids(kind="commissions"))
    return lines


def with_rule_terms_from(lines: QuerySet[AttributionLine]) -> QuerySet[AttributionLine]:
    """``lines`` annotated with ``rule_terms_from``: the ``valid_from`` of the terms of the rule's plan in force at
    the trade's close time (a rule's key is unique within one version of a plan's terms). One lookup per line: for
    a page of lines, not for an export (which joins the terms once, ``line_export_csv``)."""
    close = OuterRef("trade__close_time")
    terms = PlanTerms.objects.filter(plan=OuterRef("rule__plan"), rules=OuterRef("rule"), valid_from__lte=close)
    terms = terms.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=close)).values("valid_from")[:1]
    return lines.annotate(rule_terms_from=Subquery(terms))


# The columns the inner (ORM) query selects, under aliases no model field has; the outer SELECT names them as the
# header does. Text is neutralised and micro-units turned into decimals in the outer SELECT.
_SELECTED = {
    "x_id": F("id"),
    "x_run": F("run_id"),
    "x_period": F("period"),
    "x_server": F("trade__server"),
    "x_ticket": F("trade__ticket"),
    "x_trade_version": F("trade__version"),
    "x_login": F("trade__login"),
    "x_symbol": F("trade__symbol"),
    "x_close_time": F("trade__close_time"),
    "x_partner": F("partner__code"),
    "x_partner_name": F("partner__name"),
    "x_beneficiary_server": F("beneficiary_account__server"),
    "x_beneficiary_login": F("beneficiary_account__login"),
    "x_kind": F("kind"),
    "x_level": F("level"),
    "x_rule_id": F("rule_id"),
    "x_base": F("base_micros"),
    "x_rate": F("rate_micros"),
    "x_tier": F("tier"),
    "x_multiplier": F("multiplier_micros"),
    "x_amount": F("amount"),
    "x_currency": F("currency"),
    "x_reason": F("reason"),
    "x_adjusts_period": F("adjusts_period"),
}


def _text(column: str) -> str:
    return neutralised_sql(f"s.x_{column}")


def _decimal(column: str) -> str:
    """Integer micro-units as the exact 6-place decimal the API shows (``1500000`` → ``1.500000``)."""
    # The dividend at scale 6 first: PostgreSQL keeps the quotient's scale, so no digit is lost past 10**12 units.
    return f"(s.x_{column}::numeric(26, 6) / 1000000)::numeric(24, 6)"


def _iso_utc(column: str) -> str:
    """A timestamp as DRF writes it (``2026-03-01T00:00:00Z``, microseconds only when there are any)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN date_trunc('second', {column}) = {column} THEN '' ELSE to_char({utc}, '.US') END || 'Z'"
    )


_OUTPUT = {
    "id": "s.x_id",
    "run": "s.x_run",
    "period": "s.x_period",
    "server": _text("server"),
    "ticket": "s.x_ticket",
    "trade_version": "s.x_trade_version",
    "login": "s.x_login",
    "symbol": _text("symbol"),
    "partner": _text("partner"),
    "partner_name": _text("partner_name"),
    "beneficiary_server": _text("beneficiary_server"),
    "beneficiary_login": "s.x_beneficiary_login",
    "kind": "s.x_kind",
    "level": "s.x_level",
    "rule_id": "s.x_rule_id",
    "rule_plan": neutralised_sql("rr.plan_code"),
    "rule_terms_from": "rt.terms_from",
    "rule_type": "rr.type",
    "rule_symbol": neutralised_sql("rr.symbol"),
    "rule_symbol_group": neutralised_sql("NULLIF(rr.symbol_group, '')"),
    "rule_account_group": neutralised_sql("NULLIF(rr.account_group, '')"),
    "rule_priority": "rr.priority",
    "base": _decimal("base"),
    "rate": _decimal("rate"),
    "tier": "s.x_tier",
    "multiplier": _decimal("multiplier"),
    "amount": "s.x_amount",
    "currency": "s.x_currency",
    "reason": "s.x_reason",
    "adjusts_period": "s.x_adjusts_period",
}
# The header of the export: ``id, run, period, server, ticket, trade_version, login, symbol, partner, partner_name,
# beneficiary_server, beneficiary_login, kind, level, rule_id, rule_plan, rule_terms_from, rule_type, rule_symbol,
# rule_symbol_group, rule_account_group, rule_priority, base, rate, tier, multiplier, amount, currency, reason,
# adjusts_period``.
LINE_EXPORT_HEADER = tuple(_OUTPUT)


def line_export_sql(lines: QuerySet[AttributionLine]) -> tuple[str, tuple]:
    """The SELECT of the export of ``lines`` (any filtered queryset of lines) and its parameters, by line id."""
    inner, params = lines.order_by().values(**_SELECTED).query.sql_with_params()
    terms = PlanTerms._meta.db_table
    through = PlanTerms.rules.through._meta.db_table
    # The rules with their plan's code and instrument's symbol, joined once as one small table (a line names its
    # rule by id): one hash lookup per line instead of the ORM's three joins (rule, plan, instrument).
    rules = (
        f"SELECT r.id, p.code AS plan_code, r.type, i.symbol, r.symbol_group, r.account_group, r.priority "
        f"FROM {PlanRule._meta.db_table} r JOIN {Plan._meta.db_table} p ON p.id = r.plan_id "
        f"LEFT JOIN {Instrument._meta.db_table} i ON i.id = r.instrument_id"
    )
    # A rule belongs to one plan, whose terms never overlap in time: at most one terms row matches a line, so the
    # join keeps one row per line. The few terms rows are formatted once, where the join's hash table is built.
    rule_terms = (
        f"SELECT tr.planrule_id AS rule_id, t.valid_from, t.valid_to, {_iso_utc('t.valid_from')} AS terms_from "
        f"FROM {through} tr JOIN {terms} t ON t.id = tr.planterms_id"
    )
    columns = ",\n       ".join(f'{expression} AS "{name}"' for name, expression in _OUTPUT.items())
    query = (
        f"SELECT {columns}\n"
        f"  FROM ({inner}) s\n"
        f"  LEFT JOIN ({rules}) rr ON rr.id = s.x_rule_id\n"
        f"  LEFT JOIN ({rule_terms}) rt ON rt.rule_id = s.x_rule_id AND rt.valid_from <= s.x_close_time\n"
        "   AND (rt.valid_to IS NULL OR rt.valid_to > s.x_close_time)\n"
        " ORDER BY s.x_id"
    )
    return query, tuple(params)


def line_export_csv(*, lines: QuerySet[AttributionLine]) -> Iterator[bytes]:
    """The CSV of ``lines`` (header ``LINE_EXPORT_HEADER``), streamed from PostgreSQL's COPY in blocks: RFC 4180,
    UTF-8, text cells neutralised, amounts at 6 places. Nothing runs until the first block is asked for."""
    query, params = line_export_sql(lines)
    return copy_out(query, params)


def line_export_filename(filters: Iterable[tuple[str, str]]) -> str:
    """``lines[-PERIOD][-name-value…].csv``: the file name of an export carries its filters (the period bare, the
    others by name), each value kept to file-name characters (``account`` ``live1:1001`` → ``account-live1_1001``)."""
    parts = ["lines"]
    for name, value in filters:
        if value:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))[:64]
            parts.append(safe if name == "period" else f"{name}-{safe}")
    return "-".join(parts) + ".csv"
