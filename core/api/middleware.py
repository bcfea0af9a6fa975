"""A request path holding a NUL character names nothing this site has (no natural key, no id, no page can hold
one, and PostgreSQL text cannot store it): it is a 404 before any view looks it up — JSON under ``/api/``
(``core.api.errors.not_found``), Django's page elsewhere — instead of a database error."""

from __future__ import annotations

from django.http import Http404


class NulPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404("No such path.")
        return self.get_response(request)
