"""Payout API (staff): payable balances, payout batches and their steps, the batch CSV (API.md "Payout batch CSV").

- ``GET /payables/`` — per partner and payable account (purpose, currency): owed (approved, not yet paid), held by
  open batches, available.
- ``GET|POST /payout-batches/`` — list; ``{period}`` makes a draft batch (``Idempotency-Key``).
- ``GET /payout-batches/{id}/`` — the batch, its steps and who took them, totals by line status and currency;
  ``GET /payout-batches/{id}/lines/`` — its lines with their items (the payable accounts, rates, recorded days).
- ``POST /payout-batches/{id}/approve/`` (another user than the creator: 403), ``…/discard/`` (a draft),
  ``…/mark-paid/`` (``{lines?: [{partner, status: paid|failed, reason?}]}``; no ``lines``: every line still to pay
  is paid) — each with ``Idempotency-Key``; a step the batch's state does not allow is a 409.
- ``GET /payout-batches/{id}/export/`` — the CSV (streamed), and the batch becomes ``exported``. The first export
  changes the batch, so it takes a token: through an admin session cookie it is a 409 (a browser's prefetch or a
  link preview must not export a batch; the admin exports from its confirmation page, a POST); downloading an
  exported batch again through a session is allowed.

Amounts are strings at the currency's minor unit.
"""

from __future__ import annotations

import django_filters
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.bulk import MAX_ROWS
from core.api.fields import AmountField, PeriodField
from core.api.filters import PeriodFilter
from core.api.idempotency import idempotent
from core.api.no_body import takes_no_body
from core.api.permissions import StaffPermission, requires
from core.api.renderers import CSVExportMixin
from core.api.serializers import InputSerializer, StrictSerializer
from core.csv_export import csv_lines
from core.downloads import csv_attachment
from core.exceptions import Conflict, NotFound
from core.money import quantize
from partners.api.serializers import mask_payout_details
from partners.models import Partner

from ..models import LedgerAccount, PayoutBatch, PayoutLine
from ..payout_selectors import (
    BALANCE_OPERATION_HEADER,
    payables,
    payout_batch_get,
    payout_batch_list,
    payout_batch_totals,
    payout_batch_totals_of,
    payout_lines,
)
from ..permissions import (
    ADD_PAYOUT,
    APPROVE_PAYOUT,
    CHANGE_PAYOUT,
    EXPORT_BALANCE_OPERATIONS,
    EXPORT_PAYOUT,
    PAY_PAYOUT,
    VIEW_JOURNAL,
    VIEW_PAYOUT,
)
from ..selectors import currency_places
from ..services.payouts import (
    EXPORT_HEADER,
    LineOutcome,
    client_rebate_export,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_discard,
    payout_batch_export,
    payout_export_rows,
    payout_lines_resolve,
    payout_reference,
)


class MinorAmountField(AmountField):
    """An amount of the object at its currency's minor unit (``amount`` in ``currency``, both attributes of the
    object): an ``AmountField``, documented as every amount is (a string, ``format: decimal``)."""

    def __init__(self, *, amount: str, currency: str, **kwargs):
        self._amount, self._currency = amount, currency
        super().__init__(source="*", **kwargs)

    def to_representation(self, obj) -> str:
        return super().to_representation(
            quantize(getattr(obj, self._amount), currency_places(getattr(obj, self._currency)))
        )


def _username(user) -> str | None:
    return None if user is None else user.get_username()


# --- payables -----------------------------------------------------------------------------------------------------


class PayableSerializer(serializers.Serializer):
    partner = serializers.CharField()
    purpose = serializers.CharField(help_text="partner_payable (commissions, fee shares) or manager_payable (fees)")
    currency = serializers.CharField()
    owed = AmountField(help_text="Approved and not yet paid")
    held = AmountField(help_text="Held by lines to pay of open batches")
    available = AmountField(help_text="What a new batch would take")


class PayableQuerySerializer(StrictSerializer):
    partner = serializers.CharField(max_length=64, required=False, help_text="A partner's code")


