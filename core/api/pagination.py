"""The API's paginator: ``?page=`` and ``?page_size=`` (up to 1000), as API.md promises.

Both are whole numbers of at least 1, and anything else is a 400 naming the parameter: DRF would quietly answer 100
rows for ``page_size=0``, ``-3``, ``abc`` or ``1.5`` and a 404 "Invalid page." for ``page=abc``, though the schema
says ``minimum: 1``. A ``page_size`` above the cap is capped (documented), a page past the end is a 404 (a client
paging on reaches the end; nothing was wrong with how it asked). ``page=last`` (a DRF extra) is not offered: the
schema documents an integer.
"""

from __future__ import annotations

import re

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination as _Base

WHOLE = re.compile(r"[0-9]+")
MESSAGE = "Enter a whole number of at least 1."
# Longer than any page count a table can have: past the end, without parsing thousands of digits.
MAX_PAGE_DIGITS = 18


def _whole_number(request, name: str) -> str | None:
    """The query parameter ``name`` as its digits (None when absent); a 400 naming it unless it is ≥ 1."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not WHOLE.fullmatch(raw) or not raw.lstrip("0"):
        raise ValidationError({name: [MESSAGE]})
    return raw.lstrip("0")


class PageNumberPagination(_Base):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    last_page_strings = ()

    def get_page_size(self, request) -> int:
        digits = _whole_number(request, self.page_size_query_param)
        if digits is None:
            return self.page_size
        if len(digits) > MAX_PAGE_DIGITS:
            return self.max_page_size
        return min(int(digits), self.max_page_size)

    def get_page_number(self, request, paginator) -> int:
        digits = _whole_number(request, self.page_query_param)
        if digits is None:
            return 1
        if len(digits) > MAX_PAGE_DIGITS:
            raise NotFound(
                self.invalid_page_message.format(page_number=digits[:20] + "…", message="That page contains no results")
            )
        return int(digits)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = (
                    f"Results per page (default {self.page_size}); a larger value is capped at {self.max_page_size}; "
                    "anything but a whole number of at least 1 is a 400."
                )
            elif parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
                parameter["description"] = (
                    "A page number (default 1): anything but a whole number of at least 1 is a 400, a page past the "
                    "end a 404."
                )
        return parameters
