"""File downloads answered by the API and the admin alike (``core.csv_export`` writes the rows and stays pure)."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import StreamingHttpResponse


def csv_attachment(chunks: Iterable[bytes], filename: str) -> StreamingHttpResponse:
    """The streamed download of a CSV export: UTF-8 ``text/csv``, saved as ``filename``."""
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
