"""Runs API (staff): request a run of a registered kind, follow it, approve it. Thin views over the services."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import idempotent
from core.api.no_body import takes_no_body
from core.api.permissions import StaffPermission, requires

from ..models import Run
from ..permissions import APPROVE_RUN, REQUEST_RUN, VIEW_RUN
from ..services.approve import run_approval
from ..services.requests import run_request
from .serializers import RunApprovalSerializer, RunCreateSerializer, RunSerializer


class RunCreateView(APIView):
    """Request the run of (kind, period[, scope]): 202 with a new run, 200 with the live one. Honours
    ``Idempotency-Key``."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=REQUEST_RUN)

    @extend_schema(
        request=RunCreateSerializer,
        responses={202: RunSerializer, 200: RunSerializer},
        examples=[
            OpenApiExample(
                "Compute April's commissions", request_only=True, value={"kind": "commissions", "period": "2026-04"}
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = RunCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = run_request(user=request.user, **data.validated_data)
        result.run.refresh_from_db()
        code = status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK
        return Response(RunSerializer(result.run).data, status=code)


class RunDetailView(generics.RetrieveAPIView):
    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_RUN)
    serializer_class = RunSerializer
    queryset = Run.objects.all()


class RunApproveView(APIView):
    """Post the run's money through the ledger and lock its period for its kind (409 unless it is computed).
    ``warnings`` counts what arrived after the run read its data (late trades, corrections, cancellations, late
    accounts): not in the approved figures."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=APPROVE_RUN)

    @extend_schema(responses={200: RunApprovalSerializer})
    @takes_no_body
    @idempotent
    def post(self, request, pk: int):
        run = get_object_or_404(Run, pk=pk)
        result = run_approval(run_id=run.pk, user=request.user)
        return Response(RunApprovalSerializer(result.run, context={"late": result.late}).data)
