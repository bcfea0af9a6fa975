"""The schema's query parameters describe what the API accepts, so a client generated from it sends values that
work: every enum's values have the type the schema gives it, and a value built from each parameter's schema alone
(its example, each enum value, a value of its type and format) is answered, not refused as a field error."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api.seed import is_partner_route

TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}
FORMATS = {"date": "2026-03-02", "date-time": "2026-03-02T00:00:00Z"}
PAGING = {"page", "page_size"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _enums(node: Any, path: str = "#"):
    if isinstance(node, dict):
        if "enum" in node and isinstance(node.get("type"), str):
            yield path, node
        for key, value in node.items():
            yield from _enums(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _enums(value, f"{path}[{index}]")


def test_every_enum_s_values_have_the_type_the_schema_gives_it(schema):
    wrong = []
    for path, node in _enums(schema):
        kind = TYPES.get(node["type"])
        for value in node["enum"]:
            if value is None and node.get("nullable"):
                continue
            if kind is None or not isinstance(value, kind) or (node["type"] == "integer" and isinstance(value, bool)):
                wrong.append(f"{path}: {node['type']} with enum value {value!r}")
    assert not wrong, "\n".join(wrong)


def client_values(parameter: dict) -> list[str]:
    """What a client generated from the schema would send for ``parameter``, as query text."""
    spec = parameter["schema"]
    name = parameter["name"]
    if "enum" in spec:
        return [str(v).lower() if isinstance(v, bool) else str(v) for v in spec["enum"]]
    if "example" in spec:
        example = str(spec["example"])
        assert "pattern" not in spec or re.search(spec["pattern"], example), f"{name}: example does not match"
        return [example]
    assert "pattern" not in spec, f"{name}: a pattern-constrained parameter documents an example"
    kind = spec.get("type")
    if kind == "integer":
        return [str(max(spec.get("minimum", 1), 1))]
    if kind == "boolean":
        return ["true", "false"]
    if kind == "string" and spec.get("format") in FORMATS:
        return [FORMATS[spec["format"]]]
    assert kind == "string" and "format" not in spec, f"{name}: no client value for {spec}"
    return ["x"]


def test_the_walk_catches_a_filter_documented_with_the_wrong_type():
    """The two defects this test was written for: ``account`` (``server:login``) documented as an integer, and a
    ``true``/``false`` filter documented as an integer — a client would send ``1``."""
    assert client_values({"name": "account", "schema": {"type": "integer"}}) == ["1"]
    assert client_values({"name": "unresolved", "schema": {"type": "integer", "enum": ["false", "true"]}}) == [
        "false",
        "true",
    ]


def test_every_query_parameter_accepts_what_its_schema_describes(schema, seeded, staff_client, partner_client):
    paths = {"{code}": "sub", "{server}": "live1", "{login}": "1001", "{ticket}": "1", "{period}": "2026-03"}
    refused = []
    checked = 0
    for path, item in schema["paths"].items():
        operation = item.get("get")
        if not operation:
            continue
        values = paths | {"{id}": str(seeded["trade_import" if "/trade-imports/" in path else "run"])}
        if "/mam/" in path:
            values |= {"{code}": "alpha", "{group}": "alpha", "{ticket}": "500"}
        url = re.sub(r"\{[^}]+\}", lambda m, values=values: values[m.group(0)], path)
        query = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] not in PAGING]
        required = {p["name"]: client_values(p)[0] for p in query if p.get("required")}
        for parameter in query:
            for value in client_values(parameter):
                client = partner_client if is_partner_route(path) else staff_client  # /me/: as the partner
                response = client.get(url, {**required, parameter["name"]: value})
                checked += 1
                if response.status_code != 200:
                    refused.append(
                        f"GET {path}?{parameter['name']}={value}: {response.status_code} {response.content[:200]}"
                    )
    assert checked > 40
    assert not refused, "\n".join(refused)


def test_limits_are_documented(schema):
    """``page_size``'s cap on every paginated list, the row limit on every list body (both enforced: the declarative
    route tests send one past each)."""
    from core.api.bulk import MAX_ROWS
    from core.api.pagination import PageNumberPagination

    page_sizes, bodies = 0, 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "page_size":
                    assert parameter["schema"]["maximum"] == PageNumberPagination.max_page_size == 1000, path
                    page_sizes += 1
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if media["schema"].get("type") == "array":
                    assert media["schema"]["maxItems"] == MAX_ROWS == 10_000, (method, path)
                    bodies += 1
    assert page_sizes >= 10 and bodies == 6
