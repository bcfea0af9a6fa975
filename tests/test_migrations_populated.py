"""Migrating a populated database across the move of runs and the journal out of ``commissions`` keeps its data.

A scratch database is migrated to the schema of before the move (``commissions`` 0005: runs in ``commissions_run``,
lines in per-run partitions of ``commissions_attributionline``, the old journal in ``commissions_*``), filled with
raw SQL the way the old code wrote it (an approved February run, a March run superseded by a recomputed one that
was approved, its journal posted as the old approval posted it, a payout, a computed ``fees`` run — the live bug —
and an approved one, whose approval posted May's commissions a second time), then migrated to the latest state of
every app. Read with today's models and selectors, it proves:

- runs and chunks are the same rows (ids, status, period, totals) under ``runs``; chunk sentinels became typed
  specs the commissions kind decodes; both ``fees`` runs failed with the reason and are no runs of record, what the
  approved one posted is reversed leg by leg in its period, and no ``fees`` period is locked;
- every run's lines are still in its partition, same ids and amounts, readable through ``AttributionLine``;
- every journal account, transaction and entry kept its id and amount in the ledger, with its ``source_key``,
  purpose and nature; approved periods are locked; statements equal the old statement's figures and figures
  worked out by hand; the trial balance nets to zero; rates moved to ``ledger_conversionrate``;
- the old tables and trigger functions are gone, new postings, runs and chunks take fresh ids (sequences moved
  past the copied rows), and the ledger refuses UPDATE and DELETE (its append-only triggers are installed).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from psycopg import sql
from psycopg.types.json import Jsonb

from commissions.models import AttributionLine, PostingClaim, RunTierVolume, Trade
from commissions.services.run_kind import AccountsChunk, AdjustmentsChunk, NoAccountChunk
from core.money import round_minor
from ledger.models import ConversionRate, JournalEntry, JournalTransaction, LedgerAccount, PeriodLock
from ledger.postings import AccountRef, Leg, Posting
from ledger.selectors import locked_periods, partner_statement, period_is_locked, trial_balance, trial_balance_totals
from ledger.services.posting import journal_post
from ledger.vocabulary import Purpose
from partners.models import Partner
from runs.models import Run, RunChunk
from runs.registry import get_kind
from runs.selectors import runs_of_record

# The last migration of the old layout, and the apps whose migrations take its data over.
PRE_MOVE = ("commissions", "0005_lines_numeric_on_read")
MOVED_TO = ("ledger", "runs")
# Apps born after the move (their first migrations depend on it): absent from the old schema, migrated in the last
# step only.
BORN_AFTER = ("mam",)
# The partners app as the old code wrote it: before referral codes (0008 gives each existing partner its own).
PARTNERS_BEFORE = ("partners", "0007_payout_currency_width")

LINES = "commissions_attributionline"
SERVER_TZ = ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)
USD = "USD"

# --- the scratch database --------------------------------------------------------------------------------------


def _server_params(database: str) -> dict:
    params = dict(connections["default"].get_connection_params())
    params.pop("cursor_factory", None)  # Django's own, psycopg.connect takes neither
    params.pop("context", None)
    params["dbname"] = database
    return params


def _point_default_at(name: str) -> None:
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name


@contextmanager
def scratch_database() -> Iterator[str]:
    """Point Django's default connection at a new, empty database on the test server; drop it afterwards.

    The migrations under test must start from an empty schema, which the test database (migrated to the latest
    state by pytest-django) is not; dropping a database is also the only way to get rid of the ledger's rows."""
    configured = connections["default"].settings_dict["NAME"]
    name = f"{configured}_migrations"[:63]
    admin = _server_params("postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    connections.close_all()
    _point_default_at(name)
    try:
        yield name
    finally:
        connections.close_all()
        _point_default_at(configured)
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrate_to_pre_move_state() -> None:
    executor = MigrationExecutor(connection)
    targets = [
        PRE_MOVE if app == "commissions" else PARTNERS_BEFORE if app == "partners" else (app, name)
        for app, name in executor.loader.graph.leaf_nodes()
        if app not in MOVED_TO and app not in BORN_AFTER
    ]
    plan = [(migration.app_label, migration.name) for migration, _ in executor.migration_plan(targets)]
    # The premise of the test: nothing of the move is applied yet (another app depending on it would pull it in).
    assert PRE_MOVE in plan
    assert not [step for step in plan if step[0] in MOVED_TO or (step[0] == "commissions" and step > PRE_MOVE)]
    executor.migrate(targets)


def _migrate_to_latest() -> None:
    # A new executor: the first one's loader still holds the applied migrations of before.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


# --- the old code's writes, restated in SQL (today's models describe the new schema) ----------------------------


def _insert(cursor, table: str, **values) -> int:
    columns = ", ".join(f'"{column}"' for column in values)
    marks = ", ".join(["%s"] * len(values))
    cursor.execute(f'INSERT INTO "{table}" ({columns}) VALUES ({marks}) RETURNING id', list(values.values()))
    return cursor.fetchone()[0]


_INDEX_DEF = re.compile(r"^CREATE (?P<unique>UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (?P<rest>USING .+)$")


def _old_run_lines(cursor, *, run_id: int, lines: list[dict], finished: bool = True) -> None:
    """What the old ``commissions.services.run_lines`` did for a run: a stand-alone, index-free table written while
    the run computed, then given the parent's indexes and attached as the run's partition when it finished."""
    table = f"{LINES}_r{int(run_id)}"
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{LINES}" INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS, '
        f"CHECK (run_id = {int(run_id)}))"
    )
    for line in lines:
        _insert(cursor, table, run_id=run_id, **line)
    if not finished:
        return
    cursor.execute(
        """
        SELECT pg_get_indexdef(i.indexrelid), con.contype, pg_get_constraintdef(con.oid)
          FROM pg_index i LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
         WHERE i.indrelid = %s::regclass ORDER BY i.indexrelid
        """,
        [LINES],
    )
    for definition, constraint_type, constraint_def in cursor.fetchall():
        if constraint_type in ("p", "u"):
            cursor.execute(f'ALTER TABLE "{table}" ADD {constraint_def}')
        else:
            match = _INDEX_DEF.match(definition)
            assert match is not None, definition
            cursor.execute(f'CREATE {match["unique"] or ""}INDEX ON "{table}" {match["rest"]}')
    cursor.execute(f'ALTER TABLE "{LINES}" ATTACH PARTITION "{table}" FOR VALUES IN ({int(run_id)})')


