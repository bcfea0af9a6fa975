"""The base of every request-body serializer: a body field the serializer does not declare is refused.

DRF ignores undeclared fields, which on a money API turns a typo into a different instruction (a rebate whose
``acount`` is dropped becomes a rebate on every client; a rule whose ``symbl`` is dropped becomes a catch-all). So
every write serializer derives from ``InputSerializer``: each undeclared field of an object is a 400 field error under
its own name, with the trade push's wording (``commissions.services.trade_ingest``: ``"unknown field"``), alongside
the object's other field errors; nested input serializers (a plan's rules, a rebate's account) and each row of a
list body (``core.api.bulk.validated_rows``) are checked the same way. The schema says so too: every object of a
request body documents ``additionalProperties: false`` (``core.api.schema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

UNKNOWN_FIELD = "unknown field"


class InputSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {str(name): [UNKNOWN_FIELD] for name in data if name not in writable}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value
