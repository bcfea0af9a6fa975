"""Serializers of the MAM API: inputs (validated, natural keys, exact decimals that refuse JSON floats) and outputs
(amounts and lots as strings)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import (
    ExactDecimalField,
    PlainTextField,
    ServerNameField,
    fraction_field,
    login_field,
    percent_field,
    positive,
    ticket_field,
)
from core.api.serializers import InputSerializer
from partners.models import Partner

from ..models import Allocation, CashFlow, EquitySnapshot, GroupFeeTerms, MamGroup, MasterTrade, Member
from ..vocabulary import (
    AllocationMethod,
    BelowMinPolicy,
    CrystallisationPeriod,
    FeeBase,
    FlowMode,
    HwmMode,
    ManagementBasis,
    ResidualPolicy,
)

_CURRENCY = r"^[A-Z]{3}$"
ZERO = Decimal(0)
CLOSE_ID_MESSAGE = (
    "A close id is 1 to 100 characters, without commas, quotes, backslashes, control characters or blanks at either "
    "end."
)
# A flow's id is a key (idempotency) and a cell of exports: one line of plain text, as the trade feed's text values.
FLOW_ID_MESSAGE = (
    "A cash flow id is 1 to 100 characters, without commas, quotes, backslashes, control characters or blanks at "
    "either end."
)


def _login(**kwargs) -> serializers.IntegerField:
    return login_field(**kwargs)


def unsigned_decimal(*, max_digits: int, decimal_places: int, **kwargs) -> ExactDecimalField:
    """An exact decimal that is never negative, documented so (its pattern has no minus sign): lots, prices,
    limits. The field still refuses a negative value itself (``min_value`` 0, or the validators given)."""
    whole = max_digits - decimal_places
    schema = {
        "type": "string",
        "format": "decimal",
        "pattern": rf"^\d{{0,{whole}}}(?:\.\d{{0,{decimal_places}}})?$",
    }
    field_class = extend_schema_field(schema)(type("UnsignedDecimalField", (ExactDecimalField,), {}))
    kwargs.setdefault("min_value", ZERO)
    return field_class(max_digits=max_digits, decimal_places=decimal_places, **kwargs)


# --- groups -------------------------------------------------------------------------------------------------------


class FeeTermsInputSerializer(InputSerializer):
    management_rate = fraction_field(
        required=False,
        help_text="Annual rate as a fraction (0.02 = 2 % a year)",
    )
    management_basis = serializers.ChoiceField(choices=ManagementBasis.choices, required=False)
    management_base = serializers.ChoiceField(choices=FeeBase.choices, required=False)
    performance_rate = fraction_field(
        required=False,
        help_text="Share of the profit above the high-water mark, as a fraction (0.25 = 25 %)",
    )
    hwm_mode = serializers.ChoiceField(choices=HwmMode.choices, required=False)
    flow_mode = serializers.ChoiceField(choices=FlowMode.choices, required=False)
    hurdle_pct = percent_field(
        required=False,
        help_text="Percent of the HWM per crystallisation period",
    )
    period = serializers.ChoiceField(choices=CrystallisationPeriod.choices, required=False)
    ib_fee_share_pct = percent_field(
        required=False,
        help_text="Percent of the manager's fee on an investor paid to that investor's IB",
    )
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When these terms take effect: a group's first terms hold since always unless dated; a change "
        "defaults to now and may be back-dated while no approved period is affected (else 409).",
    )


class GroupInputSerializer(InputSerializer):
    code = serializers.SlugField(max_length=64)
    """An upsert by ``code``: a setting left out keeps the group's value (a new group: currency USD, method equity,
    residual largest_weight, below_min skip, no overflow account)."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    manager = serializers.SlugRelatedField(
        slug_field="code", queryset=Partner.objects.all(), help_text="The manager's partner code"
    )
    master_server = ServerNameField()
    master_login = _login()
    currency = serializers.RegexField(_CURRENCY, required=False, help_text="A new group: USD")
    method = serializers.ChoiceField(choices=AllocationMethod.choices, required=False, help_text="A new group: equity")
    residual_policy = serializers.ChoiceField(
        choices=ResidualPolicy.choices, required=False, help_text="A new group: largest_weight"
    )
    below_min = serializers.ChoiceField(choices=BelowMinPolicy.choices, required=False, help_text="A new group: skip")
    overflow_login = _login(required=False, allow_null=True)
    fees = FeeTermsInputSerializer(required=False)


class FeeTermsOutputSerializer(serializers.ModelSerializer):
    effective_from = serializers.DateTimeField(source="valid_from")
    until = serializers.DateTimeField(source="valid_to", allow_null=True)

    class Meta:
        model = GroupFeeTerms
        fields = [
            "management_rate",
            "management_basis",
            "management_base",
            "performance_rate",
            "hwm_mode",
            "flow_mode",
            "hurdle_pct",
            "period",
            "ib_fee_share_pct",
            "effective_from",
            "until",
        ]