def _micros(amount: str | None) -> int | None:
    return None if amount is None else int(Decimal(amount) * 1_000_000)


def _line(trade: dict, kind: str, amount: str, *, partner=None, beneficiary=None, level=0, rule=None, rate=None):
    """One attribution line as the old engine stored it (integer micro-units; ``amount`` is generated)."""
    return {
        "period": trade["period"],
        "trade_id": trade["id"],
        "account_id": trade["account_id"],
        "partner_id": partner,
        "beneficiary_account_id": beneficiary,
        "kind": kind,
        "level": level,
        "rule_id": rule,
        "base_micros": _micros(trade["lots"]) if rate else None,
        "rate_micros": _micros(rate),
        "tier": None,
        "multiplier_micros": 1_000_000 if rate else None,
        "amount_micros": _micros(amount),
        "currency": USD,
        "reason": "",
        "adjusts_period": "",
    }


def _period_bounds(period: str) -> tuple[datetime, datetime]:
    year, month = map(int, period.split("-"))
    start = datetime(year, month, 1, tzinfo=SERVER_TZ)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SERVER_TZ)
    return start, end


def _old_run(cursor, *, kind: str, period: str, status: str, computed_at: datetime, user: int, supersedes=None):
    start, end = _period_bounds(period)
    return _insert(
        cursor,
        "commissions_run",
        kind=kind,
        period=period,
        period_start=start,
        period_end=end,
        status=status,
        chunks_total=0,
        chunks_done=0,
        totals=Jsonb({}),
        error="",
        created_at=computed_at.replace(hour=8),
        started_at=computed_at.replace(hour=9),
        computed_at=computed_at,
        approved_at=None,
        approved_by_id=None,
        created_by_id=user,
        supersedes_id=supersedes,
    )


def _old_chunks(cursor, *, run_id: int, account_ids: list[list], lines_written: list[int], done_at: datetime):
    """The run's chunks as ``run_request`` planned them (``account_ids``, with the ``[]`` and ``["adjustments"]``
    sentinels) and the workers finished them; then the run's totals, as the old finishing step summed them."""
    for index, (ids, written) in enumerate(zip(account_ids, lines_written, strict=True)):
        _insert(
            cursor,
            "commissions_runchunk",
            run_id=run_id,
            index=index,
            account_ids=Jsonb(ids),
            status="done",
            lease_expires_at=None,
            claimed_by=f"worker-{index}",
            attempts=1,
            lines_written=written,
            error="",
            done_at=done_at,
        )
    cursor.execute(f"SELECT kind, SUM(amount) FROM {LINES} WHERE run_id = %s GROUP BY kind ORDER BY kind", [run_id])
    totals = {kind: f"{total:.6f}" for kind, total in cursor.fetchall()}
    cursor.execute(
        "UPDATE commissions_run SET chunks_total = %s, chunks_done = %s, totals = %s WHERE id = %s",
        [len(account_ids), len(account_ids), Jsonb(totals), run_id],
    )


@dataclass(frozen=True)
class Accounts:
    expense: int
    rounding: int
    clearing: int
    payable: dict[int, int]  # partner id → its payable account
    client_payable: dict[int, int]  # client account id → its rebate payable account


def _old_approve(cursor, *, run_id: int, accounts: Accounts, approved_at: datetime, user: int) -> None:
    """The old ``run_approve``: one transaction per (beneficiary, kind, currency); the expense leg the exact sum of
    the lines, the payable leg minus that sum rounded to the cent, the rounding leg the difference if any."""
    cursor.execute("SELECT period FROM commissions_run WHERE id = %s", [run_id])
    (period,) = cursor.fetchone()
    cursor.execute(
        f"""
        SELECT partner_id, CASE WHEN partner_id IS NULL THEN beneficiary_account_id END AS client,
               kind, currency, SUM(amount)
          FROM {LINES}
         WHERE run_id = %s
         GROUP BY partner_id, client, kind, currency
        HAVING SUM(amount) <> 0
         ORDER BY partner_id NULLS LAST, client NULLS LAST, kind, currency
        """,
        [run_id],
    )
    for partner_id, client_id, kind, currency, total in cursor.fetchall():
        tx = _insert(
            cursor,
            "commissions_journaltransaction",
            run_id=run_id,
            period=period,
            kind=kind,
            partner_id=partner_id,
            client_account_id=None if partner_id is not None else client_id,
            currency=currency,
            memo=f"{kind} {period} run {run_id}",
            reverses_id=None,
            posted_at=approved_at,
            posted_by_id=user,
        )
        exact = Decimal(total)
        rounded = round_minor(exact, currency)
        payable = accounts.payable[partner_id] if partner_id is not None else accounts.client_payable[client_id]
        legs = [(accounts.expense, exact), (payable, -rounded)]
        if rounded != exact:
            legs.append((accounts.rounding, rounded - exact))
        for account, amount in legs:
            _insert(
                cursor,
                "commissions_journalentry",
                transaction_id=tx,
                account_id=account,
                amount=amount,
                currency=currency,
            )
    cursor.execute(
        "UPDATE commissions_run SET status = 'approved', approved_at = %s, approved_by_id = %s WHERE id = %s",
        [approved_at, user, run_id],
    )


