"""Serializers for the partner-network API: input shapes (validated, natural keys) and output shapes."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Max
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import (
    ExactDecimalField,
    KnownCurrencyField,
    LineTextField,
    ServerNameField,
    login_field,
    percent_field,
)
from core.api.serializers import InputSerializer, StrictSerializer

from ..extensions import PARTNER_FIELDS, partner_field_values
from ..models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from ..permissions import masked_payout_account, sees_payout_details
from ..selectors import TreeStats
from ..services.programs import MAX_LEVEL_VALUES, too_many_levels

EXTENSION_ATTRIBUTE = "extension_{}"


class WithPartnerFields:
    """Adds the fields upper apps registered (``partners.extensions``) to a partner input serializer."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in PARTNER_FIELDS.items():
            fields[name] = field.input_field()
        return fields


def attach_extension_values(partners: list[Partner]) -> list[Partner]:
    """Read the registered fields' current values for a page of partners at once (never one query per row)."""
    values = partner_field_values(partners)
    for partner in partners:
        for name, by_partner in values.items():
            setattr(partner, EXTENSION_ATTRIBUTE.format(name), by_partner.get(partner.pk))
    return partners


_CURRENCY = r"^[A-Z]{3}$"


def partner_code_field(**kwargs) -> serializers.SlugRelatedField:
    """A partner addressed by its code; an unknown code is a field error."""
    return serializers.SlugRelatedField(slug_field="code", queryset=Partner.objects.all(), **kwargs)


class PercentListField(serializers.ListField):
    """One percentage per level of the chain: at most ``MAX_LEVEL_VALUES``, and no more than the program's
    ``max_depth`` (checked with the depth, by ``program_upsert``)."""

    child = percent_field()

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_LEVEL_VALUES)
        kwargs.setdefault("help_text", f"one value per level; at most max_depth (and {MAX_LEVEL_VALUES}) values")
        super().__init__(**kwargs)


# --- programs -----------------------------------------------------------------------------------------------------


# A new program's settings where the request gives none; an existing program keeps what it has (an upsert changes
# only what it is given: re-sending a program's name must not turn a cascade program differential).
NEW_PROGRAM_SETTINGS: dict[str, object] = {
    "model": Program.Model.DIFFERENTIAL.value,
    "max_depth": 10,
    "shares": [],
    "override_pct": [],
    "min_payout": Decimal(0),
    "currency": "USD",
}


class ProgramInputSerializer(InputSerializer):
    """An upsert by ``code``: a setting left out keeps the program's value (a new program takes
    ``NEW_PROGRAM_SETTINGS``)."""

    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    model = serializers.ChoiceField(
        choices=Program.Model.choices, required=False, help_text="A new program: differential"
    )
    max_depth = serializers.IntegerField(min_value=1, max_value=32767, required=False, help_text="A new program: 10")
    shares = PercentListField(required=False)
    override_pct = PercentListField(required=False)
    min_payout = ExactDecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal(0), required=False, help_text="A new program: 0"
    )
    currency = serializers.RegexField(_CURRENCY, required=False, help_text="A new program: USD")
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When changed terms (model, max_depth, shares, override_pct) take effect: a new program's hold since "
        "always unless dated; a change defaults to now and may be back-dated while no approved period is affected. "
        "Earlier trades keep the terms they had.",
    )

    def validate(self, attrs):
        # Checked again by program_upsert (a PATCH combines the program's depth with the body's lists there).
        depth = attrs.get("max_depth")
        for field in ("shares", "override_pct"):
            if depth is not None and field in attrs and len(attrs[field]) > depth:
                raise serializers.ValidationError({field: [too_many_levels(field, depth)]})
        return attrs


class ProgramPatchSerializer(ProgramInputSerializer):
    """Any subset of the program's settings; the code is the URL's."""

    code = None


