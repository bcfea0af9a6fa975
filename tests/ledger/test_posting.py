"""The posting API: one rounding point, the difference to the rounding account, idempotent source keys, reversals,
period locks, statements and a trial balance that nets to zero — checked against a hand-computed reference."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.exceptions import Conflict, NotFound
from ledger.models import Currency, JournalEntry, JournalTransaction, PeriodLock
from ledger.postings import AccountRef, Leg, Posting
from ledger.selectors import partner_statement, period_is_locked, trial_balance, trial_balance_totals
from ledger.services.locks import period_lock
from ledger.services.posting import UnbalancedPosting, journal_post, journal_reverse
from ledger.vocabulary import Purpose
from partners.models import Partner, Program

pytestmark = pytest.mark.django_db

EXPENSE = AccountRef(Purpose.COMMISSION_EXPENSE, "USD")


@pytest.fixture
def partner():
    program = Program.objects.create(code="prog", name="Program")
    return Partner.objects.create(code="ib", name="IB", program=program)


def _earning(
    partner,
    amount: str,
    *,
    key: str = "run:1:partner:ib:volume:USD",
    period: str = "2026-03",
    kind: str = "volume",
    currency: str = "USD",
) -> Posting:
    exact = Decimal(amount)
    return Posting(
        source_key=key,
        kind=kind,
        period=period,
        currency=currency,
        legs=(
            Leg(AccountRef(Purpose.COMMISSION_EXPENSE, currency), exact, exact=True),
            Leg(AccountRef(Purpose.PARTNER_PAYABLE, currency, partner_id=partner.pk), -exact),
        ),
    )


def _legs(key: str) -> dict[str, Decimal]:
    return {
        e.account.purpose: e.amount
        for e in JournalEntry.objects.filter(transaction__source_key=key).select_related("account")
    }


def test_the_worked_example_rounds_once_and_posts_the_difference_to_rounding(partner):
    journal_post(postings=[_earning(partner, "10.004567")])
    assert _legs("run:1:partner:ib:volume:USD") == {
        "commission_expense": Decimal("10.004567"),
        "partner_payable": Decimal("-10.00"),
        "rounding": Decimal("-0.004567"),
    }


def _reference_legs(amount: Decimal, places: int) -> dict[str, Decimal]:
    """By hand: the payable is the amount rounded half-up (ties away from zero) at ``places``; rounding the rest."""
    quantum = Decimal(1).scaleb(-places)
    payable = -(abs(amount).quantize(quantum, rounding=ROUND_HALF_UP)) * (1 if amount >= 0 else -1)
    legs = {"commission_expense": amount, "partner_payable": payable}
    if amount + payable:
        legs["rounding"] = -(amount + payable)
    return legs


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    micros=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "KWD", "BTC"]),
)
def test_postings_match_the_reference_in_every_precision(partner, micros, currency):
    amount = Decimal(micros).scaleb(-6)
    key = f"prop:{currency}:{micros}"
    if amount == 0:
        return
    journal_post(postings=[_earning(partner, str(amount), key=key, currency=currency)])
    places = Currency.objects.get(code=currency).minor_unit
    assert places == {"USD": 2, "JPY": 0, "KWD": 3, "BTC": 8}[currency]
    assert _legs(key) == _reference_legs(amount, places)
    assert sum(_legs(key).values()) == 0


def test_a_currency_takes_the_brokers_unit_at_its_first_posting_and_keeps_it(partner, settings):
    settings.IBEX_CURRENCY_MINOR_UNITS = {"usc": "0", "ETH": "4"}  # env: IBEX_CURRENCY_MINOR_UNITS=usc=0,ETH=4
    journal_post(postings=[_earning(partner, "1.005", key="cents", currency="USC")])
    journal_post(postings=[_earning(partner, "0.123456", key="eth", currency="ETH")])
    journal_post(postings=[_earning(partner, "0.123456", key="ltc", currency="LTC")])  # no override: crypto unit 8
    assert {c.code: c.minor_unit for c in Currency.objects.filter(code__in=["USC", "ETH", "LTC"])} == {
        "USC": 0,
        "ETH": 4,
        "LTC": 8,
    }
    assert _legs("cents")["partner_payable"] == Decimal("-1")
    assert _legs("eth")["partner_payable"] == Decimal("-0.1235")
    assert _legs("ltc") == {"commission_expense": Decimal("0.123456"), "partner_payable": Decimal("-0.123456")}
    # Changing the setting later changes nothing of a currency already posted in.
    settings.IBEX_CURRENCY_MINOR_UNITS = {"USC": "2"}
    journal_post(postings=[_earning(partner, "1.005", key="cents-2", currency="USC")])
    assert _legs("cents-2")["partner_payable"] == Decimal("-1")


@pytest.mark.parametrize("places", ["9", "19", "-1", "two"])
def test_a_minor_unit_setting_out_of_range_is_a_configuration_error(partner, settings, places):
    from django.core.exceptions import ImproperlyConfigured

    settings.IBEX_CURRENCY_MINOR_UNITS = {"USC": places}
    with pytest.raises(ImproperlyConfigured, match="USC"):
        journal_post(postings=[_earning(partner, "1", key="x", currency="USC")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    units=st.integers(min_value=-(10**14), max_value=10**14),
    places=st.integers(min_value=0, max_value=10),
    currency=st.sampled_from(["USD", "JPY", "KWD", "BTC"]),
)
def test_legs_finer_than_the_minor_unit_are_rounded_once_and_stored_as_rounded(partner, units, places, currency):
    """A conversion (a payout in BTC at a rate) gives legs of any precision: each is rounded once, half-up, to the
    currency's unit (8 for BTC: the journal keeps 8 places), the rounding account takes the rest, nothing is rounded
    again on the way into the database."""
    amount = Decimal(units).scaleb(-places)
    if amount == 0:
        return
    key = f"conv:{currency}:{amount}"
    journal_post(
        postings=[
            Posting(
                source_key=key,
                kind="payout",
                period="2026-03",
                currency=currency,
                legs=(
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, currency, partner_id=partner.pk), amount),
                    Leg(AccountRef(Purpose.PAYOUT_CLEARING, currency), -amount),
                ),
            )
        ]
    )
    unit = {"USD": 2, "JPY": 0, "KWD": 3, "BTC": 8}[currency]
    quantum = Decimal(1).scaleb(-unit)
    payable = (abs(amount).quantize(quantum, rounding=ROUND_HALF_UP)) * (1 if amount > 0 else -1)
    expected = {"partner_payable": payable, "payout_clearing": -payable}
    stored = _legs(key)
    assert {k: v for k, v in stored.items() if k != "rounding"} == expected
    assert stored.get("rounding", Decimal(0)) == 0  # the two legs round symmetrically: nothing left over


def test_the_statement_api_shows_each_currency_at_its_minor_unit(partner, staff_client):
    journal_post(
        postings=[
            _earning(partner, "1.2345", key="kwd", currency="KWD"),
            _earning(partner, "0.123456", key="btc", currency="BTC"),
            _earning(partner, "1500.5", key="jpy", currency="JPY"),
        ]
    )
    url = "/api/v1/partners/ib/statement/?period=2026-03"
    kwd = staff_client.get(f"{url}&currency=KWD").json()
    assert (kwd["currency"], kwd["totals"], kwd["closing_balance"]) == ("KWD", {"volume": "1.235"}, "1.235")
    btc = staff_client.get(f"{url}&currency=BTC").json()
    assert (btc["totals"], btc["opening_balance"]) == ({"volume": "0.12345600"}, "0.00000000")
    jpy = staff_client.get(f"{url}&currency=JPY").json()
    assert (jpy["totals"], jpy["earned"]) == ({"volume": "1501"}, "1501")
    # Without a currency: the partner's program's (USD here, where it earned nothing).
    usd = staff_client.get(url).json()
    assert (usd["currency"], usd["totals"], usd["closing_balance"]) == ("USD", {}, "0.00")
    for bad in ("?period=２０２６-03", "?period=2026-03&currency=usd", "?period=0000-01"):
        response = staff_client.get(f"/api/v1/partners/ib/statement/{bad}")
        assert response.status_code == 400, bad


def test_posting_the_same_source_key_twice_posts_once(partner):
    first = journal_post(postings=[_earning(partner, "5")])
    again = journal_post(postings=[_earning(partner, "5")])
    assert (first.posted, again.posted, again.already_posted) == (
        ["run:1:partner:ib:volume:USD"],
        [],
        ["run:1:partner:ib:volume:USD"],
    )
    assert JournalTransaction.objects.count() == 1 and JournalEntry.objects.count() == 2


def test_the_same_source_key_with_other_amounts_is_a_conflict_and_posts_nothing(partner):
    journal_post(postings=[_earning(partner, "5")])
    with pytest.raises(Conflict, match="posted before with different legs"):
        journal_post(postings=[_earning(partner, "6"), _earning(partner, "1", key="run:2:partner:ib:volume:USD")])
    assert list(JournalTransaction.objects.values_list("source_key", flat=True)) == ["run:1:partner:ib:volume:USD"]


@pytest.mark.parametrize(
    "legs",
    [
        (Leg(EXPENSE, Decimal("1")),),
        (Leg(EXPENSE, Decimal("1"), exact=True), Leg(AccountRef(Purpose.ROUNDING, "USD"), Decimal("-0.5"))),
        (Leg(EXPENSE, Decimal("1"), exact=True), Leg(AccountRef(Purpose.ROUNDING, "EUR"), Decimal("-1"))),
        (
            Leg(EXPENSE, Decimal("1.0000001"), exact=True),
            Leg(AccountRef(Purpose.ROUNDING, "USD"), Decimal("-1.0000001")),
        ),
    ],
)
def test_unbalanced_or_malformed_postings_are_refused_before_anything_is_written(legs):
    with pytest.raises(UnbalancedPosting):
        journal_post(postings=[Posting(source_key="bad", kind="volume", period="2026-03", currency="USD", legs=legs)])
    assert not JournalTransaction.objects.exists()


def test_a_reversal_negates_every_leg_once(partner):
    journal_post(postings=[_earning(partner, "10.004567")])
    reversal = journal_reverse(source_key="run:1:partner:ib:volume:USD", period="2026-04")
    again = journal_reverse(source_key="run:1:partner:ib:volume:USD", period="2026-04")
    assert again.pk == reversal.pk
    assert _legs(reversal.source_key) == {k: -v for k, v in _legs("run:1:partner:ib:volume:USD").items()}
    assert reversal.reverses.source_key == "run:1:partner:ib:volume:USD"


def test_reversing_an_unknown_key_or_into_a_taken_key_is_refused(partner):
    journal_post(postings=[_earning(partner, "10", key="a"), _earning(partner, "3", key="b")])
    with pytest.raises(NotFound):
        journal_reverse(source_key="never-posted")
    with pytest.raises(Conflict):
        journal_reverse(source_key="a", reversal_key="b")  # "b" names another posting forever
    assert JournalTransaction.objects.count() == 2 and not JournalTransaction.objects.filter(reverses__isnull=False)


def test_statement_and_trial_balance_from_the_posted_journal(partner):
    journal_post(postings=[_earning(partner, "100.005", key="a", period="2026-02")])
    journal_post(
        postings=[
            _earning(partner, "7.001", key="b", period="2026-03"),
            _earning(partner, "2.5", key="c", period="2026-03", kind="override"),
        ]
    )
    statement = partner_statement(partner=partner, period="2026-03")
    assert statement["opening_balance"] == Decimal("100.01")
    assert statement["totals"] == {"override": Decimal("2.50"), "volume": Decimal("7.00")}
    assert statement["earned"] == Decimal("9.50")
    assert statement["closing_balance"] == Decimal("109.51")
    rows = trial_balance()
    assert trial_balance_totals(rows) == {"USD": Decimal(0)}
    expense = next(r for r in rows if r.purpose == "commission_expense")
    assert expense.balance == Decimal("109.506")


def test_a_period_is_locked_once_per_kind(partner):
    assert period_lock(kind="commissions", period="2026-03", source_key="run:1")
    assert not period_lock(kind="commissions", period="2026-03", source_key="run:2")
    assert period_is_locked(kind="commissions", period="2026-03")
    assert not period_is_locked(kind="fees", period="2026-03")  # a commission lock does not lock fees
    assert list(PeriodLock.objects.values_list("source_key", flat=True)) == ["run:1"]
