"""POSTs that take no body (``POST /runs/{id}/approve/``, ``/payout-batches/{id}/approve/`` and ``…/discard/``,
``/partners/{code}/tokens/``): the action is the path.

DRF would parse a body sent anyway and the view would ignore it, so ``{"note": "…"}`` or a mistyped field meant for
another endpoint would be silently dropped. README's "No unknown fields" rule holds here too: an empty body or ``{}``
is the only body such a POST takes; an object with fields is a 400 naming each of them (``"unknown field"``, as any
body's undeclared field), anything else (a list, a string, ``null``) a 400 under ``non_field_errors``. The refusal
comes before the ``Idempotency-Key`` is looked at, so a body that is refused never reaches a stored key (a
"different body" than ``{}`` is this 400, not a 409). The schema documents the operation with no request body and
its 400 (``core.api.schema``).
"""

from __future__ import annotations

import functools

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from .serializers import UNKNOWN_FIELD

NO_BODY = "This operation takes no body (send none, or {})."


def _refusal(data) -> dict | None:
    """The field errors of a body sent to an operation that takes none; None for no body or ``{}``."""
    if isinstance(data, dict) or hasattr(data, "keys"):  # a JSON object, or DRF's empty QueryDict for no body
        return {str(name): [UNKNOWN_FIELD] for name in data} or None
    return {api_settings.NON_FIELD_ERRORS_KEY: [NO_BODY]}


def takes_no_body(view_method):
    """Decorate a view's ``post`` (outside ``@idempotent``/``@idempotency_exempt``): a body other than none or
    ``{}`` is a 400 before anything runs, and the schema documents no request body."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        errors = _refusal(request.data)  # parsing it first: bad JSON is a 400, a body that is not JSON a 415
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        return view_method(self, request, *args, **kwargs)

    wrapper.takes_no_body = True
    return extend_schema(request=None)(wrapper)
