"""Schemathesis over every operation of the OpenAPI schema, in-process against the Django WSGI app (no network).

Every operation is fuzzed with schema-conforming (positive) and schema-violating (negative) requests, authenticated
as staff, over a small seeded broker; detail routes also get the natural keys of real objects. Each request runs in
a transaction that is rolled back, so every example sees the same seeded data. Checks: no 5xx, every status
documented, every body conforming to its documented schema and content type. No operation is excluded: a new
endpoint is fuzzed as soon as it is in the schema. Seeded (``derandomize``) and bounded (``MAX_EXAMPLES`` per
operation and mode).
"""

from __future__ import annotations

import collections
import contextlib
import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .seed import seed_broker

pytestmark = pytest.mark.django_db(transaction=True)


def no_json_number_with_a_fraction(ctx, response, case):
    """Amounts, lots, rates and prices travel as exact decimal strings: no response holds a JSON float."""
    if "json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    floats = []

    def walk(node, path):
        if isinstance(node, float):
            floats.append(f"{path}={node!r}")
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(json.loads(response.content or b"null", parse_float=float), "$")
    assert not floats, f"JSON numbers that should be decimal strings: {floats[:5]}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    no_json_number_with_a_fraction,
]
STATUSES: collections.Counter = collections.Counter()
MAX_EXAMPLES = 25


@contextlib.contextmanager
def connections_kept():
    """Django's per-request connection closing switched off (as Django's own test client does), so each example
    runs inside the transaction the test opened, on the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _fuzz(operation, *, token: str, real: dict | None) -> None:
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        strategies += [operation.as_strategy(generation_mode=mode, path_parameters=real) for mode in modes]

    @settings(
        max_examples=MAX_EXAMPLES * len(strategies),
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case):
        with transaction.atomic():
            response = case.call(headers={"Authorization": f"Token {token}"})
            transaction.set_rollback(True)
        STATUSES[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    check()


def test_every_operation_conforms_to_the_schema(staff_client, staff_user):
    seeded = seed_broker(staff_client)
    token = Token.objects.get(user=staff_user).key
    real = seeded.path_parameters()
    failures = {}
    with connections_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 30
        for operation in operations:
            try:
                _fuzz(operation, token=token, real=real.get(operation.path))
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures, report them all
                failures[operation.label] = exc
    print("\n".join(f"{n:5} {code} {label}" for (label, code), n in sorted(STATUSES.items())))
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
