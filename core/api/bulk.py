"""Bulk (list) upsert plumbing shared by every list endpoint: a list body is validated row by row, errors name each
bad row's index, and the 400 body has one documented shape (``BulkErrors`` in ``core.api.schema``)."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, serializers, status
from rest_framework.settings import api_settings

MAX_ROWS = 10_000
NOT_A_LIST = "Expected a JSON list of objects."


def not_a_list() -> exceptions.ValidationError:
    """The 400 for a list operation sent anything but a list: ``BulkErrors``' ``non_field_errors`` shape."""
    return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [NOT_A_LIST]})


class RowsInvalid(exceptions.APIException):
    """400 ``{"rows": [{"index", "errors": {field: [messages]}}]}``, the shape trade rejections use; a row that is
    not an object (``null``, a number) has its errors under ``non_field_errors``."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, rows: list[dict[str, Any]]):
        # Set directly: APIException would turn the integer indexes into strings.
        self.detail = {"rows": [{"index": row["index"], "errors": field_errors(row["errors"])} for row in rows]}


def field_errors(errors: Any) -> dict[str, Any]:
    """A row's errors as a field-errors object: an error about the row as a whole (not an object, null) is a list of
    messages, which goes under ``non_field_errors`` like any other error of a whole object."""
    if isinstance(errors, dict):
        return errors
    if isinstance(errors, str):
        errors = [errors]
    return {api_settings.NON_FIELD_ERRORS_KEY: list(errors)}


def validated_rows(serializer_class: type[serializers.Serializer], data: Any, *, max_rows: int = MAX_ROWS) -> list:
    """Validate a JSON list body with ``serializer_class`` per row; raise 400 for anything else."""
    if not isinstance(data, list):
        raise not_a_list()
    if len(data) > max_rows:
        raise exceptions.ValidationError({"non_field_errors": [f"At most {max_rows} rows per request."]})
    serializer = serializer_class(data=data, many=True)
    if not serializer.is_valid():
        errors = serializer.errors
        # DRF reports per-row errors either as a list aligned with the rows or as a dict keyed by row index.
        if isinstance(errors, list):
            errors = dict(enumerate(errors))
        if not all(isinstance(key, int) for key in errors):
            raise exceptions.ValidationError(errors)
        raise RowsInvalid([{"index": i, "errors": e} for i, e in sorted(errors.items()) if e])
    return serializer.validated_data
