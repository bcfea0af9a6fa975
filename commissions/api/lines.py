"""Attribution lines API (staff): the lines of record of the commission runs, or one run's lines (``?run=``).

Lines name everything by natural keys: the trade by ``server`` + ``ticket`` (+ ``trade_version``), the partner by
code, a rebate's client by ``beneficiary_server`` + ``beneficiary_login``, the rule that priced the line by its plan's
code, the ``terms_from`` of the plan's terms that priced it (those in force at the trade's close time) and the
rule's own key (type, symbol or symbol group, account group, priority) — a key is unique within one version of a
plan's terms, not across versions, so the three together name one rule. Amounts, bases, rates and multipliers are
exact decimal strings.

``GET /lines/export/`` is the same lines (the same filters, the same lines of record) as one CSV, streamed straight
from PostgreSQL's COPY (``commissions.selectors.line_export_csv``)."""

from __future__ import annotations

import django_filters
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request

from core.api.filters import AccountKeyFilter, IntegerFilter, PeriodFilter, ServerFilter, login_filter
from core.api.permissions import StaffPermission, requires
from core.api.renderers import CSVExportMixin
from core.downloads import csv_attachment
from core.vocabulary import LineKind

from ..models import AttributionLine, PlanRule
from ..permissions import VIEW_LINE
from ..selectors import (
    LINE_EXPORT_HEADER,
    attribution_lines,
    line_export_csv,
    line_export_filename,
    with_rule_terms_from,
)


class LineRuleSerializer(serializers.Serializer):
    """The rule that priced a line, by natural key: its plan's code and the rule's key within the plan."""

    plan = serializers.CharField(source="plan.code", help_text="the plan's code")
    type = serializers.CharField()
    symbol = serializers.CharField(source="instrument.symbol", default=None, allow_null=True)
    symbol_group = serializers.SerializerMethodField()
    account_group = serializers.SerializerMethodField()
    priority = serializers.IntegerField()
    terms_from = serializers.DateTimeField(
        default=None,
        allow_null=True,
        help_text="effective_from of the plan's terms that priced the line (in force at the trade's close time): a "
        "rule's key is unique within one version of the terms",
    )
    id = serializers.IntegerField(help_text="internal id (the natural key above names the same rule)")

    def get_symbol_group(self, rule: PlanRule) -> str | None:
        return rule.symbol_group or None

    def get_account_group(self, rule: PlanRule) -> str | None:
        return rule.account_group or None


def _decimal(max_digits: int, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=max_digits, decimal_places=6, coerce_to_string=True, read_only=True, **kwargs
    )


class LineSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    server = serializers.CharField(source="trade.server", read_only=True)
    ticket = serializers.IntegerField(source="trade.ticket", read_only=True)
    trade_version = serializers.IntegerField(source="trade.version", read_only=True)
    symbol = serializers.CharField(source="trade.symbol", read_only=True)
    login = serializers.IntegerField(source="trade.login", read_only=True)
    beneficiary_server = serializers.CharField(
        source="beneficiary_account.server", read_only=True, default=None, allow_null=True
    )
    beneficiary_login = serializers.IntegerField(
        source="beneficiary_account.login", read_only=True, default=None, allow_null=True
    )
    rule = LineRuleSerializer(read_only=True, allow_null=True)
    base = _decimal(24, allow_null=True)
    rate = _decimal(18, allow_null=True)
    multiplier = _decimal(12, allow_null=True)
    amount = _decimal(20)

    def to_representation(self, line: AttributionLine) -> dict:
        if line.rule is not None:
            line.rule.terms_from = getattr(line, "rule_terms_from", None)
        return super().to_representation(line)

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
            "beneficiary_server",
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
    run = IntegerFilter(field_name="run")
    period = PeriodFilter()
    partner = django_filters.CharFilter(field_name="partner__code")
    account = AccountKeyFilter(field_name="trade")
    server = ServerFilter(field_name="trade__server")
    login = login_filter(field_name="trade__login")
    symbol = django_filters.CharFilter(field_name="trade__symbol")
    kind = django_filters.ChoiceFilter(choices=LineKind.choices)
    level = IntegerFilter(min_value=0, max_value=32767)

    class Meta:
        model = AttributionLine
        fields = ["run", "period", "partner", "account", "server", "login", "kind", "level", "symbol"]


class LineListView(generics.ListAPIView):
    """Attribution lines of record — the approved run of each period, else its computed run; never a superseded or
    failed run's unless ``run=`` names it. Filterable by run, period, partner, account (``server:login``), server,
    login, kind, level and symbol. A run's lines appear all at once when it is computed. Amounts are USD at 6
    decimal places, as exact decimal strings."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_LINE)
    serializer_class = LineSerializer
    filterset_class = LineFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no runs of record to read
            return AttributionLine.objects.none()
        lines = attribution_lines(of_record=not _names_a_run(self.request))
        return with_rule_terms_from(
            lines.select_related("partner", "trade", "beneficiary_account", "rule__plan", "rule__instrument")
        )


def _filename(request: Request) -> str:
    return line_export_filename((name, request.query_params.get(name, "")) for name in LineFilter.Meta.fields)


def _names_a_run(request: Request | None) -> bool:
    """``?run=`` names one run: its lines whatever its status (a superseded or failed run's too)."""
    return request is not None and bool(request.query_params.get("run"))


class LineExportView(CSVExportMixin, generics.GenericAPIView):
    """The lines of ``GET /lines/`` — the same filters, the same lines of record — as one CSV file, streamed from
    PostgreSQL (constant memory whatever the number of lines). A bad filter is a 400 naming it, as for the list.

    Header: ``id, run, period, server, ticket, trade_version, login, symbol, partner, partner_name,
    beneficiary_server, beneficiary_login, kind, level, rule_id, rule_plan, rule_terms_from, rule_type, rule_symbol,
    rule_symbol_group, rule_account_group, rule_priority, base, rate, tier, multiplier, amount, currency, reason,
    adjusts_period`` — one record per line, by id: the fields of ``GET /lines/`` with the rule flattened
    (``rule_*``) and the partner's name beside its code. ``base``, ``rate``, ``multiplier`` and ``amount`` are plain
    decimals at the stored 6 places; an empty field is a null (no partner, no rule, no tier), ``""`` an empty text.
    RFC 4180 (CRLF), UTF-8; text cells starting with ``= + - @``, a tab or a CR carry a leading ``'`` (formula
    injection). The file name carries the filters (``lines-2026-03.csv``)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_LINE)
    filterset_class = LineFilter
    pagination_class = None
    queryset = AttributionLine.objects.none()  # for the schema: the rows are ``line_export_csv``'s

    @extend_schema(
        filters=True,
        # ``format`` (DRF's format override) is no parameter of this export: the rows are always CSV.
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Header ``" + ",".join(LINE_EXPORT_HEADER) + "``, then one record per line of record "
                "(or of the run ``run`` names) matching the filters, by id. Amounts, bases, rates and multipliers at "
                "6 places; text cells neutralised against formula injection.",
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        lines = self.filter_queryset(attribution_lines(of_record=not _names_a_run(request)))
        return csv_attachment(line_export_csv(lines=lines), _filename(request))
