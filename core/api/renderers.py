"""The API's JSON renderer: a ``Decimal`` that reaches it unformatted (an annotation, a generated column, a value in a
dict) is written as its exact decimal string, never as a binary float (DRF's default encoder calls ``float()``)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import renderers
from rest_framework.utils import encoders


class ExactJSONEncoder(encoders.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, Decimal):
            return format(obj, "f")
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = ExactJSONEncoder
