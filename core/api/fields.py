"""Serializer fields shared by the broker APIs."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.currencies import CURRENCY_MAX_LENGTH, CURRENCY_PATTERN, currency_error
from core.names import MAX_LOGIN, MAX_TICKET, SERVER_MAX_LENGTH, line_text_error, server_name_error, text_rule
from core.periods import PERIOD_PATTERN, Period


def positive(value: Decimal) -> Decimal:
    """A validator: strictly greater than zero (contract sizes, pip sizes, rates)."""
    if value <= 0:
        raise serializers.ValidationError("Must be greater than zero.")
    return value


class ExactDecimalField(serializers.DecimalField):
    """A DecimalField that refuses JSON floats: amounts travel as strings holding exact decimals (API.md), and a
    binary float may already have lost digits before it reaches us. Integers are exact and accepted."""

    default_error_messages = {"float": 'Send decimals as JSON strings (e.g. "10.94"), not as numbers.'}

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("float")
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def percent_field(**kwargs) -> ExactDecimalField:
    """A percent from 0 to 100 at 4 places, as every share, override, rebate and fee-share percent is stored."""
    return ExactDecimalField(max_digits=9, decimal_places=4, min_value=Decimal(0), max_value=Decimal(100), **kwargs)


def fraction_field(**kwargs) -> ExactDecimalField:
    """A rate from 0 to 1 at 8 places (0.02 = 2 %), as the MAM fee rates are stored."""
    return ExactDecimalField(max_digits=12, decimal_places=8, min_value=Decimal(0), max_value=Decimal(1), **kwargs)


@extend_schema_field({"type": "string", "pattern": PERIOD_PATTERN, "example": "2026-03"})
class PeriodField(serializers.CharField):
    """A period ``YYYY-MM`` (ASCII digits, 1970-01 to 2999-12), validated by ``core.periods`` like every other door
    (admin forms, commands), so the API accepts exactly what the services accept."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "YYYY-MM, in the trading server's time zone")
        kwargs.setdefault("trim_whitespace", False)  # " 2026-03" is refused, as the pattern says, not trimmed
        super().__init__(min_length=7, max_length=7, **kwargs)

    def to_internal_value(self, data) -> str:
        text = super().to_internal_value(data)
        try:
            return Period.parse(text, settings.IBEX_SERVER_TIME_ZONE).label
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


@extend_schema_field({"type": "string", "format": "decimal", "example": "1234.56"})
class AmountField(serializers.Field):
    """An exact amount on the wire as a string, at the scale it was computed at (a statement's amounts at the
    currency's minor unit: ``"1.234"`` KWD, ``"150"`` JPY, ``"0.00012345"`` BTC) — never re-rounded to a fixed number
    of places, never a JSON number."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str:
        return format(abs(value) if value == 0 else value, "f")  # never "-0.00"


def login_field(**kwargs) -> serializers.IntegerField:
    """A trading account's login: 0 to ``core.names.MAX_LOGIN`` (18 digits, the trade feed's rule), everywhere."""
    kwargs.setdefault("help_text", "The account's login (at most 18 digits, as the trade feed takes)")
    return serializers.IntegerField(min_value=0, max_value=MAX_LOGIN, **kwargs)


def ticket_field(**kwargs) -> serializers.IntegerField:
    """A trade's ticket: 0 to ``core.names.MAX_TICKET`` (18 digits, the trade feed's rule), everywhere."""
    return serializers.IntegerField(min_value=0, max_value=MAX_TICKET, **kwargs)


class PlainTextField(serializers.CharField):
    """One line of plain text, under the trade feed's text rule (``core.names.text_rule``): for keys that also end
    up as cells of exports (a cash flow's id) — no separators, quotes, line breaks or blanks at either end, checked
    on the whole value (Django's ``RegexValidator`` searches, and ``$`` allows a final line break)."""

    def __init__(self, *, max_length: int, message: str, **kwargs):
        kwargs.setdefault("trim_whitespace", False)  # " 17" is refused, never quietly made "17"
        super().__init__(max_length=max_length, **kwargs)
        self._rule, self._message = re.compile(text_rule(max_length)), message

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not self._rule.fullmatch(value):
            raise serializers.ValidationError(self._message)
        return value


class ServerNameField(serializers.CharField):
    """A trade server's name, under the rule the trade feed applies (``core.names``): what the API accepts for an
    account, the feed can post trades for."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", SERVER_MAX_LENGTH)
        kwargs.setdefault("trim_whitespace", False)  # " live1" is refused, as the feed refuses it, not made "live1"
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        error = server_name_error(value)
        if error:
            raise serializers.ValidationError(error)
        return value


class LineTextField(serializers.CharField):
    """Free text of one line (a payout account, a payout method) under ``core.names.line_text_error``, the rule the
    services and the admin apply too: no control or invisible format character and no blank at either end — refused
    as a field error, never quietly trimmed (``trim_whitespace=False``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        error = line_text_error(value)
        if error:
            raise serializers.ValidationError(error)
        return value


@extend_schema_field(
    {"type": "string", "pattern": CURRENCY_PATTERN, "maxLength": CURRENCY_MAX_LENGTH, "example": "EUR"}
)
class KnownCurrencyField(serializers.CharField):
    """A currency code the ledger knows (``core.currencies.currency_error``, the rule the services and the admin
    apply too): a malformed one (``usd``, `` EUR``) is told to be upper-case, an unknown one (``QQQ``, ``XXX``) is
    unknown — both field errors."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)  # " USD" is refused, not made "USD"
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        error = currency_error(code)
        if error:
            raise serializers.ValidationError(error)
        return code
