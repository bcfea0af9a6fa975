"""The API's JSON parser: PostgreSQL stores no NUL character in any text (nor in ``jsonb``), so a body holding one
is refused where it is parsed — a 400 naming each field that holds one (``{"rows": …}`` for a list body, like every
bulk error) — instead of reaching a query and failing there."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ValidationError

from .bulk import RowsInvalid

MESSAGE = "Null characters are not allowed."


def _nul_errors(node: Any) -> Any:
    """Field errors for every string (or key) holding a NUL, nested like the body; None when there is none."""
    if isinstance(node, str):
        return [MESSAGE] if "\x00" in node else None
    if isinstance(node, dict):
        errors = {}
        for key, value in node.items():
            error = [MESSAGE] if "\x00" in key else _nul_errors(value)
            if error:
                errors[key.replace("\x00", "\\u0000")] = error
        return errors or None
    if isinstance(node, list):
        errors = {str(i): e for i, e in ((i, _nul_errors(v)) for i, v in enumerate(node)) if e}
        return errors or None
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        errors = _nul_errors(data)
        if errors:
            if isinstance(data, list):
                raise RowsInvalid([{"index": int(i), "errors": e} for i, e in errors.items()])
            raise ValidationError(errors)
        return data
