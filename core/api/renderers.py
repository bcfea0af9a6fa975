"""The API's JSON renderer: a ``Decimal`` that reaches it unformatted (an annotation, a generated column, a value in a
dict) is written as its exact decimal string, never as a binary float (DRF's default encoder calls ``float()``)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import renderers
from rest_framework.response import Response
from rest_framework.utils import encoders


class ExactJSONEncoder(encoders.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, Decimal):
            return format(obj, "f")
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = ExactJSONEncoder


class CSVRenderer(renderers.BaseRenderer):
    """Names the CSV an export streams (for content negotiation); the rows are written by ``core.csv_export``
    (a view answering CSV returns a ``StreamingHttpResponse``, never data for this to render)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        raise TypeError("a CSV export streams its rows (core.csv_export); it renders nothing")


class CSVExportMixin:
    """A view streaming a CSV export: it answers ``text/csv`` only (a client accepting only JSON, or asking
    ``?format=json``, gets the documented 406), and its errors are JSON like every other error of the API, even to a
    client that accepts only CSV."""

    renderer_classes = [CSVRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
