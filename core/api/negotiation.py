"""Content negotiation: ``?format=`` naming a format the resource does not answer in is a 406, like an ``Accept``
header that allows none of them — not DRF's 404, which would tell a client that a resource it can read is missing.

``?format=`` stays DRF's format override because some resources answer in more than one format (the schema in JSON
or YAML; exports and statements in CSV or PDF); on a JSON-only resource ``?format=json`` is accepted and any other
value is the documented 406 (``core.api.schema``: every operation documents it).
"""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers, format):
        answered = [renderer for renderer in renderers if renderer.format == format]
        if not answered:
            formats = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise NotAcceptable(
                f"This resource answers in {formats}, not format={format!r}.", available_renderers=renderers
            )
        return answered
