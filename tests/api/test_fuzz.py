"""Schemathesis over every operation of the OpenAPI schema, in-process against the Django WSGI app (no network).

Every operation is fuzzed with schema-conforming (positive) and schema-violating (negative) requests, authenticated
as staff (a partner's own ``/me/`` routes as the partner ``sub``), over a small seeded broker. What is real comes
from the seed without a hand-kept list (``tests.api.seed``):
detail routes also get the natural keys of objects their collection lists, and schema-conforming bodies and queries
also name real objects (``partner``, ``program``, ``plan``, ``symbol``, ``account``, an upsert's own ``code``), so
creates succeed and upserts take their update (200) path too. Each request runs in a transaction that is rolled
back, so every example sees the same seeded data. Checks: no 5xx, every status documented, every body conforming to
its documented schema and content type; and every operation answered a 2xx at least once in the run. No operation
is excluded: a new endpoint is fuzzed as soon as it is in the schema. Seeded (``derandomize``) and bounded
(``MAX_EXAMPLES`` per operation and strategy).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import re
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .seed import Seeded, collection_of, is_partner_route, natural_keys, seed_broker, seed_partner

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
# Examples per operation and strategy. A read has only its query and path to vary (and its answers are the same
# serializers the writes' answers are): fewer examples find what it can fail on, and halve the run's cost (the
# fuzzer's CPU time is README's "Proven by"). A write keeps more: its body is where the hostile shapes are.
MAX_EXAMPLES = 20
MAX_READ_EXAMPLES = 5


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


def _with_references(draw, node: Any, references: dict[str, list]) -> Any:
    """``node`` with some of the fields that name another object (``partner``, ``program``, ``symbol``, an
    upsert's own ``code``…) replaced by real ones, at any depth (a plan's rules, a rebate's account)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in references and draw(st.booleans()):
                out[key] = draw(st.sampled_from(references[key]))
            else:
                out[key] = _with_references(draw, value, references)
        return out
    if isinstance(node, list):
        return [_with_references(draw, item, references) for item in node]
    return node


def _referencing(strategy, *, body: dict[str, list], query: dict[str, list]):
    """Schema-conforming cases whose bodies and queries name seeded objects: a create that can succeed, an upsert
    that updates (its 200), a filter that matches rows."""

    @st.composite
    def cases(draw):
        case = draw(strategy)
        if isinstance(case.body, dict | list):
            case.body = _with_references(draw, case.body, body)
        if case.query:
            case.query = _with_references(draw, dict(case.query), query)
        return case

    return cases()


def _fuzz(operation, *, token: str, seeded: Seeded) -> None:
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    names = re.findall(r"{(\w+)}", operation.path)
    real = seeded.path_parameters(operation.path, names) if names else []
    assert real or not names, f"no seeded object for the path parameters of {operation.path}"

    def strategy(mode):
        if not real:
            return operation.as_strategy(generation_mode=mode)
        return st.sampled_from(real).flatmap(lambda p: operation.as_strategy(generation_mode=mode, path_parameters=p))

    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if real:
        strategies += [strategy(mode) for mode in modes]
    collection = collection_of(operation.path)
    references = seeded.references(collection)
    strategies.append(_referencing(strategy(modes[0]), body=references, query=seeded.query_references()))

    @settings(
        max_examples=(MAX_READ_EXAMPLES if operation.method.upper() == "GET" else MAX_EXAMPLES) * len(strategies),
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

    # The operation's documented request examples run first (explicit phase), on a seeded object where the path
    # names one: an operation whose success needs several fields to agree (a master open's group, symbol and
    # stepped lots) is then shown to succeed as documented, not left to the generator's luck.
    for body in _documented_bodies(operation):
        case = operation.Case(body=body, path_parameters=real[0] if real else None, media_type="application/json")
        check = example(case=case)(check)
    check()


def _documented_bodies(operation) -> list[Any]:
    content = operation.definition.raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    return [found["value"] for found in content.get("examples", {}).values() if "value" in found]


def test_every_operation_conforms_to_the_schema(staff_client, staff_user):
    seeded = seed_broker(staff_client)
    seeded = dataclasses.replace(
        seeded, collections=natural_keys(staff_client, SchemaGenerator().get_schema(request=None, public=True))
    )
    key, tokens = seed_partner(staff_client)
    seeded = dataclasses.replace(seeded, partner_key=key, partner_tokens=tokens)
    token = Token.objects.get(user=staff_user).key
    failures = {}
    with connections_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) > 30
        for operation in operations:
            try:
                # A partner's own routes are called as the partner (staff get a 403 there, documented).
                caller = seeded.partner_key if is_partner_route(operation.path) else token
                _fuzz(operation, token=caller, seeded=seeded)
            except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failures, report them all
                failures[operation.label] = exc
    print("\n".join(f"{n:5} {code} {label}" for (label, code), n in sorted(STATUSES.items())))
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
    # Beyond the error paths: every operation succeeded at least once in the run (a create, an upsert's update…).
    succeeded = {label for (label, code), _ in STATUSES.items() if 200 <= code < 300}
    assert [op.label for op in operations if op.label not in succeeded] == []
