"""One rule for a server's name wherever the API takes one (``core.names``, the trade feed's rule): accounts,
trades, rebates' account keys and the ``server`` filters; a server holding ``/`` is addressable on every route."""

from __future__ import annotations

import pytest

from core.names import SERVER_MESSAGE
from tests.commissions.runs_support import post_ok, trade

pytestmark = pytest.mark.django_db

BAD = ["live,1", 'live"1', "live\\1", "live\t1", "live\x7f1", " live1", "live1 ", "x" * 65]
# Not addressable as a path: a client or proxy rewrites dot segments, an end slash or "//" changes the route.
BAD += [".", "..", "eu/", "/eu", "eu//live", "eu/./live", "eu/.."]


def test_a_server_name_the_trade_feed_refuses_is_refused_everywhere(seeded, staff_client):
    for server in BAD:
        response = staff_client.post("/api/v1/accounts/", [{"server": server, "login": 1}], format="json")
        assert response.status_code == 400, (server, response.content)
        assert "server" in response.json()["rows"][0]["errors"], (server, response.content)
        rebate = {"partner": "sub", "account": {"server": server, "login": 1}, "pct": "1"}
        response = staff_client.post("/api/v1/rebates/", rebate, format="json")
        assert response.status_code == 400 and "server" in response.json()["account"], (server, response.content)
        for url in ("/api/v1/accounts/", "/api/v1/trades/", "/api/v1/lines/"):
            response = staff_client.get(url, {"server": server})
            assert response.status_code == 400 and "server" in response.json(), (url, server, response.content)
        response = staff_client.get("/api/v1/lines/", {"account": f"{server}:1"})
        assert response.status_code == 400 and "account" in response.json(), (server, response.content)
    response = staff_client.post("/api/v1/accounts/", [{"server": "a,b", "login": 1}], format="json")
    assert response.json()["rows"][0]["errors"]["server"] == [SERVER_MESSAGE]


def test_a_server_with_a_slash_is_created_and_addressed_like_any(seeded, staff_client):
    post_ok(staff_client, "/api/v1/accounts/", [{"server": "eu/live", "login": 7001, "partner": "sub"}])
    detail = staff_client.get("/api/v1/accounts/eu/live/7001/")
    assert detail.status_code == 200 and detail.json()["server"] == "eu/live", detail.content
    moved = staff_client.post("/api/v1/accounts/eu/live/7001/attribute/", {"partner": "sub2"}, format="json")
    assert moved.status_code == 200, moved.content
    assert staff_client.get("/api/v1/accounts/", {"server": "eu/live"}).json()["count"] == 1
    pushed = post_ok(staff_client, "/api/v1/trades/", [{**trade(7001, login=7001), "server": "eu/live"}])
    assert pushed["created"] == 1 and not pushed["rejected"], pushed
    assert staff_client.get("/api/v1/trades/eu/live/7001/").status_code == 200