@dataclass(frozen=True)
class Old:
    """Ids of what was written into the old schema."""

    user: int
    master: int
    sub: int
    account: int
    rule: int
    feb_run: int
    superseded_run: int
    march_run: int
    fees_run: int
    fees_approved_run: int
    in_flight_run: int
    fees_in_flight_run: int
    accounts: Accounts
    payout_tx: int


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _populate_old_schema() -> Old:
    with transaction.atomic(), connection.cursor() as cursor:
        # Ids the new tables would not hand out by themselves: a copy that renumbered rows cannot pass unnoticed.
        for table, start in (
            ("commissions_run", 40),
            ("commissions_runchunk", 200),
            ("commissions_ledgeraccount", 7),
            ("commissions_journaltransaction", 101),
            ("commissions_journalentry", 1001),
            ("commissions_conversionrate", 500),
        ):
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN id RESTART WITH {start}')
        cursor.execute(f"SELECT setval('{LINES}_id_seq', 5000)")

        now = _at("2026-01-05")
        user = _insert(
            cursor,
            "auth_user",
            password="!",
            last_login=None,
            is_superuser=False,
            username="approver",
            first_name="",
            last_name="",
            email="approver@example.com",
            is_staff=True,
            is_active=True,
            date_joined=now,
        )
        stamps = {"created_at": now, "updated_at": now}
        program = _insert(
            cursor,
            "partners_program",
            code="standard",
            name="Standard",
            model="differential",
            max_depth=10,
            shares="{}",
            override_pct="{}",
            min_payout=Decimal(0),
            currency=USD,
            **stamps,
        )
        partner = {"email": "", "status": "active", "payout_currency": USD, "payout_method": "", "payout_account": ""}
        master = _insert(
            cursor,
            "partners_partner",
            code="master",
            name="Master IB",
            program_id=program,
            user_id=None,
            **partner,
            **stamps,
        )
        sub = _insert(
            cursor, "partners_partner", code="sub", name="Sub IB", program_id=program, user_id=None, **partner, **stamps
        )
        since = datetime(2026, 1, 1, tzinfo=SERVER_TZ)
        _insert(cursor, "partners_partnerlink", partner_id=master, parent_id=None, valid_from=since, valid_to=None)
        _insert(cursor, "partners_partnerlink", partner_id=sub, parent_id=master, valid_from=since, valid_to=None)
        account = _insert(
            cursor,
            "partners_clientaccount",
            server="MT5-Live",
            login=5001,
            currency=USD,
            group="real\\std",
            earns_commission=True,
            **stamps,
        )
        _insert(
            cursor, "partners_accountattribution", account_id=account, partner_id=sub, valid_from=since, valid_to=None
        )

        instrument = _insert(
            cursor,
            "commissions_instrument",
            symbol="EURUSD",
            group="forex_major",
            base="EUR",
            quote=USD,
            contract_size=Decimal(100_000),
            pip_size=Decimal("0.0001"),
            volume_step=Decimal("0.01"),
            volume_min=Decimal("0.01"),
            volume_max=Decimal(100),
            **stamps,
        )
        for currency, day, rate in RATES:
            _insert(cursor, "commissions_conversionrate", currency=currency, day=day, usd_rate=rate)
        plan = _insert(
            cursor,
            "commissions_plan",
            code="standard",
            name="Standard",
            currency=USD,
            both_legs=False,
            min_hold_seconds=None,
            min_points=None,
            tier_mode="retroactive",
            **stamps,
        )
        rule = _insert(
            cursor,
            "commissions_planrule",
            plan_id=plan,
            type="per_lot",
            symbol_group="forex_major",
            account_group="",
            rate=Decimal("3.502"),
            pct=None,
            priority=100,
            active=True,
            instrument_id=None,
        )
        for partner_id in (master, sub):
            _insert(
                cursor, "commissions_partnerplan", partner_id=partner_id, plan_id=plan, valid_from=since, valid_to=None
            )

        def trade(ticket: int, lots: str, closed: datetime) -> dict:
            trade_id = _insert(
                cursor,
                "commissions_trade",
                server="MT5-Live",
                ticket=ticket,
                version=1,
                is_current=True,
                login=5001,
                symbol="EURUSD",
                side=1,
                lots=Decimal(lots),
                open_time=closed.replace(hour=8),
                open_price=Decimal("1.0850000000"),
                close_time=closed,
                close_price=Decimal("1.0870000000"),
                profit=Decimal(0),
                swap=Decimal(0),
                commission=Decimal(0),
                spread_pips=None,
                master_ticket=None,
                status="closed",
                content_hash=f"{ticket:032x}",
                ingested_at=closed,
                superseded_at=None,
                instrument_id=instrument,
                trade_import_id=None,
            )
            period = closed.astimezone(SERVER_TZ).strftime("%Y-%m")
            return {"id": trade_id, "account_id": account, "lots": lots, "period": period}

        t_feb = trade(9000, "1.00", _at("2026-02-15"))
        t_mar1 = trade(9001, "2.00", _at("2026-03-10"))
        t_mar2 = trade(9002, "1.00", _at("2026-03-20"))
        t_apr = trade(9003, "1.00", _at("2026-04-05"))
        t_may = trade(9004, "1.00", _at("2026-05-06"))

        def ledger_account(purpose: str, name: str, *, partner=None, client=None) -> int:
            return _insert(
                cursor,
                "commissions_ledgeraccount",
                type=purpose,
                currency=USD,
                name=name,
                partner_id=partner,
                client_account_id=client,
            )

        # The old journal's accounts, named as its ``_ledger_accounts`` named them.
        accounts = Accounts(
            expense=ledger_account("commission_expense", "Commission expense USD"),
            rounding=ledger_account("rounding", "Rounding USD"),
            clearing=ledger_account("payout_clearing", "Payout clearing USD"),
            payable={
                p: ledger_account("partner_payable", f"Partner payable USD partner {p}", partner=p)
                for p in (master, sub)
            },
            client_payable={
                account: ledger_account(
                    "client_payable", f"Client rebate payable USD account {account}", client=account
                )
            },
        )

        # February: computed and approved (gives the March statement its opening balance).
        feb = _old_run(
            cursor, kind="commissions", period="2026-02", status="computed", computed_at=_at("2026-03-01"), user=user
        )
        _old_run_lines(cursor, run_id=feb, lines=[_line(t_feb, "volume", "2.000000", partner=sub, rule=rule, rate="2")])
        _old_chunks(cursor, run_id=feb, account_ids=[[account]], lines_written=[1], done_at=_at("2026-03-01", 10))
        _old_approve(cursor, run_id=feb, accounts=accounts, approved_at=_at("2026-03-02"), user=user)

        # March, first computation: superseded by a recomputation (its lines stay, as the old code left them).
        superseded = _old_run(
            cursor, kind="commissions", period="2026-03", status="computed", computed_at=_at("2026-04-01"), user=user
        )
        _old_run_lines(
            cursor, run_id=superseded, lines=[_line(t_mar1, "volume", "7.004000", partner=sub, rule=rule, rate="3.502")]
        )
        _old_chunks(
            cursor, run_id=superseded, account_ids=[[account], []], lines_written=[1, 0], done_at=_at("2026-04-01", 10)
        )
        cursor.execute("UPDATE commissions_run SET status = 'superseded' WHERE id = %s", [superseded])

        # March, recomputed and approved: one chunk of each sentinel, amounts that leave rounding legs.
        march = _old_run(
            cursor,
            kind="commissions",
            period="2026-03",
            status="computed",
            computed_at=_at("2026-04-01", 14),
            user=user,
            supersedes=superseded,
        )
        _old_run_lines(
            cursor,
            run_id=march,
            lines=[
                _line(t_mar1, "volume", "7.004000", partner=sub, rule=rule, rate="3.502"),
                _line(t_mar2, "volume", "3.502000", partner=sub, rule=rule, rate="3.502"),
                _line(t_mar1, "volume", "1.000000", partner=master, level=1, rule=rule, rate="0.5"),
                _line(t_mar2, "volume", "0.500000", partner=master, level=1, rule=rule, rate="0.5"),
                _line(t_mar1, "spread", "1.234567", partner=sub),
                _line(t_mar1, "rebate", "0.700400", beneficiary=account),
                _line(t_mar1, "rebate_funding", "-0.700400", partner=sub, beneficiary=account),
            ],
        )
        _old_chunks(
            cursor,
            run_id=march,
            account_ids=[[account], [], ["adjustments"]],
            lines_written=[7, 0, 0],
            done_at=_at("2026-04-01", 15),
        )
        _insert(
            cursor,
            "commissions_runtiervolume",
            run_id=march,
            partner_id=sub,
            trade_id=t_mar1["id"],
            ticket=9001,
            close_ns=0,
            lots=20_000,
            cum_lots=20_000,
        )
        _old_approve(cursor, run_id=march, accounts=accounts, approved_at=_at("2026-04-02"), user=user)

        # A payout to the master partner, posted outside any run.
        payout_tx = _insert(
            cursor,
            "commissions_journaltransaction",
            run_id=None,
            period="2026-03",
            kind="payout",
            partner_id=master,
            client_account_id=None,
            currency=USD,
            memo="payout 2026-03",
            reverses_id=None,
            posted_at=_at("2026-04-10"),
            posted_by_id=user,
        )
        for account_id, amount in ((accounts.payable[master], "1.00"), (accounts.clearing, "-1.00")):
            _insert(
                cursor,
                "commissions_journalentry",
                transaction_id=payout_tx,
                account_id=account_id,
                amount=Decimal(amount),
                currency=USD,
            )

        # The live bug: a computed run of kind "fees" whose lines are commissions.
        fees = _old_run(
            cursor, kind="fees", period="2026-04", status="computed", computed_at=_at("2026-05-01"), user=user
        )
        _old_run_lines(
            cursor, run_id=fees, lines=[_line(t_apr, "volume", "3.502000", partner=sub, rule=rule, rate="3.502")]
        )
        _old_chunks(
            cursor, run_id=fees, account_ids=[[account], []], lines_written=[1, 0], done_at=_at("2026-05-01", 10)
        )
        # Worse: an approved one, whose approval posted the period's commissions a second time.
        fees_approved = _old_run(
            cursor, kind="fees", period="2026-05", status="computed", computed_at=_at("2026-06-01"), user=user
        )
        _old_run_lines(
            cursor,
            run_id=fees_approved,
            lines=[_line(t_may, "volume", "3.502000", partner=sub, rule=rule, rate="3.502")],
        )
        _old_chunks(
            cursor, run_id=fees_approved, account_ids=[[account]], lines_written=[1], done_at=_at("2026-06-01", 10)
        )
        _old_approve(cursor, run_id=fees_approved, accounts=accounts, approved_at=_at("2026-06-02"), user=user)

        # June, in flight at the upgrade: one chunk done (its lines in the run's unattached table), one pending.
        in_flight = _old_run(
            cursor, kind="commissions", period="2026-06", status="running", computed_at=_at("2026-07-01"), user=user
        )
        cursor.execute("UPDATE commissions_run SET computed_at = NULL WHERE id = %s", [in_flight])
        t_jun = trade(9005, "1.00", _at("2026-06-08"))
        _old_run_lines(
            cursor,
            run_id=in_flight,
            lines=[_line(t_jun, "volume", "3.502000", partner=sub, rule=rule, rate="3.502")],
            finished=False,
        )
        _old_chunks(
            cursor, run_id=in_flight, account_ids=[[account], []], lines_written=[1, 0], done_at=_at("2026-07-01", 10)
        )
        cursor.execute(
            "UPDATE commissions_runchunk SET status = 'pending', done_at = NULL, attempts = 0, claimed_by = '', "
            "lines_written = 0 WHERE run_id = %s AND index = 1",
            [in_flight],
        )
        cursor.execute("UPDATE commissions_run SET chunks_done = 1, totals = '{}' WHERE id = %s", [in_flight])

        # A "fees" run in flight too (failed as a fees run, its stand-alone table dropped like any failed run's).
        fees_in_flight = _old_run(
            cursor, kind="fees", period="2026-07", status="running", computed_at=_at("2026-08-01"), user=user
        )
        cursor.execute("UPDATE commissions_run SET computed_at = NULL WHERE id = %s", [fees_in_flight])
        _old_run_lines(cursor, run_id=fees_in_flight, lines=[], finished=False)

    return Old(
        user=user,
        master=master,
        sub=sub,
        account=account,
        rule=rule,
        feb_run=feb,
        superseded_run=superseded,
        march_run=march,
        fees_run=fees,
        fees_approved_run=fees_approved,
        in_flight_run=in_flight,
        fees_in_flight_run=fees_in_flight,
        accounts=accounts,
        payout_tx=payout_tx,
    )


