"""Reference data upserts: instruments and their aliases, broker symbol suffixes (daily rates live in ``ledger``).

Each upsert is set-based (one lookup query per table, bulk writes) and returns ``created``/``updated``/
``unchanged`` counts. Input is checked in full before anything is written: a bad row raises ``RowErrors``
(keyed by its index) and writes nothing. Adding instruments, aliases or suffixes re-resolves stored trades whose
symbol was unknown (DOMAIN.md section 2: such trades earn once their alias exists and the period is recomputed).

Instruments are reference data, not dated: an instrument has one set of contract terms, which every run reads as
it is. So once an approved commission period holds a trade of an instrument, its pricing fields (``PRICING_FIELDS``:
what the engine reads) cannot change — a 409 naming the period; new contract terms are a new instrument (its
aliases re-pointed). Changing them while no approved period holds its trades is a change of the open periods'
trades: it is checked under the approvals hold and recorded as a dated change reaching the accounts that trade it
(``_record_repricing``), so a run computed before it warns at approval and restates them.

Symbols and aliases are one namespace across the database: an alias may not be another instrument's symbol, nor a
symbol another instrument's alias.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from core.exceptions import Conflict, RowErrors
from core.history import Area, Reach, first_open_instant, hold_approvals, record_change
from core.models import exact_decimal_for
from core.money import MoneyError
from partners.models import ClientAccount
from runs.models import Run
from runs.services.requests import advisory_lock

from ..models import Instrument, InstrumentAlias, SymbolSuffix, Trade
from ..models.instruments import MAX_DIGITS, default_digits
from .symbols import trades_resolve_unresolved

_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
_INSTRUMENT_DECIMALS = ("contract_size", "pip_size", "volume_step", "volume_min", "volume_max")
_INSTRUMENT_FIELDS = ("group", "base", "quote", *_INSTRUMENT_DECIMALS, "digits")
# What the commission engine reads of an instrument (commissions.adapters): fixed once an approved period priced a
# trade with them. The volume limits only check future trades.
PRICING_FIELDS = ("group", "base", "quote", "contract_size", "pip_size", "digits")
_INSTRUMENT_DEFAULTS = {"volume_step": Decimal("0.01"), "volume_min": Decimal("0.01"), "volume_max": Decimal(100)}


def _resolve_unresolved_trades() -> int:
    return trades_resolve_unresolved()


def _text(row: Mapping[str, Any], name: str, max_length: int, errors: dict[str, list[str]]) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["This field is required."]
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
    return value


def _clean_instrument(row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {
        "symbol": _text(row, "symbol", 32, errors),
        "group": _text(row, "group", 32, errors),
        "base": _text(row, "base", 8, errors).upper(),
        "quote": _text(row, "quote", 8, errors).upper(),
    }
    for name in _INSTRUMENT_DECIMALS:
        raw = row.get(name, _INSTRUMENT_DEFAULTS.get(name))
        if raw is None:
            errors[name] = ["This field is required."]
            continue
        try:
            values[name] = exact_decimal_for(Instrument, name, raw)
        except MoneyError as exc:
            errors[name] = [str(exc)]
            continue
        if values[name] <= 0:
            errors[name] = ["Must be greater than zero."]
    if "volume_min" in values and "volume_max" in values and values["volume_max"] < values["volume_min"]:
        errors["volume_max"] = ["Must not be below volume_min."]
    digits = row.get("digits")
    if digits is None:
        pass  # an existing instrument keeps its digits; a new one gets the default (``instruments_upsert``)
    elif isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= MAX_DIGITS:
        errors["digits"] = [f"A whole number from 0 to {MAX_DIGITS}."]
    else:
        values["digits"] = digits
    aliases = row.get("aliases") or []
    if not isinstance(aliases, list | tuple) or not all(isinstance(a, str) and a.strip() for a in aliases):
        errors["aliases"] = ["A list of non-empty symbols."]
        aliases = []
    aliases = list(dict.fromkeys(a.strip() for a in aliases))
    if any(len(a) > 48 for a in aliases):
        errors["aliases"] = ["An alias has at most 48 characters."]
    return values, aliases, errors


def instruments_upsert(*, rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Create or update instruments by ``symbol`` with their aliases; return counts and ``trades_resolved``.

    Row: ``symbol``, ``group``, ``base``, ``quote``, ``contract_size``, ``pip_size``, ``digits`` (quote digits;
    omitted: kept for an existing instrument, ``default_digits`` for a new one), ``volume_step``/``volume_min``/
    ``volume_max`` (defaults 0.01 / 0.01 / 100), ``aliases`` (list). Aliases are added or re-pointed to the row's
    instrument; aliases not listed are kept (upsert, not replace). An instrument counts as updated when a field
    changed or an alias was added or re-pointed.
    """
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: list[tuple[dict[str, Any], list[str]]] = []
    symbol_rows: dict[str, int] = {}
    alias_rows: dict[str, int] = {}
    for index, row in enumerate(rows):
        values, aliases, row_errors = _clean_instrument(row)
        symbol = values["symbol"]
        if symbol and symbol in symbol_rows:
            row_errors["symbol"] = [f"Duplicate of row {symbol_rows[symbol]}."]
        symbol_rows.setdefault(symbol, index)
        for alias in aliases:
            if alias in alias_rows and alias_rows[alias] != index:
                row_errors["aliases"] = [f"Alias {alias!r} is also listed in row {alias_rows[alias]}."]
            alias_rows.setdefault(alias, index)
        if row_errors:
            errors[index] = row_errors
        cleaned.append((values, aliases))
    for alias, index in alias_rows.items():
        if alias in symbol_rows and symbol_rows[alias] != index:
            errors.setdefault(index, {})["aliases"] = [f"{alias!r} is the symbol of another instrument."]
    if errors:
        raise RowErrors(errors)

    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        advisory_lock("instruments")  # symbols and aliases are one namespace: two upserts must not cross
        existing = {i.symbol: i for i in Instrument.objects.select_for_update().filter(symbol__in=list(symbol_rows))}
        _refuse_crossed_names(symbol_rows, alias_rows)
        to_create: list[Instrument] = []
        to_update: list[Instrument] = []
        held = False
        for values, _ in cleaned:
            instrument = existing.get(values["symbol"])
            if "digits" not in values:
                values["digits"] = (
                    instrument.digits
                    if instrument is not None
                    else default_digits(pip_size=values["pip_size"], group=values["group"])
                )
            if instrument is None:
                to_create.append(Instrument(**values))
            elif any(getattr(instrument, f) != values[f] for f in _INSTRUMENT_FIELDS):
                repriced = [f for f in PRICING_FIELDS if getattr(instrument, f) != values[f]]
                if repriced:
                    if not held:
                        # Before the check: no approval may commit between it and this transaction's end, or it
                        # would post trades priced with the old values and never hear of the change.
                        hold_approvals()
                        held = True
                    _refuse_repricing_approved_trades(instrument, repriced)
                    _record_repricing(instrument, repriced)
                for f in _INSTRUMENT_FIELDS:
                    setattr(instrument, f, values[f])
                instrument.updated_at = timezone.now()  # bulk_update skips auto_now
                to_update.append(instrument)
        Instrument.objects.bulk_create(to_create, batch_size=1000)
        if to_update:
            Instrument.objects.bulk_update(to_update, [*_INSTRUMENT_FIELDS, "updated_at"], batch_size=1000)
        by_symbol = {**existing, **{i.symbol: i for i in to_create}}

        current_aliases = {a.alias: a for a in InstrumentAlias.objects.filter(alias__in=list(alias_rows))}
        new_aliases: list[InstrumentAlias] = []
        moved_aliases: list[InstrumentAlias] = []
        alias_touched: set[str] = set()
        for values, aliases in cleaned:
            instrument = by_symbol[values["symbol"]]
            for alias in aliases:
                current = current_aliases.get(alias)
                if current is None:
                    new_aliases.append(InstrumentAlias(alias=alias, instrument=instrument))
                elif current.instrument_id != instrument.pk:
                    current.instrument = instrument
                    moved_aliases.append(current)
                else:
                    continue
                alias_touched.add(values["symbol"])
        InstrumentAlias.objects.bulk_create(new_aliases, batch_size=1000)
        if moved_aliases:
            InstrumentAlias.objects.bulk_update(moved_aliases, ["instrument"], batch_size=1000)

        created = {i.symbol for i in to_create}
        updated = {i.symbol for i in to_update} | (alias_touched - created)
        counts["created"] = len(created)
        counts["updated"] = len(updated)
        counts["unchanged"] = len(symbol_rows) - len(created) - len(updated)
        counts["trades_resolved"] = _resolve_unresolved_trades()
    return counts


