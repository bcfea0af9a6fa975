"""The partner API's shapes: amounts as exact decimal strings, objects by natural keys."""

from __future__ import annotations

from rest_framework import serializers

from commissions.api.lines import LineSerializer
from core.api.fields import AmountField, PeriodField
from core.api.serializers import InputSerializer, StrictSerializer
from core.money import quantize
from ledger.selectors import currency_places
from partners.models import Partner, PartnerToken
from partners.permissions import masked_payout_account

from ..selectors import line_explanation


class MeSerializer(serializers.Serializer):
    code = serializers.CharField(source="partner.code")
    name = serializers.CharField(source="partner.name")
    email = serializers.CharField(source="partner.email")
    parent = serializers.CharField(allow_null=True, help_text="the parent's code now (null at the top of the tree)")
    program = serializers.CharField(source="partner.program.code")
    plan = serializers.CharField(allow_null=True, help_text="the plan in force now (code)")
    status = serializers.ChoiceField(source="partner.status", choices=Partner.Status.choices)
    payout_currency = serializers.CharField(source="partner.payout_currency")
    payout_method = serializers.CharField(source="partner.payout_method")
    payout_account = serializers.SerializerMethodField(help_text="masked: its last four characters at most")
    referral_code = serializers.CharField(source="partner.referral_code")
    referral_link = serializers.CharField(help_text="a client's registration link carrying the referral code")
    invitation_link = serializers.CharField(help_text="a sub-IB's registration link carrying the referral code")

    def get_payout_account(self, profile: dict) -> str:
        return masked_payout_account(profile["partner"].payout_account)


class MeLineSerializer(LineSerializer):
    explanation = serializers.SerializerMethodField(help_text="the line in words")

    def get_explanation(self, line) -> str:
        return line_explanation(line)

    class Meta(LineSerializer.Meta):
        fields = [f for f in LineSerializer.Meta.fields if f != "partner"] + ["explanation"]


class PeriodQuerySerializer(StrictSerializer):
    period = PeriodField(required=False, help_text="YYYY-MM in the trading server's time zone; default the current one")


class DownlineSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.CharField(source="parent_code", help_text="its parent's code now")
    depth = serializers.IntegerField(source="downline_depth", help_text="1 = your direct sub-IB")
    status = serializers.ChoiceField(choices=Partner.Status.choices)
    period = serializers.CharField()
    volume = AmountField(help_text="lots its own clients traded in the period")
    earned = AmountField(help_text="what you earned in the period on its clients' trades (USD, 6 places)")


class ClientSerializer(serializers.Serializer):
    server = serializers.CharField()
    login = serializers.IntegerField()
    currency = serializers.CharField()
    group = serializers.CharField()
    period = serializers.CharField()
    volume = AmountField(help_text="lots the account traded in the period")
    earned = AmountField(help_text="what you earned on its trades in the period (USD, 6 places)")


class PayoutAmountField(AmountField):
    """A payout line's amount at its currency's minor unit (``"1234.50"``, ``"150"`` JPY), as the payout CSV shows it
    (the column keeps the ledger's 8 places). One look-up per currency of the page: the field serves every row."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._places: dict[str, int] = {}

    def to_representation(self, value) -> str:
        code = value.payout_currency
        if code not in self._places:
            self._places[code] = currency_places(code)
        return super().to_representation(quantize(value.amount, self._places[code]))


class PayoutSerializer(serializers.Serializer):
    batch = serializers.IntegerField(source="batch_id")
    period = serializers.CharField(source="batch.period")
    batch_status = serializers.CharField(source="batch.status")
    status = serializers.CharField(help_text="to_pay, carried_over, held, paid or failed")
    amount = PayoutAmountField(source="*", help_text="in the payout currency, at its minor unit")
    currency = serializers.CharField(source="payout_currency")
    reason = serializers.CharField(help_text="the bank's reason when the transfer failed")
    resolved_at = serializers.DateTimeField(allow_null=True)


class SummarySerializer(serializers.Serializer):
    period = serializers.CharField()
    approved = serializers.BooleanField(help_text="whether the period's commission run is approved")
    volume = AmountField(help_text="lots your own clients traded in the period (lines of record)")
    earnings = serializers.DictField(child=AmountField(), help_text="by kind, once the period is approved")
    earned = AmountField(help_text="the sum of earnings")
    estimate = AmountField(
        allow_null=True,
        help_text="an estimate for a period not approved yet: null until the open-period estimate task exists",
    )


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartnerToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(help_text="the key, shown this once: only its digest is kept")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenInputSerializer(InputSerializer):
    name = serializers.RegexField(
        r"^[^\x00-\x1f\x7f]+$", max_length=100, help_text="a name to tell the token apart (one line)"
    )
