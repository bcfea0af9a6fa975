"""The base of every request-body serializer: a body field the serializer does not declare is refused, and every
integer, decimal, date and time is what the schema's type says, in ASCII (``StrictSerializer``).

DRF ignores undeclared fields, which on a money API turns a typo into a different instruction (a rebate whose
``acount`` is dropped becomes a rebate on every client; a rule whose ``symbl`` is dropped becomes a catch-all). So
every write serializer derives from ``InputSerializer``: each undeclared field of an object is a 400 field error under
its own name, with the trade push's wording (``commissions.services.trade_ingest``: ``"unknown field"``), alongside
the object's other field errors; nested input serializers (a plan's rules, a rebate's account) and each row of a
list body (``core.api.bulk.validated_rows``) are checked the same way. The schema says so too: every object of a
request body documents ``additionalProperties: false`` (``core.api.schema``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

UNKNOWN_FIELD = "unknown field"

# What the schema's types say, in ASCII: DRF and Python also take a float 3.0 for an integer, other scripts' digits
# ("١٢", full-width "１２"), "1_000", "1e2", " 1.5", "+1", ISO week dates ("2026-W11-1") and basic dates ("20260310").
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
INTEGER_MESSAGE = "A whole number: a JSON integer in a body (not a float such as 3.0, nor a string), ASCII digits."
TEXT_MESSAGE = "Send text as a JSON string (a number would be stored as its digits: 1.2345678901234568e+22)."
BOOLEAN_MESSAGE = 'true or false, as a JSON boolean (not 1, 1.0 or "yes").'
DECIMAL_MESSAGE = 'An exact decimal in ASCII digits, e.g. "10.94" (no exponent, sign "+", blanks or separators).'
DATE_MESSAGE = "A date as YYYY-MM-DD in ASCII digits."
DATETIME_MESSAGE = "A time in ISO 8601, YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|±HH:MM], in ASCII digits."


def strict_scalar_error(field: serializers.Field, value: Any, *, body: bool = True) -> str | None:
    """Why ``value`` is not what ``field``'s schema type promises (None when it is, or when the field itself judges
    it: ``null``, a list or an object is the field's own error). ``body``: a JSON body, where an integer is a JSON
    integer; a query value is always text, so there an integer is a string of ASCII digits."""
    if value is None or isinstance(value, list | dict):
        return None
    if isinstance(field, serializers.BooleanField):
        ok = isinstance(value, bool) or (not body and value in ("true", "false"))
        return None if ok else BOOLEAN_MESSAGE
    if isinstance(field, serializers.IntegerField):
        if isinstance(value, bool | float):
            return INTEGER_MESSAGE
        if isinstance(value, str) and (body or not _INTEGER.fullmatch(value)):
            return INTEGER_MESSAGE
        return None
    if isinstance(field, serializers.CharField):  # slugs, codes, names, periods, server names…
        return None if isinstance(value, str) else TEXT_MESSAGE
    if not isinstance(value, str):
        return None  # a float for a decimal is ExactDecimalField's own error; other types the field's
    checks = (
        (serializers.DecimalField, _DECIMAL, DECIMAL_MESSAGE),
        (serializers.DateTimeField, _DATETIME, DATETIME_MESSAGE),
        (serializers.DateField, _DATE, DATE_MESSAGE),
    )
    for kind, shape, message in checks:
        if isinstance(field, kind):
            return None if shape.fullmatch(value) else message
    return None


def strict_errors(fields: Mapping[str, serializers.Field], data: Mapping, *, body: bool = True) -> dict[str, Any]:
    """``strict_scalar_error`` for every writable field given in ``data``, and each item of a list of scalars."""
    errors: dict[str, Any] = {}
    for name, field in fields.items():
        if field.read_only or name not in data:
            continue
        value = data[name]
        if isinstance(field, serializers.ListField) and isinstance(value, list):
            items = {
                str(i): [m] for i, item in enumerate(value) if (m := strict_scalar_error(field.child, item, body=body))
            }
            if items:
                errors[name] = items
        elif message := strict_scalar_error(field, value, body=body):
            errors[name] = [message]
    return errors


class StrictSerializer(serializers.Serializer):
    """A serializer whose integers, decimals, dates and times are exactly what the schema says (``strict_errors``):
    every request body (``InputSerializer``) and query serializer derives from it."""

    json_body: bool = False  # a query's values are text; a body's (``InputSerializer``) are JSON

    def to_internal_value(self, data: Any) -> Any:
        strict = strict_errors(self.fields, data, body=self.json_body) if isinstance(data, Mapping) else {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if strict and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **strict}) from exc
            raise
        if strict:
            raise serializers.ValidationError(strict)
        return value


class InputSerializer(StrictSerializer):
    json_body = True

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {str(name): [UNKNOWN_FIELD] for name in data if name not in writable}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value
