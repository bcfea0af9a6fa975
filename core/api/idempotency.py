"""``Idempotency-Key`` for POST endpoints that start money-moving work (API.md).

The first request with a key stores its response; a retry with the same key and body gets the stored response
(same status); the same key with a different body gets 409. Concurrent first requests serialise on the
record's row, so only one of them does the work.
"""

from __future__ import annotations

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.response import Response

from core.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"


def _body_hash(request) -> str:
    try:
        canonical = json.dumps(request.data, sort_keys=True, default=str)
    except TypeError:
        canonical = repr(request.data)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(view_method):
    """Decorate a DRF view method (``post``/``create``/action) so it honours ``Idempotency-Key``."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(HEADER)
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 200:
            return Response({"detail": "Idempotency-Key is longer than 200 characters."}, status=400)
        digest = _body_hash(request)
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        key=key, user=request.user, path=request.path, body_hash=digest
                    )
            except IntegrityError:
                record = IdempotencyRecord.objects.select_for_update().get(
                    user=request.user, path=request.path, key=key
                )
                if record.body_hash != digest:
                    return Response(
                        {"detail": "This Idempotency-Key was used with a different body."},
                        status=status.HTTP_409_CONFLICT,
                    )
                if record.status_code is not None:
                    return Response(record.response, status=record.status_code)
            record = IdempotencyRecord.objects.select_for_update().get(pk=record.pk)
            response = view_method(self, request, *args, **kwargs)
            if response.status_code < 500:
                record.status_code = response.status_code
                record.response = json.loads(json.dumps(response.data, default=str))
                record.save(update_fields=["status_code", "response"])
            else:
                record.delete()
            return response

    return wrapper
