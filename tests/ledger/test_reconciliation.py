"""Reconciliation of a period (``ledger.reconciliation``): a sound period — commission run and fee run approved —
reconciles with figures equal to sums computed here from the lines and the journal; excluded trades counted by reason
equal a hand count; a deliberately broken posting, a posting skipped at approval, a line added behind the journal's
back and a posting of a kind no check reconciles are each flagged with the rows behind them. Also through the API,
the CSV export, the admin page and ``manage.py reconcile``."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from commissions.models import AttributionLine
from commissions.services.run_kind import CommissionRunKind
from core.money import quantize
from ledger.models import JournalEntry
from ledger.postings import AccountRef, Leg, Posting
from ledger.reconciliation.registry import Status, reconcile
from ledger.services.posting import journal_post
from ledger.vocabulary import Purpose
from mam.models import FeeLine
from partners.models import Partner
from tests.commissions.runs_support import post_ok, trade
from tests.mam.fee_support import equity, fee_group, join, run_fees, setup_partners

pytestmark = pytest.mark.django_db(transaction=True)

PERIOD = "2026-03"


def _broker(client) -> None:
    """Partners (``setup_partners``: master → sub, ib2, mgr) plus one partner per exclusion: ``slow`` (a plan with a
    minimum hold longer than any trade's), ``noplan`` (no plan); accounts 4004 (slow's), 4005 (noplan's), 4006 (sub's,
    not earning); login 4007 has no account."""
    setup_partners(client)
    post_ok(
        client,
        "/api/v1/plans/",
        {"code": "plan-slow", "name": "slow", "min_hold_seconds": 86400, "rules": [{"type": "per_lot", "rate": "9"}]},
    )
    post_ok(client, "/api/v1/partners/", {"code": "slow", "name": "Slow", "program": "prog", "plan": "plan-slow"})
    post_ok(client, "/api/v1/partners/", {"code": "noplan", "name": "No plan", "program": "prog"})
    post_ok(
        client,
        "/api/v1/accounts/",
        [
            {"server": "live1", "login": 4004, "partner": "slow"},
            {"server": "live1", "login": 4005, "partner": "noplan"},
            {"server": "live1", "login": 4006, "partner": "sub", "earns_commission": False},
        ],
    )


def _trades(client) -> None:
    post_ok(
        client,
        "/api/v1/trades/",
        [
            trade(1, lots="1.00"),  # sub's client: pays sub 5 and master 2 per lot
            trade(2, lots="2.37"),
            trade(3, lots="0.10", login=4007),  # no account: no_ib
            trade(4, lots="0.20", login=4006),  # account_not_earning
            trade(5, lots="0.30", login=4005),  # no_plan
            trade(6, lots="0.40", login=4004),  # min_hold (held 2 hours, the plan wants a day)
            trade(7, lots="0.50", status="cancelled"),  # cancelled
            trade(8, lots="0.60", symbol="ZZZQQQ"),  # unresolved_symbol
        ],
    )


def _fees(client) -> dict:
    fee_group(client, management_rate="0.02", performance_rate="0.25", ib_fee_share_pct="10")
    join(client, 1001, joined="2026-03-01")
    join(client, 2002, joined="2026-03-01")
    equity(
        client,
        {
            (1001, "2026-03-01"): "100000",
            (1001, "2026-03-31"): "108000",
            (2002, "2026-03-01"): "5000",
            (2002, "2026-03-31"): "5400",
        },
    )
    return run_fees(client, PERIOD)


def _commissions(client, *, approve: bool = True) -> dict:
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": PERIOD})
    detail = client.get(f"/api/v1/runs/{run['id']}/").json()
    assert detail["status"] == "computed", detail
    if approve:
        assert post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})["status"] == "approved"
    return detail


@pytest.fixture
def period(staff_client) -> dict:
    _broker(staff_client)
    _trades(staff_client)
    commissions = _commissions(staff_client)
    fees = _fees(staff_client)
    return {"commissions": commissions["id"], "fees": fees["id"]}


def _check(result, name):
    return next(c for c in result.checks if c.name == name)


def _rows(check) -> dict[tuple[str, str, str], object]:
    return {(r.subject, r.detail, r.currency): r for r in check.rows}


def _posted(partner: str, kind: str, purpose: Purpose) -> Decimal:
    """What the journal owes ``partner`` on its ``purpose`` payable for ``kind`` in the period (read by the ORM)."""
    entries = JournalEntry.objects.filter(
        account__purpose=purpose, account__partner__code=partner, transaction__kind=kind, transaction__period=PERIOD
    )
    return -sum((e.amount for e in entries), Decimal(0))


def test_a_sound_period_reconciles_and_its_figures_are_the_lines_and_the_journal(period):
    result = reconcile(period=PERIOD)
    assert result.status == Status.OK, [(c.name, r) for c in result.checks for r in c.differences]
    assert [c.name for c in result.checks] == [
        "trial_balance",
        "commission_trades",
        "commission_postings",
        "fee_postings",
        "payouts",
        "unreconciled_postings",
    ]

    postings = _rows(_check(result, "commission_postings"))
    for code in ("sub", "master"):
        lines = AttributionLine.objects.filter(run_id=period["commissions"], partner__code=code, kind="volume")
        exact = sum((line.amount for line in lines), Decimal(0))
        row = postings[(f"partner_payable:{code}", "volume", "USD")]
        assert row.expected == quantize(exact, 2) == row.actual == _posted(code, "volume", Purpose.PARTNER_PAYABLE)
        assert row.count == lines.count()
    # 3.37 lots of paying trades: sub 5/lot, master 2/lot; the hand-made figures.
    assert postings[("partner_payable:sub", "volume", "USD")].expected == Decimal("16.85")
    assert postings[("partner_payable:master", "volume", "USD")].expected == Decimal("6.74")

    fees = _rows(_check(result, "fee_postings"))
    assert fees, "the fee run's postings are reconciled"
    for row in fees.values():
        assert row.expected == row.actual
    for kind in ("management_fee", "performance_fee"):
        exact = sum((f.amount for f in FeeLine.objects.filter(run_id=period["fees"], kind=kind)), Decimal(0))
        row = fees[("manager_payable:mgr", kind, "USD")]
        assert row.expected == quantize(exact, 2) == _posted("mgr", kind, Purpose.MANAGER_PAYABLE)
    shares = {
        code: quantize(
            sum((f.amount for f in FeeLine.objects.filter(kind="fee_share", partner__code=code)), Decimal(0)), 2
        )
        for code in ("sub", "ib2")
    }
    assert shares["sub"] > 0
    for code, share in shares.items():
        assert fees[(f"partner_payable:{code}", "fee_share", "USD")].actual == share
    assert fees[("manager_payable:mgr", "fee_share", "USD")].expected == -sum(shares.values())

    (net,) = _check(result, "trial_balance").rows
    assert (net.currency, net.expected, net.actual, net.status) == ("USD", Decimal(0), Decimal(0), Status.OK)


def test_excluded_trades_counted_by_reason_equal_a_hand_count(period):
    rows = _rows(_check(reconcile(period=PERIOD, areas=["commissions"]), "commission_trades"))
    figures = {(subject, detail): (row.count, row.lots) for (subject, detail, _), row in rows.items()}
    assert figures == {
        ("ingested", f"read by run {period['commissions']}"): (8, Decimal("5.47")),
        ("attributed", ""): (2, Decimal("3.37")),
        ("excluded", "no_ib"): (1, Decimal("0.10")),
        ("excluded", "account_not_earning"): (1, Decimal("0.20")),
        ("excluded", "no_plan"): (1, Decimal("0.30")),
        ("excluded", "min_hold"): (1, Decimal("0.40")),
        ("excluded", "cancelled"): (1, Decimal("0.50")),
        ("excluded", "unresolved_symbol"): (1, Decimal("0.60")),
    }


def test_trades_after_the_run_read_the_period_are_counted_as_late_and_a_period_without_run_is_flagged(staff_client):
    _broker(staff_client)
    _trades(staff_client)
    (row,) = _check(reconcile(period=PERIOD), "commission_trades").rows
    assert (row.status, row.count, row.lots, len(row.evidence)) == (Status.DIFFERENCE, 8, Decimal("5.47"), 8)
    _commissions(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(9, lots="0.70")])  # late: the approved run never read it
    rows = _rows(_check(reconcile(period=PERIOD), "commission_trades"))
    late = rows[("late", "pending adjustment", "")]
    assert (late.status, late.count, late.lots) == (Status.OK, 1, Decimal("0.70"))


def test_a_broken_posting_is_flagged_with_its_transaction(period):
    sub = Partner.objects.get(code="sub")
    journal_post(
        postings=[
            Posting(
                source_key="manual:test:sub:volume",
                kind="volume",
                period=PERIOD,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("1.25")),
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=sub.pk), Decimal("-1.25")),
                ),
            )
        ]
    )
    result = reconcile(period=PERIOD)
    assert result.status == Status.DIFFERENCE
    assert _check(result, "trial_balance").status == Status.OK  # the journal itself is balanced
    (flagged,) = _check(result, "commission_postings").differences
    assert (flagged.subject, flagged.detail, flagged.currency) == ("partner_payable:sub", "volume", "USD")
    assert (flagged.expected, flagged.actual, flagged.difference) == (
        Decimal("16.85"),
        Decimal("18.10"),
        Decimal("1.25"),
    )
    transactions = {e.label: e.amount for e in flagged.evidence if e.type == "transaction"}
    assert transactions == {
        "commissions 2026-03 partner sub volume USD": Decimal("16.85"),  # natural keys, not the source key's ids
        "manual:test:sub:volume": Decimal("1.25"),
    }
    assert [e.label for e in flagged.evidence if e.type == "run"] == ["commissions 2026-03"]
    # The row's note (the CSV's and the admin's column) names them the same way, never by "run:<id>" source keys.
    assert flagged.note.startswith("commissions 2026-03, ") and "run:" not in flagged.note
    assert "commissions 2026-03 partner sub volume USD" in flagged.note
    lines = [e for e in flagged.evidence if e.type == "commission_line"]
    assert (
        len(lines) == AttributionLine.objects.filter(run_id=period["commissions"], partner=sub, kind="volume").count()
    )
    # Nothing else is flagged, and nothing is netted away: master's row is still its own, and sound.
    assert sum(len(c.differences) for c in result.checks) == 1


def test_a_fee_posting_the_fee_lines_do_not_explain_is_flagged_by_fee_postings(period):
    """A management fee credited to the manager by hand, beside the approval's posting: the fee check (not the
    commission one) flags the manager's management-fee row by exactly that amount, naming the transaction."""
    mgr = Partner.objects.get(code="mgr")
    journal_post(
        postings=[
            Posting(
                source_key="manual:test:mgr:management_fee",
                kind="management_fee",
                period=PERIOD,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("3.10")),
                    Leg(AccountRef(Purpose.MANAGER_PAYABLE, "USD", partner_id=mgr.pk), Decimal("-3.10")),
                ),
            )
        ]
    )
    result = reconcile(period=PERIOD)
    assert result.status == Status.DIFFERENCE
    (flagged,) = _check(result, "fee_postings").differences
    assert (flagged.subject, flagged.detail, flagged.currency) == ("manager_payable:mgr", "management_fee", "USD")
    exact = sum((f.amount for f in FeeLine.objects.filter(run_id=period["fees"], kind="management_fee")), Decimal(0))
    assert (flagged.expected, flagged.actual, flagged.difference) == (
        quantize(exact, 2),
        quantize(exact, 2) + Decimal("3.10"),
        Decimal("3.10"),
    )
    assert "manual:test:mgr:management_fee" in {e.label for e in flagged.evidence if e.type == "transaction"}
    assert _check(result, "commission_postings").differences == []


