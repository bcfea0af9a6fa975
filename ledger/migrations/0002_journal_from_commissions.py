"""Carry the journal over from ``commissions`` (its tables are dropped by commissions 0006 after this): every ledger
account, transaction and entry keeps its id and amounts; transactions get their ``source_key`` (``run:<id>:partner:
<id>:<kind>:<currency>`` or ``…:client:<id>:…`` for run postings, ``legacy:<id>`` for others), accounts their purpose
and nature, and every approved run's period its lock (not an approved ``fees`` run's: that kind computed commissions
by mistake; runs 0001 reverses what it posted, and a lock would refuse the real fee run of its period). Statements read the same figures before and after."""

import json

from django.db import migrations

# The minor units the old journal rounded its postings with (``core.money`` before the ledger, frozen here): every
# currency found in the copied journal gets the unit its entries were rounded to, so the entries agree with their
# currency whatever ``core.money`` says of it today (a currency first seen after the upgrade takes today's unit).
OLD_MINOR_UNITS = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "HUF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "BTC": 8,
    "USDT": 2,
}

PURPOSE_NATURE = {
    "partner_payable": "liability",
    "client_payable": "liability",
    "commission_expense": "expense",
    "rounding": "expense",
    "payout_clearing": "liability",
}


def _table_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def copy_journal(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if not _table_exists(cursor, "commissions_journalentry"):
            return
        cursor.execute(
            "SELECT DISTINCT currency FROM commissions_ledgeraccount "
            "UNION SELECT DISTINCT currency FROM commissions_journaltransaction"
        )
        for (code,) in cursor.fetchall():
            cursor.execute(
                "INSERT INTO ledger_currency (code, name, minor_unit) VALUES (%s, '', %s) ON CONFLICT DO NOTHING",
                [code, OLD_MINOR_UNITS.get(code.upper(), 2)],
            )
        cursor.execute(
            """
            INSERT INTO ledger_ledgeraccount (id, purpose, nature, currency, partner_id, client_account_id, name)
            SELECT a.id, a.type, n.nature, a.currency, a.partner_id, a.client_account_id, a.name
              FROM commissions_ledgeraccount a
              JOIN (SELECT * FROM jsonb_each_text(%s::jsonb)) AS n(purpose, nature) ON n.purpose = a.type
            """,
            [json.dumps(PURPOSE_NATURE)],
        )
        cursor.execute(
            """
            INSERT INTO ledger_journaltransaction (id, source_key, kind, period, currency, memo, reverses_id, posted_at,
                                                   posted_by_id)
            SELECT t.id,
                   CASE WHEN t.run_id IS NULL THEN 'legacy:' || t.id
                        WHEN t.partner_id IS NOT NULL
                        THEN 'run:' || t.run_id || ':partner:' || t.partner_id || ':' || t.kind || ':' || t.currency
                        ELSE 'run:' || t.run_id || ':client:' || t.client_account_id || ':' || t.kind || ':' || t.currency
                   END,
                   t.kind, t.period, t.currency, t.memo, t.reverses_id, t.posted_at, t.posted_by_id
              FROM commissions_journaltransaction t ORDER BY t.id
            """
        )
        cursor.execute(
            "INSERT INTO ledger_journalentry (id, transaction_id, account_id, amount) "
            "SELECT id, transaction_id, account_id, amount FROM commissions_journalentry ORDER BY id"
        )
        cursor.execute(
            "INSERT INTO ledger_periodlock (kind, period, scope, source_key, locked_at, locked_by_id) "
            "SELECT kind, period, '', 'run:' || id, COALESCE(approved_at, now()), approved_by_id "
            "FROM commissions_run WHERE status = 'approved' AND kind <> 'fees' ON CONFLICT DO NOTHING"
        )
        for table in ("ledger_ledgeraccount", "ledger_journaltransaction", "ledger_journalentry"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, "
                "false)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0001_initial"),
        ("commissions", "0005_lines_numeric_on_read"),
    ]

    operations = [migrations.RunPython(copy_journal, migrations.RunPython.noop)]
