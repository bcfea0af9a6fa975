"""Partner programs: the hierarchy model, depth, pass-up shares, override percentages and payout threshold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from core.money import MoneyError, parse_decimal

from ..models import Program

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_HUNDRED = Decimal(100)


def validate_currency(value: str, *, field: str) -> str:
    """An ISO 4217-style code (three capital letters), upper-cased."""
    code = (value or "").strip().upper()
    if not _CURRENCY_RE.match(code):
        raise ValidationError({field: [f"Enter a three-letter currency code, not {value!r}."]})
    return code


def _percentages(values: Iterable, *, field: str) -> list[Decimal]:
    result = []
    for index, value in enumerate(values):
        try:
            pct = parse_decimal(value)
        except MoneyError as exc:
            raise ValidationError({field: [f"Item {index}: {exc}."]}) from exc
        if not Decimal(0) <= pct <= _HUNDRED:
            raise ValidationError({field: [f"Item {index}: a percentage must be between 0 and 100, got {pct}."]})
        result.append(pct)
    return result


def program_upsert(
    *,
    code: str,
    name: str,
    model: str,
    max_depth: int = 10,
    shares: Iterable[Decimal | str | int] = (),
    override_pct: Iterable[Decimal | str | int] = (),
    min_payout: Decimal | str | int = 0,
    currency: str = "USD",
) -> Program:
    """Create the program ``code`` or replace its settings. Percentages are 0–100 (30 means 30 %)."""
    if model not in Program.Model.values:
        raise ValidationError({"model": [f"Choose one of {', '.join(Program.Model.values)}, not {model!r}."]})
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ValidationError({"max_depth": ["max_depth must be an integer of at least 1."]})
    try:
        payout = parse_decimal(min_payout)
    except MoneyError as exc:
        raise ValidationError({"min_payout": [str(exc)]}) from exc
    if payout < 0:
        raise ValidationError({"min_payout": ["min_payout cannot be negative."]})
    values = {
        "name": name,
        "model": model,
        "max_depth": max_depth,
        "shares": _percentages(shares, field="shares"),
        "override_pct": _percentages(override_pct, field="override_pct"),
        "min_payout": payout,
        "currency": validate_currency(currency, field="currency"),
    }
    with transaction.atomic():
        program = Program.objects.select_for_update().filter(code=code).first() or Program(code=code)
        for field, value in values.items():
            setattr(program, field, value)
        program.full_clean(validate_unique=program._state.adding)
        program.save()
    return program
