"""The partner admin: changelists without N+1, tree positions per page, history read-only, writes via services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from partners.selectors import account_partner_at, partner_parent_at
from partners.services.accounts import accounts_upsert
from partners.services.partners import partner_create
from partners.services.programs import program_upsert

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)
# Session, user, count, page, filters, tree stats …: a fixed budget whatever the page size.
CHANGELIST_QUERY_BUDGET = 14


def split(dt: datetime) -> dict[str, str]:
    """The admin's split date/time widget fields for ``effective_from``."""
    return {"effective_from_0": dt.strftime("%Y-%m-%d"), "effective_from_1": dt.strftime("%H:%M:%S")}


def management(prefix: str) -> dict[str, str]:
    """The management form a browser posts for a read-only inline (no forms of its own)."""
    return {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}


@pytest.fixture
def std_program() -> Program:
    return program_upsert(code="std", name="Standard", model="differential")


@pytest.fixture
def tree(std_program) -> dict[str, Partner]:
    """top ─ mid ─ low ─ leaf (four levels) plus ``other`` at the top with 56 direct sub-IBs (60 partners)."""
    made: dict[str, Partner] = {}
    for code, parent in [("top", None), ("mid", "top"), ("low", "mid"), ("leaf", "low"), ("other", None)]:
        made[code] = partner_create(
            code=code, name=code.title(), program=std_program, parent=made.get(parent), effective_from=START
        )
    for i in range(55):
        code = f"sub-{i:02d}"
        made[code] = partner_create(
            code=code, name=f"Sub {i}", program=std_program, parent=made["other"], effective_from=START
        )
    return made


def test_partner_changelist_shows_parent_level_and_downline_in_bounded_queries(
    admin_client, tree, django_assert_max_num_queries
):
    url = reverse("admin:partners_partner_changelist")
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(url)
    assert response.status_code == 200
    page = {p.code: p for p in response.context["cl"].result_list}
    assert len(page) == 60
    expected = {  # (parent, level, downline) by construction of the fixture
        "top": (None, 1, 3),
        "mid": ("top", 2, 2),
        "low": ("mid", 3, 1),
        "leaf": ("low", 4, 0),
        "other": (None, 1, 55),
        "sub-07": ("other", 2, 0),
    }
    for code, (parent, level, downline) in expected.items():
        stats = page[code].tree_stats
        assert (stats.parent_code, stats.level, stats.downline_size) == (parent, level, downline), code
    html = response.content.decode()
    assert '?downline_of=other">55</a>' in html
    assert "?q=low" in html  # leaf's parent column links to its parent


def test_partner_changelist_query_count_does_not_grow_with_the_page(
    admin_client, std_program, django_assert_max_num_queries
):
    for i in range(120):
        partner_create(code=f"p{i:03d}", name=f"P{i}", program=std_program, effective_from=START)
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(reverse("admin:partners_partner_changelist"))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100  # one full page


def test_downline_filter_lists_everyone_below_now(admin_client, tree):
    response = admin_client.get(reverse("admin:partners_partner_changelist"), {"downline_of": "top"})
    assert response.status_code == 200
    assert sorted(p.code for p in response.context["cl"].result_list) == ["leaf", "low", "mid"]


def test_position_filter_splits_top_level_and_sub_ibs(admin_client, tree):
    url = reverse("admin:partners_partner_changelist")
    top = admin_client.get(url, {"position": "top"}).context["cl"].result_list
    assert sorted(p.code for p in top) == ["other", "top"]
    sub = admin_client.get(url, {"position": "sub"}).context["cl"].result_list
    assert len(sub) == 58


def test_partner_change_page_shows_history_read_only_and_attribution_counts(admin_client, tree):
    partner_move_url = reverse("admin:partners_partner_move")
    leaf = tree["leaf"]
    accounts_upsert(
        rows=[
            {"server": "live", "login": 1, "partner": "leaf", "effective_from": START},
            {"server": "live", "login": 2, "partner": "leaf", "effective_from": START},
        ]
    )
    account = ClientAccount.objects.get(login=2)
    admin_client.post(
        reverse("admin:partners_clientaccount_attribute") + f"?ids={account.pk}",
        {"partner": tree["top"].pk, **split(START + timedelta(days=3))},
    )
    response = admin_client.get(reverse("admin:partners_partner_change", args=[leaf.pk]))
    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    assert inline.formset.model is PartnerLink
    assert not inline.has_add_permission and not inline.has_change_permission and not inline.has_delete_permission
    html = response.content.decode()
    assert "1 attributed now; 2 account(s) ever" in html
    assert f"{partner_move_url}?ids={leaf.pk}" in html
    assert "level 4, parent low" in html
    # The links are not editable fields on the page.
    assert 'name="links-0-parent"' not in html


