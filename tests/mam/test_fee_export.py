"""The export of approved fees as platform balance operations: the CSV parses back to exactly the journal's investor
charges, one row per (run, account, kind), amounts negative at the currency's minor unit, deterministic references;
nothing (the header alone) before approval."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from ledger.models import JournalEntry
from ledger.vocabulary import Purpose

from .fee_support import equity, fee_group, join, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)


def _export(client, **query):
    return client.get("/api/v1/mam/fees/export/", query)


def _rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("server,login,amount,currency,comment,reference\r\n")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_approved_fees_export_as_balance_operations_equal_to_the_journal(staff_client):
    setup_partners(staff_client)
    fee_group(staff_client, management_rate="0.02", performance_rate="0.25", ib_fee_share_pct="10")
    fee_group(staff_client, "fund-b", performance_rate="0.2")
    join(staff_client, 1001, joined="2026-03-01")
    join(staff_client, 2002, joined="2026-03-01")
    join(staff_client, 2003, group="fund-b", joined="2026-03-01")
    equity(
        staff_client,
        {
            (1001, "2026-03-01"): "100000",
            (1001, "2026-03-31"): "108000",
            (2002, "2026-03-01"): "5000",
            (2002, "2026-03-31"): "4000",
            (2003, "2026-03-01"): "2000",
            (2003, "2026-03-31"): "2500",
        },
    )
    run = run_fees(staff_client, "2026-03", approve=False)
    assert _rows(_export(staff_client, period="2026-03")) == []  # computed is not approved: nothing to charge yet
    staff_client.post(f"/api/v1/runs/{run['id']}/approve/", {}, format="json")

    response = _export(staff_client, period="2026-03")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="fees-2026-03.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    by_reference = {row["reference"]: row for row in rows}
    assert len(by_reference) == len(rows)
    # 2002 lost money: a management fee but no performance fee (a 0 is no balance operation).
    assert sorted((row["login"], row["reference"].rsplit(":", 1)[1]) for row in rows) == [
        ("1001", "management_fee"),
        ("1001", "performance_fee"),
        ("2002", "management_fee"),
        ("2003", "performance_fee"),
    ]
    performance = by_reference[f"fee:{run['id']}:live1:1001:performance_fee"]
    assert (performance["server"], performance["currency"]) == ("live1", "USD")
    assert performance["comment"] == "Performance fee 2026-03 (fund)"
    assert all(row["amount"].startswith("-") and len(row["amount"].split(".")[1]) == 2 for row in rows)
    # Exactly what the journal charged each investor, account by account.
    charged: dict[str, Decimal] = {}
    for entry in JournalEntry.objects.filter(account__purpose=Purpose.INVESTOR_FEE_CHARGE).select_related(
        "account__client_account"
    ):
        login = str(entry.account.client_account.login)
        charged[login] = charged.get(login, Decimal(0)) + entry.amount
    exported: dict[str, Decimal] = {}
    for row in rows:
        exported[row["login"]] = exported.get(row["login"], Decimal(0)) - Decimal(row["amount"])
    assert exported == charged

    one = _rows(_export(staff_client, period="2026-03", group="fund-b"))
    assert [row["login"] for row in one] == ["2003"]
    assert _rows(_export(staff_client, period="2026-03")) == rows  # the same references every time
    # Every download is in the audit log: who, what (period, group), its rows and their total per currency.
    from core.models import AuditEvent, DataExport

    records = list(DataExport.objects.filter(kind="mam_fees").order_by("pk"))
    assert [(r.scope, r.rows) for r in records] == [("", 0), ("", 4), ("fund-b", 1), ("", 4)]
    assert records[-1].totals == {"USD": str(sum((Decimal(row["amount"]) for row in rows), Decimal(0)))}
    assert {r.exported_by.username for r in records} == {"staff"}
    event = AuditEvent.objects.tracks(records[-1]).get()
    assert (event.pgh_label, event.via, event.username) == ("insert", "request", "staff")


def test_bad_export_queries_are_400_and_errors_are_json_even_to_a_csv_client(staff_client):
    setup_partners(staff_client)
    missing = _export(staff_client)
    assert missing.status_code == 400 and "period" in missing.json()
    unknown = _export(staff_client, period="2026-03", group="nope")
    assert unknown.status_code == 400 and "group" in unknown.json()
    csv_only = staff_client.get("/api/v1/mam/fees/export/", {"period": "2026-13"}, HTTP_ACCEPT="text/csv")
    assert csv_only.status_code == 400 and csv_only["Content-Type"].startswith("application/json")
    assert "period" in csv_only.json()
