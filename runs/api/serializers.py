from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import PeriodField
from core.api.serializers import InputSerializer

from ..models import Run
from ..registry import kind_choices


class KindField(serializers.ChoiceField):
    """A registered run kind; the choices are read when the serializer is built, so the schema and validation offer
    exactly the kinds the installed apps register."""

    def __init__(self, **kwargs):
        super().__init__(choices=kind_choices(), **kwargs)


class RunCreateSerializer(InputSerializer):
    kind = KindField()
    period = PeriodField()
    scope = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    recompute = serializers.BooleanField(default=False, help_text="Supersede a computed, unapproved run")


class RunSerializer(serializers.ModelSerializer):
    totals = serializers.DictField(child=serializers.CharField(), help_text="line kind → amount (exact decimal text)")

    class Meta:
        model = Run
        fields = [
            "id",
            "kind",
            "period",
            "scope",
            "status",
            "chunks_done",
            "chunks_total",
            "totals",
            "error",
            "created_at",
            "computed_at",
            "approved_at",
        ]


class LateChangeSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="the kind's code, e.g. late_trades, corrections, cancellations, symbol_resolutions, late_accounts, "
        "dated_changes"
    )
    count = serializers.IntegerField()
    message = serializers.CharField()


class RunApprovalSerializer(RunSerializer):
    """The approved run, with what arrived after it read its data (not in its figures; empty when this call found
    the run approved already)."""

    warnings = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "warnings"]

    @extend_schema_field(LateChangeSerializer(many=True))
    def get_warnings(self, run) -> list[dict]:
        return LateChangeSerializer(self.context.get("late", []), many=True).data
