"""Runs, lines and statements API (staff): thin views over the run, journal and statement services."""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import idempotent
from core.api.permissions import IsStaff
from partners.models import Partner

from ..models import AttributionLine, Run
from ..selectors import partner_statement
from ..services.journal import run_approve
from ..services.runs import run_request

PERIOD_RE = r"^\d{4}-(0[1-9]|1[0-2])$"


class RunCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[Run.Kind.COMMISSIONS])
    period = serializers.RegexField(PERIOD_RE, error_messages={"invalid": "Use YYYY-MM."})
    recompute = serializers.BooleanField(default=False, help_text="Supersede a computed, unapproved run")


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = [
            "id",
            "kind",
            "period",
            "status",
            "chunks_done",
            "chunks_total",
            "totals",
            "error",
            "created_at",
            "computed_at",
            "approved_at",
        ]


class RunCreateView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=RunCreateSerializer, responses={202: RunSerializer, 200: RunSerializer})
    @idempotent
    def post(self, request):
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_request(user=request.user, **data.validated_data)
        result.run.refresh_from_db()
        code = status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK
        return Response(RunSerializer(result.run).data, status=code)


class RunDetailView(generics.RetrieveAPIView):
    permission_classes = [IsStaff]
    serializer_class = RunSerializer
    queryset = Run.objects.all()


class RunApproveView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses={200: RunSerializer})
    @idempotent
    def post(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        run = run_approve(run_id=run.pk, user=request.user)
        return Response(RunSerializer(run).data)


class LineSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    server = serializers.CharField(source="trade.server", read_only=True)
    ticket = serializers.IntegerField(source="trade.ticket", read_only=True)
    trade_version = serializers.IntegerField(source="trade.version", read_only=True)
    symbol = serializers.CharField(source="trade.symbol", read_only=True)
    login = serializers.IntegerField(source="trade.login", read_only=True)
    beneficiary_login = serializers.IntegerField(source="beneficiary_account.login", read_only=True, default=None)
    base = serializers.DecimalField(max_digits=24, decimal_places=6, read_only=True)
    rate = serializers.DecimalField(max_digits=18, decimal_places=6, read_only=True)
    multiplier = serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True)

    class Meta:
        model = AttributionLine
        fields = [
            "id",
            "run",
            "period",
            "server",
            "ticket",
            "trade_version",
            "login",
            "symbol",
            "partner",
            "beneficiary_login",
            "kind",
            "level",
            "rule",
            "base",
            "rate",
            "tier",
            "multiplier",
            "amount",
            "currency",
            "reason",
            "adjusts_period",
        ]


class LineFilter(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__code")
    account = django_filters.NumberFilter(field_name="trade__login", label="account login")
    server = django_filters.CharFilter(field_name="trade__server")
    symbol = django_filters.CharFilter(field_name="trade__symbol")
    kind = django_filters.ChoiceFilter(choices=AttributionLine.Kind.choices)

    class Meta:
        model = AttributionLine
        fields = ["run", "period", "partner", "account", "server", "kind", "level", "symbol"]


class LineListView(generics.ListAPIView):
    """Attribution lines, filterable by run, period, partner, account login, server, kind, level and symbol.

    A run's lines appear all at once when it is computed: a queued or running run has none yet, a failed one none
    at all. Amounts are USD at 6 decimal places."""

    permission_classes = [IsStaff]
    serializer_class = LineSerializer
    filterset_class = LineFilter
    queryset = AttributionLine.objects.select_related("partner", "trade", "beneficiary_account").order_by("id")


class StatementSerializer(serializers.Serializer):
    partner = serializers.CharField()
    period = serializers.CharField()
    currency = serializers.CharField()
    opening_balance = serializers.DecimalField(max_digits=24, decimal_places=2)
    totals = serializers.DictField(child=serializers.DecimalField(max_digits=24, decimal_places=2))
    earned = serializers.DecimalField(max_digits=24, decimal_places=2)
    payouts = serializers.DecimalField(max_digits=24, decimal_places=2)
    closing_balance = serializers.DecimalField(max_digits=24, decimal_places=2)


class PeriodQuerySerializer(serializers.Serializer):
    period = serializers.RegexField(PERIOD_RE, error_messages={"invalid": "Use YYYY-MM."})


class PartnerStatementView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[OpenApiParameter("period", str, required=True, description="YYYY-MM")],
        responses={200: StatementSerializer},
    )
    def get(self, request, code: str):
        partner = get_object_or_404(Partner, code=code)
        query = PeriodQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        statement = partner_statement(partner=partner, period=query.validated_data["period"])
        return Response(StatementSerializer(statement).data)