def test_move_through_the_admin_calls_the_service_and_keeps_history(admin_client, tree):
    low, other = tree["low"], tree["other"]
    when = START + timedelta(days=10)
    url = reverse("admin:partners_partner_move") + f"?ids={low.pk}"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"parent": other.pk, **split(when)})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:partners_partner_change", args=[low.pk])
    links = list(PartnerLink.objects.filter(partner=low).order_by("valid_from"))
    assert [(link.parent_id, link.valid_from, link.valid_to) for link in links] == [
        (tree["mid"].pk, START, when),
        (other.pk, when, None),
    ]
    # History is kept: before the move low still sat under mid, and its own sub-IB moved along with it.
    assert partner_parent_at(partner=low, at=when - timedelta(seconds=1)) == tree["mid"]
    assert partner_parent_at(partner=low, at=when) == other
    assert LogEntry.objects.filter(object_id=str(low.pk), change_message__contains="Moved under other").exists()


def test_move_into_own_downline_is_refused_with_the_service_error(admin_client, tree):
    top, leaf = tree["top"], tree["leaf"]
    url = reverse("admin:partners_partner_move") + f"?ids={top.pk}"
    response = admin_client.post(url, {"parent": leaf.pk, **split(START + timedelta(days=2))})
    assert response.status_code == 200
    assert "cycle" in str(response.context["form"].errors["parent"])
    assert PartnerLink.objects.filter(partner=top).count() == 1


def test_move_into_an_approved_period_is_refused_on_the_form(admin_client, tree, lock_period):
    lock_period("2024-01")
    url = reverse("admin:partners_partner_move") + f"?ids={tree['mid'].pk}"
    response = admin_client.post(url, {"parent": tree["other"].pk, **split(START + timedelta(days=3))})
    assert response.status_code == 200
    assert "approved commissions period 2024-01" in str(response.context["form"].errors["effective_from"])
    assert PartnerLink.objects.filter(partner=tree["mid"]).count() == 1


def test_move_back_dated_before_the_current_link_while_nothing_is_approved(admin_client, tree):
    url = reverse("admin:partners_partner_move") + f"?ids={tree['mid'].pk}"
    response = admin_client.post(url, {"parent": tree["other"].pk, **split(START - timedelta(days=1))})
    assert response.status_code == 302
    links = PartnerLink.objects.filter(partner=tree["mid"]).order_by("valid_from")
    # The new parent holds from the day before until the link already recorded from START.
    assert [(link.parent_id, link.valid_from, link.valid_to) for link in links] == [
        (tree["other"].pk, START - timedelta(days=1), START),
        (tree["top"].pk, START, None),
    ]


def test_move_action_moves_several_partners_at_once(admin_client, tree):
    changelist = reverse("admin:partners_partner_changelist")
    chosen = [tree["sub-01"].pk, tree["sub-02"].pk]
    response = admin_client.post(changelist, {"action": "move_selected", "_selected_action": chosen})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:partners_partner_move") + "?ids=")
    when = START + timedelta(days=5)
    response = admin_client.post(response["Location"], {"parent": tree["top"].pk, **split(when)})
    assert response.status_code == 302
    for pk in chosen:
        assert partner_parent_at(partner=Partner.objects.get(pk=pk), at=when) == tree["top"]