def test_a_posting_skipped_at_approval_is_flagged_with_the_lines_behind_it(staff_client, monkeypatch):
    _broker(staff_client)
    _trades(staff_client)
    master = Partner.objects.get(code="master")
    original = CommissionRunKind.postings

    def without_master(self, run):
        return [p for p in original(self, run) if f":partner:{master.pk}:" not in p.source_key]

    monkeypatch.setattr(CommissionRunKind, "postings", without_master)
    run = _commissions(staff_client)
    (flagged,) = _check(reconcile(period=PERIOD), "commission_postings").differences
    assert (flagged.subject, flagged.detail) == ("partner_payable:master", "volume")
    assert (flagged.expected, flagged.actual) == (Decimal("6.74"), Decimal(0))
    assert {e.type for e in flagged.evidence} == {"run", "commission_line"}
    line_ids = {e.id for e in flagged.evidence if e.type == "commission_line"}
    assert line_ids == set(
        AttributionLine.objects.filter(run_id=run["id"], partner=master, kind="volume").values_list("id", flat=True)
    )


def test_a_line_added_behind_the_journals_back_is_flagged(period):
    """A line inserted by raw SQL into the approved run's partition (the append-only triggers switched off for the
    session, as a restore script might): no posting carries it."""
    slow = Partner.objects.get(code="slow")
    line = AttributionLine.objects.filter(run_id=period["commissions"], partner=slow).get()
    table = AttributionLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                f"INSERT INTO {table} (run_id, period, trade_id, account_id, partner_id, kind, level, amount_micros, "
                "currency, reason, adjusts_period) VALUES (%s, %s, %s, %s, %s, 'spread', 1, 2345678, 'USD', '', '') "
                "RETURNING id",
                [period["commissions"], PERIOD, line.trade_id, line.account_id, slow.pk],
            )
            (inserted,) = cursor.fetchone()
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    result = reconcile(period=PERIOD)
    (flagged,) = _check(result, "commission_postings").differences
    assert (flagged.subject, flagged.detail, flagged.expected, flagged.actual) == (
        "partner_payable:slow",
        "spread",
        Decimal("2.35"),  # 2.345678 rounded once, half-up, as the approval would have posted it
        Decimal(0),
    )
    # Named by its trade version's natural key, not an internal id.
    trade = line.trade
    assert [(e.type, e.id, e.label) for e in flagged.evidence if e.type == "commission_line"] == [
        ("commission_line", inserted, f"{trade.server}#{trade.ticket} v{trade.version} spread")
    ]
    # The trade it names now has a paying line: it moved from excluded (min_hold) to attributed, visibly.
    trades = _rows(_check(result, "commission_trades"))
    assert ("excluded", "min_hold", "") not in trades and trades[("attributed", "", "")].count == 3


