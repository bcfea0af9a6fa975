"""Broker API for programs, partners, the tree and accounts: behaviour, 400/403/404, query counts, schema."""

from __future__ import annotations

import pytest
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from partners.services.accounts import account_attribute
from partners.services.partners import partner_move

from .conftest import T0, at

pytestmark = pytest.mark.django_db

API = "/api/v1"

ROUTES = [
    ("get", "/programs/"),
    ("post", "/programs/"),
    ("get", "/programs/std/"),
    ("patch", "/programs/std/"),
    ("get", "/partners/"),
    ("post", "/partners/"),
    ("get", "/partners/a/"),
    ("patch", "/partners/a/"),
    ("post", "/partners/a/move/"),
    ("post", "/partners/a/tokens/"),
    ("get", "/partners/a/downline/"),
    ("get", "/partners/a/chain/"),
    ("get", "/accounts/"),
    ("post", "/accounts/"),
    ("get", "/accounts/live/100/"),
    ("post", "/accounts/live/100/attribute/"),
]

# The role check loads the user's and its groups' permissions, once per request (core/api/permissions.py).
ROLE_CHECK = 2


@pytest.fixture
def tree(make_partner, make_account):
    """a > b > c from T0; account live/100 attributed to c from T0."""
    a = make_partner("a")
    b = make_partner("b", parent=a)
    c = make_partner("c", parent=b)
    account = make_account(100)
    account_attribute(account=account, partner=c, effective_from=T0)
    return {"a": a, "b": b, "c": c, "account": account}


def call(client: APIClient, method: str, url: str, data=None):
    return getattr(client, method)(API + url, data, format="json")


# --- auth ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_non_staff_token_gets_403(tree, plain_client, method, url):
    before = (Partner.objects.count(), PartnerLink.objects.count(), ClientAccount.objects.count())
    response = call(plain_client, method, url, {})
    assert response.status_code == 403, response.content
    assert (Partner.objects.count(), PartnerLink.objects.count(), ClientAccount.objects.count()) == before


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_anonymous_gets_401(tree, method, url):
    assert call(APIClient(), method, url, {}).status_code == 401


def test_partner_token_cannot_use_broker_api(tree, staff_client):
    token = staff_client.post(f"{API}/partners/a/tokens/").json()["token"]
    partner_client = APIClient()
    partner_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert partner_client.get(f"{API}/partners/").status_code == 403


# --- 400 with field errors ----------------------------------------------------------------------------------------


BAD_INPUT = [
    ("post", "/programs/", {}, "code"),
    ("post", "/programs/", {"code": "x", "name": "X", "shares": ["101"]}, "shares"),
    ("post", "/programs/", {"code": "x", "name": "X", "min_payout": 1.5}, "min_payout"),
    ("post", "/programs/", {"code": "x", "name": "X", "model": "pyramid"}, "model"),
    ("patch", "/programs/std/", {"max_depth": 0}, "max_depth"),
    ("patch", "/programs/std/", {"currency": "usd1"}, "currency"),
    ("post", "/partners/", {"code": "n", "name": "N", "program": "ghost"}, "program"),
    ("post", "/partners/", {"code": "n", "name": "N", "program": "std", "parent": "ghost"}, "parent"),
    ("post", "/partners/", {"code": "a", "name": "Dup", "program": "std"}, "code"),
    ("post", "/partners/", {"code": "n", "name": "N", "program": "std", "email": "x"}, "email"),
    ("patch", "/partners/a/", {"parent": "ghost"}, "parent"),
    ("patch", "/partners/a/", {"parent": "a"}, "parent"),
    ("patch", "/partners/a/", {"parent": "c"}, "parent"),
    ("patch", "/partners/a/", {"code": "z"}, "code"),
    ("patch", "/partners/a/", {"status": "gone"}, "status"),
    ("post", "/partners/b/move/", {"parent": "ghost"}, "parent"),
    ("post", "/partners/b/move/", {}, "parent"),
    ("post", "/partners/b/move/", {"parent": None, "effective_from": "yesterday"}, "effective_from"),
    ("post", "/partners/a/move/", {"parent": "c", "effective_from": "2024-02-01T00:00:00Z"}, "parent"),
    ("get", "/partners/a/downline/?at=soon", None, "at"),
    ("get", "/partners/a/chain/?at=2024-13-01", None, "at"),
    ("get", "/partners/?status=bogus", None, "status"),
    ("post", "/accounts/", {"server": "live", "login": 1}, "non_field_errors"),
    ("get", "/accounts/?login=abc", None, "login"),
    ("post", "/accounts/live/100/attribute/", {"partner": "ghost"}, "partner"),
]


