"""The statement's shapes, shared by the broker's ``GET /partners/{code}/statement/`` and the partner's
``GET /me/statements/{period}/``: one serializer for one selector (``ledger.selectors.partner_statement``). Kept
apart from the views so that a reader (``reporting``) takes the shapes without the write services they import."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import AmountField
from core.api.serializers import StrictSerializer
from core.currencies import CURRENCY_PATTERN


@extend_schema_field({"type": "string", "pattern": CURRENCY_PATTERN, "example": "EUR"})
class CurrencyField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(CURRENCY_PATTERN, **kwargs)


class StatementCurrencyQuerySerializer(StrictSerializer):
    currency = CurrencyField(required=False, help_text="Default: the currency of the partner's program")


class StatementSerializer(serializers.Serializer):
    partner = serializers.CharField()
    period = serializers.CharField()
    currency = serializers.CharField()
    opening_balance = AmountField(help_text="at the currency's minor unit, as are all amounts here")
    totals = serializers.DictField(child=AmountField())
    earned = AmountField()
    payouts = AmountField()
    closing_balance = AmountField()
