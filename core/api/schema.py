"""The OpenAPI schema's error responses, documented once for every operation (a drf-spectacular postprocessing
hook), with the body shapes ``core.api.errors`` produces:

- ``400`` — ``FieldErrors`` (``{field: [message, …]}``, nested for nested objects and lists, ``non_field_errors`` for
  the body as a whole, ``detail`` for an error of the request as a whole) on every operation that takes a body, query
  parameters or a header such as ``Idempotency-Key``, and on every POST/PUT/PATCH that documents no body (it refuses
  one that holds anything, ``core.api.no_body``); ``BulkErrors`` (``{"rows": [{"index", "errors"}]}`` or
  ``{"non_field_errors": […]}``) on the operations whose body is a list;
- ``401`` (no or bad credentials: an unknown token, or one holding a character no token has) and ``403`` (not
  allowed: a partner token on a staff route) on every operation that needs authentication, ``{"detail": "…"}``;
- ``404`` on every operation addressing an object by its path (a path segment no object can have, such as one
  holding a NUL, included), and on every paginated list (a page past the end), ``{"detail": "…"}``;
- ``406`` on every operation (an ``Accept`` header that allows no format the API answers in; it answers JSON);
- ``409`` on every write (an approved period, a state that does not allow the action, an ``Idempotency-Key`` used
  with a different body): ``{"detail": "…", …}`` with machine-readable details beside the message;
- ``415`` on every write (a body that is not JSON: DRF parses a body sent even to an operation that documents
  none, e.g. to hash it for its ``Idempotency-Key``).

A list body also documents its row limit (``maxItems``, ``core.api.bulk.MAX_ROWS``), and every object of a request
body ``additionalProperties: false``: an undeclared field is a 400 (``core.api.serializers.InputSerializer``). An
operation that documents a
status itself keeps its own description; new endpoints get all of this by being in the schema.
"""

from __future__ import annotations

import copy
from typing import Any

from .bulk import MAX_ROWS

REF = "#/components/schemas/{}"

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "An error of the request as a whole; some errors carry machine-readable details beside the "
        "message (e.g. the missing rates of a run, the approved period a change would alter).",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
        "additionalProperties": True,
        "example": {"detail": "Not found."},
    },
    "FieldErrors": {
        "type": "object",
        "description": "Field → messages. Nested objects nest the same way; a list's items are keyed by their "
        "0-based index; ``non_field_errors`` is about the body as a whole, ``detail`` about the request.",
        "additionalProperties": {"$ref": REF.format("FieldErrorMessages")},
        "example": {"period": ["Enter a period as YYYY-MM."], "rules": {"0": {"rate": ["A number is required."]}}},
    },
    "FieldErrorMessages": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": REF.format("FieldErrors")}]}},
            {"$ref": REF.format("FieldErrors")},
        ]
    },
    "RowError": {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "description": "0-based position of the row in the request body"},
            "errors": {"$ref": REF.format("FieldErrors")},
        },
        "required": ["index", "errors"],
        "additionalProperties": False,
    },
    "BulkErrors": {
        "description": "A list body that was refused — exactly one of: ``rows`` naming each bad row by index with its "
        "field errors (nothing was written); ``non_field_errors`` about the body as a whole (not a list, too many "
        "rows); ``detail`` about the request (a body that is no JSON); ``Idempotency-Key`` a malformed key.",
        "oneOf": [
            {
                "type": "object",
                "properties": {"rows": {"type": "array", "items": {"$ref": REF.format("RowError")}, "minItems": 1}},
                "required": ["rows"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"non_field_errors": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                "required": ["non_field_errors"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
                },
                "required": ["detail"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"Idempotency-Key": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                "required": ["Idempotency-Key"],
                "additionalProperties": False,
            },
        ],
        "example": {"rows": [{"index": 3, "errors": {"usd_rate": ["Must be greater than zero."]}}]},
    },
}

WRITE_METHODS = {"post", "put", "patch", "delete"}
BODY_METHODS = {"post", "put", "patch"}

DESCRIPTIONS = {
    "400": "Invalid input: field errors",
    "401": "Authentication credentials were not provided or are invalid",
    "403": "Not allowed (e.g. a partner token on a staff route)",
    "404": "Not found (or outside the caller's scope, or a path segment no object can have such as one holding a NUL; "
    "for a list: a page past the end)",
    "406": "Not acceptable: the Accept header allows no format the API answers in (it answers JSON)",
    "409": "Conflicts with the current state (an approved period, the object's status, an Idempotency-Key used with "
    "a different body)",
    "415": "Unsupported media type: a body must be JSON",
}


ERROR_BODIES = {"400": "FieldErrors", "401": "Error", "403": "Error", "404": "Error", "409": "Error"}


def _json(component: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF.format(component)}}}}