@pytest.mark.parametrize(("method", "url", "body", "field"), BAD_INPUT)
def test_bad_input_is_400_with_field_errors(tree, staff_client, method, url, body, field):
    links_before = list(PartnerLink.objects.order_by("pk").values_list("pk", "parent_id", "valid_to"))
    response = call(staff_client, method, url, body)
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert list(PartnerLink.objects.order_by("pk").values_list("pk", "parent_id", "valid_to")) == links_before


@pytest.mark.parametrize(
    ("rows", "index", "field"),
    [
        ([{"server": "live", "login": "x"}], 0, "login"),
        ([{"server": "live", "login": 1}, {"server": "live", "login": 2, "partner": "ghost"}], 1, "partner"),
        ([{"server": "live", "login": 1}, {"server": "live", "login": 1}], 1, "login"),
        ([{"server": "live", "login": 1, "currency": "dollar"}], 0, "currency"),
        (["not an object"], 0, "non_field_errors"),
    ],
)
def test_account_upsert_errors_name_the_row(tree, staff_client, rows, index, field):
    response = call(staff_client, "post", "/accounts/", rows)
    assert response.status_code == 400
    errors = response.json()["rows"]
    assert [e["index"] for e in errors] == [index]
    assert field in errors[0]["errors"]
    assert ClientAccount.objects.count() == 1


def test_account_upsert_row_limit(staff_client):
    rows = [{"server": "s", "login": n} for n in range(10_001)]
    response = call(staff_client, "post", "/accounts/", rows)
    assert response.status_code == 400 and "non_field_errors" in response.json()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/programs/ghost/"),
        ("patch", "/programs/ghost/"),
        ("get", "/partners/ghost/"),
        ("patch", "/partners/ghost/"),
        ("post", "/partners/ghost/move/"),
        ("post", "/partners/ghost/tokens/"),
        ("get", "/partners/ghost/downline/"),
        ("get", "/partners/ghost/chain/"),
        ("get", "/accounts/live/999/"),
        ("get", "/accounts/demo/100/"),
        ("post", "/accounts/live/999/attribute/"),
    ],
)
def test_unknown_object_in_url_is_404(tree, staff_client, method, url):
    response = call(staff_client, method, url, {})
    assert response.status_code == 404
    assert "detail" in response.json()


# --- programs -----------------------------------------------------------------------------------------------------


def test_program_create_update_get_list(staff_client):
    body = {"code": "cas", "name": "Cascade", "model": "cascade", "max_depth": 4, "shares": ["30", "12.5"]}
    created = call(staff_client, "post", "/programs/", body)
    assert created.status_code == 201
    assert created.json()["shares"] == ["30.0000", "12.5000"]
    assert created.json()["min_payout"] == "0.00" and created.json()["currency"] == "USD"
    replaced = call(staff_client, "post", "/programs/", {**body, "name": "Cascade 2", "min_payout": "25"})
    assert replaced.status_code == 200 and replaced.json()["min_payout"] == "25.00"
    patched = call(staff_client, "patch", "/programs/cas/", {"override_pct": ["5"], "max_depth": 2})
    assert patched.status_code == 200
    program = Program.objects.get(code="cas")
    assert (program.name, program.max_depth, program.model) == ("Cascade 2", 2, "cascade")
    assert [str(p) for p in program.override_pct] == ["5.0000"] and len(program.shares) == 2
    assert call(staff_client, "get", "/programs/cas/").json()["override_pct"] == ["5.0000"]
    listing = call(staff_client, "get", "/programs/").json()
    assert listing["count"] == 1 and listing["results"][0]["code"] == "cas"


