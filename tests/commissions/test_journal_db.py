"""The journal's guarantees live in PostgreSQL, so they hold for raw SQL too: posted rows are append-only and a
transaction whose legs do not sum to zero per currency cannot commit (deferred constraint trigger)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction

from commissions.models import JournalEntry, JournalTransaction, LedgerAccount

pytestmark = pytest.mark.django_db(transaction=True)

# pgtrigger.Protect raises a plain RAISE EXCEPTION, which psycopg maps to ProgrammingError.
REJECTED = ProgrammingError


def _accounts() -> tuple[LedgerAccount, LedgerAccount]:
    expense = LedgerAccount.objects.create(type="commission_expense", currency="USD", name="Commission expense USD")
    payable = LedgerAccount.objects.create(type="rounding", currency="USD", name="Rounding USD")
    return expense, payable


def _post(legs: list[tuple[LedgerAccount, str, str]]) -> JournalTransaction:
    """Post one transaction with ``legs`` (account, amount, currency) in one database transaction."""
    with transaction.atomic():
        tx = JournalTransaction.objects.create(period="2026-03", kind="adjustment", currency=legs[0][2])
        for account, amount, currency in legs:
            JournalEntry.objects.create(transaction=tx, account=account, amount=Decimal(amount), currency=currency)
    return tx


def _execute(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_balanced_transaction_commits():
    expense, payable = _accounts()
    tx = _post([(expense, "10.000001", "USD"), (payable, "-10.000001", "USD")])
    assert JournalTransaction.objects.filter(pk=tx.pk).exists()
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("amount", flat=True)) == [
        Decimal("-10.000001"),
        Decimal("10.000001"),
    ]


@pytest.mark.parametrize(
    "legs",
    [
        [("10.00", "USD"), ("-9.99", "USD")],  # off by a cent
        [("10.00", "USD")],  # a single leg
        [("10.00", "USD"), ("-10.00", "EUR")],  # sums to zero overall, not per currency
    ],
)
def test_unbalanced_transaction_fails_at_commit(legs):
    expense, payable = _accounts()
    before = (JournalTransaction.objects.count(), JournalEntry.objects.count())
    accounts = [expense, payable]
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        tx = JournalTransaction.objects.create(period="2026-03", kind="adjustment", currency="USD")
        for i, (amount, currency) in enumerate(legs):
            JournalEntry.objects.create(transaction=tx, account=accounts[i], amount=Decimal(amount), currency=currency)
        # The check is deferred: inside the transaction the unbalanced legs are still accepted.
        assert JournalEntry.objects.filter(transaction=tx).count() == len(legs)
    assert (JournalTransaction.objects.count(), JournalEntry.objects.count()) == before


def test_unbalanced_raw_sql_insert_fails_at_commit():
    expense, _ = _accounts()
    tx = _post([(expense, "0", "USD")])  # a zero leg is balanced
    with pytest.raises(IntegrityError, match="unbalanced"):
        _execute(
            "INSERT INTO commissions_journalentry (transaction_id, account_id, amount, currency) "
            "VALUES (%s, %s, 5, 'USD')",
            [tx.pk, expense.pk],
        )
    assert JournalEntry.objects.filter(transaction=tx).count() == 1


@pytest.mark.parametrize(
    ("sql", "target"),
    [
        ("UPDATE commissions_journalentry SET amount = amount * 2 WHERE transaction_id = %s", "entry"),
        ("DELETE FROM commissions_journalentry WHERE transaction_id = %s", "entry"),
        ("UPDATE commissions_journaltransaction SET memo = 'edited' WHERE id = %s", "tx"),
        ("DELETE FROM commissions_journaltransaction WHERE id = %s", "tx"),
    ],
)
def test_raw_update_or_delete_of_posted_rows_is_rejected(sql, target):
    expense, payable = _accounts()
    tx = _post([(expense, "3.50", "USD"), (payable, "-3.50", "USD")])
    entries_before = sorted(JournalEntry.objects.filter(transaction=tx).values_list("id", "amount"))
    with pytest.raises(REJECTED, match="Cannot update or delete"):
        _execute(sql, [tx.pk])
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("id", "amount")) == entries_before
    assert JournalTransaction.objects.get(pk=tx.pk).memo == ""


def test_orm_delete_of_a_posted_transaction_is_rejected():
    expense, payable = _accounts()
    tx = _post([(expense, "1", "USD"), (payable, "-1", "USD")])
    with pytest.raises(REJECTED, match="Cannot update or delete"), transaction.atomic():
        JournalEntry.objects.filter(transaction=tx).delete()
    assert JournalEntry.objects.filter(transaction=tx).count() == 2