def _refuse_repricing_approved_trades(instrument: Instrument, fields: list[str]) -> None:
    """A ``Conflict`` naming the first approved commission period holding a trade of ``instrument``, if any: the
    engine reads these fields when it prices a trade, so changing them would make the approved figures disagree
    with the instrument they claim to be computed from (and every recompute of a later period)."""
    trades = Trade.objects.filter(
        instrument=instrument, close_time__gte=OuterRef("period_start"), close_time__lt=OuterRef("period_end")
    )
    approved = Run.objects.filter(kind="commissions", status=Run.Status.APPROVED).filter(Exists(trades))
    period = approved.order_by("period").values_list("period", flat=True).first()
    if period is not None:
        raise Conflict(
            f"{instrument.symbol}: {', '.join(fields)} cannot change: it has trades in approved commission period "
            f"{period}, priced with the current values (add a new instrument for new contract terms)",
            extra={"symbol": instrument.symbol, "period": period, "fields": fields},
        )


def _record_repricing(instrument: Instrument, fields: list[str]) -> None:
    """Record the repricing as a dated change (``core.history``) reaching the client accounts with a trade of
    ``instrument`` in the open periods — from the end of the last approved period on, since instruments are not
    dated and no approved period holds such a trade (``_refuse_repricing_approved_trades``): a run computed with
    the old values warns at its approval and restates those trades. Nobody trading it yet: nothing to record.
    Under the approvals hold the caller took."""
    since = first_open_instant(since=_ALWAYS, area=Area.INSTRUMENTS)
    accounts = ClientAccount.objects.filter(
        Exists(
            Trade.objects.filter(
                server=OuterRef("server"), login=OuterRef("login"), instrument=instrument, close_time__gte=since
            )
        )
    ).values_list("pk", flat=True)
    reach = Reach.of(accounts=accounts)
    if reach.accounts:
        record_change(since=since, subject=f"instrument {instrument.symbol}: {', '.join(fields)}", reach=reach)