def test_program_upsert_changes_only_what_it_is_given(staff_client):
    body = {"code": "cas", "name": "Cascade", "model": "cascade", "max_depth": 3, "shares": ["30"], "currency": "EUR"}
    assert (
        call(staff_client, "post", "/programs/", {**body, "override_pct": ["2"], "min_payout": "50"}).status_code == 201
    )
    renamed = call(staff_client, "post", "/programs/", {"code": "cas", "name": "Cascade plus"})
    assert renamed.status_code == 200
    data = renamed.json()
    # A rename is not a change of terms: the cascade model, its depth and shares stay, and so do the payout settings.
    assert (data["name"], data["model"], data["max_depth"], data["currency"]) == ("Cascade plus", "cascade", 3, "EUR")
    assert (data["shares"], data["override_pct"], data["min_payout"]) == (["30.0000"], ["2.0000"], "50.00")
    assert Program.objects.get(code="cas").terms.count() == 1
    # A new program takes the documented defaults.
    fresh = call(staff_client, "post", "/programs/", {"code": "new", "name": "New"}).json()
    assert (fresh["model"], fresh["max_depth"], fresh["shares"], fresh["currency"]) == ("differential", 10, [], "USD")


# --- partners -----------------------------------------------------------------------------------------------------


def test_partner_create_and_detail_show_place_in_tree(tree, staff_client):
    body = {"code": "d", "name": "D", "program": "std", "parent": "c", "email": "d@x.io", "payout_currency": "EUR"}
    response = call(staff_client, "post", "/partners/", body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["parent"], data["level"], data["downline_size"], data["program"]) == ("c", 4, 0, "std")
    assert data["plan"] is None  # the partner has no commission plan yet (plans are assigned by code)
    top = call(staff_client, "get", "/partners/a/").json()
    assert (top["parent"], top["level"], top["downline_size"]) == (None, 1, 3)


def test_partner_create_with_past_effective_from(tree, staff_client):
    body = {"code": "old", "name": "Old", "program": "std", "parent": "a", "effective_from": "2023-01-01T00:00:00Z"}
    assert call(staff_client, "post", "/partners/", body).status_code == 201
    link = PartnerLink.objects.get(partner__code="old")
    assert link.valid_from.isoformat() == "2023-01-01T00:00:00+00:00" and link.parent.code == "a"


