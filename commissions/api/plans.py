"""Plans and rebates API (staff)."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import Max
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from core.api.fields import ExactDecimalField, ServerNameField, login_field, percent_field
from core.api.filters import AccountKeyFilter
from core.api.idempotency import idempotency_exempt
from core.api.permissions import StaffPermission, requires
from core.api.serializers import InputSerializer
from partners.models import ClientAccount, Partner

from ..models import Plan, PlanRule, Rebate
from ..permissions import CHANGE_PLAN, CHANGE_REBATE, VIEW_PLAN, VIEW_REBATE
from ..services.plans import duplicate_rule_message, plan_upsert, rebate_change, rule_natural_key

# A plan's content bounds: enough for a rule per symbol and account group of a large broker, few enough that one
# request is priced (validated, matched against the stored rules) in about a second.
MAX_RULES = 1000
MAX_TIERS = 100


class TierSerializer(InputSerializer):
    from_lots = ExactDecimalField(max_digits=16, decimal_places=4, min_value=Decimal(0))
    multiplier = ExactDecimalField(max_digits=9, decimal_places=4, min_value=Decimal(0))


class RuleSerializer(InputSerializer):
    type = serializers.ChoiceField(choices=PlanRule.Type.choices)
    symbol = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    symbol_group = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    account_group = serializers.CharField(max_length=64, required=False, allow_blank=True, allow_null=True)
    rate = ExactDecimalField(max_digits=18, decimal_places=6, min_value=Decimal(0), required=False, allow_null=True)
    pct = percent_field(required=False, allow_null=True)
    priority = serializers.IntegerField(min_value=-(2**31), max_value=2**31 - 1, required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("symbol") and attrs.get("symbol_group"):
            raise serializers.ValidationError({"symbol_group": "Give a symbol or a symbol group, not both."})
        if attrs["type"] in ("per_lot", "per_million") and attrs.get("rate") is None:
            raise serializers.ValidationError({"rate": "Required for per_lot and per_million rules."})
        if attrs["type"] in ("spread_share", "commission_share") and attrs.get("pct") is None:
            raise serializers.ValidationError({"pct": "Required for spread_share and commission_share rules."})
        return attrs


class PlanInputSerializer(InputSerializer):
    """An upsert by ``code``: what is left out keeps the plan's content in force (a new plan: USD, one leg, no hold
    or points minimum, retroactive tiers, no tiers, no rules). Re-sending a plan's name alone is a rename — never a
    plan with no rules, or in another currency."""

    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text="A new plan: USD")
    both_legs = serializers.BooleanField(required=False, help_text="A new plan: false")
    min_hold_seconds = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, allow_null=True)
    min_points = ExactDecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal(0), required=False, allow_null=True
    )
    tier_mode = serializers.ChoiceField(
        choices=Plan.TierMode.choices, required=False, help_text="A new plan: retroactive"
    )
    tiers = serializers.ListField(
        child=TierSerializer(), required=False, max_length=MAX_TIERS, help_text="The whole list; a new plan: none"
    )
    rules = serializers.ListField(
        child=RuleSerializer(), required=False, max_length=MAX_RULES, help_text="The whole list; a new plan: none"
    )
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When changed content takes effect: a new plan's holds since always unless dated; a change "
        "defaults to now and may be back-dated while no approved period is affected. Earlier trades keep the terms "
        "they had.",
    )

    def validate_rules(self, rules):
        """A rule's key (type, symbol or symbol group, account group, priority) is unique within the plan: lines
        name their rule by it (``commissions.services.plans.rule_natural_key``, checked there too)."""
        first_with_key: dict[tuple, int] = {}
        duplicates = {}
        for index, rule in enumerate(rules):
            key = rule_natural_key(rule)
            if key in first_with_key:
                duplicates[index] = {"non_field_errors": [duplicate_rule_message(first_with_key[key])]}
            first_with_key.setdefault(key, index)
        if duplicates:
            raise serializers.ValidationError(duplicates)
        return rules

    def validate_tiers(self, tiers):
        starts = sorted(t["from_lots"] for t in tiers)
        if tiers and starts[0] != 0:
            raise serializers.ValidationError("The first tier must start at 0 lots.")
        if len(set(starts)) != len(starts):
            raise serializers.ValidationError("Two tiers start at the same volume.")
        return tiers


class TierOutputSerializer(serializers.Serializer):
    from_lots = serializers.DecimalField(max_digits=16, decimal_places=4, coerce_to_string=True)
    multiplier = serializers.DecimalField(max_digits=9, decimal_places=4, coerce_to_string=True)


class RuleOutputSerializer(serializers.Serializer):
    """An active rule; its key within the plan is (type, symbol or symbol group, account group, priority)."""

    type = serializers.ChoiceField(choices=PlanRule.Type.choices)
    symbol = serializers.CharField(source="instrument.symbol", default=None, allow_null=True)
    symbol_group = serializers.SerializerMethodField()
    account_group = serializers.SerializerMethodField()
    rate = serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=True, allow_null=True)
    pct = serializers.DecimalField(max_digits=9, decimal_places=4, coerce_to_string=True, allow_null=True)
    priority = serializers.IntegerField()

    def get_symbol_group(self, rule) -> str | None:
        return rule.symbol_group or None

    def get_account_group(self, rule) -> str | None:
        return rule.account_group or None


class PlanOutputSerializer(serializers.ModelSerializer):
    """A plan's latest content, with ``effective_from``, when that took effect."""

    tiers = TierOutputSerializer(many=True, read_only=True)
    rules = serializers.SerializerMethodField()
    effective_from = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [
            "code",
            "name",
            "currency",
            "both_legs",
            "min_hold_seconds",
            "min_points",
            "tier_mode",
            "tiers",
            "rules",
            "effective_from",
        ]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_effective_from(self, plan) -> str | None:
        at = getattr(plan, "terms_from", None)
        return None if at is None else serializers.DateTimeField().to_representation(at)

    @extend_schema_field(RuleOutputSerializer(many=True))
    def get_rules(self, plan) -> list[dict]:
        return RuleOutputSerializer([r for r in plan.rules.all() if r.active], many=True).data