def test_add_partner_through_the_admin_opens_its_first_link(admin_client, tree, std_program):
    when = START + timedelta(hours=6)
    response = admin_client.post(
        reverse("admin:partners_partner_add"),
        {
            "code": "newbie",
            "name": "Newbie Ltd",
            "email": "",
            "program": std_program.pk,
            "status": "active",
            "payout_currency": "eur",
            "payout_method": "",
            "payout_account": "",
            "parent": tree["mid"].pk,
            **split(when),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    newbie = Partner.objects.get(code="newbie")
    assert newbie.payout_currency == "EUR"  # normalised by the service
    link = PartnerLink.objects.get(partner=newbie)
    assert (link.parent_id, link.valid_from, link.valid_to) == (tree["mid"].pk, when, None)


def test_editing_a_partner_never_touches_its_links(admin_client, tree, std_program):
    mid = tree["mid"]
    response = admin_client.post(
        reverse("admin:partners_partner_change", args=[mid.pk]),
        {
            "name": "Mid Renamed",
            "email": "mid@example.com",
            "program": std_program.pk,
            "status": "suspended",
            "payout_currency": "USD",
            "payout_method": "bank_transfer",
            "payout_account": "DE00",
            **management("links"),
        },
    )
    assert response.status_code == 302
    mid.refresh_from_db()
    assert (mid.name, mid.status, mid.payout_method) == ("Mid Renamed", "suspended", "bank_transfer")
    assert list(PartnerLink.objects.filter(partner=mid).values_list("parent_id", "valid_to")) == [
        (tree["top"].pk, None)
    ]


def test_partners_cannot_be_deleted_in_the_admin(admin_client, tree):
    response = admin_client.get(reverse("admin:partners_partner_delete", args=[tree["leaf"].pk]))
    assert response.status_code == 403


def test_program_admin_saves_through_the_service_and_checks_percentages(admin_client, django_assert_max_num_queries):
    url = reverse("admin:partners_program_add")
    data = {"code": "casc", "name": "Cascade", "model": "cascade", "max_depth": 5, "min_payout": "50"}
    bad = admin_client.post(url, {**data, "shares": "30,120", "override_pct": "", "currency": "USD"})
    assert bad.status_code == 200
    assert "between 0 and 100" in str(bad.context["adminform"].form.errors["shares"])
    good = admin_client.post(url, {**data, "shares": "30,20", "override_pct": "", "currency": "usd"})
    assert good.status_code == 302
    program = Program.objects.get(code="casc")
    assert [str(s) for s in program.shares] == ["30.0000", "20.0000"] and program.currency == "USD"
    for i in range(55):
        program_upsert(code=f"prog-{i}", name=f"Program {i}", model="differential")
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(reverse("admin:partners_program_changelist"))
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 56


# --- client accounts --------------------------------------------------------------------------------------------


@pytest.fixture
def accounts(tree) -> list[ClientAccount]:
    rows = [
        {
            "server": "live" if i % 2 else "demo",
            "login": 1000 + i,
            "currency": "EUR" if i % 3 == 0 else "USD",
            "group": "ecn" if i % 4 == 0 else "standard",
            "partner": None if i % 10 == 0 else ("leaf" if i % 2 else "sub-03"),
            "effective_from": START,
        }
        for i in range(60)
    ]
    accounts_upsert(rows=rows)
    return list(ClientAccount.objects.order_by("login"))


def test_account_changelist_shows_current_ib_in_bounded_queries(admin_client, accounts, django_assert_max_num_queries):
    url = reverse("admin:partners_clientaccount_changelist")
    with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
        response = admin_client.get(url)
    assert response.status_code == 200
    page = {a.login: a for a in response.context["cl"].result_list}
    assert len(page) == 60
    assert page[1001].current_partner_code == "leaf"
    assert page[1002].current_partner_code == "sub-03"
    assert page[1010].current_partner_code is None
    no_ib = admin_client.get(url, {"has_ib": "no"}).context["cl"].result_list
    assert sorted(a.login for a in no_ib) == [1000 + i for i in range(0, 60, 10)]
    by_ib = admin_client.get(url, {"q": "leaf"}).context["cl"].result_list
    assert sorted(a.login for a in by_ib) == [1000 + i for i in range(1, 60, 2)]  # the odd ones are leaf's
    assert admin_client.get(url, {"q": "1007"}).context["cl"].result_list[0].login == 1007
    assert admin_client.get(url, {"q": "9" * 40}).status_code == 200


def test_attribute_view_changes_the_ib_through_the_service_and_keeps_history(admin_client, accounts, tree, lock_period):
    account = ClientAccount.objects.get(login=1001)
    when = START + timedelta(days=20)
    url = reverse("admin:partners_clientaccount_attribute") + f"?ids={account.pk}"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"partner": tree["mid"].pk, **split(when)})
    assert response.status_code == 302
    stretches = list(AccountAttribution.objects.filter(account=account).order_by("valid_from"))
    assert [(s.partner_id, s.valid_from, s.valid_to) for s in stretches] == [
        (tree["leaf"].pk, START, when),
        (tree["mid"].pk, when, None),
    ]
    assert account_partner_at(server="live", login=1001, at=when - timedelta(seconds=1)) == tree["leaf"]
    # Once January is approved, rewriting it is refused with the service's message, and nothing changes.
    lock_period("2024-01")
    response = admin_client.post(url, {"partner": tree["top"].pk, **split(START + timedelta(days=1))})
    assert response.status_code == 200
    assert "approved commissions period 2024-01" in str(response.context["form"].errors["effective_from"])
    assert AccountAttribution.objects.filter(account=account).count() == 2


def test_attribute_action_and_no_ib(admin_client, accounts):
    chosen = [a.pk for a in accounts[1:4]]
    response = admin_client.post(
        reverse("admin:partners_clientaccount_changelist"),
        {"action": "attribute_selected", "_selected_action": chosen},
    )
    assert response.status_code == 302
    when = START + timedelta(days=2)
    response = admin_client.post(response["Location"], {"partner": "", **split(when)})
    assert response.status_code == 302
    for account in accounts[1:4]:
        assert account_partner_at(server=account.server, login=account.login, at=when) is None
        assert account_partner_at(server=account.server, login=account.login, at=START) is not None