def test_partner_patch_fields_and_parent_moves_now(tree, staff_client):
    program_body = {"code": "vip", "name": "VIP", "model": "override"}
    call(staff_client, "post", "/programs/", program_body)
    before = timezone.now()
    response = call(staff_client, "patch", "/partners/c/", {"parent": "a", "program": "vip", "status": "suspended"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["parent"], data["level"], data["program"], data["status"]) == ("a", 2, "vip", "suspended")
    old, new = PartnerLink.objects.filter(partner=tree["c"]).order_by("valid_from")
    assert old.parent_id == tree["b"].pk and old.valid_to == new.valid_from >= before
    # Same parent again: no new link.
    call(staff_client, "patch", "/partners/c/", {"parent": "a"})
    assert PartnerLink.objects.filter(partner=tree["c"]).count() == 2


def test_partner_list_filters_and_tree_columns(tree, staff_client):
    data = call(staff_client, "get", "/partners/?parent=a").json()
    assert [(p["code"], p["level"]) for p in data["results"]] == [("b", 2)]
    data = call(staff_client, "get", "/partners/?program=std&page_size=2").json()
    assert data["count"] == 3 and len(data["results"]) == 2 and data["next"]


def test_partner_list_query_count(make_partner, staff_client, django_assert_max_num_queries):
    top = make_partner("top")
    for n in range(40):
        make_partner(f"p{n:02d}", parent=top)
    # token auth, count, page, tree stats, current plans
    with django_assert_max_num_queries(5 + ROLE_CHECK):
        data = call(staff_client, "get", "/partners/?page_size=50").json()
    assert data["count"] == 41
    by_code = {p["code"]: p for p in data["results"]}
    assert by_code["top"]["downline_size"] == 40 and by_code["p07"]["parent"] == "top"


def test_move_endpoint(tree, staff_client):
    body = {"parent": "a", "effective_from": "2024-01-05T00:00:00Z"}
    response = call(staff_client, "post", "/partners/c/move/", body)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "partner": "c",
        "parent": "a",
        "valid_from": "2024-01-05T00:00:00Z",
        "valid_to": None,
    }
    chain_before = call(staff_client, "get", "/partners/c/chain/?at=2024-01-04T23:59:59Z").json()
    assert [e["code"] for e in chain_before["chain"]] == ["c", "b", "a"]
    assert [e["depth"] for e in chain_before["chain"]] == [0, 1, 2]
    chain_after = call(staff_client, "get", "/partners/c/chain/?at=2024-01-05T00:00:00Z").json()
    assert [e["code"] for e in chain_after["chain"]] == ["c", "a"]
    to_top = call(staff_client, "post", "/partners/c/move/", {"parent": None, "effective_from": "2024-01-06T00:00:00Z"})
    assert to_top.json()["parent"] is None


def test_downline_endpoint(tree, staff_client, django_assert_max_num_queries):
    partner_move(partner=tree["c"], parent=tree["a"], effective_from=at(48))
    with django_assert_max_num_queries(3 + ROLE_CHECK):
        early = call(staff_client, "get", "/partners/a/downline/?at=2024-01-01T12:00:00Z").json()
    assert [(e["code"], e["parent"], e["depth"]) for e in early["results"]] == [("b", "a", 1), ("c", "b", 2)]
    late = call(staff_client, "get", "/partners/a/downline/?at=2024-01-03T00:00:00Z").json()
    assert [(e["code"], e["depth"]) for e in late["results"]] == [("b", 1), ("c", 1)]
    assert call(staff_client, "get", "/partners/b/downline/").json()["count"] == 0


def test_token_endpoint(tree, staff_client):
    first = call(staff_client, "post", "/partners/b/tokens/")
    assert first.status_code == 200
    key = first.json()["token"]
    assert Token.objects.get(key=key).user == Partner.objects.get(code="b").user
    assert call(staff_client, "post", "/partners/b/tokens/").json()["token"] == key


def test_token_endpoint_conflicting_username_is_400(tree, staff_client, django_user_model):
    django_user_model.objects.create_user("a")
    response = call(staff_client, "post", "/partners/a/tokens/")
    assert response.status_code == 400 and "code" in response.json()


# --- accounts -----------------------------------------------------------------------------------------------------


def test_account_upsert_list_and_detail(tree, staff_client):
    rows = [
        {"server": "live", "login": 100, "currency": "USD", "group": "std", "partner": "b", "earns_commission": True},
        {"server": "live", "login": 101, "currency": "EUR", "group": "vip", "partner": None, "earns_commission": False},
        {"server": "demo", "login": 7, "partner": "a", "effective_from": "2023-12-01T00:00:00Z"},
    ]
    response = call(staff_client, "post", "/accounts/", rows)
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 2, "updated": 1, "unchanged": 0}
    listing = call(staff_client, "get", "/accounts/?server=live").json()
    assert [(a["login"], a["partner"]) for a in listing["results"]] == [(100, "b"), (101, None)]
    assert call(staff_client, "get", "/accounts/?partner=a").json()["results"][0]["login"] == 7
    assert call(staff_client, "get", "/accounts/?group=vip").json()["count"] == 1
    detail = call(staff_client, "get", "/accounts/live/100/").json()
    assert detail["partner"] == "b"
    assert [h["partner"] for h in detail["attributions"]] == ["c", "b"]
    assert detail["attributions"][0]["valid_from"] == "2024-01-01T00:00:00Z"
    assert detail["attributions"][0]["valid_to"] == detail["attributions"][1]["valid_from"]


