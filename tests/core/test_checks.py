"""PostgreSQL 14 or later is required, checked on every new connection before any query runs."""

from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from core.checks import MINIMUM_POSTGRES, check_postgres_version


@pytest.mark.parametrize(("version", "shown"), [(130009, "13.9"), (120000, "12.0"), (96000, "9.6000")])
def test_an_older_postgres_is_refused_at_connection(version, shown):
    old = SimpleNamespace(vendor="postgresql", pg_version=version)
    with pytest.raises(ImproperlyConfigured, match=f"PostgreSQL 14 or later is required .* this server is {shown}"):
        check_postgres_version(sender=None, connection=old)


def test_postgres_14_and_later_are_accepted():
    for version in (MINIMUM_POSTGRES, 150019, 180001):
        check_postgres_version(sender=None, connection=SimpleNamespace(vendor="postgresql", pg_version=version))


def test_another_database_is_refused():
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL only"):
        check_postgres_version(sender=None, connection=SimpleNamespace(vendor="sqlite", pg_version=0))


@pytest.mark.django_db(transaction=True)
def test_the_check_runs_on_every_new_connection(monkeypatch):
    """A new connection to a (pretended) PostgreSQL 13 fails before Django uses it."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    wrapper = connections["default"]
    wrapper.close()
    monkeypatch.delitem(wrapper.__dict__, "pg_version", raising=False)  # cached from an earlier connection
    monkeypatch.setattr(DatabaseWrapper, "pg_version", 130005)
    with pytest.raises(ImproperlyConfigured, match=r"this server is 13\.5"):
        wrapper.ensure_connection()
    monkeypatch.undo()
    wrapper.close()
    wrapper.ensure_connection()
    assert wrapper.pg_version >= MINIMUM_POSTGRES