def _is_list_body(operation: dict[str, Any], components: dict[str, Any]) -> bool:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        ref = schema.get("$ref")
        if ref:
            schema = components.get(ref.rsplit("/", 1)[-1], {})
        if schema.get("type") == "array":
            return True
    return False


def _is_paginated(operation: dict[str, Any]) -> bool:
    return any(p.get("in") == "query" and p.get("name") == "page" for p in operation.get("parameters", []))


def error_responses(method: str, operation: dict[str, Any], components: dict[str, Any]) -> dict[str, dict]:
    """The error statuses ``operation`` can answer, with their bodies."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    responses: dict[str, dict] = {}
    # A POST without a documented body refuses one that holds anything (``core.api.no_body``): a 400 as well.
    if has_body or method in BODY_METHODS or any(p.get("in") in ("query", "header") for p in parameters):
        bulk = has_body and _is_list_body(operation, components)
        responses["400"] = _json("BulkErrors" if bulk else "FieldErrors", DESCRIPTIONS["400"])
    if operation.get("security") != [{}]:
        responses["401"] = _json("Error", DESCRIPTIONS["401"])
        responses["403"] = _json("Error", DESCRIPTIONS["403"])
    if any(p.get("in") == "path" for p in parameters) or _is_paginated(operation):
        responses["404"] = _json("Error", DESCRIPTIONS["404"])
    responses["406"] = _json("Error", DESCRIPTIONS["406"])
    if method in WRITE_METHODS:
        responses["409"] = _json("Error", DESCRIPTIONS["409"])
    if has_body or method in BODY_METHODS:
        responses["415"] = _json("Error", DESCRIPTIONS["415"])
    return responses


def _document_row_limit(operation: dict[str, Any]) -> None:
    """A list body holds at most ``core.api.bulk.MAX_ROWS`` rows (``validated_rows``, the trade push): say so."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        if schema.get("type") == "array":
            schema.setdefault("maxItems", MAX_ROWS)


def _close_objects(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Mark every object schema under ``node`` (following ``$ref``s into components) ``additionalProperties:
    false``. Request bodies are request-only components (``COMPONENT_SPLIT_REQUEST``), so no response is touched."""
    if isinstance(node, list):
        for item in node:
            _close_objects(item, components, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _close_objects(components.get(name), components, seen)
        return
    if "properties" in node:
        node.setdefault("additionalProperties", False)
    for key in ("properties", "items", "allOf", "anyOf", "oneOf"):
        child = node.get(key)
        _close_objects(
            list(child.values()) if isinstance(child, dict) and key == "properties" else child, components, seen
        )


def document_errors(result: dict[str, Any], generator=None, request=None, public=None) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the error responses (and their components) to every operation, and
    the row limit to every list body."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        components.setdefault(name, copy.deepcopy(schema))
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            _document_row_limit(operation)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _close_objects(media.get("schema"), components, set())
            responses = operation.setdefault("responses", {})
            for code, response in error_responses(method, operation, components).items():
                responses.setdefault(code, response)
            for code, response in responses.items():
                # An error status an operation declares with its description only (a GET export's 409) gets the
                # error body every other operation documents for it.
                if code in ERROR_BODIES and "content" not in response:
                    response["content"] = _json(ERROR_BODIES[code], response.get("description", ""))["content"]
    return result
