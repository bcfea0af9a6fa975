"""Dated plan assignments and rebates (DOMAIN.md 4.0, 4.5): set-up holds since always, changes default to now,
back-dating stops at approved periods, and a rebate series never overlaps itself (a database constraint)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from commissions.models import PartnerPlan, Plan, Rebate
from commissions.services.plans import partner_plan_assign, rebate_set
from core.exceptions import Conflict, FieldErrors
from core.periods import SINCE_ALWAYS
from partners.models import ClientAccount
from partners.services.accounts import account_attribute
from partners.services.partners import partner_create
from partners.services.programs import program_upsert

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def partner():
    return partner_create(code="ib", name="IB", program=program_upsert(code="p", name="P", model="differential"))


@pytest.fixture
def plans():
    return Plan.objects.create(code="bronze", name="Bronze"), Plan.objects.create(code="gold", name="Gold")


def assignments(partner) -> list[tuple[str, datetime, datetime | None]]:
    return [(a.plan.code, a.valid_from, a.valid_to) for a in PartnerPlan.objects.filter(partner=partner)]


def test_first_plan_holds_since_always_and_a_change_starts_now(partner, plans):
    bronze, gold = plans
    first = partner_plan_assign(partner=partner, plan=bronze)
    assert assignments(partner) == [("bronze", SINCE_ALWAYS, None)]
    assert partner_plan_assign(partner=partner, plan=bronze).pk == first.pk  # in force already: nothing changes
    before = timezone.now()
    partner_plan_assign(partner=partner, plan=gold)
    (_, _, closed), (code, start, end) = assignments(partner)
    assert code == "gold" and closed == start and start >= before and end is None


def test_same_plan_earlier_back_dates_and_a_locked_period_stops_it(partner, plans, lock_period):
    bronze, gold = plans
    partner_plan_assign(partner=partner, plan=bronze)
    partner_plan_assign(partner=partner, plan=gold, effective_from=T0 + timedelta(days=20))
    partner_plan_assign(partner=partner, plan=gold, effective_from=T0 + timedelta(days=5))
    assert assignments(partner) == [
        ("bronze", SINCE_ALWAYS, T0 + timedelta(days=5)),
        ("gold", T0 + timedelta(days=5), None),
    ]
    lock_period("2026-03")
    with pytest.raises(Conflict, match="approved commissions period 2026-03"):
        partner_plan_assign(partner=partner, plan=gold, effective_from=T0 + timedelta(days=2))
    with pytest.raises(Conflict, match="2026-03"):
        partner_plan_assign(partner=partner, plan=gold, effective_from=T0 - timedelta(days=40))  # reaches past it
    assert assignments(partner)[-1] == ("gold", T0 + timedelta(days=5), None)


def client_of(partner, login: int) -> ClientAccount:
    """An account attributed to ``partner`` since always: a rebate to one client must be to the partner's own."""
    account = ClientAccount.objects.create(server="s", login=login)
    account_attribute(account=account, partner=partner)
    return account


def test_rebate_terms_are_a_series_first_since_always_same_terms_change_nothing(partner):
    account = client_of(partner, 1)
    first = rebate_set(partner=partner, account=account, pct=Decimal("10"))
    assert (first.valid_from, first.valid_to) == (SINCE_ALWAYS, None)
    assert rebate_set(partner=partner, account=account, pct=Decimal("10.0")).pk == first.pk
    changed = rebate_set(partner=partner, account=account, per_lot=Decimal("1.5"), effective_from=T0)
    assert (changed.per_lot, changed.valid_from) == (Decimal("1.5"), T0)
    assert rebate_set(partner=partner, account=account, effective_from=T0 + timedelta(days=3)) is None  # ended
    assert rebate_set(partner=partner, account=account) is None  # ending an ended rebate: nothing
    stretches = list(Rebate.objects.filter(partner=partner).values_list("valid_from", "valid_to"))
    assert stretches == [(SINCE_ALWAYS, T0), (T0, T0 + timedelta(days=3))]


