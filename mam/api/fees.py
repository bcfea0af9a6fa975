"""Fee reports and the export of approved fees, under ``/api/v1/mam/`` (staff). Thin views over ``fee_selectors``.

- ``GET /groups/{code}/fees/?period=`` lists, per crystallisation of each member, the fees of the group's fee run of
  record (the approved run covering the period, else the computed one): management and performance fee, the IB's
  share, the high-water mark before and after and the figures the fees came from. Without ``period``: every
  period's run of record, latest period first. Amounts are strings at the lines' 6 places.
- ``GET /fees/export/?period=[&group=]`` streams the period's approved fees as platform balance operations (CSV:
  ``server,login,amount,currency,comment,reference``; RFC 4180, UTF-8, text cells neutralised against formula
  injection; the amount negative — a debit of the investor's account — at the currency's minor unit; the
  reference deterministic, ``fee:{run}:{server}:{login}:{kind}``, so an operation exported twice is refused by the
  platform instead of charged twice). A period with no approved fee run exports the header alone, as one whose
  approved fees are all 0 does: nothing to charge yet. Errors answer JSON whatever the ``Accept`` header.
"""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.fields import AmountField, PeriodField
from core.api.permissions import StaffPermission, requires
from core.api.renderers import CSVExportMixin
from core.api.serializers import StrictSerializer
from core.downloads import csv_attachment
from ledger.permissions import EXPORT_BALANCE_OPERATIONS

from ..fee_selectors import fee_runs_of_record, group_fee_report
from ..models import MamGroup
from ..permissions import VIEW_FEE
from ..selectors import group_get
from ..services.fee_export import fee_export
from ..vocabulary import CrystallisationReason


class FeeReportQuerySerializer(StrictSerializer):
    period = PeriodField(required=False, help_text="YYYY-MM in the server time zone; omitted: every period")


class FeeReportRowSerializer(serializers.Serializer):
    period = serializers.CharField()
    run = serializers.IntegerField(source="run_id")
    server = serializers.CharField(source="account__server")
    login = serializers.IntegerField(source="account__login")
    currency = serializers.CharField()
    day = serializers.DateField(help_text="The crystallisation day")
    reason = serializers.ChoiceField(choices=CrystallisationReason.choices)
    management_fee = AmountField()
    performance_fee = AmountField()
    fee_share = AmountField(help_text="Paid to the investor's IB out of the manager's fee (0: none)")
    hwm_before = AmountField()
    hwm_after = AmountField(help_text="After the fee (a withdrawal lowers it after that)")
    equity_before_fee = AmountField(help_text="Equity at the crystallisation less the management fee")
    hurdle = AmountField()
    days_accrued = serializers.IntegerField()


class GroupFeesApi(generics.GenericAPIView):
    """The group's fees per member and crystallisation, from its fee run(s) of record."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_FEE)
    serializer_class = FeeReportRowSerializer
    queryset = MamGroup.objects.none()  # tells the schema generator what ``code`` addresses

    @extend_schema(parameters=[FeeReportQuerySerializer], responses={200: FeeReportRowSerializer(many=True)})
    def get(self, request: Request, code: str) -> Response:
        group = group_get(code=code)
        if group is None:
            raise Http404
        query = FeeReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = fee_runs_of_record(group=group, period=query.validated_data.get("period"))
        rows = group_fee_report(group=group, runs=runs)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(FeeReportRowSerializer(page, many=True).data)


@extend_schema_field({"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$", "maxLength": 64, "example": "alpha"})
class GroupCodeField(serializers.SlugField):
    def __init__(self, **kwargs):
        super().__init__(max_length=64, **kwargs)


class FeeExportQuerySerializer(StrictSerializer):
    period = PeriodField()
    group = GroupCodeField(required=False, help_text="One group's fees (its code)")

    def validate_group(self, code: str) -> MamGroup:
        group = group_get(code=code)
        if group is None:
            raise serializers.ValidationError("Unknown group.")
        return group


class FeeExportApi(CSVExportMixin, APIView):
    """Approved fees of a period as platform balance operations (CSV, streamed)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=EXPORT_BALANCE_OPERATIONS)

    @extend_schema(
        # ``format`` (DRF's format override, there because the view has two renderers) is no parameter of this
        # export: the rows are always CSV.
        parameters=[FeeExportQuerySerializer, OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Header ``server,login,amount,currency,comment,reference``, then one row per (run, "
                "account, fee kind) of the period's approved fee runs: the amount debited (negative) at the "
                "currency's minor unit. Without an approved fee run: the header alone.",
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = FeeExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, group = query.validated_data["period"], query.validated_data.get("group")
        name = f"fees-{period}{f'-{group.code}' if group else ''}.csv"
        return csv_attachment(fee_export(period=period, group=group, user=request.user), name)
