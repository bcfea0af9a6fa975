"""Broker (staff) API for trades: push trades (``POST /trades/``), list and look them up, read import reports.

``POST /trades/`` takes a list of at most 10 000 trade objects shaped like the generic CSV and runs them through
exactly the file ingest's validation and write path: each bad object is reported with its 0-based ``index`` and
field errors (``{field: [reasons]}``, like every field error), the good ones are kept. Only a body that is not a list,
is empty or too long, is nested too deep, or holds a NUL character, is a 400.
"""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.api.bulk import MAX_ROWS
from core.api.fields import ServerNameField, login_field, ticket_field
from core.api.filters import ServerFilter, TrueFalseFilter, login_filter, ticket_filter
from core.api.idempotency import idempotency_exempt
from core.api.permissions import StaffPermission, requires
from core.api.serializers import InputSerializer

from ..models import Trade, TradeImport
from ..permissions import ADD_TRADE, VIEW_IMPORT, VIEW_TRADE
from ..services.trade_ingest import trades_ingest_records

MAX_TRADES_PER_REQUEST = MAX_ROWS  # documented as the body's maxItems, like every bulk body

# --- selectors (reads) --------------------------------------------------------------------------------------------


class TradeFilter(django_filters.FilterSet):
    """Filters of ``GET /trades/``; ``current`` defaults to true (only the current version of each trade)."""

    server = ServerFilter()
    login = login_filter()
    ticket = ticket_filter()
    symbol = django_filters.CharFilter(
        method="filter_symbol", help_text="The platform symbol or the instrument's symbol (case-insensitive)."
    )
    status = django_filters.ChoiceFilter(choices=Trade.Status.choices)
    unresolved = TrueFalseFilter(
        field_name="instrument", lookup_expr="isnull", help_text="true: only trades whose symbol is not mapped yet."
    )
    current = TrueFalseFilter(
        field_name="is_current", help_text="true (default): current versions only; false: superseded ones only."
    )

    class Meta:
        model = Trade
        fields = ["server", "login", "ticket", "symbol", "status", "unresolved", "current"]

    def __init__(self, data=None, *args, **kwargs):
        data = data.copy() if data is not None else {}
        data.setdefault("current", "true")
        super().__init__(data, *args, **kwargs)

    def filter_symbol(self, queryset: QuerySet[Trade], name: str, value: str) -> QuerySet[Trade]:
        return queryset.filter(Q(symbol__iexact=value) | Q(instrument__symbol__iexact=value))


def trade_versions(*, server: str, ticket: int) -> list[Trade]:
    """Every version of one trade, oldest first (empty if the trade is unknown)."""
    return list(Trade.objects.filter(server=server, ticket=ticket).select_related("instrument").order_by("version"))


# --- serializers --------------------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "decimal"})
class DecimalText(serializers.CharField):
    """An exact decimal sent as a JSON string, documented as one (the ingest parses it, with its own limits)."""


class TradeInputSerializer(InputSerializer):
    """One pushed trade: the generic CSV's columns (documentation of the body; the ingest validates it)."""

    server = ServerNameField()
    ticket = ticket_field()
    login = login_field()
    symbol = serializers.CharField(max_length=48)
    side = serializers.ChoiceField(choices=["buy", "sell"])
    lots = DecimalText(help_text='Exact decimal string > 0, at most 4 places, e.g. "0.10"')
    open_time = serializers.CharField(help_text="ISO 8601; UTC unless an offset is given")
    open_price = DecimalText(help_text="Exact decimal string, at most 10 places")
    close_time = serializers.CharField(help_text="ISO 8601; UTC unless an offset is given; not before open_time")
    close_price = DecimalText(help_text="Exact decimal string, at most 10 places")
    profit = DecimalText(help_text="Exact decimal string in account currency, at most 6 places")
    swap = DecimalText(help_text="Exact decimal string, at most 6 places")
    commission = DecimalText(help_text="Exact decimal string (client commission), at most 6 places")
    spread_pips = DecimalText(required=False, allow_null=True, help_text="Optional spread markup in pips")
    master_ticket = ticket_field(required=False, allow_null=True, help_text="MAM master ticket")
    # Plain strings for "status" here and below: drf-spectacular would otherwise name clashing enums of other apps.
    status = serializers.CharField(required=False, help_text="closed (default) or cancelled")