class ProgramOutputSerializer(serializers.ModelSerializer):
    """A program with its latest terms and ``effective_from``, when those took effect."""

    shares = serializers.ListField(child=serializers.DecimalField(max_digits=9, decimal_places=4))
    override_pct = serializers.ListField(child=serializers.DecimalField(max_digits=9, decimal_places=4))
    effective_from = serializers.SerializerMethodField()

    class Meta:
        model = Program
        fields = [
            "code",
            "name",
            "model",
            "max_depth",
            "shares",
            "override_pct",
            "min_payout",
            "currency",
            "effective_from",
        ]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_effective_from(self, program: Program) -> str | None:
        at = (
            program.terms_from
            if hasattr(program, "terms_from")
            else program.terms.aggregate(at=Max("valid_from"))["at"]
        )
        return None if at is None else serializers.DateTimeField().to_representation(at)


# --- partners -----------------------------------------------------------------------------------------------------


class PartnerCreateSerializer(WithPartnerFields, InputSerializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    parent = partner_code_field(required=False, allow_null=True, default=None)
    program = serializers.SlugRelatedField(slug_field="code", queryset=Program.objects.all())
    status = serializers.ChoiceField(choices=Partner.Status.choices, default=Partner.Status.ACTIVE)
    payout_currency = KnownCurrencyField(default="USD")
    payout_method = LineTextField(max_length=32, required=False, allow_blank=True, default="")
    payout_account = LineTextField(max_length=200, required=False, allow_blank=True, default="")
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the partner's first parent and plan start (default: since always — set-up is not history).",
    )

    def validate_code(self, value: str) -> str:
        if Partner.objects.filter(code=value).exists():
            raise serializers.ValidationError("A partner with this code already exists.")
        return value


class PartnerPatchSerializer(WithPartnerFields, InputSerializer):
    """Partial update. A changed ``parent`` or ``plan`` takes effect at ``effective_from`` (default now); a
    back-dated change that would alter an approved period is a 409 naming it."""

    code = serializers.SlugField(max_length=64, required=False, help_text="Must equal the URL's code if given.")
    name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    parent = partner_code_field(required=False, allow_null=True)
    program = serializers.SlugRelatedField(slug_field="code", queryset=Program.objects.all(), required=False)
    status = serializers.ChoiceField(choices=Partner.Status.choices, required=False)
    payout_currency = KnownCurrencyField(required=False)
    payout_method = LineTextField(max_length=32, required=False, allow_blank=True)
    payout_account = LineTextField(max_length=200, required=False, allow_blank=True)
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When a changed parent, plan or status takes effect (default now; may be in the past while no "
        "approved period is affected).",
    )

    def validate_code(self, value: str) -> str:
        if value != self.context["partner"].code:
            raise serializers.ValidationError("A partner's code cannot be changed.")
        return value


class PayoutDetailsInputSerializer(InputSerializer):
    payout_method = LineTextField(max_length=32, allow_blank=True, help_text="e.g. bank_transfer, usdt")
    payout_account = LineTextField(max_length=200, allow_blank=True, help_text="IBAN, wallet address…")
    payout_currency = KnownCurrencyField(required=False)


def mask_payout_details(data: dict, context: dict) -> dict:
    """``payout_account`` masked unless the request's user may see payout details (support may not); a serializer
    without a request in its context masks too (fails closed)."""
    request = context.get("request")
    if data.get("payout_account") and not sees_payout_details(getattr(request, "user", None)):
        data["payout_account"] = masked_payout_account(data["payout_account"])
    return data


