"""``Idempotency-Key`` on every POST that starts money-moving work, declared once per route: the same key and body
return the first response (status and body) and run nothing; another body is a 409; a failed first attempt stores
nothing, so the retry runs; keys are per user; malformed keys are a 400 naming the header; old records are purged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.exceptions import Conflict
from core.models import IdempotencyRecord
from core.services import idempotency_records_purge
from core.tasks import purge_idempotency
from ledger.models import JournalEntry
from runs.models import Run

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


class RunApproval:
    path = "/api/v1/runs/{id}/approve/"
    body: dict = {}
    other_body = {"note": "another body"}
    service = "runs.api.views.run_approval"

    def url(self, seeded):
        return self.path.format(id=seeded["run"])

    def work(self):
        return JournalEntry.objects.count(), Run.objects.filter(status="approved").count()


ROUTES = [RunRequest(), RunApproval()]
IDS = [type(r).__name__ for r in ROUTES]


def _post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def other_staff_client(django_user_model):
    user = django_user_model.objects.create_user("staff2", "staff2@example.com", "pw", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_every_operation_that_takes_the_header_is_declared_here():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    takes_key = {
        path
        for path, item in schema["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict)
        if any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert takes_key == {r.path for r in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_same_key_and_body_return_the_first_response_and_run_nothing(route, seeded, staff_client):
    url = route.url(seeded)
    first = _post(staff_client, url, route.body, "key-1")
    assert 200 <= first.status_code < 300, first.content[:500]
    done = route.work()
    again = _post(staff_client, url, route.body, "key-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert route.work() == done


def test_a_replayed_run_request_is_the_first_response_not_a_new_answer(seeded, staff_client):
    """Without the key a repeated request answers 200 with the live run; with it, the first 202 is replayed."""
    first = _post(staff_client, "/api/v1/runs/", RunRequest.body, "k")
    assert first.status_code == 202
    assert staff_client.post("/api/v1/runs/", RunRequest.body, format="json").status_code == 200
    assert _post(staff_client, "/api/v1/runs/", RunRequest.body, "k").status_code == 202


@pytest.mark.parametrize("route", ROUTES, ids=IDS)
def test_the_same_key_with_another_body_is_409(route, seeded, staff_client):
    url = route.url(seeded)
    assert _post(staff_client, url, route.body, "key-2").status_code < 300
    done = route.work()
    response = _post(staff_client, url, route.other_body, "key-2")
    assert response.status_code == 409 and "Idempotency-Key" in response.json()["detail"]
    assert route.work() == done


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
    response = _post(other_staff_client, url, route.other_body, "shared")
    assert response.status_code != 409, "another user's key is another request"
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_another_users_same_key_and_body_gets_its_own_answer(seeded, staff_client, other_staff_client):
    assert _post(staff_client, "/api/v1/runs/", RunRequest.body, "mine").status_code == 202
    # Not the first user's 202 replayed: the second user's request runs and finds the live run.
    assert _post(other_staff_client, "/api/v1/runs/", RunRequest.body, "mine").status_code == 200


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "with space", "ключ", "tab\there"])
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
