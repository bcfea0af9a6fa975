"""The partner endpoints with their commission ``plan`` (API.md: ``POST /partners/``, ``PATCH /partners/{code}/``).

Partners live below commissions in the layers, so the partner views cannot know plans; these subclasses add the
``plan`` field (a plan code) and assign it effective-dated in the same transaction as the partner change. They are
routed ahead of the partner app's own views.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from partners.api import serializers as ps
from partners.api.views import PartnerDetailApi, PartnerListApi, _partner_or_404, _partner_output
from partners.selectors import partner_tree_stats
from partners.services.partners import partner_create, partner_edit

from ..models import PartnerPlan, Plan
from ..services.plans import partner_plan_assign


class PlanRefSerializer(serializers.Serializer):
    plan = serializers.SlugRelatedField(
        slug_field="code", queryset=Plan.objects.all(), required=False, allow_null=True, help_text="plan code"
    )


def _current_plans(partner_ids: list[int]) -> dict[int, str]:
    rows = PartnerPlan.objects.filter(partner_id__in=partner_ids, valid_to__isnull=True).values_list(
        "partner_id", "plan__code"
    )
    return dict(rows)


def _split(request: Request, serializer_class, **kwargs):
    """Validate the partner fields and the plan field together, so every field error is reported at once."""
    body = {k: v for k, v in request.data.items() if k != "plan"} if hasattr(request.data, "items") else request.data
    partner_data = serializer_class(data=body, **kwargs)
    plan_data = PlanRefSerializer(data=request.data if hasattr(request.data, "items") else {})
    errors = {}
    if not partner_data.is_valid():
        errors.update(partner_data.errors)
    if not plan_data.is_valid():
        errors.update(plan_data.errors)
    if errors:
        raise serializers.ValidationError(errors)
    return partner_data.validated_data, plan_data.validated_data


class PartnerWithPlanListApi(PartnerListApi):
    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        ids = [p.pk for p in page]
        stats = partner_tree_stats(partner_ids=ids, at=timezone.now())
        plans = _current_plans(ids)
        rows = ps.PartnerOutputSerializer(page, many=True, context={"tree_stats": stats}).data
        for partner, row in zip(page, rows, strict=True):
            row["plan"] = plans.get(partner.pk)
        return self.get_paginated_response(rows)

    @extend_schema(request=ps.PartnerCreateSerializer, responses={201: ps.PartnerOutputSerializer})
    def post(self, request: Request) -> Response:
        fields, plan_fields = _split(request, ps.PartnerCreateSerializer)
        plan = plan_fields.get("plan")
        with transaction.atomic():
            partner = partner_create(**fields)
            if plan is not None:
                start = partner.links.order_by("valid_from").first().valid_from
                partner_plan_assign(partner=partner, plan=plan, effective_from=start)
        return Response(_with_plan(partner), status=status.HTTP_201_CREATED)


class PartnerWithPlanDetailApi(PartnerDetailApi):
    @extend_schema(responses={200: ps.PartnerOutputSerializer})
    def get(self, request: Request, code: str) -> Response:
        return Response(_with_plan(_partner_or_404(code)))

    @extend_schema(request=ps.PartnerPatchSerializer, responses={200: ps.PartnerOutputSerializer})
    def patch(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        fields, plan_fields = _split(request, ps.PartnerPatchSerializer, partial=True, context={"partner": partner})
        with transaction.atomic():
            changes = {k: v for k, v in fields.items() if k != "code"}
            if changes:
                partner = partner_edit(partner=partner, changes=changes)
            if plan_fields.get("plan") is not None:
                partner_plan_assign(partner=partner, plan=plan_fields["plan"])
        return Response(_with_plan(partner))


def _with_plan(partner) -> dict:
    data = dict(_partner_output(partner))
    data["plan"] = _current_plans([partner.pk]).get(partner.pk)
    return data
