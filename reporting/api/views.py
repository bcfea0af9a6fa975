"""The partner API (``/api/v1/me/…``, API.md "Partner resources"): a partner's own data, read-only here (its
tokens are ``tokens.py``). Every route is the partner's own (``PartnerPermission``: staff get a 403) and reads
through ``reporting.selectors``, which start from the partner: what is outside its scope matches nothing (a 404 for
an object, nothing listed in a list)."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.filters import AccountKeyFilter, PeriodFilter
from core.api.renderers import CSVRenderer, JSONRenderer
from core.csv_export import csv_lines
from core.downloads import csv_attachment
from core.periods import server_period
from core.vocabulary import LineKind
from ledger.api.statements import StatementCurrencyQuerySerializer, StatementSerializer
from ledger.selectors import partner_statement
from partners.models import ClientAccount, Partner

from ..exports import statement_csv, statement_pdf
from ..selectors import (
    ZERO,
    client_figures,
    current_period,
    earned_by_direct_ib,
    lines_of_sub_ib,
    me_clients,
    me_downline,
    me_lines,
    me_payout_lines,
    me_profile,
    me_summary,
    volume_by_direct_ib,
)
from . import serializers as s
from .permissions import PartnerPermission


class PDFRenderer(CSVRenderer):
    """Names the PDF a statement answers (content negotiation); the view writes the file itself."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None


class MultiFormatMixin:
    """A route answering JSON and files: its errors are JSON whatever format was asked (as ``CSVExportMixin``)."""

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class PartnerView:
    permission_classes = [PartnerPermission]


def _period(request) -> str:
    query = s.PeriodQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data.get("period") or current_period()


class MeView(PartnerView, APIView):
    """The calling partner: its place in the tree, program and plan, payout details (the account masked), and its
    referral code with the links built on it (``IBEX_PORTAL_BASE_URL``)."""

    @extend_schema(responses={200: s.MeSerializer})
    def get(self, request):
        return Response(s.MeSerializer(me_profile(self.partner)).data)


class MeLineFilter(django_filters.FilterSet):
    period = PeriodFilter()
    symbol = django_filters.CharFilter(field_name="trade__symbol", max_length=64)
    account = AccountKeyFilter(field_name="trade")
    sub_ib = django_filters.CharFilter(
        method="filter_sub_ib", max_length=64, help_text="a sub-IB's code: lines on trades of its own clients"
    )
    kind = django_filters.ChoiceFilter(choices=LineKind.choices)

    def filter_sub_ib(self, queryset, name, value):
        return lines_of_sub_ib(queryset, value)


LINE_CSV_HEADER = (
    "id",
    "run",
    "period",
    "server",
    "ticket",
    "trade_version",
    "login",
    "symbol",
    "kind",
    "level",
    "rule_plan",
    "rule_type",
    "base",
    "rate",
    "tier",
    "multiplier",
    "amount",
    "currency",
    "reason",
    "adjusts_period",
    "explanation",
)


# The JSON's exact decimal strings, written back as numbers: as text, a negative amount would be neutralised against
# formula injection ("'-5.000000") and no longer read as a number.
LINE_CSV_DECIMALS = frozenset({"base", "rate", "multiplier", "amount"})


def _line_csv_cell(data, name):
    value = data[name]
    return Decimal(value) if name in LINE_CSV_DECIMALS and value is not None else value


def _line_csv_rows(lines):
    for line in lines.iterator(chunk_size=2000):
        data = s.MeLineSerializer(line).data
        rule = data["rule"] or {}
        yield [
            *(_line_csv_cell(data, name) for name in LINE_CSV_HEADER[:10]),
            rule.get("plan"),
            rule.get("type"),
            *(_line_csv_cell(data, name) for name in LINE_CSV_HEADER[12:]),
        ]


class MeLinesView(MultiFormatMixin, PartnerView, generics.ListAPIView):
    """The partner's own commission lines of record (each period's approved run, else its computed one), each
    explained in words. Filters: period, symbol, client account (``server:login``), sub-IB (the code of the trade's
    direct IB: lines earned on that sub-IB's clients) and kind. ``?format=csv``: the same lines, every page, as one
    streamed CSV (header ``LINE_CSV_HEADER``; amounts plain decimals, text cells formula-safe)."""

    serializer_class = s.MeLineSerializer
    filterset_class = MeLineFilter
    renderer_classes = [JSONRenderer, CSVRenderer]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            from commissions.models import AttributionLine

            return AttributionLine.objects.none()
        return me_lines(self.partner)

    @extend_schema(
        responses={
            200: s.MeLineSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the lines as CSV"),
        }
    )
    def get(self, request, *args, **kwargs):
        if request.accepted_renderer.format == "csv":
            lines = self.filter_queryset(self.get_queryset())
            return csv_attachment(csv_lines(LINE_CSV_HEADER, _line_csv_rows(lines)), "lines.csv")
        return self.list(request, *args, **kwargs)