class PartnerOutputSerializer(serializers.ModelSerializer):
    """A partner with its place in the tree now: ``parent`` code, ``level`` (1 = top) and ``downline_size``,
    read from the ``tree_stats`` mapping in the context (computed once per page)."""

    program = serializers.SlugRelatedField(slug_field="code", read_only=True)
    parent = serializers.SerializerMethodField()
    level = serializers.SerializerMethodField()
    downline_size = serializers.SerializerMethodField()

    class Meta:
        model = Partner
        fields = [
            "code",
            "name",
            "email",
            "program",
            "status",
            "payout_currency",
            "payout_method",
            "payout_account",
            "parent",
            "level",
            "downline_size",
            "created_at",
        ]

    def get_fields(self):
        fields = super().get_fields()
        for name, field in PARTNER_FIELDS.items():
            output = field.output_field()
            output.source = EXTENSION_ATTRIBUTE.format(name)
            fields[name] = output
        return fields

    def to_representation(self, instance: Partner):
        if PARTNER_FIELDS and not hasattr(instance, EXTENSION_ATTRIBUTE.format(next(iter(PARTNER_FIELDS)))):
            attach_extension_values([instance])
        return mask_payout_details(super().to_representation(instance), self.context)

    def _stats(self, partner: Partner) -> TreeStats | None:
        return self.context.get("tree_stats", {}).get(partner.pk)

    def get_parent(self, partner: Partner) -> str | None:
        stats = self._stats(partner)
        return stats.parent_code if stats else None

    def get_level(self, partner: Partner) -> int | None:
        stats = self._stats(partner)
        return stats.level if stats else None

    def get_downline_size(self, partner: Partner) -> int | None:
        stats = self._stats(partner)
        return stats.downline_size if stats else None


class MoveInputSerializer(InputSerializer):
    parent = partner_code_field(allow_null=True, help_text="New parent's code; null = top of the tree.")
    effective_from = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PartnerLinkOutputSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = PartnerLink
        fields = ["partner", "parent", "valid_from", "valid_to"]


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()


class AtQuerySerializer(StrictSerializer):
    at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Instant (default now).")


class DownlineEntrySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    parent = serializers.CharField(source="parent_code")
    depth = serializers.IntegerField(source="downline_depth", help_text="1 = direct sub-IB")


class ChainEntrySerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    depth = serializers.IntegerField(source="chain_depth", help_text="0 = the partner itself, 1 = its parent, …")


class ChainOutputSerializer(serializers.Serializer):
    partner = serializers.CharField()
    at = serializers.DateTimeField()
    chain = ChainEntrySerializer(many=True)


# --- accounts -----------------------------------------------------------------------------------------------------


class AccountRowSerializer(InputSerializer):
    """One account of a bulk upsert. ``partner`` codes are checked by the service in one query. No field but the key
    has a default here: a new account gets the service's defaults, an existing one keeps what the row omits."""

    server = ServerNameField()
    login = login_field()
    currency = serializers.RegexField(_CURRENCY, required=False, help_text="New account: USD if omitted.")
    group = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text='New account: "" if omitted.'
    )
    partner = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text='The IB\'s code. Omitted: a new account has no IB, an existing one keeps its IB; null (or ""): no '
        "IB from effective_from (ends the attribution).",
    )
    earns_commission = serializers.BooleanField(required=False, help_text="New account: true if omitted.")
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the account's IB takes effect: a first IB holds since always unless dated, a change from now "
        "unless dated (back-dating is refused with a 409 once it would alter an approved period).",
    )


class UpsertCountsSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class AttributionOutputSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = AccountAttribution
        fields = ["partner", "valid_from", "valid_to"]


class AccountOutputSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(
        source="current_partner_code", read_only=True, allow_null=True, help_text="The IB now (null = none)."
    )

    class Meta:
        model = ClientAccount
        fields = ["server", "login", "currency", "group", "earns_commission", "partner", "created_at"]


class AccountDetailOutputSerializer(AccountOutputSerializer):
    attributions = serializers.SerializerMethodField()

    class Meta(AccountOutputSerializer.Meta):
        fields = [*AccountOutputSerializer.Meta.fields, "attributions"]

    @extend_schema_field(AttributionOutputSerializer(many=True))
    def get_attributions(self, account: ClientAccount) -> list[dict]:
        return AttributionOutputSerializer(self.context["attributions"], many=True).data


class AttributeInputSerializer(InputSerializer):
    partner = partner_code_field(allow_null=True, help_text="The IB's code; null = no IB from effective_from.")
    effective_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
