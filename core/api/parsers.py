"""The API's JSON parser.

- Nesting is bounded: a body nested deeper than ``MAX_DEPTH`` arrays and objects (no body of this API needs more than
  a handful) is a 400 ``{"detail": …}`` where it is parsed, before any code walks it — Python's parser and every
  recursive walk would otherwise run out of stack (a ``RecursionError``, a 500).
- PostgreSQL stores no NUL character in any text (nor in ``jsonb``), so a body holding one is refused where it is
  parsed — a 400 naming each field that holds one (``{"rows": …}`` on an operation whose body is a list, one whose
  view says ``list_body = True``, like every bulk error; field errors keyed by index for a list sent to any other
  operation, the shape its schema documents) — instead of reaching a query and failing there. A list operation sent
  an object or a scalar holding one answers what it answers any body that is not a list (``{"non_field_errors":
  ["Expected a JSON list of objects."]}``, its documented ``BulkErrors``), whatever the body holds.
- A lone (unpaired) surrogate — JSON's ``"\\ud800"`` — is no Unicode character: it cannot be encoded as UTF-8, so
  it would fail wherever the value is written (a trade import's CSV, the database) or echoed back (DRF's "not a
  valid choice" quotes the value, and rendering that fails). It is refused in the same walk, the same way, with its
  own message; a field name holding either is named with the character escaped (``\\u0000``, ``\\ud800``).
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from .bulk import RowsInvalid, not_a_list

MESSAGE = "Null characters are not allowed."
SURROGATE = "Unpaired surrogate characters are not allowed (a string must be valid Unicode)."
MAX_DEPTH = 32
TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} arrays and objects."


def depth(node: Any) -> int:
    """How deeply ``node`` nests arrays and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break  # deep enough to refuse: walk no further
        stack.extend((child, level + 1) for child in children)
    return deepest


def _refusal(text: str) -> list[str] | None:
    """Why ``text`` cannot be stored (a NUL, a lone surrogate); None when it can."""
    if "\x00" in text:
        return [MESSAGE]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [SURROGATE]
    return None


def _printable(key: str) -> str:
    """``key`` with its NULs and lone surrogates escaped, so the error naming it can be rendered."""
    return "".join(c if c != "\x00" and not "\ud800" <= c <= "\udfff" else f"\\u{ord(c):04x}" for c in key)


def _unstorable_errors(node: Any) -> Any:
    """Field errors for every string (or key) holding a NUL or a lone surrogate, nested like the body; None when
    there is none. Only called on bodies at most ``MAX_DEPTH`` deep."""
    if isinstance(node, str):
        return _refusal(node)
    if isinstance(node, dict):
        errors = {}
        for key, value in node.items():
            error = _refusal(key) or _unstorable_errors(value)
            if error:
                errors[_printable(key)] = error
        return errors or None
    if isinstance(node, list):
        errors = {str(i): e for i, e in ((i, _unstorable_errors(v)) for i, v in enumerate(node)) if e}
        return errors or None
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # DRF's parser only turns a ValueError into a ParseError
            raise ParseError(TOO_DEEP) from exc
        if depth(data) > MAX_DEPTH:
            raise ParseError(TOO_DEEP)
        errors = _unstorable_errors(data)
        if errors:
            # The row shape only where the operation documents it (a list body); anywhere else a list sent by
            # mistake gets the operation's own field-errors shape, its items keyed by index.
            view = (parser_context or {}).get("view")
            if getattr(view, "list_body", False):
                if isinstance(data, list):
                    raise RowsInvalid([{"index": int(i), "errors": e} for i, e in errors.items()])
                # Not a list at all: refused as any other non-list body of a list operation is (``BulkErrors``'
                # ``non_field_errors``), not with field errors that shape does not have.
                raise not_a_list()
            raise ValidationError(errors)
        return data
