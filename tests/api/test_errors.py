"""The error mapping at the API's edge: database range errors never leak, unmatched API paths answer JSON, a NUL
character is a field error where the body is parsed."""

from __future__ import annotations

import pytest
from django.db import DataError

from core.api.errors import exception_handler

pytestmark = pytest.mark.django_db


def test_a_database_range_error_is_a_400_without_the_database_message():
    response = exception_handler(DataError('value "99999999999" is out of range for type integer'), {})
    assert response.status_code == 400
    assert response.data == {"detail": "A value is out of the range its field can hold."}


def test_an_overflowing_date_computation_is_a_400():
    assert exception_handler(OverflowError("date value out of range"), {}).status_code == 400


def test_an_unmatched_api_path_is_a_json_404_and_other_paths_keep_django_s_page(staff_client):
    response = staff_client.get("/api/v1/accounts/live1/not-a-number/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    page = staff_client.get("/no-such-page/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")


def test_a_nul_character_is_a_field_error_naming_where_it_is(staff_client):
    response = staff_client.post("/api/v1/partners/", {"code": "a", "name": "x\x00y", "program": "p"}, format="json")
    assert response.status_code == 400 and response.json() == {"name": ["Null characters are not allowed."]}
    rows = [{"currency": "EUR", "day": "2026-03-01", "usd_rate": "1"}, {"currency": "E\x00R"}]
    response = staff_client.post("/api/v1/rates/", rows, format="json")
    assert response.status_code == 400
    assert response.json() == {"rows": [{"index": 1, "errors": {"currency": ["Null characters are not allowed."]}}]}


def test_a_body_that_is_not_json_is_415(staff_client):
    response = staff_client.post("/api/v1/runs/", "kind=commissions", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and "detail" in response.json()