def _plan_content(plan: Plan) -> dict:
    """The content in force of an existing plan, as ``plan_upsert`` takes it: what an upsert leaves out keeps. (The
    plan row, its tiers and active rules are kept equal to its latest terms.)"""
    return {
        "currency": plan.currency,
        "both_legs": plan.both_legs,
        "min_hold_seconds": plan.min_hold_seconds,
        "min_points": plan.min_points,
        "tier_mode": plan.tier_mode,
        "tiers": [{"from_lots": t.from_lots, "multiplier": t.multiplier} for t in plan.tiers.all()],
        "rules": [
            {
                "type": r.type,
                "symbol": r.instrument.symbol if r.instrument else None,
                "symbol_group": r.symbol_group or None,
                "account_group": r.account_group or None,
                "rate": r.rate,
                "pct": r.pct,
                "priority": r.priority,
            }
            for r in plan.rules.all()
            if r.active
        ],
    }


def _plans():
    return (
        Plan.objects.prefetch_related("tiers", "rules__instrument")
        .annotate(terms_from=Max("terms__valid_from"))
        .order_by("code")
    )


class PlanListCreateView(generics.ListAPIView):
    """``GET`` lists plans (paginated, by code); ``POST`` creates or replaces one by ``code``."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PLAN, write=CHANGE_PLAN)
    serializer_class = PlanOutputSerializer

    def get_queryset(self):
        return _plans()

    @extend_schema(request=PlanInputSerializer, responses={201: PlanOutputSerializer, 200: PlanOutputSerializer})
    @idempotency_exempt("an upsert by code: repeating it changes nothing (200 with the plan)")
    def post(self, request):
        data = PlanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existing = _plans().filter(code=data.validated_data["code"]).first()
        existed = existing is not None
        kept = {} if existing is None else _plan_content(existing)
        plan = plan_upsert(**(kept | data.validated_data))
        plan = _plans().get(pk=plan.pk)
        return Response(PlanOutputSerializer(plan).data, status=status.HTTP_200_OK if existed else 201)


class PlanDetailView(generics.RetrieveAPIView):
    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PLAN)
    serializer_class = PlanOutputSerializer
    lookup_field = "code"

    def get_queryset(self):
        return _plans()


class AccountKeySerializer(InputSerializer):
    server = ServerNameField()
    login = login_field()


class RebateInputSerializer(InputSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", queryset=Partner.objects.all())
    account = AccountKeySerializer(required=False, allow_null=True, help_text="omit for all the partner's clients")
    pct = percent_field(required=False, allow_null=True)
    per_lot = ExactDecimalField(
        max_digits=18,
        decimal_places=6,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="An amount per lot in the currency of the partner's plan (converted to USD on each trade's close "
        "day, as the plan's rates are), capped at what the partner earned on the trade.",
    )
    effective_from = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="A first rebate holds since always unless dated; a change takes effect now unless dated.",
    )

    def validate(self, attrs):
        if attrs.get("pct") is not None and attrs.get("per_lot") is not None:
            raise serializers.ValidationError({"pct": "Give pct or per_lot, not both."})
        key = attrs.get("account")
        if key:
            account = ClientAccount.objects.filter(server=key["server"], login=key["login"]).first()
            if account is None:
                raise serializers.ValidationError({"account": "Unknown account."})
            attrs["account"] = account
        return attrs


class AccountKeyOutputSerializer(serializers.Serializer):
    server = serializers.CharField()
    login = serializers.IntegerField()


class RebateOutputSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    account = serializers.SerializerMethodField()

    class Meta:
        model = Rebate
        fields = ["partner", "account", "pct", "per_lot", "valid_from", "valid_to"]

    @extend_schema_field(AccountKeyOutputSerializer(allow_null=True))
    def get_account(self, rebate) -> dict | None:
        if rebate.account_id is None:
            return None
        return {"server": rebate.account.server, "login": rebate.account.login}


class RebateFilter(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__code")
    account = AccountKeyFilter(field_name="account")

    class Meta:
        model = Rebate
        fields = ["partner", "account"]


class RebateMessageSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RebateView(generics.ListAPIView):
    """``GET`` lists the rebates in force or scheduled (open-ended), paginated, filterable by ``partner`` and
    ``account``; ``POST`` sets (or, with neither ``pct`` nor ``per_lot``, ends) one."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_REBATE, write=CHANGE_REBATE)
    serializer_class = RebateOutputSerializer
    filterset_class = RebateFilter

    def get_queryset(self):
        return (
            Rebate.objects.select_related("partner", "account")
            .filter(valid_to__isnull=True)
            .order_by("partner__code", "account__server", "account__login", "valid_from", "pk")
        )

    @extend_schema(
        request=RebateInputSerializer,
        responses={
            201: RebateOutputSerializer,
            200: PolymorphicProxySerializer(
                component_name="RebateUnchangedOrEnded",
                serializers=[RebateOutputSerializer, RebateMessageSerializer],
                resource_type_field_name=None,
            ),
        },
        description="201 with the new terms; 200 with the terms already in force (nothing changed), or "
        "``{detail}`` when ending a rebate.",
    )
    @idempotency_exempt("sets the terms in force: repeating them changes nothing (200)")
    def post(self, request):
        data = RebateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = rebate_change(**data.validated_data)
        if change.row is None:
            detail = "Rebate ended." if change.changed else "No rebate was in force then: nothing to end."
            return Response({"detail": detail}, status=status.HTTP_200_OK)
        code = status.HTTP_201_CREATED if change.changed else status.HTTP_200_OK
        return Response(RebateOutputSerializer(change.row).data, status=code)
