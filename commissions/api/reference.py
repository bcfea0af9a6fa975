"""Broker (staff) API for reference data: instruments with their aliases, symbol suffixes and daily USD rates.

``POST`` bodies are lists upserted in one go (all rows valid or nothing written; errors name each bad row's index).
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.fields import ExactDecimalField
from core.api.permissions import IsStaff
from partners.api.bulk import RowsInvalid, validated_rows
from partners.api.serializers import RowErrorsOutputSerializer
from partners.services.errors import RowErrors

from ..models import ConversionRate, Instrument, SymbolSuffix
from ..services.reference_data import instruments_upsert, rates_upsert, suffixes_upsert

_POSITIVE = Decimal("0")


def _positive(value: Decimal) -> Decimal:
    if value <= _POSITIVE:
        raise serializers.ValidationError("Must be greater than zero.")
    return value


# --- instruments --------------------------------------------------------------------------------------------------


class InstrumentRowSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=32)
    group = serializers.CharField(max_length=32)
    base = serializers.CharField(max_length=8)
    quote = serializers.CharField(max_length=8)
    contract_size = ExactDecimalField(max_digits=18, decimal_places=6, validators=[_positive])
    pip_size = ExactDecimalField(max_digits=18, decimal_places=10, validators=[_positive])
    volume_step = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal("0.01"), validators=[_positive])
    volume_min = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal("0.01"), validators=[_positive])
    volume_max = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal(100), validators=[_positive])
    aliases = serializers.ListField(child=serializers.CharField(max_length=48), default=list)

    def validate(self, attrs: dict) -> dict:
        if attrs["volume_max"] < attrs["volume_min"]:
            raise serializers.ValidationError({"volume_max": "Must not be below volume_min."})
        return attrs


class InstrumentOutputSerializer(serializers.ModelSerializer):
    aliases = serializers.SlugRelatedField(slug_field="alias", many=True, read_only=True)

    class Meta:
        model = Instrument
        fields = [
            "symbol",
            "group",
            "base",
            "quote",
            "contract_size",
            "pip_size",
            "volume_step",
            "volume_min",
            "volume_max",
            "aliases",
        ]


class InstrumentFilter(django_filters.FilterSet):
    symbol = django_filters.CharFilter()
    group = django_filters.CharFilter()

    class Meta:
        model = Instrument
        fields = ["symbol", "group"]


InstrumentUpsertOutput = inline_serializer(
    "InstrumentUpsertOutput",
    {
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "unchanged": serializers.IntegerField(),
        "trades_resolved": serializers.IntegerField(help_text="Stored trades whose symbol became known"),
    },
)


class InstrumentListApi(generics.ListAPIView):
    """``GET`` lists instruments with their aliases; ``POST`` upserts a list of instruments by ``symbol``."""

    permission_classes = [IsStaff]
    serializer_class = InstrumentOutputSerializer
    filterset_class = InstrumentFilter

    def get_queryset(self) -> QuerySet[Instrument]:
        return Instrument.objects.prefetch_related("aliases").order_by("symbol")

    @extend_schema(
        request=InstrumentRowSerializer(many=True),
        responses={200: InstrumentUpsertOutput, 400: RowErrorsOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        rows = validated_rows(InstrumentRowSerializer, request.data)
        try:
            return Response(instruments_upsert(rows=rows))
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc


# --- symbol suffixes ----------------------------------------------------------------------------------------------


class SuffixOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SymbolSuffix
        fields = ["suffix"]


class SuffixInputSerializer(serializers.Serializer):
    suffixes = serializers.ListField(child=serializers.CharField(max_length=16, trim_whitespace=False), min_length=1)


class SuffixListApi(generics.ListAPIView):
    """``GET`` lists broker symbol suffixes; ``POST {"suffixes": [...]}`` adds them (existing ones are kept)."""

    permission_classes = [IsStaff]
    serializer_class = SuffixOutputSerializer

    def get_queryset(self) -> QuerySet[SymbolSuffix]:
        return SymbolSuffix.objects.order_by("suffix")

    @extend_schema(
        request=SuffixInputSerializer,
        responses={
            200: inline_serializer(
                "SuffixUpsertOutput",
                {
                    "created": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                    "trades_resolved": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        data = SuffixInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(suffixes_upsert(suffixes=data.validated_data["suffixes"]))


# --- conversion rates ---------------------------------------------------------------------------------------------


class RateRowSerializer(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Z][A-Z0-9]{2,7}$")
    day = serializers.DateField()
    usd_rate = ExactDecimalField(max_digits=24, decimal_places=12, validators=[_positive])


class RateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConversionRate
        fields = ["currency", "day", "usd_rate"]


class RateFilter(django_filters.FilterSet):
    currency = django_filters.CharFilter()
    day = django_filters.DateFilter()
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = ConversionRate
        fields = ["currency", "day", "day_from", "day_to"]


class RateListApi(generics.ListAPIView):
    """``GET`` lists rates (filters ``currency``, ``day``, ``day_from``, ``day_to``, inclusive); ``POST`` upserts
    a list of ``{currency, day, usd_rate}`` on ``(currency, day)``."""

    permission_classes = [IsStaff]
    serializer_class = RateOutputSerializer
    filterset_class = RateFilter

    def get_queryset(self) -> QuerySet[ConversionRate]:
        return ConversionRate.objects.order_by("currency", "day")

    @extend_schema(
        request=RateRowSerializer(many=True),
        responses={
            200: inline_serializer(
                "RateUpsertOutput",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                },
            ),
            400: RowErrorsOutputSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        rows = validated_rows(RateRowSerializer, request.data)
        try:
            return Response(rates_upsert(rows=rows))
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc
