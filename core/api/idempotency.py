"""``Idempotency-Key`` for POST endpoints that start money-moving work (API.md).

- The first request with a key runs; its response is stored when it succeeded (2xx), as the JSON text it was
  rendered to. A retry with the same key and the same body gets that response again (same status, the same bytes)
  without running anything.
- The same key with a different body is a 409.
- A first attempt that failed (a 4xx, a 5xx, an exception) stores nothing: a retry with the same key runs again, so
  a failure is never replayed as a success, nor a transient failure forever.
- Keys are per user and per path: another user's key, or the same key on another endpoint, is another request.
- Concurrent first requests serialise on the record's unique key: only one of them does the work, the other gets
  its stored response.
- A key is 1–200 visible ASCII characters; anything else is a 400 naming the header.
- A path longer than a record can hold (500 characters, far beyond any real object's: a 600-digit run id) is the
  JSON 404 the view would answer, before anything is stored (not a 400 "out of range" from the database).
- Records older than ``IBEX_IDEMPOTENCY_RETENTION_HOURS`` are purged by the periodic task ``core.purge_idempotency``;
  a key reused after that runs again.

Every ``post`` of the API declares itself: ``@idempotent`` (it starts money-moving work) or
``@idempotency_exempt(reason)`` (why a repeat is harmless); ``tests/api/test_idempotency.py`` fails on a POST that
does neither, and tests every ``@idempotent`` one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from core.models import IdempotencyRecord

from .renderers import JSONRenderer

HEADER = "HTTP_IDEMPOTENCY_KEY"
NAME = "Idempotency-Key"
KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
_KEY = re.compile(KEY_PATTERN)
_MAX_PATH = IdempotencyRecord._meta.get_field("path").max_length

PARAMETER = OpenApiParameter(
    NAME,
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=KEY_PATTERN,
    description="Makes a retry safe: the same key and body return the first successful response (status and body) "
    "without running again; the same key with another body is a 409. 1–200 visible ASCII characters, per user; kept "
    "for IBEX_IDEMPOTENCY_RETENTION_HOURS (default 24).",
)


def _body_hash(request) -> str:
    canonical = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


IDEMPOTENT = "idempotent"


def idempotency_exempt(reason: str):
    """Declare a view method (``post``) that takes no ``Idempotency-Key``, saying why a repeated request is harmless
    (an upsert that changes nothing the second time, a create refused the second time…)."""
    if not reason.strip():
        raise ValueError("say why a repeat of this request is harmless")

    def mark(view_method):
        @functools.wraps(view_method)
        def wrapper(self, request, *args, **kwargs):
            request.data  # noqa: B018 — parse the body even where the view reads none: bad JSON is a 400, not JSON a 415
            return view_method(self, request, *args, **kwargs)

        wrapper.idempotency = reason
        return wrapper

    return mark


def idempotent(view_method):
    """Decorate a DRF view method (``post``) so it honours ``Idempotency-Key`` (and documents the header)."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        request.data  # noqa: B018 — parse the body even where the view reads none: bad JSON is a 400, not JSON a 415
        key = request.META.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        if not _KEY.fullmatch(key):  # fullmatch: "$" would allow a final line break
            return Response({NAME: ["Must be 1 to 200 visible ASCII characters."]}, status=status.HTTP_400_BAD_REQUEST)
        if len(request.path) > _MAX_PATH:
            # Longer than any path of a real object (ids are bigints, keys at most 64 characters): nothing to
            # protect, and too long to store — the 404 the view would answer, without storing anything.
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        digest = _body_hash(request)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        key=key, user=request.user, path=request.path, body_hash=digest
                    )
            except IntegrityError:
                # Another request holds (or held) the key: wait for it to finish, then answer as it did.
                record = IdempotencyRecord.objects.select_for_update().get(
                    user=request.user, path=request.path, key=key
                )
                if record.body_hash != digest:
                    return Response(
                        {"detail": f"This {NAME} was used with a different body."}, status=status.HTTP_409_CONFLICT
                    )
                if record.status_code is not None:
                    return HttpResponse(record.response, status=record.status_code, content_type="application/json")
            response = view_method(self, request, *args, **kwargs)
            if status.is_success(response.status_code):
                record.status_code = response.status_code
                record.response = JSONRenderer().render(response.data).decode()  # as DRF renders it to the client
                record.save(update_fields=["status_code", "response"])
            else:
                record.delete()
            return response

    wrapper.idempotency = IDEMPOTENT
    return extend_schema(parameters=[PARAMETER])(wrapper)
