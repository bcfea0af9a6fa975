"""Lists inside bodies are bounded and say so in the schema (``maxItems``); a program's per-level lists hold at most
one value per level of its depth."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from partners.services.programs import MAX_LEVEL_VALUES, program_upsert

from .cases import openapi, resolved

pytestmark = pytest.mark.django_db


def _arrays(node, path, found):
    if isinstance(node, dict):
        if node.get("type") == "array":
            found.append((path, node))
        for key, value in node.items():
            _arrays(value, f"{path}/{key}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _arrays(value, f"{path}[{index}]", found)


def test_every_list_a_request_can_hold_documents_its_maximum():
    """Request components and bodies: no unbounded list reaches a service (a new one fails here until capped)."""
    schema = openapi()
    found: list = []
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            _arrays(component, f"#/components/schemas/{name}", found)
    for path, item in schema["paths"].items():
        for method, op in item.items():
            for media in op.get("requestBody", {}).get("content", {}).values():
                _arrays(resolved(media["schema"]), f"{method} {path}", found)
    assert len(found) >= 9
    assert [p for p, node in found if "maxItems" not in node] == []


def _program(client, **fields):
    body = {"code": "deep", "name": "Deep", "model": "cascade", **fields}
    return client.post("/api/v1/programs/", body, format="json")


def test_a_program_holds_at_most_one_share_and_override_per_level(staff_client):
    assert _program(staff_client, max_depth=3, shares=["30", "20", "10"], override_pct=["5"] * 3).status_code == 201
    for field in ("shares", "override_pct"):
        response = _program(staff_client, max_depth=3, **{field: ["10"] * 4})
        assert response.status_code == 400 and list(response.json()) == [field], response.content
        assert "max_depth 3" in response.json()[field][0]
    response = _program(staff_client, max_depth=500, shares=["1"] * (MAX_LEVEL_VALUES + 1))
    assert response.status_code == 400 and "no more than 100" in response.json()["shares"][0]


def test_lowering_the_depth_below_the_lists_is_refused_naming_them(staff_client):
    """A PATCH combines the body with the program's settings: the service checks the depth against the lists."""
    assert _program(staff_client, max_depth=3, shares=["30", "20"]).status_code == 201
    response = staff_client.patch("/api/v1/programs/deep/", {"max_depth": 1}, format="json")
    assert response.status_code == 400 and list(response.json()) == ["shares"], response.content
    response = staff_client.patch("/api/v1/programs/deep/", {"max_depth": 1, "shares": ["30"]}, format="json")
    assert response.status_code == 200 and response.json()["max_depth"] == 1


def test_the_service_refuses_more_values_than_levels():
    with pytest.raises(ValidationError) as caught:
        program_upsert(code="svc", name="Svc", model="override", max_depth=2, override_pct=["1", "2", "3"])
    assert list(caught.value.message_dict) == ["override_pct"]
