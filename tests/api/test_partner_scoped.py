"""The ``PartnerScoped`` mixin, ready for the ``/me/`` routes: it passes on a route that keeps a partner to its own
objects, and fails on one that answers 403 (revealing the object exists) or shows another partner's object."""

from __future__ import annotations

import pytest

from .cases import PartnerScoped

pytestmark = pytest.mark.urls("tests.api.scoped_urls")

OWN = {"server": "live1", "login": 1001}  # sub's client (the partner_client is sub's token)
FOREIGN = {"server": "live1", "login": 1002}  # sub2's
MISSING = {"server": "live1", "login": 999999}


class TestMyAccount(PartnerScoped):
    path = "/api/v1/me/accounts/{server}/{login}/"
    own, foreign, missing = OWN, FOREIGN, MISSING


class _Forbidding(PartnerScoped):
    path = "/api/v1/forbidding/accounts/{server}/{login}/"
    own, foreign, missing = OWN, FOREIGN, MISSING


class _Leaking(PartnerScoped):
    path = "/api/v1/leaking/accounts/{server}/{login}/"
    own, foreign, missing = OWN, FOREIGN, MISSING


@pytest.mark.parametrize("route", [_Forbidding, _Leaking])
def test_the_mixin_catches_a_route_that_reveals_another_partner_s_object(route, seeded, partner_client):
    case = route()
    case.keys = seeded
    case.test_a_partner_token_reaches_its_own_objects(seeded, partner_client)
    with pytest.raises(AssertionError):
        case.test_out_of_scope_is_a_json_404_for_a_partner_token(seeded, partner_client)
