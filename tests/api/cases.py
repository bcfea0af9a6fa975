"""Declarative API test cases shared by every route (in the spirit of NetBox's ``APIViewTestCases``).

A route declares itself — its path, its methods, a valid body, where its decimals are — by subclassing
``RouteTestCase`` and the mixins that apply, and inherits the tests:

- ``StaffOnly``: a partner's token gets 403 on every method of a staff route (and nothing is written);
- ``Writable``: the valid body is accepted; a field the body does not declare, in any of its objects, is a 400
  naming it (documented ``additionalProperties: false``); a JSON float in any decimal field is a 400 naming that
  field; every hostile value in every field (huge integers, year 0 and year 10000, over-long strings, wrong JSON
  types, unknown enums, NaN and 1e400, NULs and lone surrogates, nulls, empty and nested lists, arrays nested 1000
  deep) is a 4xx with field errors (a 400 ``{"detail"}`` for a body nested too deep), never a 5xx, and a 400
  writes nothing;
- ``Bulk``: a list body with a bad row is a 400 naming that row's index and field, and writes nothing (``Ingest``:
  the good rows are kept and the bad ones listed in ``rejected``); a row that is not an object has field errors
  (``non_field_errors``) like any row; an empty list and one row too many are handled;
- ``Paginated``: ``count/next/previous/results``, ``page_size`` honoured and capped (a real request on each
  route, with the cap lowered for the test; 1 000 itself over 1 001 rows once), a page past the end is a JSON 404,
  a ``page`` or ``page_size`` that is no whole number of at least 1 a 400 naming it;
- ``Queryable``: a valid value of every filter the operation documents (checked against the schema), and hostile
  values in every query parameter of the schema (a fraction for an integer filter is a 400; no filter is a float);
- ``PartnerScoped``: a partner's token reaches its own objects and gets a JSON 404 — not a 403, not the object —
  for another partner's (the ``/me/`` routes);
- ``Detail``: an unknown natural key is a JSON 404.

``tests/api/test_routes.py`` checks that every operation of the OpenAPI schema is declared by one of them, with the
mixins its operation needs (derived from the schema: authentication → ``StaffOnly``/``PartnerScoped``, a page
parameter → ``Paginated``, a body → ``Writable``/``Bulk``, a path parameter → ``Detail``, filters → ``Queryable``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import jsonschema
import pytest
from django.apps import apps
from django.db import connection, transaction
from drf_spectacular.generators import SchemaGenerator

from core.api.pagination import PageNumberPagination

HUGE = 2**63  # one past PostgreSQL's bigint
ABSENT = object()  # a property the schema documents that the declared body does not send
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PERIOD = re.compile(r"^\d{4}-\d{2}$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
SURROGATE = re.compile("[\ud800-\udfff]")


class Nested:
    """A hostile value: ``depth`` arrays nested in one another, written into the body's JSON text as such (Python's
    encoder, like its parser, cannot recurse that deep)."""

    MARKER = "\u0000nested:{}"

    def __init__(self, depth: int):
        self.depth = depth


def encoded(body: Any) -> str:
    """``body`` as JSON text, with each ``Nested`` written out as its nested arrays."""
    nested: list[Nested] = []

    def default(obj):
        if isinstance(obj, Nested):
            nested.append(obj)
            return Nested.MARKER.format(len(nested) - 1)
        raise TypeError(obj)

    text = json.dumps(body, default=default)
    for index, value in enumerate(nested):
        text = text.replace(json.dumps(Nested.MARKER.format(index)), "[" * value.depth + "]" * value.depth)
    return text


def has_nested(body: Any) -> bool:
    return any(isinstance(v, Nested) for _, v in leaves(body)) or isinstance(body, Nested)


def has_surrogate(body: Any) -> bool:
    """Whether a string (or an object's key) of ``body`` holds a lone surrogate: sent as a JSON ``\\udXXX`` escape
    (DRF's test renderer writes UTF-8, which cannot hold one)."""
    return bool(SURROGATE.search(json.dumps(body, ensure_ascii=False, default=repr)))


# Hostile values about the request as a whole: a 400 ``{"detail": …}`` rather than an error naming the field.
WHOLE_REQUEST = ("deep nesting",)


def hostile_values(value: Any) -> Iterator[tuple[str, Any]]:
    """Values a client may send in place of ``value``, named: what each route must answer with a 4xx."""
    yield "wrong type: object", {"a": 1}
    yield "deep nesting: 40 levels", Nested(40)
    yield "deep nesting: 1000 levels", Nested(1000)
    if isinstance(value, bool):
        yield "not a boolean", "maybe"
        yield "a number for a boolean", 2
    elif isinstance(value, int):
        yield "beyond bigint", HUGE
        yield "far beyond bigint", 10**30
        yield "below bigint", -HUGE - 1
        yield "a fraction for an integer", 1.5
        yield "a whole float for an integer", float(value)
        yield "a string for an integer", "twelve"
        yield "a fraction string for an integer", f"{value}.0"
        yield "other scripts' digits for an integer", "\u0661\u0662"
    elif isinstance(value, str):
        if DATETIME.match(value):
            yield "year 0", "0000-01-01T00:00:00Z"
            yield "year 10000", "10000-01-01T00:00:00Z"
            yield "the last instant, west of UTC", "9999-12-31T23:59:59-12:00"
            yield "the first instant, east of UTC", "0001-01-01T00:00:00+14:00"
            yield "February 30th", "2026-02-30T00:00:00Z"
            yield "full-width digits", "\uff12\uff10\uff12\uff16" + value[4:]
        elif DATE.match(value):
            yield "year 0", "0000-01-01"
            yield "year 10000", "10000-01-01"
            yield "month 13", "2026-13-01"
            yield "a basic ISO date", value.replace("-", "")
            yield "an ISO week date", "2026-W11-1"
            yield "full-width digits", "\uff12\uff10\uff12\uff16" + value[4:]
        elif PERIOD.match(value):
            yield "year 0", "0000-01"
            yield "year 10000", "10000-01"
            yield "month 13", "2026-13"
        elif DECIMAL.match(value):
            yield "NaN", "NaN"
            yield "infinity", "-Infinity"
            yield "1e400", "1e400"
            yield "sixty digits", "1" * 60
            yield "forty places", "0." + "1" * 40
            yield "an exponent", "1e2"
            yield "digit separators", "1_000"
            yield "a plus sign", "+1.5"
            yield "a blank before", " 1.5"
            yield "a line break after", "1.5\n"
            yield "other scripts' digits", "\u0661.\u0662"
        yield "over-long string", "x" * 5000
        yield "NUL character", "a\x00b"
        yield "NUL inside the value", value[:1] + "\x00" + value[1:]
        yield "lone surrogate", "\ud800"
        yield "lone surrogate inside the value", value[:1] + "\udfff" + value[1:]
        yield "a list for a string", ["x"]
    elif isinstance(value, list):
        yield "a string for a list", "x"
        yield "a list of nulls", [None]
        yield "nested lists", [[[]]]
    elif isinstance(value, dict):
        yield "a string for an object", "x"
        yield "a list for an object", [value]


def example(spec: dict[str, Any]) -> Any:
    """A valid-looking value of a schema (its example, first enum value, a value of its type and format), for
    ``hostile_values`` to pick the hostile values of its kind from."""
    if "example" in spec:
        return spec["example"]
    if spec.get("enum"):
        return next((v for v in spec["enum"] if v not in (None, "")), spec["enum"][0])
    kind, fmt = spec.get("type"), spec.get("format")
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object" or "properties" in spec:
        return {}
    return {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "decimal": "1.5"}.get(fmt, "x")


def leaves(body: Any, prefix: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in a JSON body, containers included."""
    if prefix:
        yield prefix, body
    if isinstance(body, dict):
        for key, value in body.items():
            yield from leaves(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from leaves(value, (*prefix, index))


def replaced(body: Any, path: tuple, value: Any) -> Any:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def fingerprint() -> dict[str, tuple[int, str]]:
    """Every project table's row count and a digest of its rows' contents (auth and tokens included): a refused
    request must leave them all as they were — an UPDATE changes no count, so counting alone would let one pass."""
    fingerprints = {}
    with connection.cursor() as cursor:
        for label in ("auth", "authtoken", "core", "partners", "ledger", "runs", "commissions", "mam"):
            for model in apps.get_app_config(label).get_models():
                if model._meta.proxy or not model._meta.managed:
                    continue  # a view over other tables (the audit log's union of event tables), not a table
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) "
                    f"FROM {table} AS t"
                )
                fingerprints[model._meta.label] = tuple(cursor.fetchone())
    return fingerprints


def mentions(errors: Any, name: str) -> bool:
    """Whether a (nested) field-error body names ``name``."""
    text = json.dumps(errors)
    return f'"{name}"' in text


@functools.cache
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operation(path: str, method: str) -> dict[str, Any]:
    """The OpenAPI operation a route declares."""
    return openapi()["paths"][path][method]


def resolved(node: dict[str, Any]) -> dict[str, Any]:
    """A schema node with its ``$ref`` (or a single ``allOf``, how a nullable object is written) followed."""
    while True:
        if "$ref" in node:
            node = openapi()["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        elif len(node.get("allOf", ())) == 1:
            node = node["allOf"][0]
        else:
            return node


def assert_documented(response, path: str, method: str) -> None:
    """``response``'s JSON body conforms to the schema its operation documents for its status (``$ref``s resolved
    against the schema's components)."""
    documented = operation(path, method)["responses"][str(response.status_code)]
    body_schema = documented["content"]["application/json"]["schema"]
    root = {**body_schema, "components": openapi()["components"]}
    jsonschema.validate(response.json(), root, cls=jsonschema.Draft202012Validator)


def schema_at(root: dict[str, Any], path: tuple) -> dict[str, Any] | None:
    """The schema of the value at ``path`` (keys and list indexes) of a body whose schema is ``root``."""
    node = resolved(root)
    for key in path:
        node = node.get("items") if isinstance(key, int) else (node.get("properties") or {}).get(key)
        if node is None:
            return None
        node = resolved(node)
    return node


class RouteTestCase:
    """A route: its OpenAPI ``path`` template, the ``methods`` it serves, and ``params`` naming a real object of the
    seeded broker for each path parameter (``"@name"`` = the seeded broker's ``name``, e.g. a run's id)."""

    path: ClassVar[str]
    methods: ClassVar[tuple[str, ...]] = ("get",)
    params: ClassVar[dict[str, Any]] = {}
    # The fixture of the client the contract tests call the route as: staff for a broker route, a partner for its
    # own (``PartnerScoped``: ``partner_client``, the sub-IB ``sub``; ``master_client`` where a route needs a
    # partner with a downline).
    caller_fixture: ClassVar[str] = "staff_client"

    @pytest.fixture
    def caller(self, request):
        return request.getfixturevalue(self.caller_fixture)

    @pytest.fixture(autouse=True)
    def _seeded_keys(self, seeded):
        self.keys = seeded

    def url(self, params: dict[str, Any] | None = None) -> str:
        values = {}
        for name, value in (self.params if params is None else params).items():
            values[name] = self.keys[value[1:]] if isinstance(value, str) and value.startswith("@") else value
        return self.path.format(**values)

    def call(self, client, method: str, *, body: Any = None, path: str | None = None, **extra):
        target = path or self.url()
        if method in ("get", "delete"):
            return getattr(client, method)(target, **extra)
        if has_nested(body) or has_surrogate(body):
            return getattr(client, method)(target, encoded(body), content_type="application/json", **extra)
        return getattr(client, method)(target, body, format="json", **extra)


class StaffOnly(RouteTestCase):
    body: ClassVar[Any] = {}

    def test_a_partner_token_gets_403(self, seeded, partner_client):
        before = fingerprint()
        for method in self.methods:
            response = self.call(partner_client, method, body=self.body)
            assert response.status_code == 403, (method, response.status_code, response.content[:300])
            assert "detail" in response.json()
        assert fingerprint() == before

    def test_no_credentials_get_401(self, seeded, api_client):
        for method in self.methods:
            response = self.call(api_client, method, body=self.body)
            assert response.status_code == 401, (method, response.status_code)


class Writable(RouteTestCase):
    """A route that takes a JSON body on ``write_method``."""

    write_method: ClassVar[str] = "post"
    body: ClassVar[Any]
    ok_statuses: ClassVar[tuple[int, ...]] = (200, 201, 202)
    # Paths whose hostile values this route legitimately accepts (documented why, per route).
    lenient: ClassVar[dict[str, str]] = {}

    def probe(self, client, body) -> tuple[Any, bool]:
        """Send ``body`` in a transaction that is rolled back; the response and whether anything was written."""
        with transaction.atomic():
            before = fingerprint()
            response = self.call(client, self.write_method, body=body)
            wrote = fingerprint() != before
            transaction.set_rollback(True)
        return response, wrote

    def test_the_valid_body_is_accepted(self, seeded, caller):
        response, _ = self.probe(caller, self.body)
        assert response.status_code in self.ok_statuses, response.content[:1000]

    def body_schema(self) -> dict[str, Any]:
        return operation(self.path, self.write_method)["requestBody"]["content"]["application/json"]["schema"]

    def fields(self) -> Iterator[tuple[tuple, dict[str, Any], Any]]:
        """Every writable property of the operation's body schema, as (path, its schema, the body's value or
        ``ABSENT``), for each object the declared body holds (each row of a list, each rule of a plan): what the
        schema documents, not only what ``body`` happens to send."""
        for path, node in [((), self.body), *leaves(self.body)]:
            if not isinstance(node, dict):
                continue
            spec = schema_at(self.body_schema(), path) or {}
            for name, prop in (spec.get("properties") or {}).items():
                prop = resolved(prop)
                if not prop.get("readOnly"):
                    yield (*path, name), prop, node.get(name, ABSENT)

    def decimal_paths(self) -> list[tuple]:
        """The body's decimal fields, from the schema (``format: decimal``), present in ``body`` or not, and each
        item the body sends of a list of decimals (a program's shares)."""
        paths = [path for path, prop, _ in self.fields() if prop.get("format") == "decimal"]
        for path, node in leaves(self.body):
            spec = schema_at(self.body_schema(), path) or {}
            if isinstance(node, list) and resolved(spec.get("items") or {}).get("format") == "decimal":
                paths += [(*path, index) for index in range(len(node))]
        return paths

    def test_a_json_float_in_a_decimal_is_400(self, seeded, caller):
        failures = []
        for path in self.decimal_paths():
            response, wrote = self.probe(caller, replaced(self.body, path, 10.94))
            if not self.refused(response, path):
                failures.append(f"{path}: {response.status_code} {response.content[:300]}")
            elif wrote and not self.keeps_good_rows:
                failures.append(f"{path}: wrote")
        assert not failures, "\n".join(failures)

    keeps_good_rows: ClassVar[bool] = False

    def refused(self, response, path: tuple) -> bool:
        """A 400 whose field errors name the field (or, for an ingest, a 200 listing the row as rejected)."""
        field = next((p for p in reversed(path) if isinstance(p, str)), None)
        if response.status_code == 400:
            return field is None or mentions(response.json(), field)
        if self.keeps_good_rows and response.status_code == 200:
            return bool(response.json().get("rejected"))
        return False

    def test_an_unknown_field_is_400_naming_it(self, seeded, caller):
        """A field the operation does not declare, in any object of the body (the body, each row, a plan's rules, a
        rebate's account), is refused under its own name, and the schema says so (``additionalProperties: false``):
        a typo must not silently become a different instruction."""
        failures = []
        for path, node in [((), self.body), *leaves(self.body)]:
            if not isinstance(node, dict):
                continue
            spec = schema_at(self.body_schema(), path) or {}
            if spec.get("additionalProperties") is not False:
                failures.append(f"{path}: additionalProperties: false not documented")
            key = (*path, "acount") if path else ("acount",)
            response, wrote = self.probe(caller, replaced(self.body, key, {"server": "live1", "login": 1001}))
            if not self.refused(response, key):
                failures.append(f"{path}: {response.status_code} {response.content[:300]}")
            elif response.status_code == 400 and "unknown field" not in response.text:
                failures.append(f"{path}: not named an unknown field: {response.content[:300]}")
            elif wrote and not self.keeps_good_rows:
                failures.append(f"{path}: wrote")
        assert not failures, "\n".join(failures)

    def test_a_list_longer_than_documented_is_400_naming_it(self, seeded, caller):
        """Every list in the body documents its ``maxItems``, and one item more is refused under that field."""
        failures = []
        for path, value in list(leaves(self.body)):
            if not isinstance(value, list):
                continue
            spec = schema_at(self.body_schema(), path)
            if "maxItems" not in spec:
                failures.append(f"{path}: no maxItems documented")
                continue
            longer = [copy.deepcopy(value[0]) if value else "x" for _ in range(spec["maxItems"] + 1)]
            response, wrote = self.probe(caller, replaced(self.body, path, longer))
            if response.status_code != 400 or not self.refused(response, path) or "no more than" not in response.text:
                failures.append(f"{path}: {response.status_code} {response.content[:300]}")
            if wrote:
                failures.append(f"{path}: wrote")
        assert not failures, "\n".join(failures)

    def test_hostile_values_are_4xx_never_5xx_and_write_nothing(self, seeded, caller):
        failures = []
        absent = [(path, example(prop)) for path, prop, value in self.fields() if value is ABSENT]
        for path, value in [*leaves(self.body), *absent]:
            dotted = ".".join(map(str, path))
            for name, hostile in hostile_values(value):
                response, wrote = self.probe(caller, replaced(self.body, path, hostile))
                code = response.status_code
                if code >= 500:
                    failures.append(f"{dotted} ({name}): {code}")
                elif code == 400:
                    field = next((p for p in reversed(path) if isinstance(p, str)), None)
                    if name.startswith(WHOLE_REQUEST):
                        field = "detail"
                    if not isinstance(response.json(), dict):
                        failures.append(f"{dotted} ({name}): 400 body is not an object")
                    elif field and not mentions(response.json(), field):
                        failures.append(f"{dotted} ({name}): 400 without a field error: {response.content[:200]}")
                    if wrote and not self.keeps_good_rows:
                        failures.append(f"{dotted} ({name}): 400 but wrote")
                elif code in self.ok_statuses and self.must_refuse(name) and dotted not in self.lenient:
                    rejected = self.keeps_good_rows and response.json().get("rejected")
                    if not rejected:
                        failures.append(f"{dotted} ({name}): accepted with {code}")
        assert not failures, "\n".join(failures)

    @staticmethod
    def must_refuse(name: str) -> bool:
        """Hostile values no field of this API can hold: accepting one would store something else."""
        return name.startswith(
            (
                "beyond",
                "far beyond",
                "below",
                "year",
                "over-long",
                "NaN",
                "infinity",
                "1e400",
                "sixty",
                "forty",
                "wrong type",
                "a fraction",
                "month 13",
                "February 30th",
                "NUL",
                "lone surrogate",
                "deep nesting",
            )
        )


class Bulk(Writable):
    """A list body: all rows valid or nothing written, bad rows named by index."""

    @property
    def max_rows(self) -> int:
        """The documented row limit (``maxItems``): one row more is refused."""
        body = operation(self.path, self.write_method)["requestBody"]["content"]["application/json"]["schema"]
        return body["maxItems"]

    def test_a_bad_row_is_named_by_index_and_nothing_is_written(self, seeded, caller):
        good = self.body[0]
        bad = replaced(good, (next(iter(good)),), {"a": 1})
        response, wrote = self.probe(caller, [good, bad])
        if self.keeps_good_rows:
            assert response.status_code == 200, response.content[:500]
            assert [r["index"] for r in response.json()["rejected"]] == [1]
            return
        assert response.status_code == 400, response.content[:500]
        rows = response.json()["rows"]
        assert [r["index"] for r in rows] == [1] and rows[0]["errors"], rows
        assert not wrote

    def test_a_row_that_is_not_an_object_has_field_errors_like_any_row(self, seeded, caller):
        """``null``, a number, a string or a list for a row: its errors are a field-errors object (the documented
        ``RowError.errors``) under ``non_field_errors``, never a bare list."""
        response, wrote = self.probe(caller, [self.body[0], None, 5, "x", []])
        if self.keeps_good_rows:
            assert response.status_code == 200, response.content[:500]
            rows = response.json()["rejected"]
        else:
            assert response.status_code == 400, response.content[:500]
            rows = response.json()["rows"]
            assert not wrote
        assert [r["index"] for r in rows] == [1, 2, 3, 4], rows
        # A row that is a string holding a NUL is refused where the body is parsed, on every list route.
        response, wrote = self.probe(caller, [self.body[0], "a\x00"])
        assert response.status_code == 400 and not wrote, response.content[:500]
        assert [r["index"] for r in response.json()["rows"]] == [1]
        for row in rows + response.json()["rows"]:
            assert isinstance(row["errors"], dict) and row["errors"], row
            assert all(isinstance(m, list) and all(isinstance(x, str) for x in m) for m in row["errors"].values()), row

    def test_not_a_list_and_too_many_rows_are_400(self, seeded, caller):
        for body in ({"rows": self.body}, "x", 12):
            response, wrote = self.probe(caller, body)
            assert response.status_code == 400 and "non_field_errors" in response.json(), response.content[:300]
        response, wrote = self.probe(caller, [self.body[0]] * (self.max_rows + 1))
        assert response.status_code == 400 and "non_field_errors" in response.json(), response.content[:300]
        assert not wrote

    def test_a_body_that_is_not_a_list_answers_the_documented_bulk_errors(self, seeded, caller):
        """An object or a scalar sent to a list operation is refused with ``BulkErrors``' ``non_field_errors``
        whatever it holds: a NUL or a lone surrogate in it (refused where the body is parsed) gets the same shape,
        not field errors the operation does not document."""
        first = next(iter(self.body[0]))
        for body in ({first: "a\x00"}, {"a\x00": 1}, {first: "\ud800"}, {"\udfff": 1}, "a\x00", {first: "x"}):
            response, wrote = self.probe(caller, body)
            assert response.status_code == 400 and not wrote, (body, response.content[:300])
            assert set(response.json()) == {"non_field_errors"}, (body, response.content[:300])
            assert_documented(response, self.path, self.write_method)

    def test_an_empty_list_writes_nothing(self, seeded, caller):
        response, wrote = self.probe(caller, [])
        assert response.status_code in (200, 400), response.content[:300]
        assert not wrote


class Ingest(Bulk):
    """A list body whose good rows are kept and bad rows listed in ``rejected`` (``POST /trades/``)."""

    keeps_good_rows = True


class Paginated(RouteTestCase):
    """A list: paginated (``count/next/previous/results``), ``page_size`` up to 1 000."""

    minimum_seeded: ClassVar[int] = 2

    def test_the_list_paginates(self, seeded, caller):
        body = caller.get(self.url(), {"page_size": 1}).json()
        assert set(body) == {"count", "next", "previous", "results"}, body
        assert body["count"] >= self.minimum_seeded, f"seed at least {self.minimum_seeded} objects for {self.path}"
        assert len(body["results"]) == 1 and (body["next"] is not None) == (body["count"] > 1)
        everything = caller.get(self.url(), {"page_size": 100_000}).json()
        assert len(everything["results"]) == everything["count"] and everything["next"] is None

    def test_page_size_is_capped_on_this_route(self, seeded, caller, monkeypatch):
        """A real request shows this route's pages are capped by the API's paginator: with the cap lowered to 1 for
        the test, asking for 2 a page gets 1 and a next page (a route paginating on its own, or with an uncapped
        paginator, fails). That the cap is 1 000 is shown once with 1 001 rows (``test_page_size_is_capped_at_1000``)
        and documented on every list (``maximum``)."""
        monkeypatch.setattr(PageNumberPagination, "max_page_size", 1)
        body = caller.get(self.url(), {"page_size": 2}).json()
        assert body["count"] >= 2, f"seed at least 2 objects for {self.path}"
        assert len(body["results"]) == 1 and body["next"] is not None, body

    def test_a_page_past_the_end_is_a_json_404(self, seeded, caller):
        response = caller.get(self.url(), {"page": 10_000})
        assert response.status_code == 404 and "detail" in response.json()
        response = caller.get(self.url(), {"page": "9" * 40})  # past any table: no 40-digit parse
        assert response.status_code == 404 and "detail" in response.json()

    def test_a_page_or_page_size_that_is_no_whole_number_of_at_least_1_is_400_naming_it(self, seeded, caller):
        """As the schema says (``minimum: 1``, an integer): not silently the default page size, not a 404."""
        failures = []
        for name in PAGING:
            for value in ("0", "-3", "abc", "1.5", "", "last", " 1"):
                response = caller.get(self.url(), {name: value})
                if response.status_code != 400 or list(response.json()) != [name]:
                    failures.append(f"{name}={value!r}: {response.status_code} {response.content[:200]}")
        assert not failures, "\n".join(failures)
        for parameter in operation(self.path, "get")["parameters"]:
            if parameter["name"] in PAGING:
                assert parameter["schema"].get("minimum") == 1 and "400" in parameter["description"], parameter


class Detail(RouteTestCase):
    """A route addressing one object by natural key: ``missing`` names one that does not exist."""

    missing: ClassVar[dict[str, Any]]

    def test_an_unknown_key_is_a_json_404(self, seeded, caller):
        for method in self.methods:
            body = getattr(self, "body", {})
            response = self.call(caller, method, body=body, path=self.url(self.missing))
            assert response.status_code == 404, (method, response.status_code, response.content[:300])
            assert response["Content-Type"].startswith("application/json") and "detail" in response.json()


PAGING = ("page", "page_size")


class Queryable(RouteTestCase):
    """A GET with query parameters: ``query`` gives a valid value for each filter the schema documents (checked:
    the declaration matches the operation); every hostile value of every query parameter of the schema — filters
    and paging, declared or not — is a 4xx naming it, never a 5xx."""

    query: ClassVar[dict[str, Any]]

    def query_parameters(self) -> dict[str, dict[str, Any]]:
        """The operation's query parameters, by name, with their schemas."""
        parameters = operation(self.path, "get").get("parameters", [])
        return {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}

    def test_the_declaration_covers_every_filter_of_the_operation(self):
        documented = {name for name in self.query_parameters() if name not in PAGING}
        assert set(self.query) == documented, "declare a valid value of each filter in query"

    def test_the_valid_query_is_answered(self, caller):
        response = caller.get(self.url(), self.query)
        assert response.status_code == 200, response.content[:500]

    def test_hostile_query_values_are_4xx_never_5xx(self, caller):
        failures = []
        for name, spec in self.query_parameters().items():
            value = self.query.get(name, example(spec))
            for label, hostile in hostile_values(value):
                if isinstance(hostile, dict | list | Nested) or SURROGATE.search(str(hostile)):
                    # A query string is bytes Django decodes with replacement: no lone surrogate reaches a view.
                    continue
                response = caller.get(self.url(), {**self.query, name: hostile})
                if response.status_code >= 500:
                    failures.append(f"{name} ({label}): {response.status_code}")
                elif response.status_code == 400 and not mentions(response.json(), name):
                    failures.append(f"{name} ({label}): 400 without a field error for it: {response.content[:200]}")
                elif spec.get("type") == "integer" and label.startswith("a fraction") and response.status_code != 400:
                    failures.append(f"{name} ({label}): {response.status_code}, not a 400 (matched another value?)")
            if spec.get("type") == "number":
                failures.append(f"{name}: documented as a JSON number (an integer filter, or a decimal string)")
            if spec.get("type") == "integer":
                # What ``int()`` and Django's IntegerField take but the schema's integer is not: "1.0", other
                # scripts' digits (Arabic-Indic 12), a plus sign.
                for hostile in ("1.0", "\u0661\u0662", "+1"):
                    response = caller.get(self.url(), {**self.query, name: hostile})
                    if response.status_code != 400 or not mentions(response.json(), name):
                        failures.append(f"{name} ({hostile!r}): {response.status_code}, not a 400 naming it")
        assert not failures, "\n".join(failures)


class PartnerScoped(RouteTestCase):
    """A route a partner's token may call (``/me/`` routes: a partner's own statement, lines, accounts): ``own``
    names the path values of an object in the scope of the caller's partner (``partner_client``: ``sub``),
    ``foreign`` those of an object that exists but is another partner's. Out of scope is a JSON 404 — not a 403, not
    the object — so a partner cannot even learn that another's object exists: the 404 is the one an object that does
    not exist gets (``missing``, when declared). A route addressing no object by its path (``/me/lines/``) declares
    no ``foreign``: its lists hold only the partner's rows (``tests/reporting``). A staff token is refused with a 403
    on every partner route (staff read partners through the broker routes) and no credentials get a 401."""

    caller_fixture: ClassVar[str] = "partner_client"
    own: ClassVar[dict[str, Any]] = {}
    foreign: ClassVar[dict[str, Any] | None] = None

    def test_a_partner_token_reaches_its_own_objects(self, seeded, caller):
        for method in self.methods:
            response = self.call(caller, method, body=getattr(self, "body", {}), path=self.url(self.own))
            assert 200 <= response.status_code < 300, (method, response.status_code, response.content[:300])

    def test_out_of_scope_is_a_json_404_for_a_partner_token(self, seeded, caller):
        if self.foreign is None:
            pytest.skip("addresses no object by its path: its rows are the partner's own (tests/reporting)")
        before = fingerprint()
        for method in self.methods:
            body = getattr(self, "body", {})
            response = self.call(caller, method, body=body, path=self.url(self.foreign))
            assert response.status_code == 404, (method, response.status_code, response.content[:300])
            assert response["Content-Type"].startswith("application/json") and set(response.json()) == {"detail"}
            if hasattr(self, "missing"):
                unknown = self.call(caller, method, body=body, path=self.url(self.missing))
                assert (unknown.status_code, unknown.json()) == (404, response.json()), "the 404 reveals existence"
        assert fingerprint() == before

    def test_staff_get_403_and_no_credentials_401(self, seeded, staff_client, api_client):
        before = fingerprint()
        for method in self.methods:
            body = getattr(self, "body", {})
            response = self.call(staff_client, method, body=body, path=self.url(self.own))
            assert response.status_code == 403 and "detail" in response.json(), (method, response.status_code)
            response = self.call(api_client, method, body=body, path=self.url(self.own))
            assert response.status_code == 401, (method, response.status_code)
        assert fingerprint() == before
