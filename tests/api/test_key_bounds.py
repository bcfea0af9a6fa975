"""One rule for logins and tickets everywhere: 0 to 10^18 - 1 (the trade feed's 18 digits, ``core.names``), the
maximum every request body and query parameter of the schema documents, so an account the API accepts is one whose
trades can be pushed."""

from __future__ import annotations

import re

import pytest

from core.names import MAX_LOGIN, MAX_TICKET
from tests.api.cases import openapi, resolved
from tests.commissions.runs_support import trade

pytestmark = pytest.mark.django_db

KEY = re.compile(r"(^|_)(login|ticket)$")


def _request_keys():
    """(where, schema) of every login or ticket a request body, a query or a path parameter of the schema takes."""
    schema = openapi()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("query", "path") and KEY.search(parameter["name"]):
                    mark = "?" if parameter["in"] == "query" else "/"
                    yield f"{method} {path} {mark}{parameter['name']}", parameter["schema"]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                body = resolved(media["schema"])
                row = resolved(body["items"]) if body.get("type") == "array" else body
                for name, prop in (row.get("properties") or {}).items():
                    if KEY.search(name):
                        yield f"{method} {path} {name}", resolved(prop)


def test_every_login_and_ticket_a_request_takes_documents_the_same_maximum():
    keys = list(_request_keys())
    assert len(keys) > 10
    wrong = [(where, s.get("minimum"), s.get("maximum")) for where, s in keys if s.get("maximum") != MAX_LOGIN]
    assert wrong == []
    assert MAX_LOGIN == MAX_TICKET == 10**18 - 1


def test_the_largest_login_an_account_takes_is_one_whose_trades_can_be_pushed(staff_client):
    row = {"server": "live1", "login": MAX_LOGIN, "currency": "USD"}
    assert staff_client.post("/api/v1/accounts/", [row], format="json").status_code == 200
    pushed = {**trade(MAX_TICKET), "login": MAX_LOGIN}
    response = staff_client.post("/api/v1/trades/", [pushed], format="json")
    assert response.status_code == 200 and response.json()["rejected"] == [], response.content[:500]
    # One more is refused at every door: the account, the trade push, a MAM member, a filter.
    response = staff_client.post("/api/v1/accounts/", [{**row, "login": MAX_LOGIN + 1}], format="json")
    assert response.status_code == 400 and "login" in response.json()["rows"][0]["errors"]
    response = staff_client.post("/api/v1/trades/", [{**pushed, "login": MAX_LOGIN + 1}], format="json")
    assert response.status_code in (200, 400) and "login" in str(response.json())
    response = staff_client.get("/api/v1/trades/", {"ticket": MAX_TICKET + 1})
    assert response.status_code == 400 and "ticket" in response.json()


def test_every_path_takes_logins_and_tickets_up_to_the_bound_and_a_longer_one_is_a_404(staff_client):
    """The path parameters are in the walk above (their maximum documented); one digit more matches no route: a 404,
    never a bigint overflow in the database (a 500)."""
    in_paths = sorted(where for where, _ in _request_keys() if " /" in where)
    assert len(in_paths) >= 4, in_paths  # account detail and attribute, trade detail, master trade close
    too_long = str(MAX_LOGIN + 1)
    for method, url in (
        ("get", f"/api/v1/accounts/live1/{too_long}/"),
        ("patch", f"/api/v1/accounts/live1/{too_long}/"),
        ("post", f"/api/v1/accounts/live1/{too_long}/attribute/"),
        ("get", f"/api/v1/trades/live1/{too_long}/"),
        ("get", f"/api/v1/trades/live/1/{too_long}/"),  # a server with a "/" cannot take the login's first digit
        ("post", f"/api/v1/mam/master-trades/grp/{too_long}/close/"),
    ):
        response = getattr(staff_client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.status_code, response.content[:200])
