"""The journal's guarantees live in PostgreSQL, so they hold for raw SQL too: posted rows are append-only (no UPDATE,
DELETE or TRUNCATE), a transaction that is unbalanced or has fewer than two legs cannot commit (a deferred constraint
trigger), and its legs arrive in one statement, in its currency, never added later (a statement trigger). Ledger
accounts keep their purpose, nature, currency and owner."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction

from ledger.models import Currency, JournalEntry, JournalTransaction, LedgerAccount, PeriodLock
from ledger.postings import AccountRef
from ledger.services.accounts import ledger_accounts_ensure
from ledger.vocabulary import Purpose
from partners.models import Partner, Program

pytestmark = pytest.mark.django_db(transaction=True)

ENTRIES = JournalEntry._meta.db_table
TRANSACTIONS = JournalTransaction._meta.db_table
ACCOUNTS = LedgerAccount._meta.db_table


def _accounts(currency: str = "USD") -> tuple[LedgerAccount, LedgerAccount]:
    found = ledger_accounts_ensure(
        refs={AccountRef(Purpose.COMMISSION_EXPENSE, currency), AccountRef(Purpose.ROUNDING, currency)}
    )
    return found[AccountRef(Purpose.COMMISSION_EXPENSE, currency)], found[AccountRef(Purpose.ROUNDING, currency)]


def _post(legs: list[tuple[LedgerAccount, str]], *, key: str = "test:1", currency: str = "USD") -> JournalTransaction:
    """Post one transaction with ``legs`` (account, amount) in one database transaction, bypassing the service."""
    with transaction.atomic():
        tx = JournalTransaction.objects.create(
            source_key=key, period="2026-03", kind="adjustment", currency_id=currency
        )
        JournalEntry.objects.bulk_create(
            JournalEntry(transaction=tx, account=account, amount=Decimal(amount)) for account, amount in legs
        )
    return tx


def _execute(sql: str, params: list | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_balanced_transaction_commits():
    expense, rounding = _accounts()
    tx = _post([(expense, "10.000001"), (rounding, "-10.000001")])
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("amount", flat=True)) == [
        Decimal("-10.000001"),
        Decimal("10.000001"),
    ]


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([("10.00", "USD"), ("-9.99", "USD")], "unbalanced"),  # off by a cent
        ([("0", "USD")], "fewer than two legs"),  # a single (even zero) leg
        ([], "fewer than two legs"),  # an empty transaction
        ([("10.00", "USD"), ("-10.00", "EUR")], "mixes currencies"),  # sums to zero, but in two currencies
    ],
)
def test_bad_transactions_fail_at_commit(legs, message):
    usd = _accounts("USD")
    eur = _accounts("EUR")
    before = (JournalTransaction.objects.count(), JournalEntry.objects.count())
    with pytest.raises(IntegrityError, match=message), transaction.atomic():
        tx = JournalTransaction.objects.create(source_key="bad", period="2026-03", kind="adjustment", currency_id="USD")
        JournalEntry.objects.bulk_create(
            JournalEntry(transaction=tx, account=(usd if currency == "USD" else eur)[i % 2], amount=Decimal(amount))
            for i, (amount, currency) in enumerate(legs)
        )
        if message != "mixes currencies":  # checked at once, over the statement's legs
            # The balance checks are deferred: inside the transaction the bad legs are still accepted.
            assert JournalEntry.objects.filter(transaction=tx).count() == len(legs)
    assert (JournalTransaction.objects.count(), JournalEntry.objects.count()) == before


def test_unbalanced_raw_sql_insert_fails_at_commit():
    expense, rounding = _accounts()
    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TRANSACTIONS} (source_key, kind, period, currency, memo) "
            "VALUES ('raw', 'volume', '2026-03', 'USD', '') "
            "RETURNING id"
        )
        (tx_id,) = cursor.fetchone()
        cursor.execute(
            f"INSERT INTO {ENTRIES} (transaction_id, account_id, amount) VALUES (%s, %s, 5), (%s, %s, -4.99)",
            [tx_id, expense.pk, tx_id, rounding.pk],
        )
    assert not JournalTransaction.objects.filter(source_key="raw").exists()


def test_no_leg_can_be_added_to_a_posted_transaction_even_a_balanced_pair():
    expense, rounding = _accounts()
    tx = _post([(expense, "5"), (rounding, "-5")])
    with pytest.raises(IntegrityError, match="already has its legs"):
        _execute(
            f"INSERT INTO {ENTRIES} (transaction_id, account_id, amount) VALUES (%s, %s, 1000), (%s, %s, -1000)",
            [tx.pk, expense.pk, tx.pk, rounding.pk],
        )
    with pytest.raises(IntegrityError, match="already has its legs"), transaction.atomic():
        JournalEntry.objects.create(transaction=tx, account=expense, amount=Decimal("0"))
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("amount", flat=True)) == [-5, 5]


def test_legs_added_after_the_balance_check_ran_early_are_refused():
    """``SET CONSTRAINTS ALL IMMEDIATE`` (as ``loaddata``'s constraint check does) runs the deferred balance check
    before commit; a leg inserted after it would escape the check, so it is refused."""
    expense, rounding = _accounts()
    with pytest.raises(IntegrityError, match="already has its legs"), transaction.atomic():
        tx = JournalTransaction.objects.create(
            source_key="early", period="2026-03", kind="adjustment", currency_id="USD"
        )
        JournalEntry.objects.bulk_create(
            [
                JournalEntry(transaction=tx, account=expense, amount=Decimal(5)),
                JournalEntry(transaction=tx, account=rounding, amount=Decimal(-5)),
            ]
        )
        connection.check_constraints()  # SET CONSTRAINTS ALL IMMEDIATE, then back to deferred
        JournalEntry.objects.create(transaction=tx, account=expense, amount=Decimal(1000))
    assert not JournalTransaction.objects.filter(source_key="early").exists()


def test_a_transactions_legs_are_inserted_in_one_statement():
    expense, rounding = _accounts()
    with pytest.raises(IntegrityError, match="already has its legs"), transaction.atomic():
        tx = JournalTransaction.objects.create(
            source_key="split", period="2026-03", kind="adjustment", currency_id="USD"
        )
        JournalEntry.objects.create(transaction=tx, account=expense, amount=Decimal(5))
        JournalEntry.objects.create(transaction=tx, account=rounding, amount=Decimal(-5))
    assert not JournalTransaction.objects.filter(source_key="split").exists()


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {ENTRIES} SET amount = amount * 2 WHERE transaction_id = %s",
        f"DELETE FROM {ENTRIES} WHERE transaction_id = %s",
        f"UPDATE {TRANSACTIONS} SET memo = 'edited' WHERE id = %s",
        f"DELETE FROM {TRANSACTIONS} WHERE id = %s",
    ],
)
def test_raw_update_or_delete_of_posted_rows_is_rejected(sql):
    expense, rounding = _accounts()
    tx = _post([(expense, "3.50"), (rounding, "-3.50")])
    entries_before = sorted(JournalEntry.objects.filter(transaction=tx).values_list("id", "amount"))
    with pytest.raises(ProgrammingError, match="Cannot update or delete"):
        _execute(sql, [tx.pk])
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("id", "amount")) == entries_before
    assert JournalTransaction.objects.get(pk=tx.pk).memo == ""


@pytest.mark.parametrize(
    "table", [ENTRIES, PeriodLock._meta.db_table, f"{ACCOUNTS} CASCADE", f"{TRANSACTIONS} CASCADE"]
)
def test_raw_truncate_of_the_ledger_is_rejected(table):
    expense, rounding = _accounts()
    _post([(expense, "3.50"), (rounding, "-3.50")])
    PeriodLock.objects.create(kind="commissions", period="2026-03", source_key="run:1")
    with pytest.raises(Exception, match="append-only: TRUNCATE is refused"):
        _execute(f"TRUNCATE {table}")
    assert JournalEntry.objects.count() == 2 and PeriodLock.objects.count() == 1


def test_orm_delete_of_a_posted_transaction_is_rejected():
    expense, rounding = _accounts()
    tx = _post([(expense, "1"), (rounding, "-1")])
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        JournalEntry.objects.filter(transaction=tx).delete()
    assert JournalEntry.objects.filter(transaction=tx).count() == 2


def test_a_ledger_account_keeps_its_identity_and_nature():
    program = Program.objects.create(code="p", name="P")
    partner = Partner.objects.create(code="ib", name="IB", program=program)
    other = Partner.objects.create(code="ib2", name="IB 2", program=program)
    payable = ledger_accounts_ensure(refs={AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=partner.pk)})
    account = next(iter(payable.values()))
    assert (account.nature, account.partner_id) == ("liability", partner.pk)
    with pytest.raises(ProgrammingError, match="Cannot update"):
        _execute(f"UPDATE {ACCOUNTS} SET partner_id = %s WHERE id = %s", [other.pk, account.pk])
    _execute(f"UPDATE {ACCOUNTS} SET name = 'Payable of IB' WHERE id = %s", [account.pk])  # a label may change
    with pytest.raises(IntegrityError, match="ledgeraccount_nature_of_purpose"):
        _execute(
            f"INSERT INTO {ACCOUNTS} (purpose, nature, currency, partner_id, name) VALUES "
            "('partner_payable', 'asset', 'USD', %s, 'wrong nature')",
            [other.pk],
        )
    with pytest.raises(IntegrityError, match="ledgeraccount_owner_of_purpose"):
        _execute(
            f"INSERT INTO {ACCOUNTS} (purpose, nature, currency, name) VALUES "
            "('partner_payable', 'liability', 'USD', 'no owner')"
        )
    assert Currency.objects.get(code="USD").minor_unit == 2


def test_no_session_setting_lifts_a_ledger_guard():
    """pgtrigger's ``ignore`` (a custom setting any role may SET) is compiled out of the ledger's triggers."""
    import pgtrigger

    expense, rounding = _accounts()
    tx = _post([(expense, "2"), (rounding, "-2")])
    pgids = [t.get_pgid(m) for m in (JournalEntry, JournalTransaction) for t in m._meta.triggers]
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), pgtrigger.ignore():
        _execute(f"UPDATE {ENTRIES} SET amount = 0 WHERE transaction_id = %s", [tx.pk])
    with (
        pytest.raises(ProgrammingError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(pgids) + "}"])
        cursor.execute(f"DELETE FROM {ENTRIES} WHERE transaction_id = %s", [tx.pk])
    with pytest.raises(IntegrityError, match="fewer than two legs"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(pgids) + "}"])
        JournalTransaction.objects.create(source_key="lone", period="2026-03", kind="adjustment", currency_id="USD")
    assert sorted(JournalEntry.objects.filter(transaction=tx).values_list("amount", flat=True)) == [-2, 2]


def test_a_leg_must_name_a_transaction_and_an_account_that_exist_when_it_is_inserted():
    """The legs' foreign keys are checked at once, not at commit: a leg cannot point at a transaction row inserted
    later (or sitting uncommitted in another session), which the leg check could not have seen."""
    expense, _ = _accounts()
    eur, _ = _accounts("EUR")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, condeferrable FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [ENTRIES],
        )
        keys = dict(cursor.fetchall())
    assert len(keys) == 2 and not any(keys.values())
    with pytest.raises(IntegrityError, match="foreign key"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [TRANSACTIONS])
        (future_id,) = cursor.fetchone()
        cursor.execute(  # the legs first (one in EUR), the USD transaction after them
            f"INSERT INTO {ENTRIES} (transaction_id, account_id, amount) VALUES (%s, %s, 5), (%s, %s, -5)",
            [future_id + 1, expense.pk, future_id + 1, eur.pk],
        )
    assert not JournalEntry.objects.filter(account=eur).exists()


def test_a_role_that_does_not_own_the_ledger_cannot_lift_its_guards():
    """The README's production recipe: the application's role may read and post, never switch a guard off."""
    import uuid

    role = f"ibex_app_{uuid.uuid4().hex[:8]}"
    tables = [ENTRIES, TRANSACTIONS, ACCOUNTS, PeriodLock._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}"')
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'GRANT SELECT, INSERT ON {", ".join(tables)} TO "{role}"')
        truncate_guard = next(t for t in JournalEntry._meta.triggers if t.name.endswith("_no_truncate"))
        for statement, error in (
            (f"ALTER TABLE {ENTRIES} DISABLE TRIGGER {truncate_guard.get_pgid(JournalEntry)}", "must be owner"),
            ("SET session_replication_role = replica", "permission denied"),
            (f"TRUNCATE {ENTRIES}", "permission denied|append-only"),
        ):
            with pytest.raises(ProgrammingError, match=error), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f'SET LOCAL ROLE "{role}"')
                cursor.execute(statement)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'REVOKE ALL ON {", ".join(tables)} FROM "{role}"')
            cursor.execute(f'DROP ROLE "{role}"')