def _raw_rebate(partner, account, start, end=None):
    with transaction.atomic():
        Rebate.objects.create(partner=partner, account=account, pct=Decimal(5), valid_from=start, valid_to=end)


def test_the_database_refuses_two_overlapping_rebates_of_one_account_or_of_all_clients(partner):
    account = ClientAccount.objects.create(server="s", login=2)
    _raw_rebate(partner, account, T0, T0 + timedelta(days=10))
    with pytest.raises(IntegrityError):
        _raw_rebate(partner, account, T0 + timedelta(days=9))
    _raw_rebate(partner, None, T0)
    with pytest.raises(IntegrityError):
        _raw_rebate(partner, None, T0 + timedelta(days=1))  # NULL account is one series too, not "unknown"
    _raw_rebate(partner, account, T0 + timedelta(days=10))  # adjacent: fine; beside the all-clients one: it wins
    other = partner_create(code="ib2", name="IB2", program=partner.program)
    _raw_rebate(other, account, T0)  # another partner's rebate to the same account is its own series


def test_a_rebate_to_an_account_of_another_ib_or_of_none_is_a_field_error(partner):
    """A rebate on a client attributed (when it takes effect) to another IB, or to none, is funded by no commission
    of the partner: refused naming the account and who it belongs to; nothing is written."""
    other = partner_create(code="other", name="Other", program=partner.program)
    theirs = client_of(other, 7)
    nobodys = ClientAccount.objects.create(server="s", login=8)
    with pytest.raises(FieldErrors) as refused:
        rebate_set(partner=partner, account=theirs, pct=Decimal("10"))
    assert refused.value.errors == {"account": ["s/7 is attributed to other since always, not to ib."]}
    with pytest.raises(FieldErrors, match="attributed to no IB"):
        rebate_set(partner=partner, account=nobodys, per_lot=Decimal("1"), effective_from=T0)
    account_attribute(account=theirs, partner=partner, effective_from=T0 + timedelta(days=3))
    with pytest.raises(FieldErrors, match="attributed to other at 2026-03-02"):
        rebate_set(partner=partner, account=theirs, pct=Decimal("10"), effective_from=T0 + timedelta(days=1))
    assert rebate_set(partner=partner, account=theirs, pct=Decimal("10"), effective_from=T0 + timedelta(days=3))
    assert Rebate.objects.filter(account=theirs).count() == 1


def test_a_change_from_earlier_keeps_an_end_already_recorded(partner):
    """A rebate that stops stays stopped: a new rate from an earlier instant replaces the old rate only for as
    long as it held, and never fills a stretch with no rebate."""
    account = client_of(partner, 3)
    rebate_set(partner=partner, account=account, pct=Decimal("10"))
    rebate_set(partner=partner, account=account, effective_from=T0 + timedelta(days=10))  # ends on the 11th
    rebate_set(partner=partner, account=account, pct=Decimal("15"), effective_from=T0 + timedelta(days=20))
    rebate_set(partner=partner, account=account, pct=Decimal("20"), effective_from=T0 + timedelta(days=5))
    stretches = list(Rebate.objects.filter(account=account).values_list("pct", "valid_from", "valid_to"))
    assert stretches == [
        (Decimal("10"), SINCE_ALWAYS, T0 + timedelta(days=5)),
        (Decimal("20"), T0 + timedelta(days=5), T0 + timedelta(days=10)),  # the end on the 11th stays
        (Decimal("15"), T0 + timedelta(days=20), None),
    ]
    # The later rate from earlier, inside the gap: it fills the gap up to its own stretch only from that instant.
    rebate_set(partner=partner, account=account, pct=Decimal("15"), effective_from=T0 + timedelta(days=15))
    assert list(Rebate.objects.filter(account=account).values_list("pct", "valid_from", "valid_to"))[-1] == (
        Decimal("15"),
        T0 + timedelta(days=15),
        None,
    )