RATES = [
    ("EUR", date(2026, 3, 10), Decimal("1.085000000000")),
    ("EUR", date(2026, 3, 20), Decimal("1.090000000000")),
    ("XAU", date(2026, 3, 20), Decimal("2150.500000000000")),
]

# The old ``commissions.selectors.partner_statement`` (git show 152f680:commissions/selectors.py), over the old tables.
OLD_STATEMENT_BALANCES = """
    SELECT COALESCE(SUM(-e.amount) FILTER (WHERE t.period < %(period)s), 0),
           COALESCE(SUM(-e.amount) FILTER (WHERE t.period = %(period)s AND t.kind = 'payout'), 0)
      FROM commissions_journalentry e
      JOIN commissions_journaltransaction t ON t.id = e.transaction_id
      JOIN commissions_ledgeraccount a ON a.id = e.account_id
     WHERE a.type = 'partner_payable' AND a.partner_id = %(partner)s AND a.currency = 'USD'
"""
OLD_STATEMENT_TOTALS = """
    SELECT t.kind, SUM(-e.amount)
      FROM commissions_journalentry e
      JOIN commissions_journaltransaction t ON t.id = e.transaction_id
      JOIN commissions_ledgeraccount a ON a.id = e.account_id
     WHERE a.type = 'partner_payable' AND a.partner_id = %(partner)s AND a.currency = 'USD'
       AND t.period = %(period)s AND t.kind <> 'payout'
     GROUP BY t.kind ORDER BY t.kind
"""