class _PeriodListView(PartnerView, generics.ListAPIView):
    """A page of rows (``rows``) with each one's figures of the period (``figures``: a fixed number of queries for
    the page, whatever its size)."""

    def get_queryset(self):
        return self.model.objects.none() if getattr(self, "swagger_fake_view", False) else self.rows()

    @extend_schema(parameters=[s.PeriodQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        period = _period(request)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(self.figures(page, period), many=True).data)


class MeDownlineView(_PeriodListView):
    """The partner's sub-IBs now (every depth, by depth and code), each with the lots its own clients traded in the
    period and what the partner earned on those trades (``?period=``, default the current period)."""

    serializer_class = s.DownlineSerializer
    model = Partner

    def rows(self):
        return [partner for partner, _ in me_downline(self.partner)]

    def figures(self, page, period):
        volumes = volume_by_direct_ib(partner_ids=[p.pk for p in page], period=period)
        earned = earned_by_direct_ib(partner=self.partner, period=period)
        for partner in page:
            partner.period = period
            partner.volume = volumes.get(partner.pk, ZERO)
            partner.earned = earned.get(partner.pk, ZERO)
        return page


class MeClientsView(_PeriodListView):
    """The accounts attributed to the partner now, each with the lots it traded in the period (``?period=``,
    default the current one) and what the partner earned on them. Accounts carry no e-mail on this platform (the
    CRM's feed sends none), so none is shown."""

    serializer_class = s.ClientSerializer
    model = ClientAccount

    def rows(self):
        return me_clients(self.partner)

    def figures(self, page, period):
        figures = client_figures(partner=self.partner, account_ids=[a.pk for a in page], period=period)
        for account in page:
            found = figures.get(account.pk)
            account.period = period
            account.volume = found.volume if found else ZERO
            account.earned = found.earned if found else ZERO
        return page


class MePayoutsView(PartnerView, generics.ListAPIView):
    """The partner's payout lines, newest batch first: batch, period, amount and currency, whether paid or failed
    (with the bank's reason)."""

    serializer_class = s.PayoutSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            from ledger.models import PayoutLine

            return PayoutLine.objects.none()
        return me_payout_lines(self.partner)


class MeStatementView(MultiFormatMixin, PartnerView, APIView):
    """The partner's statement for one period from posted (approved) journal rows — the figures of the broker's
    ``GET /partners/{code}/statement/``: opening balance, totals by kind, earned, payouts, closing balance, at the
    currency's minor unit. ``?format=csv`` (header ``partner,period,currency,item,kind,amount``) and
    ``?format=pdf`` give the same figures as files. A period that is no month is a 404."""

    renderer_classes = [JSONRenderer, CSVRenderer, PDFRenderer]

    @extend_schema(
        parameters=[
            StatementCurrencyQuerySerializer,
            OpenApiParameter("period", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[0-9]{4}-[0-9]{2}$"),
        ],
        responses={
            200: StatementSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the statement as CSV"),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the statement as PDF"),
        },
    )
    def get(self, request, period: str):
        try:
            server_period(period)
        except ValueError:
            raise Http404 from None
        query = StatementCurrencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        currency = query.validated_data.get("currency") or self.partner.program.currency
        statement = partner_statement(partner=self.partner, period=period, currency=currency)
        name = f"statement-{self.partner.code}-{period}"
        if request.accepted_renderer.format == "csv":
            return csv_attachment(statement_csv(statement), f"{name}.csv")
        if request.accepted_renderer.format == "pdf":
            response = HttpResponse(statement_pdf(statement, partner_name=self.partner.name), "application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
            return response
        return Response(StatementSerializer(statement).data)


class MeSummaryView(PartnerView, APIView):
    """The partner's period at a glance (``?period=``, default the current one): its clients' volume and, once the
    period's commission run is approved, its earnings by kind. ``estimate`` is null: the open period's estimate is
    refreshed by a beat task that is not built yet."""

    @extend_schema(parameters=[s.PeriodQuerySerializer], responses={200: s.SummarySerializer})
    def get(self, request):
        return Response(s.SummarySerializer(me_summary(partner=self.partner, period=_period(request))).data)
