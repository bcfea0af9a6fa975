"""``GET /api/v1/reconciliation/?period=[&area=]`` (staff): a period's reconciliation — every registered check's
figures and flagged differences with the rows behind them (``ledger.reconciliation``); amounts are strings. And
``GET /api/v1/reconciliation/export/?period=[&area=]``: the same as CSV (``ledger.reconciliation.export``: RFC 4180,
UTF-8, formula-safe, streamed). Errors answer JSON whatever the ``Accept`` header."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.fields import AmountField, PeriodField
from core.api.permissions import StaffPermission, requires
from core.api.renderers import CSVExportMixin
from core.downloads import csv_attachment

from ..permissions import VIEW_RECONCILIATION
from ..reconciliation.export import HEADER, reconciliation_csv
from ..reconciliation.registry import EvidenceType, Status, areas, reconcile


class ReconciliationQuerySerializer(serializers.Serializer):
    period = PeriodField()
    area = serializers.ChoiceField(choices=[], required=False, help_text="Only the checks of one area (default all)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].choices = areas()  # the areas of the checks the installed apps register


class EvidenceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EvidenceType.choices)
    id = serializers.IntegerField()
    label = serializers.CharField()
    amount = AmountField(allow_null=True)


class RowSerializer(serializers.Serializer):
    subject = serializers.CharField()
    detail = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    count = serializers.IntegerField(allow_null=True)
    lots = AmountField(allow_null=True)
    expected = AmountField(allow_null=True, help_text="What the source says (lines rounded as posted; 0 net)")
    actual = AmountField(allow_null=True, help_text="What the journal holds")
    difference = AmountField(allow_null=True, help_text="actual − expected")
    note = serializers.CharField()
    evidence = EvidenceSerializer(many=True, help_text="The rows behind a difference (the first ones)")
    evidence_total = serializers.IntegerField(allow_null=True, help_text="How many rows are behind it in all")


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    area = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    note = serializers.CharField()
    rows = RowSerializer(many=True)


class ReconciliationSerializer(serializers.Serializer):
    period = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    checks = CheckSerializer(many=True)


def _query(request: Request) -> dict:
    query = ReconciliationQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    area = query.validated_data.get("area")
    return {"period": query.validated_data["period"], "areas": [area] if area else None}


class ReconciliationApi(APIView):
    """A period's reconciliation: trades vs lines, lines vs postings, the trial balance, payable postings no check
    reconciles (and payouts vs payable once payout batches register their check)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_RECONCILIATION)

    @extend_schema(parameters=[ReconciliationQuerySerializer], responses={200: ReconciliationSerializer})
    def get(self, request: Request) -> Response:
        return Response(ReconciliationSerializer(reconcile(**_query(request))).data)


class ReconciliationExportApi(CSVExportMixin, APIView):
    """The period's reconciliation as CSV: a line per figure, then a line per evidence row of a flagged one. CSV only
    (``CSVExportMixin``, as every export: asking for JSON is a 406) and errors in JSON."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_RECONCILIATION)

    @extend_schema(
        parameters=[ReconciliationQuerySerializer, OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description=f"Header ``{','.join(HEADER)}``, then one line per figure of each check and one per "
                "evidence row behind a difference (``evidence_*`` filled).",
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = _query(request)
        return csv_attachment(reconciliation_csv(reconcile(**query)), f"reconciliation-{query['period']}.csv")