def _old_statement(cursor, *, partner: int, period: str) -> dict:
    params = {"partner": partner, "period": period}
    cursor.execute(OLD_STATEMENT_BALANCES, params)
    opening, payouts_signed = cursor.fetchone()
    cursor.execute(OLD_STATEMENT_TOTALS, params)
    totals = {kind: Decimal(amount) for kind, amount in cursor.fetchall()}
    earned = sum(totals.values(), Decimal(0))
    payouts = -Decimal(payouts_signed)
    return {
        "opening_balance": Decimal(opening),
        "totals": totals,
        "earned": earned,
        "payouts": payouts,
        "closing_balance": Decimal(opening) + earned - payouts,
    }


def _rows(cursor, query: str, *, json_columns: tuple[int, ...] = ()) -> list[tuple]:
    """The rows of ``query``; ``json_columns`` decoded (Django's connection hands jsonb over as text)."""
    cursor.execute(query)
    return [
        tuple(json.loads(value) if i in json_columns else value for i, value in enumerate(row))
        for row in cursor.fetchall()
    ]


def _snapshot_old(old: Old) -> dict:
    """What the old tables hold, read before migrating, to compare row for row afterwards."""
    with connection.cursor() as cursor:
        return {
            "runs": _rows(
                cursor,
                "SELECT id, kind, period, period_start, period_end, status, chunks_total, chunks_done, totals, "
                "created_at, computed_at, approved_at, approved_by_id, supersedes_id FROM commissions_run ORDER BY id",
                json_columns=(8,),
            ),
            "chunks": _rows(
                cursor,
                "SELECT id, run_id, index, account_ids, status, lines_written, done_at FROM commissions_runchunk "
                "ORDER BY id",
                json_columns=(3,),
            ),
            "lines": _rows(cursor, f"SELECT id, run_id, kind, amount_micros, amount FROM {LINES} ORDER BY id"),
            "accounts": _rows(
                cursor,
                "SELECT id, type, currency, partner_id, client_account_id, name FROM commissions_ledgeraccount "
                "ORDER BY id",
            ),
            "transactions": _rows(
                cursor,
                "SELECT id, run_id, partner_id, client_account_id, kind, period, currency, memo, posted_at, "
                "posted_by_id FROM commissions_journaltransaction ORDER BY id",
            ),
            "entries": _rows(
                cursor, "SELECT id, transaction_id, account_id, amount FROM commissions_journalentry ORDER BY id"
            ),
            "rates": _rows(cursor, "SELECT id, currency, day, usd_rate FROM commissions_conversionrate ORDER BY id"),
            "statements": {
                partner: _old_statement(cursor, partner=partner, period="2026-03") for partner in (old.master, old.sub)
            },
        }