def test_attribute_endpoint(tree, staff_client):
    url = "/accounts/live/100/attribute/"
    response = call(staff_client, "post", url, {"partner": "a", "effective_from": "2024-02-01T00:00:00Z"})
    assert response.status_code == 200, response.content
    assert response.json()["attribution"] == {"partner": "a", "valid_from": "2024-02-01T00:00:00Z", "valid_to": None}
    call(staff_client, "post", url, {"partner": None, "effective_from": "2024-03-01T00:00:00Z"})
    history = list(AccountAttribution.objects.filter(account=tree["account"]).values_list("partner__code", flat=True))
    assert history == ["c", "a", None]


def test_account_list_query_count(tree, staff_client, django_assert_max_num_queries):
    rows = [{"server": "live", "login": n, "partner": "abc"[n % 3]} for n in range(1000, 1060)]
    assert call(staff_client, "post", "/accounts/", rows).status_code == 200
    with django_assert_max_num_queries(3 + ROLE_CHECK):
        data = call(staff_client, "get", "/accounts/?page_size=100").json()
    assert data["count"] == 61
    assert {a["partner"] for a in data["results"]} == {"a", "b", "c"}


def test_program_list_query_count(staff_client, django_assert_max_num_queries):
    for n in range(30):
        call(staff_client, "post", "/programs/", {"code": f"p{n}", "name": "P"})
    with django_assert_max_num_queries(3 + ROLE_CHECK):
        assert call(staff_client, "get", "/programs/").json()["count"] == 30


# --- schema -------------------------------------------------------------------------------------------------------


def test_schema_for_partner_views_has_no_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/v1/", include("partners.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    paths = set(schema["paths"])
    assert {"/api/v1/partners/{code}/move/", "/api/v1/accounts/{server}/{login}/attribute/"} <= paths
    post_accounts = schema["paths"]["/api/v1/accounts/"]["post"]
    assert post_accounts["requestBody"]["content"]["application/json"]["schema"]["type"] == "array"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payout_currency", "QQQ"),  # three letters, but no currency
        ("payout_currency", " EUR"),  # never trimmed into "EUR"
        ("payout_currency", "usd"),
        ("payout_currency", "XXX"),  # no currency
        ("payout_currency", "XTS"),  # the test code
        ("payout_currency", "VEF"),  # withdrawn
        ("payout_account", "DE89\u202e3704"),  # RIGHT-TO-LEFT OVERRIDE
        ("payout_account", "DE89\u200b3704"),  # ZERO WIDTH SPACE
        ("payout_account", "\ufeffDE89"),
        ("payout_account", "DE89 3704\n0044"),
        ("payout_account", "DE89\r3704"),
        ("payout_account", "DE89\t3704"),
        ("payout_account", "DE89\x003704"),
        ("payout_account", "DE89\u20283704"),
        ("payout_account", " DE89 3704"),
        ("payout_account", "DE89 3704 "),
        ("payout_method", "wire\n"),
        ("payout_method", " wire"),
    ],
)
def test_payout_details_are_a_known_currency_and_one_line_of_text_on_every_door(tree, staff_client, field, value):
    """``payout_currency`` is a currency the ledger knows (a 400 otherwise); ``payout_account`` and
    ``payout_method`` refuse control characters and blanks at either end with a field error — never trimmed — on
    ``POST /partners/{code}/payout-details/``, a partner's create and its PATCH; nothing is changed."""
    before = list(Partner.objects.values_list("code", "payout_currency", "payout_method", "payout_account"))
    details = {"payout_method": "wire", "payout_account": "DE89 3704 0044 0532 0130 00", "payout_currency": "EUR"}
    requests = [
        ("post", "/partners/b/payout-details/", {**details, field: value}),
        ("post", "/partners/", {"code": "d", "name": "D", "program": "std", field: value}),
        ("patch", "/partners/b/", {field: value}),
    ]
    for method, url, body in requests:
        response = call(staff_client, method, url, body)
        assert response.status_code == 400, (url, response.content[:300])
        assert list(response.json()) == [field], (url, response.json())
    assert list(Partner.objects.values_list("code", "payout_currency", "payout_method", "payout_account")) == before


