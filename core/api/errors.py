"""The API's one mapping of domain exceptions to HTTP (HackSoft's styleguide: plain exceptions in the services,
translated once at the edge). Errors are JSON ``{"detail": …}`` or field errors, never a 500 for bad input:

- ``core.exceptions.Conflict`` → 409, ``NotFound`` → 404, ``Forbidden`` → 403, any other ``ApplicationError`` →
  400, each with ``{"detail": message, **extra}``;
- Django's ``ValidationError`` → 400 with its field errors (``RowErrors`` → ``{"rows": [{"index", "errors"}]}``,
  ``FieldErrors`` → its nested errors as they are, list items keyed by index);
- an ``IntegrityError`` that escaped a service's checks → 409 (logged: a service should have said why);
- a ``DataError`` (a value the column cannot hold: a number out of its range, a string too long, a date out of
  PostgreSQL's range) or an ``OverflowError`` (date arithmetic past year 9999) that escaped the serializers' limits →
  400 ``{"detail": …}`` without the database's message (logged: a serializer should have refused the value).
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import ApplicationError, Conflict, FieldErrors, Forbidden, NotFound, RowErrors

logger = logging.getLogger(__name__)


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _application_error(exc: ApplicationError) -> Response:
    if isinstance(exc, Conflict):
        code = status.HTTP_409_CONFLICT
    elif isinstance(exc, NotFound):
        code = status.HTTP_404_NOT_FOUND
    elif isinstance(exc, Forbidden):
        code = status.HTTP_403_FORBIDDEN
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response({"detail": exc.message, **exc.extra}, status=code)


def exception_handler(exc, context):
    """DRF's handler, after translating the domain and Django exceptions it does not know."""
    if isinstance(exc, ApplicationError):
        return _application_error(exc)
    if isinstance(exc, RowErrors):
        return Response({"rows": exc.as_list()}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, FieldErrors):
        return Response(exceptions.ValidationError(exc.errors).detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, IntegrityError):
        logger.warning("integrity error answered with 409: %s", exc)
        exc = ConflictError(detail="The request conflicts with existing data.")
    elif isinstance(exc, DataError | OverflowError):
        logger.warning("out-of-range value answered with 400: %s", exc)
        return Response({"detail": "A value is out of the range its field can hold."}, status=400)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {"detail": response.data}
    return response


def bad_request(errors: dict) -> Response:
    return Response(errors, status=status.HTTP_400_BAD_REQUEST)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """``handler404``: a path no route matches (a login that is not a number, a code with a space) is a JSON 404
    under ``/api/``, like every other API error; elsewhere Django's page."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def bad_request_view(request, exception=None):
    """``handler400`` (e.g. a malformed request Django refuses before any view): JSON under ``/api/``."""
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception)


def server_error(request):
    """``handler500``: even a bug answers JSON under ``/api/`` (and never shows the error)."""
    if _is_api(request):
        return JsonResponse({"detail": "A server error occurred."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)
