"""``Idempotency-Key`` on every POST that starts money-moving work, declared once per route: the same key and body
return the first response (status and body) and run nothing; another body is a 409; a failed first attempt stores
nothing, so the retry runs; keys are per user; malformed keys are a 400 naming the header; old records are purged."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from commissions.models import Trade
from core.api.idempotency import IDEMPOTENT, idempotency_exempt
from core.exceptions import Conflict
from core.models import DatedChange, IdempotencyRecord
from core.services import idempotency_records_purge
from core.tasks import purge_idempotency
from ledger.models import JournalEntry, PayoutBatch, PayoutLine
from mam.models import Allocation, CashFlow, MasterClose, MasterTrade
from runs.models import Run
from tests.commissions.runs_support import post_ok, trade
from tests.mam.support import close_body, open_body
from tests.roles import staff_with_roles

pytestmark = pytest.mark.django_db


class RunRequest:
    path = "/api/v1/runs/"
    body = {"kind": "commissions", "period": "2026-04"}
    other_body = {"kind": "commissions", "period": "2026-05"}
    service = "runs.api.views.run_request"

    def url(self, seeded):
        return self.path

    def work(self):
        return Run.objects.count()


# A body-less POST (``core.api.no_body``) has no "different body": any body but none or {} is a 400 before the key
# is looked at (tested below), so its ``other_body`` is None.
NO_OTHER_BODY = None


class RunApproval:
    path = "/api/v1/runs/{id}/approve/"
    body: dict = {}
    other_body = NO_OTHER_BODY
    service = "runs.api.views.run_approval"

    def url(self, seeded):
        return self.path.format(id=seeded["run"])

    def work(self):
        return JournalEntry.objects.count(), Run.objects.filter(status="approved").count()


class MasterTradeOpen:
    path = "/api/v1/mam/master-trades/"
    body = open_body(ticket=600)
    other_body = open_body(ticket=601)
    service = "mam.api.views.master_trade_open"

    def url(self, seeded):
        return self.path

    def work(self):
        return MasterTrade.objects.count(), Allocation.objects.count()


class MasterTradeClose:
    path = "/api/v1/mam/master-trades/{group}/{ticket}/close/"
    body = close_body(lots="0.50")
    other_body = close_body(lots="0.60")
    service = "mam.api.views.master_trade_close"

    def url(self, seeded):
        return self.path.format(group="alpha", ticket=500)

    def work(self):
        return MasterClose.objects.count(), Trade.objects.count()


class CashFlowRecord:
    path = "/api/v1/mam/cash-flows/"
    body = [{"id": "idem-1", "server": "live1", "login": 3001, "time": "2026-03-04T10:00:00Z", "amount": "100"}]
    other_body = [{"id": "idem-2", "server": "live1", "login": 3001, "time": "2026-03-04T10:00:00Z", "amount": "100"}]
    service = "mam.api.views.cash_flows_record"

    def url(self, seeded):
        return self.path

    def work(self):
        return CashFlow.objects.count()


class PayoutBatchCreate:
    path = "/api/v1/payout-batches/"
    body = {"period": "2025-12"}
    other_body = {"period": "2025-11"}
    service = "ledger.api.payouts.payout_batch_create"

    def url(self, seeded):
        return self.path

    def work(self):
        return PayoutBatch.objects.count(), PayoutLine.objects.count()


class PayoutBatchApprove:
    path = "/api/v1/payout-batches/{id}/approve/"
    body: dict = {}
    other_body = NO_OTHER_BODY
    service = "ledger.api.payouts.payout_batch_approve"

    def url(self, seeded):
        return self.path.format(id=seeded["payout_draft"])

    def work(self):
        return list(PayoutBatch.objects.values_list("status", "approved_by"))


class PayoutBatchDiscard(PayoutBatchApprove):
    path = "/api/v1/payout-batches/{id}/discard/"
    service = "ledger.api.payouts.payout_batch_discard"

    def work(self):
        return list(PayoutBatch.objects.values_list("status", "closed_at"))


class PayoutBatchMarkPaid:
    path = "/api/v1/payout-batches/{id}/mark-paid/"
    body: dict = {}
    other_body = {"lines": [{"partner": "master", "status": "paid"}]}
    service = "ledger.api.payouts.payout_lines_resolve"

    def url(self, seeded):
        return self.path.format(id=seeded["payout_batch"])

    def work(self):
        return JournalEntry.objects.count(), list(PayoutLine.objects.values_list("status", "resolved_at"))


ROUTES = [
    RunRequest(),
    RunApproval(),
    MasterTradeOpen(),
    MasterTradeClose(),
    CashFlowRecord(),
    PayoutBatchCreate(),
    PayoutBatchApprove(),
    PayoutBatchDiscard(),
    PayoutBatchMarkPaid(),
]
IDS = [type(r).__name__ for r in ROUTES]
WITH_BODY = [r for r in ROUTES if r.other_body is not NO_OTHER_BODY]
BODY_LESS = [r for r in ROUTES if r.other_body is NO_OTHER_BODY]


def _post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def other_staff_client(db):
    user = staff_with_roles("staff2", email="staff2@example.com", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


PATH_VALUES = {"{code}": "x", "{server}": "s", "{login}": "1", "{ticket}": "1", "{id}": "1", "{group}": "x"}


def _posts() -> dict[str, object]:
    """Every POST of the schema → the view method that serves it."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    posts = {}
    for path, item in schema["paths"].items():
        if "post" in item:
            url = re.sub(r"\{[^}]+\}", lambda m: PATH_VALUES[m.group(0)], path)
            posts[path] = resolve(url).func.view_class.post
    return posts