def test_payout_details_take_a_known_currency_and_inner_blanks(tree, staff_client):
    body = {"payout_method": "usdt", "payout_account": 'TX9a, memo "42"', "payout_currency": "BTC"}
    response = call(staff_client, "post", "/partners/b/payout-details/", body)
    assert response.status_code == 200, response.content[:300]
    b = Partner.objects.get(code="b")
    assert (b.payout_method, b.payout_account, b.payout_currency) == ("usdt", 'TX9a, memo "42"', "BTC")
    response = call(staff_client, "post", "/partners/b/payout-details/", {**body, "payout_currency": "JPY"})
    assert response.status_code == 200 and Partner.objects.get(code="b").payout_currency == "JPY"
    for code in ("USDT", "USDC"):  # the configured crypto units README promises
        response = call(staff_client, "post", "/partners/b/payout-details/", {**body, "payout_currency": code})
        assert response.status_code == 200, response.content[:300]
        assert Partner.objects.get(code="b").payout_currency == code


def test_a_lower_case_currency_is_told_to_be_upper_case_not_unknown(tree, staff_client):
    response = call(staff_client, "patch", "/partners/b/", {"payout_currency": "usd"})
    assert response.status_code == 400
    (message,) = response.json()["payout_currency"]
    assert message.startswith("Enter an upper-case currency code"), message


@pytest.mark.parametrize(
    "name", ["Evil\u202eNAME", "Two\nLines", "Zero\u200bWidth", "Tab\tName", "\u200d", "\u00ad\u200c", "Name\u200d"]
)
def test_a_partner_name_is_one_line_of_text_as_the_bank_file_repeats_it(tree, staff_client, name):
    """The name is copied onto payout lines as the bank CSV's ``partner_name``: a line break or an invisible
    direction override is a field error on create and on PATCH, as for the payout account; nothing is changed."""
    before = list(Partner.objects.values_list("code", "name"))
    for method, url, body in [
        ("post", "/partners/", {"code": "d", "name": name, "program": "std"}),
        ("patch", "/partners/b/", {"name": name}),
    ]:
        response = call(staff_client, method, url, body)
        assert response.status_code == 400, (url, response.content[:300])
        assert list(response.json()) == ["name"], (url, response.json())
    assert list(Partner.objects.values_list("code", "name")) == before


def test_a_name_keeps_the_joiners_its_spelling_needs_and_an_old_name_does_not_block_other_changes(tree, staff_client):
    """A Persian name with ZERO WIDTH NON-JOINER (and a soft hyphen) is a correct spelling, accepted. A partner
    stored with a two-line name before the rule existed can still be suspended: only what changes is checked."""
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 Trad\u00ading"
    created = call(staff_client, "post", "/partners/", {"code": "fa", "name": persian, "program": "std"})
    assert created.status_code == 201, created.content[:300]
    assert Partner.objects.get(code="fa").name == persian
    Partner.objects.filter(code="b").update(name="Old\nName")
    response = call(staff_client, "patch", "/partners/b/", {"name": "Old\nName", "status": "suspended"})
    assert response.status_code == 200, response.content[:300]
    assert Partner.objects.get(code="b").status == Partner.Status.SUSPENDED