def field_errors(errors: dict | list | str) -> dict[str, list[str]]:
    """A stored rejection's errors (the ingest's ``{field: reason}``, its ``row`` for the row as a whole) in the API's
    one field-errors shape, the one bulk 400s use: ``{field: [reasons]}``, the row as a whole under
    ``non_field_errors``."""
    if not isinstance(errors, dict):
        errors = {"row": errors}
    out: dict[str, list[str]] = {}
    for field, reasons in errors.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == "row" else field
        out.setdefault(key, []).extend([reasons] if isinstance(reasons, str) else [str(r) for r in reasons])
    return out


def rejections_output(rejections: list[dict]) -> list[dict]:
    return [{**r, "errors": field_errors(r.get("errors", {}))} for r in rejections or []]


class RejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="0-based position of the rejected object in the request body")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="field → reasons (``non_field_errors``: the row as a whole), as in every bulk error",
    )


class ImportRejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, help_text="the file's line (header = 1), for a file import")
    index = serializers.IntegerField(required=False, help_text="0-based position in the body, for an API push")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class TradeIngestResultSerializer(serializers.Serializer):
    import_id = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField(help_text="Trades that got a new version (changed or cancelled)")
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField(help_text="Earlier duplicates of the same (server, ticket) in the body")
    rejected = RejectionSerializer(many=True)
    unresolved_symbols = serializers.DictField(
        child=serializers.IntegerField(), help_text="Stored trades whose symbol is not mapped to an instrument yet"
    )


class TradeOutputSerializer(serializers.ModelSerializer):
    instrument = serializers.SlugRelatedField(slug_field="symbol", read_only=True, allow_null=True)
    status = serializers.CharField(read_only=True, help_text="closed or cancelled")
    side = serializers.CharField(source="get_side_display")
    import_id = serializers.IntegerField(source="trade_import_id", allow_null=True)

    class Meta:
        model = Trade
        fields = [
            "server",
            "ticket",
            "version",
            "is_current",
            "status",
            "login",
            "symbol",
            "instrument",
            "side",
            "lots",
            "open_time",
            "open_price",
            "close_time",
            "close_price",
            "profit",
            "swap",
            "commission",
            "spread_pips",
            "master_ticket",
            "content_hash",
            "import_id",
            "ingested_at",
            "superseded_at",
        ]


class TradeDetailSerializer(TradeOutputSerializer):
    versions = serializers.SerializerMethodField()

    class Meta(TradeOutputSerializer.Meta):
        fields = [*TradeOutputSerializer.Meta.fields, "versions"]

    @extend_schema_field(TradeOutputSerializer(many=True))
    def get_versions(self, obj: Trade) -> list[dict]:
        return TradeOutputSerializer(self.context["versions"], many=True).data


class TradeImportSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="running, done or failed")
    rejections = serializers.SerializerMethodField(help_text="the first 1000 rejected rows")

    @extend_schema_field(ImportRejectionSerializer(many=True))
    def get_rejections(self, trade_import: TradeImport) -> list[dict]:
        return rejections_output(trade_import.rejections)

    class Meta:
        model = TradeImport
        fields = [
            "id",
            "format",
            "source_name",
            "server",
            "status",
            "started_at",
            "finished_at",
            "rows_read",
            "created",
            "updated",
            "unchanged",
            "skipped",
            "skipped_reasons",
            "rejected",
            "rejections",
            "unresolved",
            "unresolved_symbols",
            "error",
        ]


# --- views --------------------------------------------------------------------------------------------------------