def test_every_post_declares_whether_it_takes_an_idempotency_key():
    """A POST is ``@idempotent`` (money-moving work) or ``@idempotency_exempt(reason)``: a new one that says
    neither fails here; every idempotent one is tested below, and documents the header."""
    posts = _posts()
    assert len(posts) >= 14
    undeclared = [path for path, post in posts.items() if not getattr(post, "idempotency", None)]
    assert undeclared == [], "decorate these posts with @idempotent or @idempotency_exempt(reason)"
    declared = {path for path, post in posts.items() if post.idempotency == IDEMPOTENT}
    assert declared == {r.path for r in ROUTES}, "test every @idempotent POST here"
    schema = SchemaGenerator().get_schema(request=None, public=True)
    takes_key = {
        path
        for path, item in schema["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict)
        if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert takes_key == declared


def test_an_exemption_says_why():
    with pytest.raises(ValueError):
        idempotency_exempt(" ")


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_same_key_and_body_return_the_first_response_and_run_nothing(route, seeded, staff_client):
    url = route.url(seeded)
    first = _post(staff_client, url, route.body, "key-1")
    assert 200 <= first.status_code < 300, first.content[:500]
    done = route.work()
    again = _post(staff_client, url, route.body, "key-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)  # the same bytes
    assert again["Content-Type"] == "application/json"
    assert route.work() == done


def test_a_replayed_approval_is_the_first_answer_not_a_second_approval(seeded, staff_client):
    """The first approval reports what arrived after the run read its data (a late trade); approving again finds the
    run approved and reports nothing. The replay is the first answer, byte for byte, warnings included — and posts
    nothing more."""
    post_ok(staff_client, "/api/v1/trades/", [trade(90, lots="2.00")])  # a late March trade
    url = f"/api/v1/runs/{seeded['run']}/approve/"
    first = _post(staff_client, url, {}, "approve-1")
    assert first.status_code == 200 and first.json()["warnings"], first.content[:500]
    posted = (JournalEntry.objects.count(), DatedChange.objects.count(), Run.objects.get(pk=seeded["run"]).approved_at)
    again = _post(staff_client, url, {}, "approve-1")
    assert again.content == first.content
    assert (
        JournalEntry.objects.count(),
        DatedChange.objects.count(),
        Run.objects.get(pk=seeded["run"]).approved_at,
    ) == (posted)
    rerun = staff_client.post(url, {}, format="json")  # what running it again answers: no warnings
    assert rerun.status_code == 200 and rerun.json()["warnings"] == [] and rerun.content != first.content


def test_a_replayed_run_request_is_the_first_response_not_a_new_answer(seeded, staff_client):
    """Without the key a repeated request answers 200 with the live run; with it, the first 202 is replayed."""
    first = _post(staff_client, "/api/v1/runs/", RunRequest.body, "k")
    assert first.status_code == 202
    assert staff_client.post("/api/v1/runs/", RunRequest.body, format="json").status_code == 200
    assert _post(staff_client, "/api/v1/runs/", RunRequest.body, "k").status_code == 202


@pytest.mark.parametrize("route", WITH_BODY, ids=[type(r).__name__ for r in WITH_BODY])
def test_the_same_key_with_another_body_is_409(route, seeded, staff_client):
    url = route.url(seeded)
    assert _post(staff_client, url, route.body, "key-2").status_code < 300
    done = route.work()
    response = _post(staff_client, url, route.other_body, "key-2")
    assert response.status_code == 409 and "Idempotency-Key" in response.json()["detail"]
    assert route.work() == done


@pytest.mark.parametrize("route", BODY_LESS, ids=[type(r).__name__ for r in BODY_LESS])
def test_a_body_less_post_refuses_another_body_before_its_key(route, seeded, staff_client):
    """A POST that takes no body has no legitimate "other body": one with a field is a 400 naming it, before the
    key is looked at (not a 409), and the key's stored answer is still the one replayed."""
    url = route.url(seeded)
    first = _post(staff_client, url, route.body, "key-2")
    assert first.status_code < 300
    done = route.work()
    response = _post(staff_client, url, {"note": "another body"}, "key-2")
    assert response.status_code == 400 and response.json() == {"note": ["unknown field"]}, response.content[:300]
    assert route.work() == done
    assert _post(staff_client, url, route.body, "key-2").content == first.content


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_failed_first_attempt_is_not_replayed(route, seeded, staff_client, monkeypatch):
    url = route.url(seeded)

    def refuse(**kwargs):
        raise Conflict("not now")

    with monkeypatch.context() as patch:
        patch.setattr(route.service, refuse)
        failed = _post(staff_client, url, route.body, "key-3")
    assert failed.status_code == 409 and failed.json()["detail"] == "not now"
    assert not IdempotencyRecord.objects.filter(key="key-3").exists()
    retried = _post(staff_client, url, route.body, "key-3")
    assert 200 <= retried.status_code < 300, retried.content[:500]
    assert IdempotencyRecord.objects.get(key="key-3").status_code == retried.status_code


def test_a_refused_first_attempt_runs_again_once_the_state_allows_it(seeded, staff_client):
    """A 4xx answer is not stored either: an approval refused because the run is not computed yet succeeds on the
    retry with the same key once it is."""
    run = Run.objects.get(pk=seeded["run"])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    url = f"/api/v1/runs/{run.pk}/approve/"
    assert _post(staff_client, url, {}, "key-4").status_code == 409
    Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPUTED)
    response = _post(staff_client, url, {}, "key-4")
    assert response.status_code == 200 and response.json()["status"] == "approved"


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_keys_are_per_user(route, seeded, staff_client, other_staff_client):
    url = route.url(seeded)
    assert _post(staff_client, url, route.body, "shared").status_code < 300
    response = _post(other_staff_client, url, route.other_body or route.body, "shared")
    assert response.status_code != 409, "another user's key is another request"
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_another_users_same_key_and_body_gets_its_own_answer(seeded, staff_client, other_staff_client):
    assert _post(staff_client, "/api/v1/runs/", RunRequest.body, "mine").status_code == 202
    # Not the first user's 202 replayed: the second user's request runs and finds the live run.
    assert _post(other_staff_client, "/api/v1/runs/", RunRequest.body, "mine").status_code == 200


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "with space", "ключ", "tab\there", "line-end\n"])
@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_a_malformed_key_is_400_naming_the_header(route, key, seeded, staff_client):
    done = route.work()
    response = _post(staff_client, route.url(seeded), route.body, key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json(), response.content[:300]
    assert route.work() == done and not IdempotencyRecord.objects.exists()


def test_old_records_are_purged_periodically(staff_user):
    now = timezone.now()
    old = IdempotencyRecord.objects.create(key="old", user=staff_user, path="/p/", body_hash="h", status_code=200)
    fresh = IdempotencyRecord.objects.create(key="fresh", user=staff_user, path="/p/", body_hash="h", status_code=200)
    retention = timedelta(hours=settings.IBEX_IDEMPOTENCY_RETENTION_HOURS)
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=now - retention - timedelta(minutes=1))
    IdempotencyRecord.objects.filter(pk=fresh.pk).update(created_at=now - retention + timedelta(minutes=1))
    assert idempotency_records_purge(now=now) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert purge_idempotency.name in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert purge_idempotency.apply().get() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_with_one_key_do_the_work_once(seeded, staff_client):
    """Several clients retry at once with the same key: one request runs, the others wait for it and answer its
    response, byte for byte. (Without the key they would answer one 202 and 200s: the run request alone dedups the
    work, not the answer.)"""
    before = Run.objects.filter(period="2026-04").count()
    token = Token.objects.get(user__username="staff").key
    start = threading.Barrier(5)
    responses = []

    def client_retrying():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            start.wait()
            responses.append(_post(client, "/api/v1/runs/", RunRequest.body, "race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=client_retrying) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(responses) == 5
    assert {(r.status_code, r.content) for r in responses} == {(responses[0].status_code, responses[0].content)}
    assert responses[0].status_code == 202
    assert Run.objects.filter(period="2026-04").count() == before + 1
    assert IdempotencyRecord.objects.filter(key="race").count() == 1


def test_a_path_too_long_to_store_is_the_404_of_a_missing_object(seeded, staff_client):
    """A 600-digit run id with an ``Idempotency-Key``: the JSON 404 it gets without one, not a 400 from the database
    refusing to store the path; nothing is stored."""
    url = f"/api/v1/runs/{'9' * 600}/approve/"
    without = staff_client.post(url, None, format="json")
    with_key = staff_client.post(url, None, format="json", HTTP_IDEMPOTENCY_KEY="long-path")
    assert (
        (with_key.status_code, with_key.json())
        == (without.status_code, without.json())
        == (404, {"detail": "Not found."})
    )
    assert not IdempotencyRecord.objects.filter(key="long-path").exists()
