"""An instrument's pricing fields are fixed once an approved commission period holds a trade of it (instruments are
reference data, not dated): a change is a 409 naming the period; other fields, and instruments without approved
trades, still change."""

from __future__ import annotations

import pytest

from commissions.models import Instrument
from tests.commissions.runs_support import EURUSD, USDJPY, post_ok

pytestmark = pytest.mark.django_db

URL = "/api/v1/instruments/"


def test_repricing_an_instrument_with_approved_trades_is_a_409_naming_the_period(seeded, staff_client):
    for changed in ({"contract_size": "1000"}, {"pip_size": "0.001"}, {"quote": "CHF"}, {"group": "exotic"}):
        response = staff_client.post(URL, [{**EURUSD, **changed}], format="json")
        assert response.status_code == 200, response.content  # 2026-03 is computed, not yet approved
        post_ok(staff_client, URL, [EURUSD])  # back as it was
    post_ok(staff_client, f"/api/v1/runs/{seeded['run']}/approve/", {})

    for changed in ({"contract_size": "1000"}, {"pip_size": "0.001"}, {"quote": "CHF"}, {"digits": 3}):
        response = staff_client.post(URL, [{**EURUSD, **changed}], format="json")
        assert response.status_code == 409, (changed, response.content)
        body = response.json()
        assert (body["symbol"], body["period"], body["fields"]) == ("EURUSD", "2026-03", list(changed)), body
        assert "2026-03" in body["detail"]
    assert Instrument.objects.get(symbol="EURUSD").contract_size == 100000
    # Not pricing: the volume limits only check trades to come. And re-sending the same terms changes nothing.
    assert post_ok(staff_client, URL, [{**EURUSD, "volume_max": "500"}])["updated"] == 1
    assert post_ok(staff_client, URL, [{**EURUSD, "volume_max": "500"}])["unchanged"] == 1
    # An instrument without trades in an approved period still changes.
    post_ok(staff_client, URL, [{**USDJPY, "symbol": "GBPUSD", "base": "GBP", "quote": "USD"}])
    assert (
        post_ok(staff_client, URL, [{**USDJPY, "symbol": "GBPUSD", "base": "GBP", "contract_size": "1000"}])["updated"]
        == 1
    )