class TradeListApi(generics.ListAPIView):
    """``GET`` lists trades (filters ``server, login, ticket, symbol, status, unresolved, current``); ``POST``
    ingests a list of trades."""

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_TRADE, write=ADD_TRADE)
    serializer_class = TradeOutputSerializer
    filterset_class = TradeFilter  # invalid values answer 400 with field errors

    def get_queryset(self) -> QuerySet[Trade]:
        return Trade.objects.select_related("instrument").order_by("server", "ticket", "version")

    @extend_schema(
        request=TradeInputSerializer(many=True),
        responses={200: TradeIngestResultSerializer},
        examples=[
            OpenApiExample(
                "A closed EURUSD trade",
                request_only=True,
                value=[
                    {
                        "server": "live1",
                        "ticket": 5001,
                        "login": 1001,
                        "symbol": "EURUSD.m",
                        "side": "buy",
                        "lots": "1.00",
                        "open_time": "2026-03-10T10:00:00Z",
                        "open_price": "1.08000",
                        "close_time": "2026-03-10T12:00:00+02:00",
                        "close_price": "1.08100",
                        "profit": "100.00",
                        "swap": "0",
                        "commission": "-7.00",
                        "status": "closed",
                    }
                ],
            ),
            OpenApiExample(
                "Result with a rejected row",
                response_only=True,
                value={
                    "import_id": 12,
                    "created": 1,
                    "updated": 0,
                    "unchanged": 0,
                    "skipped": 0,
                    "rejected": [{"index": 1, "errors": {"lots": ["must be greater than 0"]}}],
                    "unresolved_symbols": {},
                },
            ),
        ],
    )
    @idempotency_exempt(
        "a content-addressed ingest: a repeated push finds every trade unchanged (only its import report is new)"
    )
    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, list):
            raise ValidationError({"non_field_errors": ["Expected a JSON list of trade objects."]})
        if not body:
            raise ValidationError({"non_field_errors": ["Send at least one trade."]})
        if len(body) > MAX_TRADES_PER_REQUEST:
            raise ValidationError(
                {"non_field_errors": [f"At most {MAX_TRADES_PER_REQUEST} trades per request; got {len(body)}."]}
            )
        trade_import = trades_ingest_records(records=body, user=request.user, source_name=_client_name(request))
        if trade_import.status == TradeImport.Status.FAILED:
            raise ValidationError({"non_field_errors": [trade_import.error]})
        result = {
            "import_id": trade_import.pk,
            "created": trade_import.created,
            "updated": trade_import.updated,
            "unchanged": trade_import.unchanged,
            "skipped": trade_import.skipped,
            "rejected": rejections_output(trade_import.rejections),
            "unresolved_symbols": trade_import.unresolved_symbols,
        }
        return Response(TradeIngestResultSerializer(result).data)


class TradeDetailApi(generics.GenericAPIView):
    """The current version of a trade, addressed by ``server`` and ``ticket``, with all its ``versions``."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_TRADE)
    serializer_class = TradeDetailSerializer

    def get(self, request: Request, server: str, ticket: int) -> Response:
        versions = trade_versions(server=server, ticket=ticket)
        current = [v for v in versions if v.is_current]
        if not current:
            raise NotFound(f"No trade {ticket} on server {server}.")
        return Response(TradeDetailSerializer(current[0], context={"versions": versions}).data)


class TradeImportListApi(generics.ListAPIView):
    """Imports (files, uploads, API calls), newest first, with their reports."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_IMPORT)
    serializer_class = TradeImportSerializer
    queryset = TradeImport.objects.order_by("-started_at", "-id")


class TradeImportDetailApi(generics.RetrieveAPIView):
    """One import's report: counts, skipped reasons, rejected rows (first 1000) and unresolved symbols."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_IMPORT)
    serializer_class = TradeImportSerializer
    queryset = TradeImport.objects.all()


def _client_name(request: Request) -> str:
    user = request.user
    return f"api:{user.get_username()}" if user and user.is_authenticated else "api"
