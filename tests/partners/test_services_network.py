"""Services for programs, partners, moves and partner tokens."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.utils import IntegrityError
from django.utils import timezone
from rest_framework.authtoken.models import Token

from core.exceptions import Conflict
from core.periods import SINCE_ALWAYS
from partners.models import Partner, PartnerLink, Program
from partners.selectors import partner_chain_at
from partners.services.partners import partner_create, partner_edit, partner_issue_token, partner_move, partner_update
from partners.services.programs import program_upsert

from .conftest import T0, at

pytestmark = pytest.mark.django_db


def codes(partners) -> list[str]:
    return [p.code for p in partners]


def links_of(partner: Partner) -> list[tuple[str | None, object, object]]:
    return [
        (link.parent.code if link.parent else None, link.valid_from, link.valid_to)
        for link in PartnerLink.objects.filter(partner=partner).select_related("parent").order_by("valid_from")
    ]


# --- programs -----------------------------------------------------------------------------------------------------


def test_program_upsert_creates_then_replaces_settings():
    created = program_upsert(
        code="casc", name="Cascade", model="cascade", max_depth=3, shares=["30", Decimal("12.5")], min_payout="50"
    )
    assert (created.model, created.max_depth, created.shares) == ("cascade", 3, [Decimal(30), Decimal("12.5")])
    updated = program_upsert(code="casc", name="Cascade 2", model="override", override_pct=[20], currency="eur")
    assert updated.pk == created.pk
    updated.refresh_from_db()
    assert (updated.name, updated.model, updated.max_depth) == ("Cascade 2", "override", 10)
    assert updated.shares == [] and updated.override_pct == [Decimal(20)]
    assert updated.currency == "EUR" and updated.min_payout == Decimal(0)
    assert Program.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "pyramid"}, "model"),
        ({"max_depth": 0}, "max_depth"),
        ({"shares": ["100.01"]}, "shares"),
        ({"shares": ["-1"]}, "shares"),
        ({"override_pct": ["abc"]}, "override_pct"),
        ({"min_payout": "-5"}, "min_payout"),
        ({"currency": "dollars"}, "currency"),
    ],
)
def test_program_upsert_rejects_bad_settings(kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        program_upsert(**{"code": "p", "name": "P", "model": "differential", **kwargs})
    assert field in excinfo.value.message_dict
    assert not Program.objects.exists()


def test_program_percentages_at_the_bounds_are_accepted():
    program = program_upsert(code="b", name="B", model="cascade", shares=["0", "100"])
    assert program.shares == [Decimal(0), Decimal(100)]


# --- partners -----------------------------------------------------------------------------------------------------


def test_partner_create_opens_first_link(program):
    top = partner_create(code="top", name="Top", program=program, effective_from=T0)
    sub = partner_create(code="sub", name="Sub", program=program, parent=top, effective_from=at(1), email="s@x.io")
    assert links_of(top) == [(None, T0, None)]
    assert links_of(sub) == [("top", at(1), None)]
    assert sub.email == "s@x.io" and sub.status == "active"


def test_partner_create_without_a_date_holds_since_always(program):
    partner = partner_create(code="now", name="Now", program=program)
    link = PartnerLink.objects.get(partner=partner)
    assert (link.valid_from, link.valid_to) == (SINCE_ALWAYS, None)  # set-up is not history


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "not a slug"}, "code"),
        ({"email": "nope"}, "email"),
        ({"status": "gone"}, "status"),
        ({"payout_currency": "EURO"}, "payout_currency"),
        ({"payout_currency": "eur"}, "payout_currency"),  # upper-case only, as the API takes it
        ({"payout_currency": "XXX"}, "payout_currency"),
        ({"payout_account": "DE89\n3704"}, "payout_account"),
        ({"payout_account": "DE89\u202e3704"}, "payout_account"),
        ({"payout_method": "wire\u200b"}, "payout_method"),
    ],
)
def test_partner_create_validates(program, kwargs, field):
    with pytest.raises(ValidationError) as excinfo:
        partner_create(**{"code": "ok", "name": "Ok", "program": program, **kwargs})
    assert field in excinfo.value.message_dict
    assert not Partner.objects.exists() and not PartnerLink.objects.exists()


def test_partner_create_duplicate_code_is_a_field_error(make_partner, program):
    make_partner("dup")
    with pytest.raises(ValidationError) as excinfo:
        partner_create(code="dup", name="Again", program=program)
    assert "code" in excinfo.value.message_dict


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payout_currency", "usd"),
        ("payout_currency", "XTS"),
        ("payout_currency", "XAU"),
        ("payout_currency", "HRK"),  # withdrawn (2023)
        ("payout_account", "DE89\r3704"),
        ("payout_account", "\ufeffDE89"),
        ("payout_account", "DE89 "),
        ("payout_method", "wire\u2028"),
    ],
)
def test_partner_update_refuses_bad_payout_details_whatever_the_door(make_partner, field, value):
    """The payout-details rule is the domain's (``partners.validation``), not only the API's: a command or an admin
    form calling the service cannot store a line break, an invisible format character or an unknown currency."""
    partner = make_partner("p")
    with pytest.raises(ValidationError) as excinfo:
        partner_update(partner=partner, **{field: value})
    assert list(excinfo.value.message_dict) == [field]
    partner.refresh_from_db()
    assert (partner.payout_currency, partner.payout_method, partner.payout_account) == ("USD", "", "")


@pytest.mark.parametrize("code", ["USDT", "USDC", "BTC", "EUR", "JPY", "XOF", "USC"])
def test_partner_payout_currency_takes_active_iso_crypto_and_configured_units(make_partner, settings, code):
    settings.IBEX_CURRENCY_MINOR_UNITS = {"USC": "2"}
    partner = partner_update(partner=make_partner("p"), payout_currency=code)
    partner.refresh_from_db()
    assert partner.payout_currency == code


def test_partner_update_changes_own_fields_only(make_partner):
    partner = make_partner("p")
    other = program_upsert(code="other", name="Other", model="cascade")
    partner_update(partner=partner, name="New", status="suspended", program=other, payout_currency="EUR")
    partner.refresh_from_db()
    assert (partner.name, partner.status, partner.program_id, partner.payout_currency) == (
        "New",
        "suspended",
        other.pk,
        "EUR",
    )
    with pytest.raises(ValidationError) as excinfo:
        partner_update(partner=partner, parent=None)
    assert "parent" in excinfo.value.message_dict


def test_partner_edit_moves_and_updates_atomically(make_partner):
    a, b = make_partner("a"), make_partner("b")
    child = make_partner("child", parent=a)
    partner_edit(partner=child, changes={"parent": b, "name": "Renamed"})
    child.refresh_from_db()
    assert child.name == "Renamed"
    assert codes(partner_chain_at(partner=child)) == ["child", "b"]
    # A failing move leaves the other fields untouched.
    with pytest.raises(ValidationError):
        partner_edit(partner=b, changes={"parent": child, "name": "Never"})
    b.refresh_from_db()
    assert b.name == "B"


# --- moves --------------------------------------------------------------------------------------------------------


def test_move_closes_open_link_and_keeps_history(make_partner):
    a, b = make_partner("a"), make_partner("b")
    sub = make_partner("sub", parent=a)
    link = partner_move(partner=sub, parent=b, effective_from=at(10))
    assert (link.parent_id, link.valid_from, link.valid_to) == (b.pk, at(10), None)
    assert links_of(sub) == [("a", T0, at(10)), ("b", at(10), None)]
    assert codes(partner_chain_at(partner=sub, at=at(9))) == ["sub", "a"]
    assert codes(partner_chain_at(partner=sub, at=at(10))) == ["sub", "b"]
    partner_move(partner=sub, parent=None, effective_from=at(20))
    assert links_of(sub)[-1] == (None, at(20), None)
    assert codes(partner_chain_at(partner=sub, at=at(25))) == ["sub"]
    assert codes(partner_chain_at(partner=sub, at=at(15))) == ["sub", "b"]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (-1, [("c", -1, 0), ("a", 0, 5), ("b", 5, None)]),  # before the first link: c until it starts
        (0, [("c", 0, 5), ("b", 5, None)]),  # at the first link's start: replaced from its first instant
        (3, [("a", 0, 3), ("c", 3, 5), ("b", 5, None)]),  # inside it: closed there; the later move is kept
        (5, [("a", 0, 5), ("c", 5, None)]),  # at the later move's instant: that move is replaced
    ],
)
def test_back_dated_move_holds_until_the_next_recorded_move(make_partner, when, expected):
    a, b, c = make_partner("a"), make_partner("b"), make_partner("c")
    sub = make_partner("sub", parent=a)
    partner_move(partner=sub, parent=b, effective_from=at(5))
    partner_move(partner=sub, parent=c, effective_from=at(when))
    assert links_of(sub) == [(p, at(f), None if t is None else at(t)) for p, f, t in expected]


def test_restating_the_parent_in_force_keeps_a_scheduled_move(make_partner):
    a, b = make_partner("a"), make_partner("b")
    sub = make_partner("sub", parent=a)
    partner_move(partner=sub, parent=b, effective_from=timezone.now() + timedelta(days=30))
    before = links_of(sub)
    partner_move(partner=sub, parent=a)  # what PATCH with the current parent does
    assert links_of(sub) == before


def test_move_without_a_date_takes_effect_now(make_partner):
    a, b = make_partner("a"), make_partner("b")
    sub = make_partner("sub", parent=a)
    before = timezone.now()
    link = partner_move(partner=sub, parent=b)
    assert link.parent == b and link.valid_from >= before


def test_move_reaching_into_an_approved_period_is_a_conflict(make_partner, lock_period):
    a, b = make_partner("a"), make_partner("b")
    sub = make_partner("sub", parent=a)
    lock_period("2024-01")
    before = links_of(sub)
    with pytest.raises(Conflict) as excinfo:
        partner_move(partner=sub, parent=b, effective_from=at(24 * 10))
    assert excinfo.value.extra == {"kind": "commissions", "period": "2024-01", "approved_periods": ["2024-01"]}
    assert "2024-02-01T00:00:00+02:00" in excinfo.value.message  # where it may start: the server's midnight
    assert links_of(sub) == before
    reopen = at(24 * 31 - 2)  # 2024-02-01 00:00 at the server (UTC+2): the first instant of the open period
    partner_move(partner=sub, parent=b, effective_from=reopen)
    assert links_of(sub)[-1] == ("b", reopen, None)


def test_move_to_same_parent_is_a_noop(make_partner):
    a = make_partner("a")
    sub = make_partner("sub", parent=a)
    original = PartnerLink.objects.get(partner=sub)
    assert partner_move(partner=sub, parent=a, effective_from=at(3)).pk == original.pk
    # A retry at the very same instant as the latest start is also a no-op, not an error.
    partner_move(partner=sub, parent=None, effective_from=at(4))
    again = partner_move(partner=sub, parent=None, effective_from=at(4))
    assert links_of(sub) == [("a", T0, at(4)), (None, at(4), None)]
    assert again.valid_from == at(4)


def test_self_parenting_is_rejected(make_partner):
    a = make_partner("a")
    with pytest.raises(ValidationError) as excinfo:
        partner_move(partner=a, parent=a, effective_from=at(1))
    assert "parent" in excinfo.value.message_dict
    assert links_of(a) == [(None, T0, None)]


def test_direct_and_indirect_cycles_are_rejected(make_partner):
    a = make_partner("a")
    b = make_partner("b", parent=a)
    c = make_partner("c", parent=b)
    for partner, parent in [(a, b), (a, c)]:
        with pytest.raises(ValidationError) as excinfo:
            partner_move(partner=partner, parent=parent, effective_from=at(1))
        assert "cycle" in " ".join(excinfo.value.message_dict["parent"])
    assert links_of(a) == [(None, T0, None)]


def test_cycle_via_future_dated_link_is_rejected(make_partner):
    a, b, x = make_partner("a"), make_partner("b"), make_partner("x")
    # From t=50 on, b will sit under a (future-dated).
    partner_move(partner=b, parent=a, effective_from=at(50))
    # At t=10, a under b is fine *then*, but from t=50 it would be a -> b -> a.
    with pytest.raises(ValidationError) as excinfo:
        partner_move(partner=a, parent=b, effective_from=at(10))
    assert at(50).isoformat() in " ".join(excinfo.value.message_dict["parent"])
    # Via a longer future chain: x under b from 60, then moving a under x at 20 would cycle from 60.
    partner_move(partner=x, parent=b, effective_from=at(60))
    with pytest.raises(ValidationError):
        partner_move(partner=a, parent=x, effective_from=at(20))
    assert links_of(a) == [(None, T0, None)]


def test_former_ancestor_may_become_child_after_it_stopped_being_ancestor(make_partner):
    a = make_partner("a")
    b = make_partner("b", parent=a)
    partner_move(partner=b, parent=None, effective_from=at(5))
    partner_move(partner=a, parent=b, effective_from=at(6))
    assert codes(partner_chain_at(partner=a, at=at(7))) == ["a", "b"]
    assert codes(partner_chain_at(partner=b, at=at(4))) == ["b", "a"]


def test_overlapping_links_are_rejected_by_the_database(make_partner):
    a, b = make_partner("a"), make_partner("b")
    sub = make_partner("sub", parent=a)
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerLink.objects.create(partner=sub, parent=b, valid_from=at(3), valid_to=at(4))
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerLink.objects.create(partner=sub, parent=b, valid_from=T0 - (at(1) - T0), valid_to=at(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerLink.objects.filter(partner=sub).update(valid_to=T0)  # empty range runs backwards
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerLink.objects.create(partner=b, parent=b, valid_from=at(-10), valid_to=at(-5))
    # Touching ranges are fine: [from, to) is half-open.
    PartnerLink.objects.create(partner=a, parent=None, valid_from=at(-3), valid_to=T0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_cannot_create_a_cycle(program):
    a = partner_create(code="a", name="A", program=program, effective_from=T0)
    b = partner_create(code="b", name="B", program=program, effective_from=T0)
    first_moved = threading.Event()
    results: dict[str, str] = {}

    def move_a_under_b():
        try:
            with transaction.atomic():
                partner_move(partner=a, parent=b, effective_from=at(1))
                first_moved.set()
                # Hold the transaction open while the other move starts.
                threading.Event().wait(0.5)
            results["a"] = "ok"
        finally:
            first_moved.set()
            connection.close()

    def move_b_under_a():
        first_moved.wait(5)
        try:
            partner_move(partner=b, parent=a, effective_from=at(1))
            results["b"] = "ok"
        except ValidationError as exc:
            results["b"] = " ".join(exc.message_dict.get("parent", []))
        finally:
            connection.close()

    threads = [threading.Thread(target=move_a_under_b), threading.Thread(target=move_b_under_a)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results["a"] == "ok"
    assert "cycle" in results["b"]
    assert codes(partner_chain_at(partner=a, at=at(2))) == ["a", "b"]
    assert codes(partner_chain_at(partner=b, at=at(2))) == ["b"]


# --- tokens -------------------------------------------------------------------------------------------------------


def test_issue_token_creates_user_once(make_partner):
    partner = make_partner("ib-one", email="ib@x.io")
    key = partner_issue_token(partner=partner)
    partner.refresh_from_db()
    user = partner.user
    assert user.username == "ib-one" and user.email == "ib@x.io"
    assert not user.has_usable_password() and not user.is_staff
    assert Token.objects.get(user=user).key == key
    assert partner_issue_token(partner=partner) == key
    assert get_user_model().objects.filter(username="ib-one").count() == 1


def test_issue_token_refuses_to_adopt_an_existing_unrelated_user(make_partner, django_user_model):
    django_user_model.objects.create_user("boss", is_staff=True)
    partner = make_partner("boss")
    with pytest.raises(ValidationError):
        partner_issue_token(partner=partner)
    partner.refresh_from_db()
    assert partner.user is None
    assert not Token.objects.exists()


def test_a_bounded_move_is_checked_for_cycles_only_while_it_holds(make_partner):
    a, b, c = make_partner("a"), make_partner("b"), make_partner("c")
    partner_move(partner=a, parent=b, effective_from=at(30))  # scheduled: a under b from t=30
    partner_move(partner=c, parent=a, effective_from=at(40))  # c under a from t=40
    # a under c from t=12 holds only until t=30 (the move already recorded), before c joins a: no cycle.
    link = partner_move(partner=a, parent=c, effective_from=at(12))
    assert (link.parent_id, link.valid_from, link.valid_to) == (c.pk, at(12), at(30))
    assert links_of(a) == [(None, T0, at(12)), ("c", at(12), at(30)), ("b", at(30), None)]
    # From t=35 a under c would hold on past t=40, when c sits under a: a cycle.
    with pytest.raises(ValidationError) as excinfo:
        partner_move(partner=a, parent=c, effective_from=at(35))
    assert at(40).isoformat() in " ".join(excinfo.value.message_dict["parent"])
