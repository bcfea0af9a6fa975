"""The partner endpoints' ``plan`` (API.md: ``POST /partners/``, ``PATCH /partners/{code}/``), through the partner
app's extension point (``partners.extensions``): the partner views validate it with the partner's own fields and
apply it in the same transaction; this app never shadows their routes.

A plan given on creation starts with the partner's first link (since always unless dated); a plan given on a change
starts at the request's ``effective_from`` (default now) — earlier trades keep the plan they had, and a back-dated
change reaching into an approved period is a 409.
"""

from __future__ import annotations

from rest_framework import serializers

from partners.extensions import PartnerField, register_partner_field

from ..models import PartnerPlan, Plan
from ..services.plans import partner_plan_assign


def _input_field() -> serializers.Field:
    return serializers.SlugRelatedField(
        slug_field="code", queryset=Plan.objects.all(), required=False, allow_null=True, help_text="plan code"
    )


def _output_field() -> serializers.Field:
    return serializers.CharField(read_only=True, allow_null=True, help_text="the plan in force now (code)")


def _apply(*, partner, value, created: bool, effective_from) -> None:
    if value is not None:
        partner_plan_assign(partner=partner, plan=value, effective_from=effective_from)


def _values(partner_ids: list[int]) -> dict[int, str]:
    rows = PartnerPlan.objects.filter(partner_id__in=partner_ids, valid_to__isnull=True).values_list(
        "partner_id", "plan__code"
    )
    return dict(rows)


def register() -> None:
    register_partner_field(
        PartnerField(name="plan", input_field=_input_field, output_field=_output_field, apply=_apply, values=_values)
    )
