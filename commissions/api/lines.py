"""Attribution lines API (staff): the lines of record of the commission runs, or one run's lines (``?run=``)."""

from __future__ import annotations

import django_filters
from rest_framework import generics, serializers

from core.api.permissions import IsStaff
from core.vocabulary import LineKind
from runs.selectors import runs_of_record

from ..models import AttributionLine


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
    kind = django_filters.ChoiceFilter(choices=LineKind.choices)

    class Meta:
        model = AttributionLine
        fields = ["run", "period", "partner", "account", "server", "kind", "level", "symbol"]


class LineListView(generics.ListAPIView):
    """Attribution lines of record — the approved run of each period, else its computed run; never a superseded or
    failed run's unless ``run=`` names it. Filterable by run, period, partner, account login, server, kind, level and
    symbol. A run's lines appear all at once when it is computed. Amounts are USD at 6 decimal places."""

    permission_classes = [IsStaff]
    serializer_class = LineSerializer
    filterset_class = LineFilter

    def get_queryset(self):
        lines = AttributionLine.objects.select_related("partner", "trade", "beneficiary_account").order_by("id")
        if self.request is not None and self.request.query_params.get("run"):
            return lines
        return lines.filter(run__in=runs_of_record(kind="commissions").values("pk"))