def test_a_payable_posting_of_a_kind_no_check_reconciles_is_flagged(period):
    sub = Partner.objects.get(code="sub")
    journal_post(
        postings=[
            Posting(
                source_key="manual:bonus:sub",
                kind="bonus",
                period=PERIOD,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("50")),
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=sub.pk), Decimal("-50")),
                ),
            )
        ]
    )
    (flagged,) = _check(reconcile(period=PERIOD), "unreconciled_postings").differences
    assert (flagged.subject, flagged.detail, flagged.count, flagged.actual) == (
        "not reconciled by any check",
        "bonus",
        1,
        Decimal(50),
    )
    assert [(e.label, e.amount) for e in flagged.evidence] == [("manual:bonus:sub", Decimal(50))]


def test_a_fee_line_added_behind_the_journals_back_is_flagged_by_natural_keys(period):
    """A fee line copied by raw SQL into the approved fee run (triggers off, as a restore script might): the row is
    flagged with the fee line by its member account's server:login and the run's posting by the run's kind, period
    and the partner's code — no internal id in any label."""
    line = FeeLine.objects.filter(run_id=period["fees"], partner__isnull=False).order_by("id").first()
    table = FeeLine._meta.db_table
    columns = [f.column for f in FeeLine._meta.concrete_fields if f.column != "id" and not f.generated]
    copied = ", ".join(columns)
    # The same line again but for its reason (a line's key includes it): what the journal never saw.
    selected = ", ".join("left(reason, 12) || '-cp'" if c == "reason" else c for c in columns)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                f"INSERT INTO {table} ({copied}) SELECT {selected} FROM {table} WHERE id = %s RETURNING id", [line.pk]
            )
            (inserted,) = cursor.fetchone()
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    result = reconcile(period=PERIOD)
    flagged = [r for c in result.checks for r in c.differences]
    assert len(flagged) == 1, flagged
    (row,) = flagged
    fee_lines = {e.id: e.label for e in row.evidence if e.type == "fee_line"}
    assert fee_lines[inserted] == f"{line.account.server}:{line.account.login} {line.kind}"
    transactions = [e.label for e in row.evidence if e.type == "transaction"]
    assert transactions and all(label.startswith("fees 2026-03") for label in transactions), transactions
    assert all(f" {line.partner.code} " in label and "run:" not in label for label in transactions), transactions
    assert [e.label for e in row.evidence if e.type == "run"] == [
        label for label in {t.split(" partner ")[0] for t in transactions}
    ]