def _refuse_crossed_names(symbol_rows: Mapping[str, int], alias_rows: Mapping[str, int]) -> None:
    """Symbols and aliases resolve platform symbols together, so neither may name the other's instrument: an alias
    equal to another instrument's symbol, or a symbol equal to an alias of another instrument, already stored, is a
    row error (an alias equal to its own instrument's symbol is harmless)."""
    errors: dict[int, dict[str, list[str]]] = {}
    row_symbol = {index: symbol for symbol, index in symbol_rows.items()}
    for symbol in Instrument.objects.filter(symbol__in=list(alias_rows)).values_list("symbol", flat=True):
        index = alias_rows[symbol]
        if row_symbol.get(index) != symbol:
            errors.setdefault(index, {})["aliases"] = [f"{symbol!r} is the symbol of another instrument."]
    stored = InstrumentAlias.objects.filter(alias__in=list(symbol_rows)).select_related("instrument")
    for alias in stored:
        if alias.instrument.symbol != alias.alias:
            errors.setdefault(symbol_rows[alias.alias], {})["symbol"] = [
                f"{alias.alias!r} is an alias of {alias.instrument.symbol}."
            ]
    if errors:
        raise RowErrors(errors)


def suffixes_upsert(*, suffixes: Iterable[str]) -> dict[str, int]:
    """Add broker symbol suffixes (``.m``, ``.ecn``); existing ones are left as they are."""
    wanted = []
    for index, suffix in enumerate(suffixes):
        if not isinstance(suffix, str) or not suffix.strip() or len(suffix.strip()) > 16:
            raise ValidationError({"suffixes": [f"Item {index}: a non-empty text of at most 16 characters."]})
        wanted.append(suffix.strip())
    wanted = list(dict.fromkeys(wanted))
    with transaction.atomic():
        present = set(SymbolSuffix.objects.filter(suffix__in=wanted).values_list("suffix", flat=True))
        missing = [SymbolSuffix(suffix=s) for s in wanted if s not in present]
        SymbolSuffix.objects.bulk_create(missing, ignore_conflicts=True)
        resolved = _resolve_unresolved_trades() if missing else 0
    return {"created": len(missing), "unchanged": len(wanted) - len(missing), "trades_resolved": resolved}