class PayableListApi(generics.GenericAPIView):
    """Every partner's payable balances, by partner code, purpose and currency (paginated)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_JOURNAL)
    serializer_class = PayableSerializer
    queryset = LedgerAccount.objects.none()  # for the schema: the rows are ``payables``' (balances, not accounts)

    @extend_schema(parameters=[PayableQuerySerializer], responses={200: PayableSerializer(many=True)})
    def get(self, request: Request) -> Response:
        query = PayableQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        partner_ids = None
        if "partner" in query.validated_data:
            partner_ids = list(
                Partner.objects.filter(code=query.validated_data["partner"]).values_list("pk", flat=True)
            )
        rows = payables(partner_ids=partner_ids)
        codes = dict(Partner.objects.filter(pk__in={r.partner_id for r in rows}).values_list("pk", "code"))
        shown = sorted(
            (
                {
                    "partner": codes[r.partner_id],
                    "purpose": r.purpose,
                    "currency": r.currency,
                    "owed": quantize(r.owed, currency_places(r.currency)),
                    "held": quantize(r.held, currency_places(r.currency)),
                    "available": quantize(r.available, currency_places(r.currency)),
                }
                for r in rows
            ),
            key=lambda row: (row["partner"], row["purpose"], row["currency"]),
        )
        page = self.paginate_queryset(shown)
        return self.get_paginated_response(PayableSerializer(page, many=True).data)


# --- batches ------------------------------------------------------------------------------------------------------


class BatchTotalSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PayoutLine.Status.choices)
    currency = serializers.CharField()
    lines = serializers.IntegerField()
    amount = AmountField()


class PayoutBatchSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()
    exported_by = serializers.SerializerMethodField()
    closed_by = serializers.SerializerMethodField()
    totals = serializers.SerializerMethodField()

    class Meta:
        model = PayoutBatch
        fields = [
            "id",
            "period",
            "status",
            "created_by",
            "created_at",
            "approved_by",
            "approved_at",
            "exported_by",
            "exported_at",
            "closed_by",
            "closed_at",
            "totals",
        ]

    def get_created_by(self, batch: PayoutBatch) -> str | None:
        return _username(batch.created_by)

    def get_approved_by(self, batch: PayoutBatch) -> str | None:
        return _username(batch.approved_by)

    def get_exported_by(self, batch: PayoutBatch) -> str | None:
        return _username(batch.exported_by)

    def get_closed_by(self, batch: PayoutBatch) -> str | None:
        return _username(batch.closed_by)

    @extend_schema_field(BatchTotalSerializer(many=True))
    def get_totals(self, batch: PayoutBatch) -> list[dict]:
        given = self.context.get("totals")
        rows = given.get(batch.pk, []) if given is not None else payout_batch_totals(batch=batch)
        return [{**row, "amount": quantize(row["amount"], currency_places(row["currency"]))} for row in rows]


class PayoutItemSerializer(serializers.Serializer):
    purpose = serializers.CharField(source="account.purpose")
    currency = serializers.CharField()
    amount = MinorAmountField(amount="amount", currency="currency")
    rate = serializers.DecimalField(max_digits=30, decimal_places=18, help_text="Payout currency per unit")
    rate_day = serializers.DateField()
    transaction = serializers.CharField(source="transaction.source_key", default=None, allow_null=True)


class PayoutLineSerializer(serializers.ModelSerializer):
    partner = serializers.CharField(source="partner.code")
    currency = serializers.CharField(source="payout_currency")
    amount = MinorAmountField(amount="amount", currency="payout_currency")
    amount_in_minimum_currency = MinorAmountField(amount="amount_in_minimum_currency", currency="minimum_currency")
    minimum = serializers.DecimalField(max_digits=18, decimal_places=2)
    reference = serializers.SerializerMethodField()
    items = PayoutItemSerializer(many=True)

    class Meta:
        model = PayoutLine
        fields = [
            "partner",
            "partner_name",
            "status",
            "reason",
            "payout_method",
            "payout_account",
            "currency",
            "amount",
            "minimum",
            "minimum_currency",
            "amount_in_minimum_currency",
            "reference",
            "resolved_at",
            "items",
        ]

    def to_representation(self, instance: PayoutLine) -> dict:
        return mask_payout_details(super().to_representation(instance), self.context)

    def get_reference(self, line: PayoutLine) -> str:
        return payout_reference(line.batch_id, line.partner.code)


class BatchCreateSerializer(InputSerializer):
    period = PeriodField(help_text="Pays what was approved up to this period's end (YYYY-MM, an ended period)")


class LineOutcomeSerializer(InputSerializer):
    partner = serializers.SlugField(max_length=64, help_text="The partner code of the line")
    status = serializers.ChoiceField(choices=[("paid", "paid"), ("failed", "failed")])
    reason = serializers.CharField(max_length=255, required=False, default="", help_text="Why it failed")


class MarkPaidSerializer(InputSerializer):
    lines = serializers.ListField(
        child=LineOutcomeSerializer(),
        required=False,
        min_length=1,
        max_length=MAX_ROWS,
        help_text="Omitted: every line still to pay is paid",
    )


def _batch(batch_id: int) -> PayoutBatch:
    batch = payout_batch_get(batch_id=batch_id)
    if batch is None:
        raise NotFound(f"No payout batch {batch_id}.")
    return batch


def _shown(batch_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(PayoutBatchSerializer(_batch(batch_id)).data, status=code)


class PayoutBatchFilter(django_filters.FilterSet):
    period = PeriodFilter()
    status = django_filters.ChoiceFilter(choices=PayoutBatch.Status.choices)

    class Meta:
        model = PayoutBatch
        fields = ["period", "status"]


class PayoutBatchListApi(generics.ListAPIView):
    """``GET`` lists batches, newest first; ``POST {period}`` makes a draft batch."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PAYOUT, write=ADD_PAYOUT)
    serializer_class = PayoutBatchSerializer
    filterset_class = PayoutBatchFilter

    def get_queryset(self):
        return payout_batch_list()

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        totals = payout_batch_totals_of(batch_ids=[b.pk for b in page])  # the page's totals in one query
        data = PayoutBatchSerializer(page, many=True, context={"totals": totals}).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=BatchCreateSerializer,
        responses={201: PayoutBatchSerializer},
        description="A draft batch: per partner, what is payable up to the period's end and held by no open batch "
        "(409: a period that has not ended, a missing rate — naming them all).",
        examples=[OpenApiExample("March", request_only=True, value={"period": "2026-03"})],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        body = BatchCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        batch = payout_batch_create(period=body.validated_data["period"], user=request.user)
        return _shown(batch.pk, status.HTTP_201_CREATED)