def test_account_change_page_keeps_the_attribution_and_shows_it_read_only(admin_client, accounts, tree):
    account = ClientAccount.objects.get(login=1001)
    url = reverse("admin:partners_clientaccount_change", args=[account.pk])
    page = admin_client.get(url)
    inline = page.context["inline_admin_formsets"][0]
    assert inline.formset.model is AccountAttribution and not inline.has_change_permission
    response = admin_client.post(url, {"currency": "GBP", "group": "pro", **management("attributions")})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.currency, account.group, account.earns_commission) == ("GBP", "pro", False)
    assert list(AccountAttribution.objects.filter(account=account).values_list("partner_id", "valid_to")) == [
        (tree["leaf"].pk, None)
    ]


def test_add_account_through_the_admin_attributes_it(admin_client, tree):
    response = admin_client.post(
        reverse("admin:partners_clientaccount_add"),
        {
            "server": "live",
            "login": 555,
            "currency": "JPY",
            "group": "standard",
            "earns_commission": "on",
            "partner": tree["top"].pk,
            **split(START),
        },
    )
    assert response.status_code == 302
    assert account_partner_at(server="live", login=555, at=START) == tree["top"]


def test_history_changelists_are_read_only_and_bounded(admin_client, accounts, django_assert_max_num_queries):
    for name in ("partnerlink", "accountattribution"):
        with django_assert_max_num_queries(CHANGELIST_QUERY_BUDGET):
            response = admin_client.get(reverse(f"admin:partners_{name}_changelist"))
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) >= 54
        assert admin_client.get(reverse(f"admin:partners_{name}_add")).status_code == 403
    link = PartnerLink.objects.first()
    assert admin_client.post(reverse("admin:partners_partnerlink_change", args=[link.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:partners_partnerlink_delete", args=[link.pk])).status_code == 403


def test_admin_is_for_staff_only(client, django_user_model, tree):
    client.force_login(django_user_model.objects.create_user("clerk", password="pw"))
    for url in (reverse("admin:partners_partner_changelist"), reverse("admin:partners_partner_move")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_partner_picker_of_the_service_forms_searches_partners(admin_client, tree):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "partners", "model_name": "partnerlink", "field_name": "parent", "term": "mi"},
    )
    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["mid"]


def test_suspend_and_activate_actions_go_through_the_service(admin_client, tree):
    changelist = reverse("admin:partners_partner_changelist")
    chosen = [tree["mid"].pk, tree["low"].pk]
    response = admin_client.post(changelist, {"action": "suspend_selected", "_selected_action": chosen})
    assert response.status_code == 302
    assert dict(Partner.objects.filter(pk__in=chosen).values_list("code", "status")) == {
        "mid": "suspended",
        "low": "suspended",
    }
    assert Partner.objects.filter(status="suspended").count() == 2
    admin_client.post(changelist, {"action": "activate_selected", "_selected_action": [tree["mid"].pk]})
    assert Partner.objects.get(code="mid").status == "active" and Partner.objects.get(code="low").status == "suspended"
    assert LogEntry.objects.filter(object_id=str(tree["low"].pk), change_message="Status set to suspended.").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payout_account", "DE89\n3704"),
        ("payout_account", "DE89\u202e3704"),
        ("payout_account", "DE89 3704 "),  # refused, not trimmed, as the API refuses it
        ("payout_method", "wire\u200b"),
        ("payout_currency", "XXX"),
        ("payout_currency", "QQQ"),
    ],
)
def test_the_admin_forms_refuse_bad_payout_details_under_the_field(admin_client, tree, std_program, field, value):
    """The payout-details form, the partner's add form and its change form apply the domain's rule
    (``partners.validation``): a field error, nothing stored."""
    mid = tree["mid"]
    details = {"payout_currency": "EUR", "payout_method": "wire", "payout_account": "NL91", field: value}
    own = {"name": "Mid", "email": "", "program": std_program.pk, "status": "active"}
    posts = [
        (reverse("admin:partners_partner_payout_details", args=[mid.pk]), details),
        (reverse("admin:partners_partner_change", args=[mid.pk]), {**own, **details, **management("links")}),
        (reverse("admin:partners_partner_add"), {**own, "code": "newbie", **details}),
    ]
    for url, data in posts:
        response = admin_client.post(url, data)
        assert response.status_code == 200, url
        form = response.context["adminform"].form if "adminform" in response.context else response.context["form"]
        assert list(form.errors) == [field], (url, form.errors)
    mid.refresh_from_db()
    assert (mid.payout_currency, mid.payout_method, mid.payout_account) == ("USD", "", "")
    assert not Partner.objects.filter(code="newbie").exists()
