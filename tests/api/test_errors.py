"""The error mapping at the API's edge: database range errors never leak, unmatched API paths answer JSON, a NUL
character is a field error where the body is parsed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.db import DataError
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.api.errors import exception_handler
from core.api.no_body import NO_BODY
from core.api.parsers import MAX_DEPTH, MESSAGE, SURROGATE, TOO_DEEP, depth
from core.api.renderers import CSVExportMixin
from reporting.api.views import MultiFormatMixin
from tests.api.cases import assert_documented, fingerprint
from tests.api.seed import is_partner_route
from tests.commissions.runs_support import trade

pytestmark = pytest.mark.django_db


def seeded_url(path: str) -> str:
    """``path`` with its parameters naming real objects of the ``seeded`` broker (a program's code is ``prog``, a MAM
    group's ``alpha``, its open master trade 500)."""
    code = "prog" if "/programs/" in path else "alpha" if "/mam/" in path else "sub"
    values = {
        "{code}": code,
        "{server}": "live1",
        "{login}": "1001",
        "{group}": "alpha",
        "{ticket}": "500",
        "{period}": "2026-03",
    }
    return re.sub(r"\{[^}]+\}", lambda m: values.get(m.group(0), "1"), path)


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


def test_a_lone_surrogate_is_a_field_error_naming_where_it_is(seeded, staff_client):
    """``"\\ud800"`` is valid JSON but no Unicode character: a field error, not a 500 (a trade push would fail
    writing it as UTF-8 and store the import as failed; a choice field's error would echo it and fail rendering)."""
    from commissions.models import TradeImport

    imports = TradeImport.objects.count()
    row = json.dumps({**trade(20), "symbol": "EUR\ud800USD"})
    response = staff_client.post("/api/v1/trades/", f"[{row}]", content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"rows": [{"index": 0, "errors": {"symbol": [SURROGATE]}}]}
    assert TradeImport.objects.count() == imports
    body = '{"kind": "\\udfff", "period": "2026-03"}'
    response = staff_client.post("/api/v1/runs/", body, content_type="application/json")
    assert response.status_code == 400 and response.json() == {"kind": [SURROGATE]}, response.content[:300]
    body = '{"code": "a", "name": "x", "\\ud800": 1}'
    response = staff_client.post("/api/v1/programs/", body, content_type="application/json")
    assert response.status_code == 400 and response.json() == {"\\ud800": [SURROGATE]}, response.content[:300]
    # A valid pair is one character (U+1F600), stored as such.
    response = staff_client.post(
        "/api/v1/programs/", '{"code": "smile", "name": "\\ud83d\\ude00"}', content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["name"] == "\U0001f600", response.content[:300]


def test_a_list_with_a_nul_answers_the_shape_its_operation_documents(seeded, staff_client, partner_client):
    """The row shape (``BulkErrors``: ``rows`` with integer ``index``) only on operations whose body is a list; a
    list sent to an object-body operation gets its documented ``FieldErrors``, items keyed by index. Which views take
    a list (``list_body``) is checked against the schema, so a new list endpoint cannot forget it."""
    checked = 0
    for method, path, operation in _path_operations():
        if "requestBody" not in operation:
            continue
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        is_list = body.get("type") == "array"
        assert ("BulkErrors" in json.dumps(operation["responses"]["400"])) is is_list, (method, path)
        url = seeded_url(path)
        view = resolve(url).func.view_class
        assert getattr(view, "list_body", False) is is_list, (path, "list_body does not match the schema")
        client = partner_client if is_partner_route(path) else staff_client  # a partner's own route: as the partner
        response = getattr(client, method)(url, ["a\x00"], format="json")
        assert response.status_code == 400, (method, path, response.content[:200])
        if is_list:
            assert response.json() == {"rows": [{"index": 0, "errors": {"non_field_errors": [MESSAGE]}}]}
        else:
            assert response.json() == {"0": [MESSAGE]}, (method, path, response.content[:200])
        checked += 1
    assert checked > 10


def test_a_post_without_a_documented_body_refuses_one_with_a_documented_400(seeded, staff_client):
    """Every POST whose schema documents no body (an approval, a discard, a token) takes none or ``{}``: a body with
    fields is a 400 naming each (``"unknown field"``, README's "No unknown fields"), a list or a scalar a 400 under
    ``non_field_errors`` — each the 400 its schema documents — and nothing is written."""
    checked = 0
    for method, path, operation in _path_operations():
        if method != "post" or "requestBody" in operation:
            continue
        url = seeded_url(path)
        assert getattr(resolve(url).func.view_class.post, "takes_no_body", False), (path, "use @takes_no_body")
        for body, errors in (
            ({"note": "x", "period": "2026-03"}, {"note": ["unknown field"], "period": ["unknown field"]}),
            ([], {"non_field_errors": [NO_BODY]}),
            ("x", {"non_field_errors": [NO_BODY]}),
            (None, {"non_field_errors": [NO_BODY]}),
        ):
            before = fingerprint()
            response = staff_client.post(url, json.dumps(body), content_type="application/json")
            assert response.status_code == 400 and response.json() == errors, (path, body, response.content[:300])
            assert_documented(response, path, method)
            assert fingerprint() == before, (path, body)
        checked += 1
    assert checked >= 4


def test_a_body_that_is_not_json_is_415(staff_client):
    response = staff_client.post("/api/v1/runs/", "kind=commissions", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and "detail" in response.json()


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_a_deeply_nested_body_is_a_400_on_every_operation_that_takes_one(depth, seeded, staff_client, partner_client):
    """Python's JSON parser (and any recursive walk of the body) runs out of stack near 1 000 levels: the API's
    parser refuses anything deeper than ``MAX_DEPTH`` first, as a 400 about the request, on every operation of the
    schema that takes a body, an array or an object."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(operations) > 10
    for body in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        for method, path in operations:
            client = partner_client if is_partner_route(path) else staff_client
            response = getattr(client, method)(seeded_url(path), body, content_type="application/json")
            assert response.status_code == 400, (method, path, response.status_code, response.content[:300])
            assert response.json() == {"detail": TOO_DEEP}, (method, path)
    # An operation without a documented body parses one only to hash it for its Idempotency-Key.
    url = f"/api/v1/runs/{seeded['run']}/approve/"
    response = staff_client.post(
        url, "[" * depth + "]" * depth, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400 and response.json() == {"detail": TOO_DEEP}


def test_a_body_within_the_nesting_bound_is_parsed_as_before():
    assert depth([[[]]]) == 3 and depth({"a": [{"b": 1}]}) == 3 and depth(5) == 0
    assert depth([[]] * 10_000) == 2
    assert depth(json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)) == MAX_DEPTH


def _path_operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_a_nul_in_any_path_segment_is_a_json_404(seeded, staff_client):
    """No natural key or id holds a NUL: every path parameter of every operation, given one, answers a JSON 404
    (not a database error answered as an out-of-range 400)."""
    checked = 0
    for method, path, operation in _path_operations():
        for name in [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]:
            url = seeded_url(path.replace(f"{{{name}}}", "a%00b"))
            response = getattr(staff_client, method)(url, {}, format="json")
            assert response.status_code == 404, (method, path, name, response.status_code, response.content[:200])
            assert response.json() == {"detail": "Not found."}
            checked += 1
    assert checked > 15
    assert staff_client.get("/admin/partners/partner/a%00b/change/").status_code == 404


def test_a_nul_in_a_query_value_is_a_field_error(seeded, staff_client):
    for path, name, value in [
        ("/api/v1/lines/", "account", "a\x00:1"),
        ("/api/v1/rebates/", "account", "live1\x00:1001"),
        ("/api/v1/lines/", "partner", "s\x00ub"),
        ("/api/v1/trades/", "server", "live\x001"),
    ]:
        response = staff_client.get(path, {name: value})
        assert response.status_code == 400, (path, name, response.content[:200])
        assert "Null characters are not allowed." in response.json()[name][0], response.json()


def test_a_token_or_session_cookie_holding_a_nul_is_no_credential(seeded):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token abc\x00def")
    response = client.get("/api/v1/programs/")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid token."}
    client = APIClient()
    client.cookies["sessionid"] = "abcdefghijklmnop\x00"
    response = client.get("/api/v1/programs/")
    assert response.status_code == 401 and "detail" in response.json()


def test_every_operation_documents_406_and_every_write_415(staff_client):
    """An Accept the API cannot answer is a 406 on every operation; a body that is not JSON is a 415 on every write,
    even one documenting no body (``POST /runs/{id}/approve/`` parses it to hash it for its Idempotency-Key)."""
    for method, path, operation in _path_operations():
        assert "406" in operation["responses"], (method, path)
        if method in {"post", "put", "patch"}:
            assert "415" in operation["responses"], (method, path)
    response = staff_client.get("/api/v1/programs/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406 and response.json() == {"detail": "Could not satisfy the request Accept header."}


def test_a_format_the_resource_does_not_answer_in_is_406_not_404(staff_client):
    """``?format=`` is DRF's format override: a format the resource has no renderer for is the documented 406, as
    the same request by ``Accept`` would be, never a 404 saying the resource is missing."""
    response = staff_client.get("/api/v1/programs/?format=xml")
    assert response.status_code == 406
    assert response.json() == {"detail": "This resource answers in json, not format='xml'."}
    assert staff_client.get("/api/v1/programs/?format=json").status_code == 200
    export = staff_client.get("/api/v1/mam/fees/export/?period=2026-01&format=pdf")
    assert export.status_code == 406 and export["Content-Type"].startswith("application/json")
    # An export answers CSV only: asking it for JSON is the documented 406 (JSON), never CSV labelled otherwise.
    # Every CSV operation of the schema is such an export (``CSVExportMixin``), or a partner's list or statement
    # that answers JSON and, with ``?format=csv``, the same as CSV (``MultiFormatMixin``: its errors JSON too).
    for _method, path, operation in _path_operations():
        if "text/csv" in operation["responses"].get("200", {}).get("content", {}):
            view = resolve(seeded_url(path)).func.view_class
            assert issubclass(view, CSVExportMixin | MultiFormatMixin), (path, "an export: use CSVExportMixin")
    exports = (
        "/api/v1/mam/fees/export/?period=2026-01",
        "/api/v1/client-rebates/export/?period=2026-01",
        "/api/v1/reconciliation/export/?period=2026-01",
    )
    for url in exports:
        for extra in ({"HTTP_ACCEPT": "application/json"}, {}):
            target = url if extra else url + "&format=json"
            response = staff_client.get(target, **extra)
            assert response.status_code == 406 and response["Content-Type"].startswith("application/json"), target
        assert staff_client.get(url, HTTP_ACCEPT="text/csv").status_code == 200
    assert staff_client.get("/api/schema/?format=json").status_code == 200


def test_a_text_body_to_an_operation_documenting_none_is_415(seeded, staff_client):
    url = f"/api/v1/runs/{seeded['run']}/approve/"
    response = staff_client.post(url, "approve", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 415 and "detail" in response.json()
    # The same without a key: the body is parsed whether or not the view reads it, so the answer does not depend
    # on the header (and nothing is approved).
    response = staff_client.post(url, "approve", content_type="text/plain")
    assert response.status_code == 415 and "detail" in response.json()
    response = staff_client.post(url, "{bad", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()
    tokens = staff_client.post("/api/v1/partners/sub/tokens/", "x", content_type="text/plain")
    assert tokens.status_code == 415
    from runs.models import Run

    assert Run.objects.get(pk=seeded["run"]).status == "computed"


def test_the_api_answers_only_json_outside_debug(staff_client, tmp_path):
    """The schema documents JSON only: a browser's Accept gets JSON, an HTML-only Accept a 406 (the browsable API
    is added by the dev settings, under DEBUG only)."""
    browser = staff_client.get("/api/v1/programs/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.status_code == 200 and browser["Content-Type"].startswith("application/json")
    html = staff_client.get("/api/v1/programs/", HTTP_ACCEPT="text/html")
    assert html.status_code == 406 and html.json() == {"detail": "Could not satisfy the request Accept header."}
    code = (
        "from django.conf import settings; import django; django.setup(); "
        "print(settings.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'][-1])"
    )
    renderers = {}
    for debug in ("true", "false"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DEBUG": debug}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        renderers[debug] = result.stdout.strip().rsplit(".", 1)[-1]
    assert renderers == {"true": "BrowsableAPIRenderer", "false": "JSONRenderer"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/accounts/", [{"server": "live1", "login": 1006.0}], "login"),
        ("/api/v1/accounts/", [{"server": "live1", "login": "\u0661\u0660\u0660\u0665"}], "login"),
        ("/api/v1/accounts/", [{"server": "live1", "login": "1007.0"}], "login"),
        ("/api/v1/programs/", {"code": "pz", "name": "z", "max_depth": 3.0}, "max_depth"),
        ("/api/v1/programs/", {"code": "pz", "name": "z", "shares": ["\u0661\u0660"]}, "shares"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": "1_000"}], "usd_rate"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": "1e2"}], "usd_rate"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": " 1.5"}], "usd_rate"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "2026-03-10", "usd_rate": "1.5\n"}], "usd_rate"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "2026-W11-1", "usd_rate": "1.5"}], "day"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "20260310", "usd_rate": "1.5"}], "day"),
        ("/api/v1/rates/", [{"currency": "EUR", "day": "\uff12\uff10\uff12\uff16-03-10", "usd_rate": "1.5"}], "day"),
        ("/api/v1/trades/", [{**trade(77), "login": 1001.0}], "login"),
    ],
)
def test_numbers_and_dates_are_what_the_schema_says_in_ascii(seeded, staff_client, path, body, field):
    """A whole float for an integer, other scripts' digits, digit separators, exponents, blanks, ISO week and basic
    dates are refused with a field error naming the field (DRF and Python's parsers take them all)."""
    response = staff_client.post(path, body, format="json")
    if path == "/api/v1/trades/":
        assert response.status_code == 200 and field in response.json()["rejected"][0]["errors"], response.content
        return
    assert response.status_code == 400, response.content
    errors = response.json()
    errors = errors["rows"][0]["errors"] if "rows" in errors else errors
    assert field in errors, errors


def test_query_dates_and_periods_are_checked_too(seeded, staff_client):
    assert staff_client.get("/api/v1/rates/", {"day": "\u0662\u0660\u0662\u0666-03-02"}).status_code == 400
    response = staff_client.get("/api/v1/partners/master/downline/", {"at": "\uff12\uff10\uff12\uff16-06-01T00:00:00Z"})
    assert response.status_code == 400 and "at" in response.json()
    for period in ("0000-01", "2026-3"):
        response = staff_client.get("/api/v1/lines/", {"period": period})
        assert response.status_code == 400 and "period" in response.json(), period


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("/api/v1/partners/sub/", "patch", {"payout_account": 123456789012.0}, "payout_account"),
        ("/api/v1/partners/sub/", "patch", {"name": 1.5}, "name"),
        ("/api/v1/programs/", "post", {"code": "progx", "name": 1.5}, "name"),
        ("/api/v1/programs/", "post", {"code": "progx", "name": "X", "max_depth": "3"}, "max_depth"),
        ("/api/v1/accounts/", "post", [{"server": "live1", "login": 1001, "group": 5.5}], "group"),
        (
            "/api/v1/accounts/",
            "post",
            [{"server": "live1", "login": 1001, "earns_commission": 1.0}],
            "earns_commission",
        ),
        (
            "/api/v1/accounts/",
            "post",
            [{"server": "live1", "login": 1001, "earns_commission": "yes"}],
            "earns_commission",
        ),
        ("/api/v1/accounts/", "post", [{"server": "live1", "login": "1001"}], "login"),
        ("/api/v1/runs/", "post", {"kind": "commissions", "period": " 2026-03"}, "period"),
        ("/api/v1/runs/", "post", {"kind": "commissions", "period": "2026-03\n"}, "period"),
    ],
)
def test_json_types_are_the_schemas(seeded, staff_client, path, method, body, field):
    """Text is a JSON string, a boolean true or false, an integer a JSON integer, a period exactly YYYY-MM: DRF turns
    numbers into text, takes 1.0 and "yes" for true, "3" for 3 and trims blanks."""
    response = getattr(staff_client, method)(path, body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    errors = errors["rows"][0]["errors"] if "rows" in errors else errors
    assert field in errors, errors
    assert staff_client.get("/api/v1/lines/", {"period": " 2026-03"}).status_code == 400
