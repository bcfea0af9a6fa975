"""Partner programs: the hierarchy model, depth, pass-up shares and override percentages (dated terms), and the payout
threshold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from core.effective import series_latest, series_set_from
from core.history import Area, Reach
from core.money import MoneyError, parse_decimal

from ..models import PartnerProgram, Program, ProgramTerms

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_HUNDRED = Decimal(100)
# A program's shares and override percentages hold one value per level of the chain (``shares[k-1]`` is what level
# k passes up; ``override_pct[k-2]`` what level k >= 2 earns): at most ``max_depth`` of them — a value for a level
# past ``max_depth`` would never be read — and at most this many whatever the depth.
MAX_LEVEL_VALUES = 100


def too_many_levels(field: str, max_depth: int) -> str:
    limit = min(max_depth, MAX_LEVEL_VALUES)
    return (
        f"At most {limit} values (one per level, up to max_depth {max_depth} and at most {MAX_LEVEL_VALUES}): a value "
        "for a level past max_depth would never be read."
    )


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
    effective_from: datetime | None = None,
) -> Program:
    """Create the program ``code`` or change it. Percentages are 0–100 (30 means 30 %); ``shares`` and
    ``override_pct`` hold at most ``max_depth`` (and ``MAX_LEVEL_VALUES``) values, one per level.

    The commission terms (model, depth, shares, override percentages) are dated (``ProgramTerms``, DOMAIN.md 4.0)
    under the rules of ``core.effective``: a new program's first terms hold since always unless dated; a change
    defaults to now and may be back-dated while no approved period is affected (else ``Conflict``); the terms in
    force change nothing. The program row keeps the latest terms. Name, ``min_payout`` and ``currency`` are payout
    settings, read when a payout is made, and not dated.
    """
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
    terms = {
        "model": model,
        "max_depth": max_depth,
        "shares": _percentages(shares, field="shares"),
        "override_pct": _percentages(override_pct, field="override_pct"),
    }
    for field in ("shares", "override_pct"):
        if len(terms[field]) > min(max_depth, MAX_LEVEL_VALUES):
            raise ValidationError({field: [too_many_levels(field, max_depth)]})
    values = {
        "name": name,
        **terms,
        "min_payout": payout,
        "currency": validate_currency(currency, field="currency"),
    }
    wanted = _terms_key(terms)
    with transaction.atomic():
        program = Program.objects.select_for_update().filter(code=code).first() or Program(code=code)
        latest_before = {field: getattr(program, field) for field in terms}
        for field, value in values.items():
            setattr(program, field, value)
        program.full_clean(validate_unique=program._state.adding)
        if not program._state.adding:
            for field, value in latest_before.items():
                setattr(program, field, value)  # the program row keeps the latest terms, set below
        program.save()
        series_set_from(
            rows=ProgramTerms.objects.filter(program=program),
            effective_from=effective_from,
            same=lambda row: _terms_key(row.__dict__) == wanted,
            create=lambda at, until: ProgramTerms.objects.create(
                program=program, valid_from=at, valid_to=until, **terms
            ),
            subject=f"Changing program {code}'s terms",
            area=Area.TREE,
            # The level-1 partner's program prices a trade: the trades of partners ever on the program.
            reach=Reach.of(
                partners=PartnerProgram.objects.filter(program=program).values_list("partner_id", flat=True)
            ),
        )
        latest = series_latest(ProgramTerms.objects.filter(program=program))
        for field in terms:
            setattr(program, field, getattr(latest, field))
        program.save()
    return program


def _terms_key(values) -> tuple:
    return (
        values["model"],
        int(values["max_depth"]),
        tuple(Decimal(v).normalize() for v in values["shares"]),
        tuple(Decimal(v).normalize() for v in values["override_pct"]),
    )
