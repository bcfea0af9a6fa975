"""Domain exceptions that services raise, whatever called them (the API, the admin, a command, a task).

Services never raise DRF exceptions: the API maps these to HTTP once, in ``core.api.errors``; the admin shows them
as form or page messages; commands turn them into ``CommandError``. Field-level input errors stay Django's
``ValidationError`` (``RowErrors`` for bulk bodies), which every one of those callers already understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError


class ApplicationError(Exception):
    """An expected failure of a business operation, explained to the user (HTTP 400 at the API edge).

    ``extra`` carries machine-readable details (e.g. the missing rates of a failed run) beside the message.
    """

    def __init__(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = dict(extra or {})

    def __str__(self) -> str:
        return self.message


class Conflict(ApplicationError):
    """The request is valid but conflicts with the current state: an approved (locked) period, a run that is not in
    the state the action needs, a key used with a different body (HTTP 409)."""


class Forbidden(ApplicationError):
    """The caller may not do this to this object, whatever its permissions: the creator of a payout batch approving
    it (maker-checker) (HTTP 403)."""


class NotFound(ApplicationError):
    """The object the operation names does not exist, or is outside the caller's scope (HTTP 404)."""


def _flattened(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, Mapping):
        return [m for key, value in errors.items() for m in _flattened(value, f"{prefix}{key}: ")]
    if isinstance(errors, str):
        return [f"{prefix}{errors}"]
    return [m for item in errors for m in _flattened(item, prefix)]


class FieldErrors(ValidationError):
    """Field errors nested like the input: ``errors`` is ``{field: [messages]}``, a nested object's errors nest the
    same way and a list's items are keyed by their 0-based index (``{"rules": {1: {"symbol": ["Unknown
    instrument."]}}}``) — what the API answers, unchanged (Django's ``ValidationError`` cannot hold a dict inside a
    list: it would flatten it to its messages, losing the index and field).

    A Django ValidationError, so callers that only know ValidationError (the admin, commands) get readable messages:
    ``{"rules": ["1: symbol: Unknown instrument."]}``.
    """

    def __init__(self, errors: Mapping[str, Any]):
        self.errors = dict(errors)
        super().__init__({field: _flattened(value) for field, value in self.errors.items()})


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