# --- the figures, worked out by hand from the lines above --------------------------------------------------------

# Sub, March: volume 7.004 + 3.502 = 10.506 → 10.51; spread 1.234567 → 1.23; rebate funding −0.7004 → −0.70;
# opening: February's volume 2.00.
SUB_MARCH = {
    "opening_balance": Decimal("2.00"),
    "totals": {"rebate_funding": Decimal("-0.70"), "spread": Decimal("1.23"), "volume": Decimal("10.51")},
    "earned": Decimal("11.04"),
    "payouts": Decimal("0"),
    "closing_balance": Decimal("13.04"),
}
# Master, March: volume 1.00 + 0.50 = 1.50 (no rounding leg), paid out 1.00.
MASTER_MARCH = {
    "opening_balance": Decimal("0"),
    "totals": {"volume": Decimal("1.50")},
    "earned": Decimal("1.50"),
    "payouts": Decimal("1.00"),
    "closing_balance": Decimal("0.50"),
}
# Account balances (signed sums): expense 2 + 1.5 − 0.7004 + 1.234567 + 10.506 + 0.7004; rounding +0.0004
# (rebate funding) − 0.004567 (spread) + 0.004 (sub volume) − 0.0004 (client rebate); payables and clearing credits.
BALANCES = {
    "commission_expense": Decimal("15.240567"),
    "rounding": Decimal("-0.000567"),
    "partner_payable:sub": Decimal("-13.04"),
    "partner_payable:master": Decimal("-0.50"),
    "client_payable": Decimal("-0.70"),
    "payout_clearing": Decimal("-1.00"),
}
PURPOSE_NATURE = {
    "commission_expense": "expense",
    "rounding": "expense",
    "partner_payable": "liability",
    "client_payable": "liability",
    "payout_clearing": "liability",
}