class PayoutBatchDetailApi(APIView):
    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PAYOUT)

    @extend_schema(responses={200: PayoutBatchSerializer})
    def get(self, request: Request, pk: int) -> Response:
        return _shown(pk)


class PayoutBatchLinesApi(generics.GenericAPIView):
    """The batch's lines, by partner code, with the payable accounts each pays and the rates it was converted at."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PAYOUT)
    serializer_class = PayoutLineSerializer
    queryset = PayoutLine.objects.none()  # for the schema: the rows are the batch's (``payout_lines``)

    @extend_schema(responses={200: PayoutLineSerializer(many=True)})
    def get(self, request: Request, pk: int) -> Response:
        lines = payout_lines(batch=_batch(pk)).prefetch_related("items__account", "items__transaction")
        page = self.paginate_queryset(lines)
        return self.get_paginated_response(PayoutLineSerializer(page, many=True, context={"request": request}).data)


class PayoutBatchApproveApi(APIView):
    """Approve a draft: another user than the one who made it (403 for the creator); 409 unless it is a draft. Lines
    that no longer qualify (a partner suspended since, payout details removed, a payable a reversal lowered) become
    held with a reason starting ``At approval:`` (in the totals; ``…/lines/`` names them)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=APPROVE_PAYOUT)

    @extend_schema(responses={200: PayoutBatchSerializer})
    @takes_no_body
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        _batch(pk)
        payout_batch_approve(batch_id=pk, user=request.user)
        return _shown(pk)