class GroupOutputSerializer(serializers.ModelSerializer):
    """A group with its fee terms in force now (the latest) and their dated history, latest first."""

    manager = serializers.CharField(source="manager.partner.code")
    fees = serializers.SerializerMethodField()
    fee_history = serializers.SerializerMethodField()

    class Meta:
        model = MamGroup
        fields = [
            "code",
            "name",
            "manager",
            "master_server",
            "master_login",
            "currency",
            "method",
            "residual_policy",
            "below_min",
            "overflow_login",
            "fees",
            "fee_history",
        ]

    @staticmethod
    def _terms(group: MamGroup) -> list[GroupFeeTerms]:
        terms = getattr(group, "terms_latest_first", None)
        return terms if terms is not None else list(group.fee_terms.order_by("-valid_from"))

    @extend_schema_field(FeeTermsOutputSerializer(allow_null=True))
    def get_fees(self, group: MamGroup) -> dict | None:
        terms = self._terms(group)
        return FeeTermsOutputSerializer(terms[0]).data if terms else None

    @extend_schema_field(FeeTermsOutputSerializer(many=True))
    def get_fee_history(self, group: MamGroup) -> list[dict]:
        return FeeTermsOutputSerializer(self._terms(group), many=True).data


# --- members ------------------------------------------------------------------------------------------------------


class MemberInputSerializer(InputSerializer):
    """An upsert: a setting left out keeps the running membership's value (a new member: param none, risk_factor
    1, active, no limits); ``null`` clears a limit."""

    server = ServerNameField()
    login = _login()
    param = unsigned_decimal(
        max_digits=18,
        decimal_places=6,
        required=False,
        allow_null=True,
        help_text="lot: lots (weights); percent: percent; multiplier: × master volume; fixed_lot: lots",
    )
    risk_factor = unsigned_decimal(
        max_digits=12, decimal_places=6, required=False, validators=[positive], help_text="A new member: 1"
    )
    active = serializers.BooleanField(required=False, help_text="A new member: true")
    joined = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="Empty: the day of its first equity snapshot"
    )
    left = serializers.DateField(
        required=False, allow_null=True, default=None, help_text="The first day no longer a member"
    )
    max_lots = unsigned_decimal(max_digits=16, decimal_places=4, required=False, allow_null=True, validators=[positive])
    equity_stop = unsigned_decimal(max_digits=20, decimal_places=6, required=False, allow_null=True)
    max_drawdown_pct = unsigned_decimal(
        max_digits=9,
        decimal_places=4,
        max_value=Decimal(100),
        required=False,
        allow_null=True,
        validators=[positive],
    )


class MemberOutputSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="account.server")
    login = serializers.IntegerField(source="account.login")
    joined = serializers.DateField(source="joined_on", allow_null=True, help_text="Given, or its first snapshot's day")

    class Meta:
        model = Member
        fields = [
            "server",
            "login",
            "param",
            "risk_factor",
            "active",
            "joined",
            "left",
            "max_lots",
            "equity_stop",
            "max_drawdown_pct",
        ]


# --- equity and flows ---------------------------------------------------------------------------------------------


class EquityRowSerializer(InputSerializer):
    server = ServerNameField()
    login = _login()
    day = serializers.DateField(help_text="The trading server's day (end-of-day figures)")
    balance = ExactDecimalField(max_digits=20, decimal_places=6)
    equity = unsigned_decimal(max_digits=20, decimal_places=6, help_text="Never negative")
    free_margin = ExactDecimalField(max_digits=20, decimal_places=6)


class EquityOutputSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="account.server")
    login = serializers.IntegerField(source="account.login")

    class Meta:
        model = EquitySnapshot
        fields = ["server", "login", "day", "balance", "equity", "free_margin"]


class CashFlowRowSerializer(InputSerializer):
    id = PlainTextField(
        max_length=100,
        message=FLOW_ID_MESSAGE,
        help_text="The platform's or CRM's id of the flow, unique per server: 1–100 characters without commas, "
        "quotes, backslashes, line breaks or other control characters, or blanks at either end",
    )
    server = ServerNameField()
    login = _login()
    time = serializers.DateTimeField()
    amount = ExactDecimalField(max_digits=20, decimal_places=6, help_text="Deposit > 0, withdrawal < 0")


class CashFlowOutputSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    login = serializers.IntegerField(source="account.login")

    class Meta:
        model = CashFlow
        fields = ["id", "server", "login", "time", "amount"]


class CountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField(required=False)
    unchanged = serializers.IntegerField()


# --- master trades ------------------------------------------------------------------------------------------------


class MasterOpenInputSerializer(InputSerializer):
    group = serializers.SlugField(max_length=64)
    ticket = ticket_field()
    symbol = serializers.CharField(max_length=48)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    lots = unsigned_decimal(max_digits=16, decimal_places=4, validators=[positive])
    open_time = serializers.DateTimeField()
    open_price = unsigned_decimal(max_digits=24, decimal_places=10, validators=[positive])


class MasterCloseInputSerializer(InputSerializer):
    lots = unsigned_decimal(max_digits=16, decimal_places=4, validators=[positive])
    close_time = serializers.DateTimeField()
    close_price = unsigned_decimal(max_digits=24, decimal_places=10, validators=[positive])
    close_id = PlainTextField(
        required=False,
        max_length=100,
        message=CLOSE_ID_MESSAGE,
        help_text="The platform's deal (close) id, unique per master trade: with it, a repeat is the same id (same "
        "content answers as the first time, other content is a 409); without it, a close equal to any earlier close "
        "of the ticket (lots, time, price) is a repeat. Two real fills with identical lots, time and price must carry "
        "their ids.",
    )


class AllocationOutputSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="member.account.server")
    login = serializers.IntegerField(source="member.account.login")

    class Meta:
        model = Allocation
        fields = ["server", "login", "lots", "target", "reason"]


class MasterTradeOutputSerializer(serializers.ModelSerializer):
    group = serializers.CharField(source="group.code")
    side = serializers.CharField(source="get_side_display")
    allocated_lots = serializers.DecimalField(source="allocated", max_digits=16, decimal_places=4)
    unallocated_lots = serializers.DecimalField(source="unallocated", max_digits=16, decimal_places=4)

    # A plain string: drf-spectacular would otherwise name clashing "status" enums of other apps.
    status = serializers.CharField(help_text="open, or closed once the master is flat")

    class Meta:
        model = MasterTrade
        fields = [
            "group",
            "ticket",
            "symbol",
            "side",
            "lots",
            "open_time",
            "open_price",
            "lots_open",
            "status",
            "allocated_lots",
            "unallocated_lots",
            "unallocated_reason",
        ]


class MasterOpenOutputSerializer(MasterTradeOutputSerializer):
    allocations = AllocationOutputSerializer(many=True, source="allocation_rows")

    class Meta(MasterTradeOutputSerializer.Meta):
        fields = [*MasterTradeOutputSerializer.Meta.fields, "allocations"]


class SubCloseOutputSerializer(serializers.Serializer):
    server = serializers.CharField(source="allocation.member.account.server")
    login = serializers.IntegerField(source="allocation.member.account.login")
    lots = serializers.DecimalField(max_digits=16, decimal_places=4)
    ticket = serializers.IntegerField(allow_null=True, help_text="The closed sub-account trade's ticket")
    profit = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    reason = serializers.CharField(
        help_text="Why it closed other than its exact share (rounded, clamped, below_minimum: nothing now, "
        "remainder_below_minimum: all), else empty"
    )


class MasterCloseOutputSerializer(serializers.Serializer):
    group = serializers.CharField()
    ticket = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="1 for the master's first close, 2 for the next…")
    close_id = serializers.CharField(help_text="The platform's deal id, empty when none was sent")
    lots = serializers.DecimalField(max_digits=16, decimal_places=4)
    close_time = serializers.DateTimeField()
    close_price = serializers.DecimalField(max_digits=24, decimal_places=10)
    lots_open = serializers.DecimalField(max_digits=16, decimal_places=4, help_text="What the master still holds")
    status = serializers.CharField(help_text="open, or closed once the master is flat")
    closes = SubCloseOutputSerializer(many=True)


class AllocationReportSerializer(serializers.Serializer):
    ticket = serializers.IntegerField(source="master_trade.ticket")
    symbol = serializers.CharField(source="master_trade.symbol")
    side = serializers.CharField(source="master_trade.get_side_display")
    open_time = serializers.DateTimeField(source="master_trade.open_time")
    server = serializers.CharField(source="member.account.server")
    login = serializers.IntegerField(source="member.account.login")
    target = serializers.DecimalField(max_digits=24, decimal_places=8)
    lots_opened = serializers.DecimalField(source="lots", max_digits=16, decimal_places=4)
    lots_closed = serializers.DecimalField(max_digits=16, decimal_places=4)
    lots_open = serializers.DecimalField(max_digits=16, decimal_places=4)
    profit = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="P&L of what was closed, in the account currency"
    )
    reason = serializers.CharField(help_text="Why the account got less than its exact share or nothing; else empty")
