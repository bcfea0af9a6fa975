"""Master closes through the API: a re-sent earlier close changes nothing, ``close_id`` tells identical fills
apart, and a close off the volume step or out of time order is a 400 with field errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commissions.models import Trade
from mam.models import Allocation, MasterClose, MasterTrade, SubClose

from .support import GROUP, close_body, setup_mam

pytestmark = pytest.mark.django_db

URL = f"/api/v1/mam/master-trades/{GROUP}/500/close/"


def _state() -> tuple:
    master = MasterTrade.objects.get(ticket=500)
    return (
        master.lots_open,
        MasterClose.objects.count(),
        SubClose.objects.count(),
        Trade.objects.filter(master_ticket=500).count(),
        sorted(Allocation.objects.values_list("pk", "lots_open")),
    )


def _post(client, body: dict):
    return client.post(URL, body, format="json")


def test_re_sending_an_earlier_close_without_an_id_changes_nothing(staff_client):
    setup_mam(staff_client)
    first = _post(staff_client, close_body(lots="0.40", time="2026-03-10T11:00:00Z"))
    second = _post(staff_client, close_body(lots="0.30", time="2026-03-10T11:05:00Z", price="1.08200"))
    assert first.status_code == second.status_code == 200
    before = _state()
    assert before[0] == Decimal("0.3")
    again = _post(staff_client, close_body(lots="0.40", time="2026-03-10T11:00:00Z"))
    assert again.status_code == 200, again.content
    assert again.json()["seq"] == 1 and again.json()["closes"] == first.json()["closes"]
    assert _state() == before


def test_identical_fills_with_their_close_ids_both_close(staff_client):
    setup_mam(staff_client)
    fill = close_body(lots="0.20", time="2026-03-10T11:00:00Z")
    one = _post(staff_client, {**fill, "close_id": "deal-1"})
    two = _post(staff_client, {**fill, "close_id": "deal-2"})
    assert (one.status_code, two.status_code) == (200, 200), two.content
    assert (one.json()["seq"], two.json()["seq"]) == (1, 2)
    assert two.json()["close_id"] == "deal-2" and two.json()["lots_open"] == "0.6000"
    before = _state()
    again = _post(staff_client, {**fill, "close_id": "deal-1"})
    assert again.status_code == 200 and again.json()["seq"] == 1
    assert again.json()["closes"] == one.json()["closes"]
    # Without an id, the fill equals an earlier close: a repeat of it, not a third close.
    assert _post(staff_client, fill).json()["seq"] == 1
    assert _state() == before
    edited = _post(staff_client, {**fill, "lots": "0.30", "close_id": "deal-1"})
    assert edited.status_code == 409 and "deal-1" in edited.json()["detail"]
    assert _state() == before


def test_without_close_ids_a_second_identical_fill_is_taken_for_a_repeat(staff_client):
    setup_mam(staff_client)
    fill = close_body(lots="0.20", time="2026-03-10T11:00:00Z")
    assert _post(staff_client, fill).json()["seq"] == 1
    before = _state()
    assert _post(staff_client, fill).json()["seq"] == 1  # documented: identical fills must carry close_id
    assert _state() == before
    # An id now, on content equal to a close sent without one, cannot be told from a repeat: 409, nothing written.
    ambiguous = _post(staff_client, {**fill, "close_id": "deal-9"})
    assert ambiguous.status_code == 409
    assert _state() == before


def test_a_close_id_longer_than_100_characters_is_a_400(staff_client):
    setup_mam(staff_client)
    response = _post(staff_client, {**close_body(lots="0.20"), "close_id": "x" * 101})
    assert response.status_code == 400 and "close_id" in response.json()


def test_a_close_off_the_volume_step_is_a_400_on_lots(staff_client):
    setup_mam(staff_client)
    before = _state()
    response = _post(staff_client, close_body(lots="0.0015"))  # EURUSD's volume step is 0.01 here
    assert response.status_code == 400, response.content
    assert "volume step" in response.json()["lots"][0]
    assert _state() == before


def test_a_close_before_the_previous_close_or_the_open_is_a_400_on_close_time(staff_client):
    setup_mam(staff_client)
    assert _post(staff_client, close_body(lots="0.20", time="2026-03-10T11:00:00Z")).status_code == 200
    before = _state()
    earlier = _post(staff_client, close_body(lots="0.20", time="2026-03-10T10:59:59Z", price="1.08300"))
    assert earlier.status_code == 400 and "previous close" in earlier.json()["close_time"][0]
    before_open = _post(staff_client, close_body(lots="0.20", time="2026-03-10T09:00:00Z", price="1.08300"))
    assert before_open.status_code == 400 and "close_time" in before_open.json()
    assert _state() == before
    same_instant = _post(staff_client, close_body(lots="0.10", time="2026-03-10T11:00:00Z", price="1.08300"))
    assert same_instant.status_code == 200 and same_instant.json()["seq"] == 2


def test_a_close_id_is_one_line_of_plain_text_refused_not_trimmed(staff_client):
    """``"a\\n"`` or ``" a "`` stored as ``"a"`` would make two different deal ids one (a repeat), so they are
    refused with a field error, as cash-flow ids are."""
    setup_mam(staff_client)
    before = _state()
    for bad in ("deal-1\n", " deal-1 ", "deal,1", ""):
        response = staff_client.post(URL, {**close_body(lots="0.50"), "close_id": bad}, format="json")
        assert response.status_code == 400 and list(response.json()) == ["close_id"], (bad, response.content)
    assert _state() == before