class PayoutBatchDiscardApi(APIView):
    """Discard a draft: its lines hold nothing any more (409 unless it is a draft)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=CHANGE_PAYOUT)

    @extend_schema(responses={200: PayoutBatchSerializer})
    @takes_no_body
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        _batch(pk)
        payout_batch_discard(batch_id=pk, user=request.user)
        return _shown(pk)


class PayoutBatchMarkPaidApi(APIView):
    """Mark lines of an exported batch paid (posting the payouts) or failed (back to payable, with the reason). A
    line whose payable no longer covers it (a reversal posted since) is a 409 naming it: nothing is paid."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=PAY_PAYOUT)

    @extend_schema(
        request=MarkPaidSerializer,
        responses={200: PayoutBatchSerializer},
        examples=[
            OpenApiExample("Every line still to pay", request_only=True, value={}),
            OpenApiExample(
                "One paid, one bounced",
                request_only=True,
                value={
                    "lines": [
                        {"partner": "ib-101", "status": "paid"},
                        {"partner": "ib-102", "status": "failed", "reason": "IBAN closed"},
                    ]
                },
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        _batch(pk)
        body = MarkPaidSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lines = body.validated_data.get("lines")
        outcomes = None if lines is None else [LineOutcome(**line) for line in lines]
        payout_lines_resolve(batch_id=pk, user=request.user, outcomes=outcomes)
        return _shown(pk)


class PayoutBatchExportApi(CSVExportMixin, APIView):
    """The batch CSV (streamed); the batch becomes exported (409 for a draft or discarded batch). GET only: a HEAD
    would mark the batch exported without delivering the file. The first export through a session cookie is a 409:
    a GET a browser sends by itself (prefetch, link preview) carries the cookie, never a token."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=EXPORT_PAYOUT)
    http_method_names = ["get"]

    @extend_schema(
        parameters=[OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Header ``" + ",".join(EXPORT_HEADER) + "``, then one row per line approved for payment "
                "(to pay or paid; a line failed since is left out), by partner code: the amount in the payout "
                "currency at its minor unit. RFC 4180, UTF-8, text cells neutralised against formula injection.",
            ),
            409: OpenApiResponse(
                description="A draft or discarded batch (another user approves it first); or the first export of an "
                "approved batch through an admin session cookie — export it from the admin's confirmation page "
                "(a POST) or with a token (downloading an exported batch again through a session is allowed)"
            ),
        },
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        batch = _batch(pk)
        if batch.status == PayoutBatch.Status.APPROVED and isinstance(
            request.successful_authenticator, SessionAuthentication
        ):
            raise Conflict(
                f"Payout batch {batch.pk} is approved and not exported yet: exporting it marks it exported, which a "
                "GET through a session cookie does not do (a browser may send one by itself). Export it from the "
                "admin's confirmation page (a POST) or with an API token; once exported, it downloads here again.",
                extra={"batch": batch.pk, "status": batch.status},
            )
        batch = payout_batch_export(batch_id=pk, user=request.user)
        return csv_attachment(
            csv_lines(EXPORT_HEADER, payout_export_rows(batch=batch)), f"payout-batch-{batch.pk}-{batch.period}.csv"
        )


class ClientRebateExportQuerySerializer(StrictSerializer):
    period = PeriodField(help_text="The period whose approved client rebates are exported (YYYY-MM)")


class ClientRebateExportApi(CSVExportMixin, APIView):
    """A period's approved client rebates as platform balance operations (CSV, streamed)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=EXPORT_BALANCE_OPERATIONS)

    @extend_schema(
        parameters=[ClientRebateExportQuerySerializer, OpenApiParameter("format", exclude=True)],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="Header ``" + ",".join(BALANCE_OPERATION_HEADER) + "``, then one row per posted rebate "
                "transaction and client account of the period: the amount credited to the client's account "
                "(negative when a correction takes some back) at the currency's minor unit; the reference is the "
                "journal transaction's source key. Without approved rebates: the header alone.",
            ),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = ClientRebateExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data["period"]
        return csv_attachment(
            csv_lines(BALANCE_OPERATION_HEADER, client_rebate_export(period=period, user=request.user)),
            f"client-rebates-{period}.csv",
        )