def _table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def _check_referral_codes() -> None:
    """Partners written before referral codes each got their own (a callable default would give all one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT referral_code), min(length(referral_code)) FROM partners_partner"
        )
        count, distinct, shortest = cursor.fetchone()
    assert count >= 2 and distinct == count and shortest == 10


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_migrating_a_populated_database_keeps_runs_lines_journal_and_statements():
    with scratch_database():
        _migrate_to_pre_move_state()
        old = _populate_old_schema()
        before = _snapshot_old(old)
        # The old statement itself reads the figures worked out by hand: the fixture is what the old code posted.
        assert before["statements"][old.sub] == SUB_MARCH
        assert before["statements"][old.master] == MASTER_MARCH

        _migrate_to_latest()

        _check_runs_and_chunks(old, before)
        _check_lines(old, before)
        _check_journal(old, before)
        _check_statements_and_balances(old)
        _check_old_schema_is_gone()
        _check_referral_codes()
        _check_new_writes_take_fresh_ids_and_ledger_stays_append_only(old, before)


def _check_runs_and_chunks(old: Old, before: dict) -> None:
    runs = {run.pk: run for run in Run.objects.all()}
    assert sorted(runs) == [row[0] for row in before["runs"]] == [40, 41, 42, 43, 44, 45, 46]
    for pk, kind, period, start, end, status, total, done, totals, created, computed, approved, by, sup in before[
        "runs"
    ]:
        run = runs[pk]
        expected_status = "failed" if kind == "fees" or status == "running" else status
        assert (run.kind, run.period, run.period_start, run.period_end, run.status) == (
            kind,
            period,
            start,
            end,
            expected_status,
        )
        assert (run.chunks_total, run.chunks_done, run.totals) == (total, done, totals)
        assert (run.created_at, run.computed_at, run.approved_at, run.approved_by_id, run.supersedes_id) == (
            created,
            computed,
            approved,
            by,
            sup,
        )
        assert run.scope == ""
    statuses = [runs[pk].status for pk in sorted(runs)]
    assert statuses == ["approved", "superseded", "approved", "failed", "failed", "failed", "failed"]
    assert runs[old.march_run].totals == {
        "rebate": "0.700400",
        "rebate_funding": "-0.700400",
        "spread": "1.234567",
        "volume": "12.006000",
    }
    fees = runs[old.fees_run]
    assert "fees kind is not implemented" in fees.error and "computed commissions by mistake" in fees.error
    fees_approved = runs[old.fees_approved_run]
    assert "its approval posted them a second time" in fees_approved.error
    assert "1 journal transaction(s) were reversed" in fees_approved.error
    # The run in flight could not be finished with right totals: it failed, saying to request the period again.
    assert runs[old.in_flight_run].error == "in flight when the run framework was installed: request the period again"
    assert "fees kind is not implemented" in runs[old.fees_in_flight_run].error
    failed = (old.fees_run, old.fees_approved_run, old.in_flight_run, old.fees_in_flight_run)
    assert all(run.error == "" for pk, run in runs.items() if pk not in failed)
    # Readers of "the lines of record" no longer see the bug's run (nor the superseded one).
    assert set(runs_of_record().values_list("pk", flat=True)) == {old.feb_run, old.march_run}
    # The approved runs got their posting claims, each boxing the versions its lines name; no other run has any.
    claims = list(PostingClaim.objects.order_by("run_id"))
    assert [(c.run_id, c.action, c.approved) for c in claims] == [
        (old.feb_run, "post", True),
        (old.march_run, "post", True),
    ]
    for claim in claims:
        versions = Trade.objects.filter(lines__run_id=claim.run_id).distinct()
        assert {v.pk in claim.trade_ids and v.close_time in claim.close_times for v in versions} == {True}

    chunks = {chunk.pk: chunk for chunk in RunChunk.objects.all()}
    assert sorted(chunks) == [row[0] for row in before["chunks"]]
    kind = get_kind("commissions")
    typed = {
        (old.account,): ("accounts", {"type": "accounts", "account_ids": [old.account]}, AccountsChunk((old.account,))),
        (): ("no_account", {"type": "no_account"}, NoAccountChunk()),
        ("adjustments",): ("adjustments", {"type": "adjustments"}, AdjustmentsChunk()),
    }
    for pk, run_id, index, account_ids, status, lines_written, done_at in before["chunks"]:
        chunk = chunks[pk]
        spec_type, spec, decoded = typed[tuple(account_ids)]
        assert (chunk.run_id, chunk.index, chunk.status, chunk.lines_written) == (run_id, index, status, lines_written)
        assert (chunk.spec_type, chunk.spec) == (spec_type, spec)
        assert kind.decode_spec(chunk.spec) == decoded
        assert chunk.dispatched_at == done_at
    march_specs = [c.spec_type for c in RunChunk.objects.filter(run_id=old.march_run).order_by("index")]
    assert march_specs == ["accounts", "no_account", "adjustments"]


def _check_lines(old: Old, before: dict) -> None:
    after = list(AttributionLine.objects.order_by("id").values_list("id", "run_id", "kind", "amount_micros", "amount"))
    assert after == before["lines"]
    march = AttributionLine.objects.filter(run_id=old.march_run)
    assert march.count() == 7
    assert Counter(
        (line.partner_id, line.beneficiary_account_id, line.kind, line.level, line.amount) for line in march
    ) == Counter(
        [
            (old.sub, None, "volume", 0, Decimal("7.004000")),
            (old.sub, None, "volume", 0, Decimal("3.502000")),
            (old.master, None, "volume", 1, Decimal("1.000000")),
            (old.master, None, "volume", 1, Decimal("0.500000")),
            (old.sub, None, "spread", 0, Decimal("1.234567")),
            (None, old.account, "rebate", 0, Decimal("0.700400")),
            (old.sub, old.account, "rebate_funding", 0, Decimal("-0.700400")),
        ]
    )
    first = march.filter(kind="volume", level=0).order_by("trade_id").first()
    assert (first.base, first.rate, first.multiplier, first.rule_id) == (
        Decimal(2),
        Decimal("3.502"),
        Decimal(1),
        old.rule,
    )
    # Still one attached partition per run, named as the line store names them.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [AttributionLine._meta.db_table],
        )
        partitions = [name for (name,) in cursor.fetchall()]
    # The fees runs' lines too (failed runs whose lines were published stay inspectable with ``run=``, like a
    # superseded run's); no reader of lines of record or of posted lines sees them.
    assert partitions == [f"{LINES}_r{pk}" for pk in (40, 41, 42, 43, 44)]
    for pk in (old.in_flight_run, old.fees_in_flight_run):
        assert not _table_exists(f"{LINES}_r{pk}")  # a failed run's stand-alone table is dropped
    assert RunTierVolume.objects.filter(run_id=old.march_run).count() == 1


def _check_journal(old: Old, before: dict) -> None:
    accounts = {a.pk: a for a in LedgerAccount.objects.all()}
    assert sorted(accounts) == [row[0] for row in before["accounts"]]
    for pk, old_type, currency, partner_id, client_account_id, name in before["accounts"]:
        account = accounts[pk]
        assert (account.purpose, account.currency_id, account.partner_id, account.client_account_id, account.name) == (
            old_type,
            currency,
            partner_id,
            client_account_id,
            name,
        )
        assert account.nature == PURPOSE_NATURE[old_type]

    copied = [row[0] for row in before["transactions"]]
    transactions = {tx.pk: tx for tx in JournalTransaction.objects.filter(pk__in=copied)}
    assert sorted(transactions) == copied
    assert len(transactions) == 8  # February's one, March's five, the payout, the approved fees run's one
    for pk, run_id, partner_id, client_id, kind, period, currency, memo, posted_at, posted_by in before["transactions"]:
        tx = transactions[pk]
        if run_id is None:
            key = f"legacy:{pk}"
        elif partner_id is not None:
            key = f"run:{run_id}:partner:{partner_id}:{kind}:{currency}"
        else:
            key = f"run:{run_id}:client:{client_id}:{kind}:{currency}"
        assert (tx.source_key, tx.kind, tx.period, tx.currency_id, tx.memo) == (key, kind, period, currency, memo)
        assert (tx.posted_at, tx.posted_by_id, tx.reverses_id) == (posted_at, posted_by, None)
    keys = set(JournalTransaction.objects.values_list("source_key", flat=True))
    assert f"run:{old.march_run}:partner:{old.sub}:volume:USD" in keys
    assert f"run:{old.march_run}:client:{old.account}:rebate:USD" in keys
    assert f"legacy:{old.payout_tx}" in keys

    entries = list(
        JournalEntry.objects.filter(transaction_id__in=copied)
        .order_by("id")
        .values_list("id", "transaction_id", "account_id", "amount")
    )
    assert entries == before["entries"]

    # What the approved fees run posted is reversed, leg by leg, in its period; nothing else is.
    fees_key = f"run:{old.fees_approved_run}:partner:{old.sub}:volume:USD"
    reversal = JournalTransaction.objects.exclude(pk__in=copied).get()
    assert (reversal.source_key, reversal.reverses.source_key) == (f"reversal:{fees_key}", fees_key)
    assert (reversal.kind, reversal.period, reversal.currency_id) == ("volume", "2026-05", USD)
    assert sorted(reversal.entries.values_list("account_id", "amount")) == sorted(
        [
            (old.accounts.expense, Decimal("-3.502000")),
            (old.accounts.payable[old.sub], Decimal("3.500000")),
            (old.accounts.rounding, Decimal("0.002000")),  # the original rounding leg was 3.50 − 3.502
        ]
    )
    # The old approval's legs, as posted: sub's March volume is 10.506 exact, 10.51 owed, 0.004 rounding.
    sub_volume = JournalTransaction.objects.get(source_key=f"run:{old.march_run}:partner:{old.sub}:volume:USD")
    assert sorted(sub_volume.entries.values_list("account_id", "amount")) == sorted(
        [
            (old.accounts.expense, Decimal("10.506000")),
            (old.accounts.payable[old.sub], Decimal("-10.510000")),
            (old.accounts.rounding, Decimal("0.004000")),
        ]
    )
    master_volume = JournalTransaction.objects.get(source_key=f"run:{old.march_run}:partner:{old.master}:volume:USD")
    assert master_volume.entries.count() == 2  # an exact sum leaves no rounding leg

    # Every approved run's period is locked, by that run, when and by whom it was approved; nothing else is.
    locks = {(lock.kind, lock.period, lock.scope): lock for lock in PeriodLock.objects.all()}
    assert set(locks) == {("commissions", "2026-02", ""), ("commissions", "2026-03", "")}
    march_lock = locks[("commissions", "2026-03", "")]
    assert march_lock.source_key == f"run:{old.march_run}"
    assert (march_lock.locked_at, march_lock.locked_by_id) == (_at("2026-04-02"), old.user)
    assert locked_periods(kind="commissions") == {"2026-02", "2026-03"}
    assert period_is_locked(kind="commissions", period="2026-03")
    assert not period_is_locked(kind="fees", period="2026-04")
    assert not period_is_locked(kind="fees", period="2026-05")  # a real fee run of May may still run

    rates = list(ConversionRate.objects.order_by("id").values_list("id", "currency", "day", "usd_rate"))
    assert rates == before["rates"]
    assert [(c, d, r) for _, c, d, r in rates] == RATES
    assert ConversionRate._meta.db_table == "ledger_conversionrate"


def _check_statements_and_balances(old: Old) -> None:
    master, sub = Partner.objects.get(pk=old.master), Partner.objects.get(pk=old.sub)
    common = {"period": "2026-03", "currency": USD}
    assert partner_statement(partner=sub, period="2026-03") == {"partner": "sub", **common, **SUB_MARCH}
    assert partner_statement(partner=master, period="2026-03") == {"partner": "master", **common, **MASTER_MARCH}
    # May: the fees run's double posting and its reversal net to nothing; the balance is March's closing one.
    may = partner_statement(partner=sub, period="2026-05")
    assert (may["earned"], may["opening_balance"], may["closing_balance"]) == (0, Decimal("13.04"), Decimal("13.04"))

    rows = trial_balance()
    assert trial_balance_totals(rows) == {USD: Decimal(0)}
    by_account = {row.account_id: row.balance for row in rows}
    assert by_account == {
        old.accounts.expense: BALANCES["commission_expense"],
        old.accounts.rounding: BALANCES["rounding"],
        old.accounts.payable[old.sub]: BALANCES["partner_payable:sub"],
        old.accounts.payable[old.master]: BALANCES["partner_payable:master"],
        old.accounts.client_payable[old.account]: BALANCES["client_payable"],
        old.accounts.clearing: BALANCES["payout_clearing"],
    }
    assert trial_balance_totals(trial_balance(period_to="2026-02")) == {USD: Decimal(0)}


def _check_old_schema_is_gone() -> None:
    for table in (
        "commissions_journalentry",
        "commissions_journaltransaction",
        "commissions_ledgeraccount",
        "commissions_run",
        "commissions_runchunk",
        "commissions_conversionrate",
    ):
        assert not _table_exists(table), table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname FROM pg_proc WHERE proname IN (%s, %s, %s)",
            [
                "pgtrigger_journalentry_append_only_18847",
                "pgtrigger_journalentry_balanced_f3fd5",
                "pgtrigger_journaltx_append_only_8774c",
            ],
        )
        assert cursor.fetchall() == []


def _check_new_writes_take_fresh_ids_and_ledger_stays_append_only(old: Old, before: dict) -> None:
    accounts_before = LedgerAccount.objects.count()
    result = journal_post(
        postings=[
            Posting(
                source_key="test:after-migration",
                kind="adjustment",
                period="2026-05",
                currency=USD,
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, USD), Decimal("1.005"), exact=True),
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, USD, partner_id=old.sub), Decimal("-1.005")),
                ),
            )
        ]
    )
    assert result.posted == ["test:after-migration"]
    tx_id = result.transaction_ids["test:after-migration"]
    assert tx_id > max(row[0] for row in before["transactions"])
    legs = list(JournalEntry.objects.filter(transaction_id=tx_id).values_list("id", "account_id", "amount"))
    assert min(pk for pk, _, _ in legs) > max(row[0] for row in before["entries"])
    # The migrated accounts are found by purpose and owner: no second expense, payable or rounding account.
    assert LedgerAccount.objects.count() == accounts_before
    assert {account for _, account, _ in legs} == {
        old.accounts.expense,
        old.accounts.payable[old.sub],
        old.accounts.rounding,
    }
    assert sum(amount for _, _, amount in legs) == 0

    start, end = _period_bounds("2026-05")
    run = Run.objects.create(kind="commissions", period="2026-05", period_start=start, period_end=end)
    assert run.pk > max(row[0] for row in before["runs"])
    chunk = RunChunk.objects.create(run=run, index=0, spec_type="no_account", spec={"type": "no_account"})
    assert chunk.pk > max(row[0] for row in before["chunks"])

    for statement in (
        "UPDATE ledger_journalentry SET amount = 0",
        "UPDATE ledger_journaltransaction SET memo = 'edited'",
        "DELETE FROM ledger_journalentry",
    ):
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert JournalEntry.objects.filter(amount=0).count() == 0
