"""Broker (staff) API for reference data: instruments with their aliases and symbol suffixes (rates: ``ledger``).

``POST`` bodies are lists upserted in one go (all rows valid or nothing written; errors name each bad row's index).
"""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.bulk import RowsInvalid, validated_rows
from core.api.fields import ExactDecimalField, positive
from core.api.idempotency import idempotency_exempt
from core.api.permissions import StaffPermission, requires
from core.api.serializers import InputSerializer
from core.exceptions import RowErrors

from ..models import Instrument, SymbolSuffix
from ..permissions import CHANGE_INSTRUMENT, CHANGE_SUFFIX, VIEW_INSTRUMENT, VIEW_SUFFIX
from ..services.reference_data import instruments_upsert, suffixes_upsert

# Platform names of one instrument (``EURUSD.m``, ``EURUSDpro``…), and suffixes added per request: a handful in
# practice, bounded so one request stays small.
MAX_ALIASES = 100
MAX_SUFFIXES = 100

# --- instruments --------------------------------------------------------------------------------------------------


class InstrumentRowSerializer(InputSerializer):
    symbol = serializers.CharField(max_length=32)
    group = serializers.CharField(max_length=32)
    base = serializers.CharField(max_length=8)
    quote = serializers.CharField(max_length=8)
    contract_size = ExactDecimalField(max_digits=18, decimal_places=6, validators=[positive])
    pip_size = ExactDecimalField(max_digits=18, decimal_places=10, validators=[positive])
    digits = serializers.IntegerField(
        min_value=0,
        max_value=10,
        required=False,
        allow_null=True,
        default=None,
        help_text="Quote digits as the platform reports them (EURUSD 5, USDJPY 3, a 2-digit XAUUSD 2); min_points "
        "counts points of 10^-digits. Default: FX pip places + 1, anything else its pip places.",
    )
    volume_step = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal("0.01"), validators=[positive])
    volume_min = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal("0.01"), validators=[positive])
    volume_max = ExactDecimalField(max_digits=12, decimal_places=4, default=Decimal(100), validators=[positive])
    aliases = serializers.ListField(child=serializers.CharField(max_length=48), default=list, max_length=MAX_ALIASES)

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
            "digits",
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

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_INSTRUMENT, write=CHANGE_INSTRUMENT)
    serializer_class = InstrumentOutputSerializer
    filterset_class = InstrumentFilter

    def get_queryset(self) -> QuerySet[Instrument]:
        return Instrument.objects.prefetch_related("aliases").order_by("symbol")

    @extend_schema(
        request=InstrumentRowSerializer(many=True),
        examples=[
            OpenApiExample(
                "EURUSD with an alias",
                request_only=True,
                value=[
                    {
                        "symbol": "EURUSD",
                        "group": "forex_major",
                        "base": "EUR",
                        "quote": "USD",
                        "contract_size": "100000",
                        "pip_size": "0.0001",
                        "digits": 5,
                        "volume_step": "0.01",
                        "volume_min": "0.01",
                        "volume_max": "100",
                        "aliases": ["EURUSD.m"],
                    }
                ],
            )
        ],
        responses={200: InstrumentUpsertOutput},
    )
    @idempotency_exempt("an upsert by symbol: repeating it changes nothing (counted unchanged)")
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


class SuffixInputSerializer(InputSerializer):
    suffixes = serializers.ListField(
        child=serializers.CharField(max_length=16, trim_whitespace=False), min_length=1, max_length=MAX_SUFFIXES
    )


class SuffixListApi(generics.ListAPIView):
    """``GET`` lists broker symbol suffixes; ``POST {"suffixes": [...]}`` adds them (existing ones are kept)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_SUFFIX, write=CHANGE_SUFFIX)
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
    @idempotency_exempt("adds suffixes, keeping those that exist: repeating it changes nothing")
    def post(self, request: Request) -> Response:
        data = SuffixInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(suffixes_upsert(suffixes=data.validated_data["suffixes"]))
