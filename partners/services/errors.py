"""Errors raised by bulk services."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


class RowErrors(ValidationError):
    """Per-row validation errors of a bulk upsert: ``rows`` maps a row's 0-based index to ``{field: [messages]}``.

    A Django ValidationError, so callers that only know ValidationError still get a 400 with readable messages;
    the API turns ``rows`` into ``{"rows": [{"index", "errors"}]}``, the shape trade rejections use.
    """

    def __init__(self, rows: Mapping[int, Mapping[str, list[str]]]):
        self.rows = {index: dict(errors) for index, errors in sorted(rows.items())}
        super().__init__(
            {
                "rows": [
                    f"row {index}: {field}: {message}"
                    for index, errors in self.rows.items()
                    for field, messages in errors.items()
                    for message in messages
                ]
            }
        )

    def as_list(self) -> list[dict]:
        return [{"index": index, "errors": errors} for index, errors in self.rows.items()]
