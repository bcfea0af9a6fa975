"""Serializer fields shared by the broker APIs."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers


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
