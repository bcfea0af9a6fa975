"""Ledger API (staff): daily USD rates, and a partner's statement from the posted journal."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.bulk import RowsInvalid, validated_rows
from core.api.fields import ExactDecimalField, PeriodField, positive
from core.api.filters import DateFilter
from core.api.idempotency import idempotency_exempt
from core.api.permissions import StaffPermission, requires
from core.api.serializers import InputSerializer
from core.exceptions import RowErrors
from partners.models import Partner

from ..models import ConversionRate
from ..permissions import CHANGE_RATE, VIEW_JOURNAL, VIEW_RATE
from ..selectors import partner_statement
from ..services.rates import rates_upsert
from .statements import StatementCurrencyQuerySerializer, StatementSerializer


class RateRowSerializer(InputSerializer):
    currency = serializers.RegexField(r"^[A-Z][A-Z0-9]{2,7}$")
    day = serializers.DateField()
    usd_rate = ExactDecimalField(max_digits=24, decimal_places=12, validators=[positive])


class RateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConversionRate
        fields = ["currency", "day", "usd_rate"]


class RateFilter(django_filters.FilterSet):
    currency = django_filters.CharFilter()
    day = DateFilter()
    day_from = DateFilter(field_name="day", lookup_expr="gte")
    day_to = DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = ConversionRate
        fields = ["currency", "day", "day_from", "day_to"]


class RateListApi(generics.ListAPIView):
    """``GET`` lists rates (filters ``currency``, ``day``, ``day_from``, ``day_to``, inclusive); ``POST`` upserts
    a list of ``{currency, day, usd_rate}`` on ``(currency, day)``."""

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_RATE, write=CHANGE_RATE)
    serializer_class = RateOutputSerializer
    filterset_class = RateFilter

    def get_queryset(self) -> QuerySet[ConversionRate]:
        return ConversionRate.objects.order_by("currency", "day")

    @extend_schema(
        request=RateRowSerializer(many=True),
        examples=[
            OpenApiExample(
                "Two days of EUR",
                request_only=True,
                value=[
                    {"currency": "EUR", "day": "2026-03-02", "usd_rate": "1.0842"},
                    {"currency": "EUR", "day": "2026-03-03", "usd_rate": "1.0851"},
                ],
            )
        ],
        responses={
            200: inline_serializer(
                "RateUpsertOutput",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "unchanged": serializers.IntegerField(),
                },
            ),
        },
    )
    @idempotency_exempt("an upsert on (currency, day): repeating it changes nothing (counted unchanged)")
    def post(self, request: Request) -> Response:
        rows = validated_rows(RateRowSerializer, request.data)
        try:
            return Response(rates_upsert(rows=rows))
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc


class StatementQuerySerializer(StatementCurrencyQuerySerializer):
    period = PeriodField()


class PartnerStatementView(APIView):
    """A partner's statement for one period and currency from posted (approved) journal rows: opening balance,
    totals by kind, earned (their sum), payouts and closing balance, at the currency's minor unit."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_JOURNAL)

    @extend_schema(
        parameters=[StatementQuerySerializer],
        responses={200: StatementSerializer},
    )
    def get(self, request, code: str):
        partner = get_object_or_404(Partner.objects.select_related("program"), code=code)
        query = StatementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        statement = partner_statement(
            partner=partner,
            period=query.validated_data["period"],
            currency=query.validated_data.get("currency") or partner.program.currency,
        )
        return Response(StatementSerializer(statement).data)