def _csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_api_json_and_csv_and_the_command(period, staff_client, tmp_path, capsys):
    body = staff_client.get("/api/v1/reconciliation/", {"period": PERIOD}).json()
    assert body["status"] == "ok" and body["period"] == PERIOD
    postings = next(c for c in body["checks"] if c["name"] == "commission_postings")
    sub = next(r for r in postings["rows"] if r["subject"] == "partner_payable:sub" and r["detail"] == "volume")
    assert (sub["expected"], sub["actual"], sub["difference"]) == ("16.85", "16.85", "0.00")
    only = staff_client.get("/api/v1/reconciliation/", {"period": PERIOD, "area": "fees"}).json()
    assert {c["name"] for c in only["checks"]} == {"fee_postings"}
    assert staff_client.get("/api/v1/reconciliation/", {"period": "2026-13"}).status_code == 400

    call_command("reconcile", "--period", PERIOD, "--csv", str(tmp_path / "ok.csv"))
    assert "reconciles: no difference" in capsys.readouterr().out

    sub_pk = Partner.objects.get(code="sub").pk
    journal_post(
        postings=[
            Posting(
                source_key="manual:csv",
                kind="override",
                period=PERIOD,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("0.01")),
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=sub_pk), Decimal("-0.01")),
                ),
            )
        ]
    )
    rows = _csv(staff_client.get("/api/v1/reconciliation/export/", {"period": PERIOD}))
    flagged = [r for r in rows if r["status"] == "difference"]
    assert {(r["subject"], r["detail"], r["difference"], r["evidence_label"]) for r in flagged} == {
        ("partner_payable:sub", "override", "0.01", ""),
        ("partner_payable:sub", "override", "0.01", "manual:csv"),
    }
    with pytest.raises(CommandError, match="1 difference"):
        call_command("reconcile", "--period", PERIOD, "--csv", str(tmp_path / "bad.csv"))
    written = list(csv.DictReader(io.StringIO((tmp_path / "bad.csv").read_text(), newline="")))
    assert [r for r in written if r["status"] == "difference"] == flagged


