"""Payout batches against the ledger: what is available, carried over, held, netted and converted, who may approve,
what is posted when lines are paid, and that no balance is paid twice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from core.exceptions import Conflict, FieldErrors, Forbidden
from ledger.models import JournalTransaction, PayoutBatch, PayoutLine
from ledger.payout_selectors import payables
from ledger.selectors import partner_statement
from ledger.services.payouts import (
    LineOutcome,
    approval_holds,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_discard,
    payout_batch_export,
    payout_export_rows,
    payout_lines_resolve,
)
from partners.models import Partner

from .payout_support import earn, partner, program, rates, user

pytestmark = pytest.mark.django_db


def _lines(batch: PayoutBatch) -> dict[str, tuple[str, Decimal, str]]:
    return {
        line.partner.code: (line.status, line.amount, line.reason) for line in batch.lines.select_related("partner")
    }


def _pay(batch: PayoutBatch, outcomes=None) -> PayoutBatch:
    payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    payout_batch_export(batch_id=batch.pk, user=user("maker"))
    return payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=outcomes)


def test_below_the_minimum_is_carried_over_then_paid_with_the_next_period():
    prog = program("min50", minimum="50")
    ib = partner("ib", prog=prog)
    earn(ib, "30.00", period="2026-01")
    january = payout_batch_create(period="2026-01", user=user("maker"))
    status, amount, reason = _lines(january)["ib"]
    assert (status, amount) == (PayoutLine.Status.CARRIED_OVER, Decimal("30.00"))
    assert "minimum payout of 50.00 USD" in reason
    _pay(january)  # nothing to pay: the batch closes at once, the 30.00 stays owed
    assert PayoutBatch.objects.get(pk=january.pk).status == PayoutBatch.Status.PAID
    earn(ib, "40.00", period="2026-02")
    february = payout_batch_create(period="2026-02", user=user("maker"))
    assert _lines(february)["ib"][:2] == (PayoutLine.Status.TO_PAY, Decimal("70.00"))
    _pay(february)
    assert [p.owed for p in payables(partner_ids=[ib.pk])] == []  # nothing owed any more
    payout = JournalTransaction.objects.get(kind="payout")
    assert {e.account.purpose: e.amount for e in payout.entries.select_related("account")} == {
        "partner_payable": Decimal("70.00"),
        "payout_clearing": Decimal("-70.00"),
    }


def test_holds_name_their_reason_and_release_the_money_to_the_next_batch():
    suspended = partner("susp", status=Partner.Status.SUSPENDED)
    no_details = partner("nodet", payout_account="", payout_method="")
    fine = partner("fine")
    for who in (suspended, no_details, fine):
        earn(who, "100.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    lines = _lines(batch)
    assert lines["susp"] == (PayoutLine.Status.HELD, Decimal("100.00"), "The partner is suspended.")
    assert lines["nodet"] == (
        PayoutLine.Status.HELD,
        Decimal("100.00"),
        "Missing payout details: payout method and account.",
    )
    assert lines["fine"][0] == PayoutLine.Status.TO_PAY
    # While the first batch is open, a second one takes only what it does not hold: the held lines' money.
    Partner.objects.filter(pk=no_details.pk).update(payout_method="bank", payout_account="IBAN-x")
    second = payout_batch_create(period="2026-01", user=user("maker"))
    assert set(_lines(second)) == {"susp", "nodet"}
    assert _lines(second)["nodet"][0] == PayoutLine.Status.TO_PAY


def test_a_negative_balance_is_paid_nothing_and_nets_against_later_earnings():
    ib = partner("ib")
    earn(ib, "-20.00", period="2026-01", kind="reversal")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    status, amount, reason = _lines(batch)["ib"]
    assert (status, amount) == (PayoutLine.Status.CARRIED_OVER, Decimal("-20.00")) and "clawback" in reason
    earn(ib, "50.00", period="2026-02")
    later = payout_batch_create(period="2026-02", user=user("maker"))
    assert _lines(later)["ib"][:2] == (PayoutLine.Status.TO_PAY, Decimal("30.00"))
    _pay(later)
    assert payables(partner_ids=[ib.pk]) == []


def test_money_an_open_later_batch_holds_is_no_clawback_in_an_earlier_periods_batch():
    """February's open batch holds January's 100.00 and February's 50.00: a batch for January then finds 100.00 owed
    and 150.00 held — nothing available, but nothing clawed back either (the balance owed is positive)."""
    ib = partner("ib")
    earn(ib, "100.00", period="2026-01")
    earn(ib, "50.00", period="2026-02")
    february = payout_batch_create(period="2026-02", user=user("maker"))
    assert _lines(february)["ib"][:2] == (PayoutLine.Status.TO_PAY, Decimal("150.00"))
    status, amount, reason = _lines(payout_batch_create(period="2026-01", user=user("maker")))["ib"]
    assert (status, amount) == (PayoutLine.Status.CARRIED_OVER, Decimal("-50.00"))
    assert "clawback" not in reason and f"batch(es) {february.pk} hold" in reason
    # A real clawback while an open batch holds other money is still one.
    clawed = partner("clawed")
    earn(clawed, "-20.00", period="2026-01", kind="reversal")
    assert "clawback" in _lines(payout_batch_create(period="2026-01", user=user("maker")))["clawed"][2]


def test_conversion_at_the_recorded_rate_rounds_once_per_line():
    rates("2026-01-30", EUR="1.08", GBP="1.27")  # the period's last day (a Saturday) has none: the latest before
    ib = partner("ib", currency="EUR")
    earn(ib, "100.00", period="2026-01")
    earn(ib, "10.00", period="2026-01", currency="GBP")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    line = batch.lines.get()
    items = {item.currency: item for item in line.items.all()}
    usd_to_eur = (Decimal(1) / Decimal("1.08")).quantize(Decimal("1e-18"))
    gbp_to_eur = (Decimal("1.27") / Decimal("1.08")).quantize(Decimal("1e-18"))
    assert (items["USD"].rate, items["GBP"].rate) == (usd_to_eur, gbp_to_eur)
    assert str(items["USD"].rate_day) == "2026-01-30"
    exact = Decimal("100.00") * usd_to_eur + Decimal("10.00") * gbp_to_eur  # 92.59259… + 11.75925… = 104.35185…
    assert line.amount == exact.quantize(Decimal("0.01")) == Decimal("104.35")
    _pay(batch)
    posted = {
        t.currency_id: t.entries.get(account__purpose="partner_payable").amount
        for t in JournalTransaction.objects.filter(kind="payout")
    }
    assert posted == {"USD": Decimal("100.00"), "GBP": Decimal("10.00")}  # each payable paid in its own currency


def test_a_missing_rate_is_a_conflict_naming_the_currencies():
    ib = partner("ib", currency="CHF")
    earn(ib, "100.00", period="2026-01")
    with pytest.raises(Conflict) as exc:
        payout_batch_create(period="2026-01", user=user("maker"))
    assert exc.value.extra["missing_rates"] == [{"currency": "CHF", "day": "2026-01-31"}]
    assert not PayoutBatch.objects.exists()


def test_the_creator_cannot_approve_its_own_batch_not_even_in_the_database():
    earn(partner("ib"), "10.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    with pytest.raises(Forbidden):
        payout_batch_approve(batch_id=batch.pk, user=user("maker"))
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.filter(pk=batch.pk).update(status="approved", approved_by=user("maker"))
    assert payout_batch_approve(batch_id=batch.pk, user=user("checker")).status == PayoutBatch.Status.APPROVED
    # A second approval acts not again: the batch stays approved by the first checker.
    assert payout_batch_approve(batch_id=batch.pk, user=user("third")).approved_by == user("checker")


def test_a_discarded_draft_and_a_failed_line_give_their_money_back():
    ib, other = partner("ib"), partner("other")
    earn(ib, "10.00", period="2026-01")
    earn(other, "20.00", period="2026-01")
    draft = payout_batch_create(period="2026-01", user=user("maker"))
    assert payout_batch_create(period="2026-01", user=user("maker")).lines.count() == 0  # all held by the draft
    payout_batch_discard(batch_id=draft.pk, user=user("maker"))
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    assert set(_lines(batch)) == {"ib", "other"}
    done = _pay(batch, [LineOutcome("ib", "paid"), LineOutcome("other", "failed", "IBAN closed")])
    assert done.status == PayoutBatch.Status.PAID
    assert _lines(done)["other"] == (PayoutLine.Status.FAILED, Decimal("20.00"), "IBAN closed")
    again = payout_batch_create(period="2026-01", user=user("maker"))
    assert _lines(again) == {"other": (PayoutLine.Status.TO_PAY, Decimal("20.00"), "")}
    # The failed line's money is in the new batch: a re-download of the old file leaves it out (re-uploading that
    # file must not pay it twice), and the download's record counts what the file holds.
    assert [row[1] for row in payout_export_rows(batch=done)] == ["ib"]
    from core.models import DataExport

    payout_batch_export(batch_id=done.pk, user=user("maker"))
    record = DataExport.objects.filter(kind="payout_batch", scope=str(done.pk)).latest("pk")
    assert (record.rows, record.totals) == (1, {"USD": "10.00"})


@pytest.mark.parametrize(
    "reason",
    ["x" * 256, "account\nclosed", "closed\u202e", " closed"],
    ids=["too-long", "line-break", "direction-override", "leading-blank"],
)
def test_a_banks_reason_is_one_line_that_fits_the_column_else_field_errors(reason):
    ib = partner("ib")
    earn(ib, "10.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    payout_batch_export(batch_id=batch.pk, user=user("maker"))
    with pytest.raises(FieldErrors) as refused:
        payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("ib", "failed", reason)])
    assert list(refused.value.errors["lines"]["0"]) == ["reason"]
    assert _lines(batch)["ib"][0] == PayoutLine.Status.TO_PAY
    fits = "y" * 255
    payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("ib", "failed", fits)])
    assert _lines(batch)["ib"] == (PayoutLine.Status.FAILED, Decimal("10.00"), fits)


def test_pay_rest_pays_the_lines_still_to_pay_when_the_request_runs():
    for code in ("a", "b", "c"):
        earn(partner(code), "10.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    payout_batch_export(batch_id=batch.pk, user=user("maker"))
    payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("c", "failed", "closed")])
    # Another request failed c meanwhile: "the rest" is what is still to pay now, so c is not paid (nor a Conflict).
    done = payout_lines_resolve(
        batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("b", "failed", "bounced")], pay_rest=True
    )
    assert {code: status for code, (status, _, _) in _lines(done).items()} == {
        "a": "paid",
        "b": "failed",
        "c": "failed",
    }
    assert done.status == PayoutBatch.Status.PAID
    assert JournalTransaction.objects.filter(kind="payout").count() == 1


def test_paying_twice_posts_once_and_a_paid_line_cannot_fail():
    ib = partner("ib")
    earn(ib, "10.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    _pay(batch)
    payout_lines_resolve(batch_id=batch.pk, user=user("maker"))
    assert JournalTransaction.objects.filter(kind="payout").count() == 1
    with pytest.raises(Conflict):
        payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("ib", "failed", "x")])


def test_a_payout_posted_later_is_never_paid_again_by_a_batch_for_an_earlier_period():
    ib = partner("ib")
    earn(ib, "10.00", period="2026-01")
    _pay(payout_batch_create(period="2026-02", user=user("maker")))  # pays January's 10.00 (posted this month)
    assert payout_batch_create(period="2026-01", user=user("maker")).lines.count() == 0


def test_the_statement_shows_the_payout_in_the_period_it_was_paid():
    ib = partner("ib")
    earn(ib, "10.00", period="2026-01")
    _pay(payout_batch_create(period="2026-01", user=user("maker")))
    paid_in = JournalTransaction.objects.get(kind="payout").period
    statement = partner_statement(partner=ib, period=paid_in)
    assert (statement["opening_balance"], statement["payouts"], statement["closing_balance"]) == (
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("0.00"),
    )


def test_a_period_that_has_not_ended_is_refused():
    from django.utils import timezone

    from core.periods import period_of

    with pytest.raises(Conflict):
        payout_batch_create(period=period_of(timezone.now()).label, user=user("maker"))


def test_reconciliation_proves_payouts_against_the_journal_and_flags_what_does_not_match():
    from django.utils import timezone

    from core.periods import period_of
    from ledger.postings import AccountRef, Leg, Posting
    from ledger.reconciliation.registry import PAYOUTS_CHECK, Status, reconcile
    from ledger.services.posting import journal_post
    from ledger.vocabulary import Purpose

    def payouts(period):
        check = next(c for c in reconcile(period=period, areas=["payouts"]).checks if c.name == PAYOUTS_CHECK)
        return {(r.subject, r.currency): r for r in check.rows}

    ib, other = partner("ib"), partner("other")
    earn(ib, "40.00", period="2026-01")
    earn(other, "15.00", period="2026-01")
    _pay(payout_batch_create(period="2026-01", user=user("maker")))
    now = period_of(timezone.now()).label
    paid = payouts(now)[("paid", "USD")]
    assert (paid.status, paid.expected, paid.actual, paid.count) == (Status.OK, Decimal("55.00"), Decimal("55.00"), 2)
    assert reconcile(period=now).status == Status.OK  # payout postings are claimed: nothing unreconciled

    # A payout posted by hand (no batch line names it) is flagged with its transaction.
    journal_post(
        postings=[
            Posting(
                source_key="manual-payout-1",
                kind="payout",
                period=now,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=ib.pk), Decimal("5.00")),
                    Leg(AccountRef(Purpose.PAYOUT_CLEARING, "USD"), Decimal("-5.00")),
                ),
            )
        ]
    )
    paid = payouts(now)[("paid", "USD")]
    assert paid.status == Status.DIFFERENCE and paid.actual - paid.expected == Decimal("5.00")
    assert [e.label for e in paid.evidence] == ["manual-payout-1"]

    # A hold above what is owed (a reversal posted after the batch was made) is flagged naming the account.
    earn(other, "30.00", period="2026-02")
    batch = payout_batch_create(period="2026-02", user=user("maker"))
    assert _lines(batch)["other"][:2] == (PayoutLine.Status.TO_PAY, Decimal("30.00"))
    earn(other, "-20.00", period="2026-02", kind="reversal")
    held = payouts(now)[("held", "USD")]
    assert held.status == Status.DIFFERENCE and (held.expected, held.actual) == (Decimal("10.00"), Decimal("30.00"))
    assert "holds 30.00" in held.evidence[0].label
    assert held.evidence[0].type == "account" and held.evidence[0].label.startswith("partner other ")  # its code


def test_reconciliation_labels_a_paid_item_and_its_payout_by_batch_and_partner_code():
    """Evidence names a payout by its natural key (batch and partner code), not by the source key's internal ids
    (``payout:{batch}:{line}:{account}``)."""
    from django.db import connection
    from django.utils import timezone

    from core.periods import period_of
    from ledger.models import PayoutItem
    from ledger.reconciliation.registry import PAYOUTS_CHECK, Status, reconcile

    ib = partner("ib")
    earn(ib, "40.00", period="2026-01")
    batch = _pay(payout_batch_create(period="2026-01", user=user("maker")))
    item = PayoutItem.objects.get(line__batch=batch)
    posted = JournalTransaction.objects.get(pk=item.transaction_id)
    assert posted.source_key.startswith(f"payout:{batch.pk}:")
    with connection.cursor() as cursor:  # as a restore script might: the item loses its posting
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(f"UPDATE {PayoutItem._meta.db_table} SET transaction_id = NULL WHERE id = %s", [item.pk])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    now = period_of(timezone.now()).label
    check = next(c for c in reconcile(period=now, areas=["payouts"]).checks if c.name == PAYOUTS_CHECK)
    (paid,) = [r for r in check.rows if r.subject == "paid"]
    assert paid.status == Status.DIFFERENCE
    assert sorted((e.type, e.id, e.label, e.amount) for e in paid.evidence) == [
        ("payout_item", item.pk, f"batch {batch.pk} ib: paid item without a payout", Decimal("40.00")),
        ("transaction", posted.pk, f"payout batch {batch.pk} ib", Decimal("40.00")),
    ]


def test_approval_holds_the_lines_that_no_longer_qualify_and_approves_the_rest():
    """Made on Monday, approved on Wednesday: a partner suspended, another's payout details removed, a third's
    payable lowered by a reversal in between — those three lines are held with the reason, the fourth is paid."""
    fine, suspended, no_details, reversed_ = (partner(code) for code in ("fine", "susp", "nodet", "rev"))
    for who in (fine, suspended, no_details, reversed_):
        earn(who, "100.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    Partner.objects.filter(pk=suspended.pk).update(status=Partner.Status.SUSPENDED)
    Partner.objects.filter(pk=no_details.pk).update(payout_account="")
    earn(reversed_, "-30.00", period="2026-01", kind="reversal")
    approved = payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    assert approved.status == PayoutBatch.Status.APPROVED
    lines = _lines(batch)
    assert lines["fine"][0] == PayoutLine.Status.TO_PAY
    assert lines["susp"] == (PayoutLine.Status.HELD, Decimal("100.00"), "At approval: the partner is suspended.")
    assert lines["nodet"][2] == "At approval: missing payout details: payout account."
    assert lines["rev"][0] == PayoutLine.Status.HELD
    assert "no longer covers" in lines["rev"][2] and "70.00 USD owed, 100.00 held" in lines["rev"][2]
    assert [code for code, _ in approval_holds(batch=batch)] == ["nodet", "rev", "susp"]
    _pay(batch)  # approving again changes nothing; only the fine line is paid
    assert {line.partner.code for line in batch.lines.filter(status=PayoutLine.Status.PAID)} == {"fine"}
    assert {p.partner_id: p.available for p in payables()} == {
        suspended.pk: Decimal("100.00"),
        no_details.pk: Decimal("100.00"),
        reversed_.pk: Decimal("70.00"),
    }


def test_approval_holds_a_line_whose_payout_details_changed_since_the_draft():
    """The partner's bank account changed between the draft and its approval: the file must not pay the old account
    the draft copied. That line is held saying what changed; the next batch pays the new account."""
    moved, same = partner("moved"), partner("same")
    for who in (moved, same):
        earn(who, "50.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    Partner.objects.filter(pk=moved.pk).update(payout_account="IBAN-NEW")
    payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    lines = _lines(batch)
    assert lines["same"][0] == PayoutLine.Status.TO_PAY
    assert lines["moved"][0] == PayoutLine.Status.HELD
    assert lines["moved"][2].startswith("At approval: payout account changed since the draft")
    later = payout_batch_create(period="2026-01", user=user("maker"))
    assert later.lines.get(partner=moved).payout_account == "IBAN-NEW"


def test_paying_a_line_its_payable_no_longer_covers_is_refused_naming_it():
    """A reversal posted after the export: marking the batch paid would leave the payable at -30.00. Refused, with
    nothing paid; failing that line with the bank's reason lets the rest be paid."""
    ib, other = partner("ib"), partner("other")
    earn(ib, "100.00", period="2026-01")
    earn(other, "50.00", period="2026-01")
    batch = payout_batch_create(period="2026-01", user=user("maker"))
    payout_batch_approve(batch_id=batch.pk, user=user("checker"))
    payout_batch_export(batch_id=batch.pk, user=user("maker"))
    earn(ib, "-130.00", period="2026-01", kind="reversal")
    with pytest.raises(Conflict) as refused:
        payout_lines_resolve(batch_id=batch.pk, user=user("maker"))
    assert refused.value.extra["partners"] == ["ib"] and "ib" in str(refused.value)
    assert not JournalTransaction.objects.filter(kind="payout").exists()
    with pytest.raises(Conflict):
        payout_lines_resolve(batch_id=batch.pk, user=user("maker"), outcomes=[LineOutcome("ib", "paid")])
    payout_lines_resolve(
        batch_id=batch.pk,
        user=user("maker"),
        outcomes=[LineOutcome("ib", "failed", "payable reversed"), LineOutcome("other", "paid")],
    )
    assert PayoutBatch.objects.get(pk=batch.pk).status == PayoutBatch.Status.PAID
    assert [p.owed for p in payables(partner_ids=[ib.pk])] == [Decimal("-30.00")]
