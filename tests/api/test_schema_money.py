"""The schema promises exact decimals: no operation documents a JSON number anywhere (request or response), and no
money, lot, rate or price field is typed as an integer either (they are decimal strings, API.md)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

MONEYISH = re.compile(
    r"(amount|lots?$|_lots|rate|price|pct|percent|balance|fee|multiplier|profit|swap|commission|spread|payout|"
    r"earned|total|equity|margin|notional|base$|contract_size|pip_size|volume|min_points|per_lot|share)",
    re.IGNORECASE,
)
# Integer fields whose names look like money but count things.
COUNTS = {"chunks_done", "chunks_total", "evidence_total", "rows_read", "trades_resolved", "max_depth"}


def _walk(node, path, found):
    if isinstance(node, dict):
        kind, fmt = node.get("type"), node.get("format")  # a property may be named "type" or "format"
        if kind == "number" or (isinstance(fmt, str) and fmt in {"float", "double"}):
            found.append(f"{path}: {node}")
        for name, prop in (node.get("properties") or {}).items():
            integer = isinstance(prop, dict) and prop.get("type") == "integer"
            if integer and MONEYISH.search(name) and name not in COUNTS:
                found.append(f"{path}.{name}: integer-typed money field")
        for key, value in node.items():
            _walk(value, f"{path}/{key}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{path}[{index}]", found)


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_no_number_typed_field_anywhere_in_the_schema(schema):
    found: list[str] = []
    _walk(schema, "#", found)
    assert not found, "\n".join(found)


def test_the_walk_catches_a_number_typed_amount():
    """The check itself: a number-typed amount, integer-typed lots and a ``double`` price are caught; a level is not."""
    found: list[str] = []
    _walk(
        {
            "components": {
                "schemas": {
                    "Line": {
                        "properties": {
                            "amount": {"type": "number"},
                            "lots": {"type": "integer"},
                            "price": {"type": "string", "format": "double"},
                            "level": {"type": "integer"},
                        }
                    }
                }
            }
        },
        "#",
        found,
    )
    assert len(found) == 3 and not any(".level" in f for f in found), found


def test_every_decimal_in_the_schema_is_a_decimal_string(schema):
    """Properties documented as decimals are strings with format ``decimal`` (drf-spectacular's DecimalField with
    ``coerce_to_string``), so generated clients keep every digit."""
    decimals: list[tuple[str, dict]] = []

    def collect(node, path):
        if isinstance(node, dict):
            if node.get("format") == "decimal":
                decimals.append((path, node))
            for key, value in node.items():
                collect(value, f"{path}/{key}")
        elif isinstance(node, list):
            for value in node:
                collect(value, path)

    collect(schema, "#")
    assert len(decimals) > 30
    assert all(node.get("type") == "string" for _, node in decimals), [p for p, n in decimals if n.get("type")]


# An amount's name: ``amount`` itself or a word of it (``amount_in_minimum_currency``, ``fee_amount``).
AMOUNT = re.compile(r"(^|_)amount($|_)")


def test_every_amount_is_documented_as_a_decimal_string(schema):
    """A string amount without ``format: decimal`` (a ``SerializerMethodField``) leaves a generated client a plain
    string: every amount field is documented as every other (``AmountField``, ``DecimalField``)."""
    undocumented = [
        f"{name}.{prop_name}"
        for name, component in schema["components"]["schemas"].items()
        for prop_name, prop in (component.get("properties") or {}).items()
        if AMOUNT.search(prop_name) and prop.get("type") == "string" and prop.get("format") != "decimal"
    ]
    assert undocumented == []


def test_a_decimal_that_reaches_the_renderer_is_written_exactly():
    """DRF's JSON encoder turns a Decimal it meets unformatted into a float (``5.0``): the API's renderer writes it
    as its exact string instead, whatever produced it."""
    from decimal import Decimal

    from core.api.renderers import JSONRenderer

    body = JSONRenderer().render({"amount": Decimal("12345678901234.123456"), "zero": Decimal("0.00")})
    assert body == b'{"amount":"12345678901234.123456","zero":"0.00"}'