def test_the_admin_page_shows_each_check_and_flags_differences(period, admin_client):
    page = admin_client.get("/admin/ledger/ledgeraccount/reconciliation/", {"period": PERIOD})
    assert page.status_code == 200
    html = page.content.decode()
    assert "reconciles: no difference" in html and "Trades ingested vs attributed vs excluded" in html
    sub = Partner.objects.get(code="sub")
    journal_post(
        postings=[
            Posting(
                source_key="manual:admin",
                kind="volume",
                period=PERIOD,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), Decimal("3")),
                    Leg(AccountRef(Purpose.PARTNER_PAYABLE, "USD", partner_id=sub.pk), Decimal("-3")),
                ),
            )
        ]
    )
    html = admin_client.get("/admin/ledger/ledgeraccount/reconciliation/", {"period": PERIOD}).content.decode()
    assert "Differences are flagged" in html and "manual:admin" in html
    export = admin_client.get("/admin/ledger/ledgeraccount/reconciliation/", {"period": PERIOD, "export": "csv"})
    assert any(r["evidence_label"] == "manual:admin" for r in _csv(export))
    bad = admin_client.get("/admin/ledger/ledgeraccount/reconciliation/", {"period": "March"})
    assert bad.status_code == 200 and "YYYY-MM" in bad.content.decode()
