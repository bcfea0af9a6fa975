"""Shared fixtures. Tests run on real PostgreSQL (embedded or DATABASE_URL); Redis tests need REDIS_URL."""

from __future__ import annotations

import os

import pytest
from django.core.management.commands import flush
from rest_framework.test import APIClient

from tests.roles import staff_with_roles
from tests.twofactor import verified_login


@pytest.fixture(autouse=True, scope="session")
def _flush_lifts_the_ledgers_truncate_guard():
    """Transactional tests end with ``flush`` (TRUNCATE of every table). The ledger refuses TRUNCATE by trigger, as
    it must in production; between tests, and only there, the test database is emptied with the guard lifted for
    that transaction (``ledger.services.scratch``: the test role owns the tables)."""
    original = flush.Command.handle

    def handle(self, *args, **options):
        from ledger.services.scratch import truncate_guards_lifted

        with truncate_guards_lifted():
            return original(self, *args, **options)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


def _redis_reachable() -> str | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return "REDIS_URL is not set: no Redis server to run a real Celery worker against"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # any connection failure means: skip, and say why
        return f"Redis at {url} is not reachable: {exc}"
    return None


def pytest_collection_modifyitems(config, items):
    reason = None
    checked = False
    for item in items:
        if "redis" in item.keywords:
            if not checked:
                reason, checked = _redis_reachable(), True
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def staff_user(db):
    """The operator most tests act as: a staff user in the broker admin and finance roles (every staff route);
    tests/api/test_roles.py checks each role on its own."""
    return staff_with_roles("staff", email="staff@example.com", password="pw")


@pytest.fixture
def staff_client(staff_user):
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return client


@pytest.fixture
def admin_client(db, admin_user):
    """pytest-django's ``admin_client``, with the two-factor step passed: staff need a verified session for the
    admin (``IBEX_STAFF_REQUIRE_2FA``)."""
    from django.test import Client

    return verified_login(Client(), admin_user)


@pytest.fixture
def verified_client(db):
    """``verified_client(user)``: a browser client signed in as ``user``, its session past the two-factor step."""
    from django.test import Client

    return lambda user: verified_login(Client(), user)


@pytest.fixture
def plain_client(django_user_model):
    """A client authenticated with a non-staff token (e.g. a partner's): broker resources answer 403."""
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("plain", "plain@example.com", "pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def lock_period(db):
    """Approve (lock) a period for a kind the way an approval does, without computing a run: what the back-dating
    guard of ``core.history`` reads."""
    from ledger.services.locks import period_lock

    def lock(period: str, kind: str = "commissions") -> None:
        period_lock(kind=kind, period=period, source_key=f"test:{kind}:{period}")

    return lock
