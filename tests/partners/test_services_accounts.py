"""Account upserts and effective-dated attribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.db.utils import IntegrityError
from django.utils import timezone

from core.exceptions import Conflict, RowErrors
from core.periods import SINCE_ALWAYS
from partners.models import AccountAttribution, AccountTerms, ClientAccount
from partners.selectors import account_chain_at, account_partner_at
from partners.services.accounts import account_attribute, accounts_upsert

from .conftest import T0, at

pytestmark = pytest.mark.django_db


def history(account: ClientAccount) -> list[tuple[str | None, object, object]]:
    return [
        (a.partner.code if a.partner else None, a.valid_from, a.valid_to)
        for a in AccountAttribution.objects.filter(account=account).select_related("partner").order_by("valid_from")
    ]


# --- account_attribute --------------------------------------------------------------------------------------------


def test_attribute_changes_ib_from_effective_instant(make_partner, make_account):
    a, b = make_partner("a"), make_partner("b")
    account = make_account(1001)
    account_attribute(account=account, partner=a, effective_from=at(1))
    account_attribute(account=account, partner=b, effective_from=at(5))
    account_attribute(account=account, partner=None, effective_from=at(9))
    assert history(account) == [("a", at(1), at(5)), ("b", at(5), at(9)), (None, at(9), None)]
    assert account_partner_at(server="live", login=1001, at=at(0.5)) is None
    assert account_partner_at(server="live", login=1001, at=at(4)).code == "a"
    assert account_partner_at(server="live", login=1001, at=at(5)).code == "b"
    assert account_partner_at(server="live", login=1001, at=at(9)) is None
    assert account_chain_at(server="live", login=1001, at=at(10)) == []


def test_attribute_back_dated_holds_until_the_next_recorded_change(make_partner, make_account):
    a, b, c = make_partner("a"), make_partner("b"), make_partner("c")
    account = make_account(1002)
    account_attribute(account=account, partner=a, effective_from=at(5))
    account_attribute(account=account, partner=b, effective_from=at(5))  # the same instant: b instead of a
    assert history(account) == [("b", at(5), None)]
    account_attribute(account=account, partner=c, effective_from=at(2))  # before every stretch: c until b starts
    assert history(account) == [("c", at(2), at(5)), ("b", at(5), None)]
    account_attribute(account=account, partner=b, effective_from=at(3))  # b from earlier: b's start back-dated
    assert history(account) == [("c", at(2), at(3)), ("b", at(3), None)]


def test_attribute_without_a_date_holds_since_always_then_changes_now(make_partner, make_account):
    a, b = make_partner("a"), make_partner("b")
    account = make_account(1004)
    account_attribute(account=account, partner=a)
    assert history(account) == [("a", SINCE_ALWAYS, None)]
    before = timezone.now()
    account_attribute(account=account, partner=b)
    (_, _, closed), (partner, start, end) = history(account)
    assert partner == "b" and closed == start and start >= before and end is None


def test_attribute_reaching_into_an_approved_period_is_a_conflict(make_partner, make_account, lock_period):
    a, b = make_partner("a"), make_partner("b")
    account = make_account(1005)
    account_attribute(account=account, partner=a, effective_from=at(1))
    lock_period("2024-01")
    account_attribute(account=account, partner=b, effective_from=at(24 * 40))  # 2024-02-10: after the lock
    assert account_attribute(account=account, partner=a, effective_from=at(24 * 3)).partner == a  # in force: no-op
    with pytest.raises(Conflict) as excinfo:
        account_attribute(account=account, partner=b, effective_from=at(24 * 3))  # 2024-01-04: approved
    assert "2024-01" in excinfo.value.message and excinfo.value.extra["period"] == "2024-01"
    assert history(account) == [("a", at(1), at(24 * 40)), ("b", at(24 * 40), None)]


def test_attribute_to_current_partner_is_a_noop(make_partner, make_account):
    a = make_partner("a")
    account = make_account(1003)
    first = account_attribute(account=account, partner=a, effective_from=at(1))
    assert account_attribute(account=account, partner=a, effective_from=at(7)).pk == first.pk
    assert history(account) == [("a", at(1), None)]


def test_overlapping_attributions_are_rejected_by_the_database(make_partner, make_account):
    a = make_partner("a")
    account = make_account(1004)
    account_attribute(account=account, partner=a, effective_from=at(1))
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountAttribution.objects.create(account=account, partner=None, valid_from=at(3), valid_to=at(4))


# --- accounts_upsert ----------------------------------------------------------------------------------------------


def row(login: int, partner: str | None = None, **extra) -> dict:
    return {"server": "live", "login": login, "currency": "USD", "group": "std", "partner": partner, **extra}


def test_upsert_creates_accounts_and_first_attribution(make_partner):
    make_partner("a")
    counts = accounts_upsert(rows=[row(1, "a"), row(2), row(3, "a", effective_from=at(-48))])
    assert counts == {"created": 3, "updated": 0, "unchanged": 0}
    one, two, three = (ClientAccount.objects.get(login=n) for n in (1, 2, 3))
    assert history(one) == [("a", SINCE_ALWAYS, None)]  # set-up is not history
    assert history(two) == []
    assert history(three) == [("a", at(-48), None)]


def test_upsert_counts_updates_and_unchanged_and_changes_partner_now(make_partner):
    make_partner("a"), make_partner("b")
    accounts_upsert(rows=[row(1, "a", effective_from=T0), row(2, "a", effective_from=T0), row(3)])
    before = timezone.now()
    counts = accounts_upsert(
        rows=[
            row(1, "a"),  # unchanged
            row(2, "b"),  # partner change -> attribution change effective now
            row(3, None, group="vip", earns_commission=False),  # field change
            row(4, "b"),  # new
        ]
    )
    after = timezone.now()
    assert counts == {"created": 1, "updated": 2, "unchanged": 1}
    two = ClientAccount.objects.get(login=2)
    (old_partner, old_from, old_to), (new_partner, new_from, new_to) = history(two)
    assert (old_partner, old_from, new_partner, new_to) == ("a", T0, "b", None)
    assert old_to == new_from and before <= new_from <= after
    three = ClientAccount.objects.get(login=3)
    assert (three.group, three.earns_commission) == ("vip", False)
    assert history(three) == []


def test_upsert_removing_partner_records_no_ib_stretch(make_partner):
    make_partner("a")
    accounts_upsert(rows=[row(1, "a", effective_from=T0)])
    assert accounts_upsert(rows=[row(1, None, effective_from=at(3))]) == {"created": 0, "updated": 1, "unchanged": 0}
    assert history(ClientAccount.objects.get(login=1)) == [("a", T0, at(3)), (None, at(3), None)]
    assert accounts_upsert(rows=[row(1, None)])["unchanged"] == 1


def test_upsert_rejects_bad_rows_and_writes_nothing(make_partner):
    make_partner("a")
    far = datetime(9999, 12, 31, tzinfo=UTC)
    rows = [row(1, "a"), row(2, "ghost"), row(3, currency="us"), row(1, "a"), {"server": "", "login": -1}]
    rows.append(row(5, "a", effective_from=far))
    with pytest.raises(RowErrors) as excinfo:
        accounts_upsert(rows=rows)
    errors = excinfo.value.rows
    assert set(errors) == {1, 2, 3, 4, 5} and "effective_from" in errors[5]
    assert "partner" in errors[1] and "currency" in errors[2] and "login" in errors[3]
    assert {"server", "login"} <= set(errors[4])
    assert not ClientAccount.objects.exists()


def test_upsert_dated_row_back_dates_while_no_period_is_approved(make_partner):
    make_partner("a"), make_partner("b")
    accounts_upsert(rows=[row(1, "a", effective_from=at(10))])
    assert accounts_upsert(rows=[row(1, "a", effective_from=at(10))])["unchanged"] == 1  # re-sent: nothing
    assert accounts_upsert(rows=[row(1, "b", effective_from=at(5))])["updated"] == 1
    assert history(ClientAccount.objects.get(login=1)) == [("b", at(5), at(10)), ("a", at(10), None)]


def test_upsert_resending_todays_ib_keeps_a_scheduled_ib_change(make_partner):
    make_partner("a"), make_partner("b")
    later = timezone.now() + timedelta(days=30)
    accounts_upsert(rows=[row(1, "a")])
    accounts_upsert(rows=[row(1, "b", effective_from=later)])
    # A CRM sync re-sends the account with today's IB and a changed group: the scheduled change survives.
    counts = accounts_upsert(rows=[row(1, "a", group="vip")])
    assert counts == {"created": 0, "updated": 1, "unchanged": 0}
    assert history(ClientAccount.objects.get(login=1)) == [("a", SINCE_ALWAYS, later), ("b", later, None)]


def test_upsert_change_into_an_approved_period_is_a_conflict_naming_row_and_period(make_partner, lock_period):
    make_partner("a"), make_partner("b")
    accounts_upsert(rows=[row(1, "a", effective_from=T0), row(3, "a", effective_from=T0)])
    lock_period("2024-01")
    with pytest.raises(Conflict) as excinfo:
        accounts_upsert(rows=[row(2, "a"), row(1, "b", effective_from=at(5)), row(3, "b", effective_from=at(6))])
    assert excinfo.value.extra["index"] == 1 and excinfo.value.extra["period"] == "2024-01"
    assert excinfo.value.extra["rows"] == [1, 2]  # every refused row, not only the first
    assert "row 1" in excinfo.value.message
    assert not ClientAccount.objects.filter(login=2).exists()  # nothing written
    assert history(ClientAccount.objects.get(login=1)) == [("a", T0, None)]


def test_upsert_is_set_based(make_partner, django_assert_max_num_queries):
    make_partner("a"), make_partner("b")
    accounts_upsert(rows=[row(n, "a", effective_from=T0) for n in range(300)])
    rows = [row(n, "b" if n % 2 else "a", group="g2" if n % 3 else "std") for n in range(600)]
    # partner lookup, lock, accounts, the approvals hold (new accounts), attributions, terms, the history guard and
    # its record of the change with its reach (the partners and accounts it can affect), the approvals holds of the
    # dated writes, creates/updates in batches: independent of the row count
    with django_assert_max_num_queries(20):
        counts = accounts_upsert(rows=rows)
    assert counts["created"] == 300 and counts["updated"] + counts["unchanged"] == 300
    assert AccountAttribution.objects.filter(partner__code="b", valid_to__isnull=True).count() == 300
    assert AccountAttribution.objects.filter(valid_to__isnull=False).count() == 150
    # Group changes are dated too: the 200 existing accounts moved to g2 keep "std" until now.
    assert AccountTerms.objects.filter(group="g2", valid_to__isnull=True).count() == 400
    assert AccountTerms.objects.filter(group="std", valid_to__isnull=False).count() == 200


def test_upsert_new_account_without_effective_from_holds_since_always(make_partner):
    make_partner("a")
    accounts_upsert(rows=[row(7, "a")])
    account = ClientAccount.objects.get(login=7)
    # Last month's trades, imported after the set-up, belong to the IB.
    assert account_partner_at(server="live", login=7, at=account.created_at - timedelta(days=40)).code == "a"
    assert account_partner_at(server="live", login=7, at=account.created_at).code == "a"
