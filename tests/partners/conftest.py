"""Fixtures for the partner-network tests: a program, a partner maker and fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partners.models import ClientAccount, Partner, Program
from partners.services.partners import partner_create
from partners.services.programs import program_upsert

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    """The instant ``hours`` after T0."""
    return T0 + timedelta(hours=hours)


@pytest.fixture
def program(db) -> Program:
    return program_upsert(code="std", name="Standard", model="differential")


@pytest.fixture
def make_partner(program):
    def make(code: str, parent: Partner | None = None, effective_from: datetime = T0, **kwargs) -> Partner:
        return partner_create(
            code=code, name=code.upper(), program=program, parent=parent, effective_from=effective_from, **kwargs
        )

    return make


@pytest.fixture
def make_account(db):
    def make(login: int, server: str = "live") -> ClientAccount:
        return ClientAccount.objects.create(server=server, login=login)

    return make
