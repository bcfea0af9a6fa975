"""PostgreSQL refuses a second posting (or reversal) of one trade version by another approved commission run, through
posting claims derived from each run's lines (``commissions.models.claims``); the normal flows still approve."""

from __future__ import annotations

import threading

import pandas as pd
import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from commissions.models import AttributionLine, PostingClaim, Trade
from commissions.services.run_kind import LINE_COLUMNS
from core.exceptions import Conflict
from core.periods import server_period
from ledger.models import JournalTransaction, PeriodLock
from runs.line_store import run_lines_prepare, run_lines_publish, run_lines_write
from runs.models import Run
from runs.registry import run_source_prefix
from runs.services.approve import run_approve

from .runs_support import post_ok, setup_chain, setup_reference, trade

pytestmark = pytest.mark.django_db(transaction=True)

LINES = AttributionLine._meta.db_table


def _compute(client, period, *, approve=True, recompute=False) -> int:
    run = post_ok(client, "/api/v1/runs/", {"kind": "commissions", "period": period, "recompute": recompute})
    assert client.get(f"/api/v1/runs/{run['id']}/").json()["status"] == "computed"
    if approve:
        post_ok(client, f"/api/v1/runs/{run['id']}/approve/", {})
    return run["id"]


def _version(ticket: int, version: int) -> Trade:
    return Trade.objects.get(server="live1", ticket=ticket, version=version)


def _claims(run_id: int) -> list[tuple]:
    return sorted(
        (c.action, c.trade_ids.lower, c.trade_ids.upper - 1, c.close_times.lower, c.close_times.upper, c.approved)
        for c in PostingClaim.objects.filter(run_id=run_id)
    )


def _box(action: str, versions: list[Trade], approved: bool) -> tuple:
    ids = [v.pk for v in versions]
    closes = [v.close_time for v in versions]
    return (action, min(ids), max(ids), min(closes), max(closes), approved)


def _islands(versions: list[Trade], approved: bool) -> list[tuple]:
    """Reverse boxes: one per run of consecutive ids."""
    runs: list[list[Trade]] = []
    for version in sorted(versions, key=lambda v: v.pk):
        if runs and runs[-1][-1].pk + 1 == version.pk:
            runs[-1].append(version)
        else:
            runs.append([version])
    return [_box("reverse", run, approved) for run in runs]


def _forged_run(period: str, lines: list[dict], *, status: str = Run.Status.COMPUTED) -> Run:
    """A commission run made without the service: its own lines table with ``lines`` in it, published as the
    framework publishes, then put in ``status`` by a bare UPDATE (which is what the triggers see)."""
    bounds = server_period(period)
    run = Run.objects.create(
        kind="commissions",
        period=period,
        period_start=bounds.start,
        period_end=bounds.end,
        status=Run.Status.RUNNING,
        snapshot={"trade_max_id": 2**40, "account_max_id": 2**40},
    )
    run_lines_prepare(parent=LINES, run_id=run.pk)
    defaults = {
        "run_id": run.pk,
        "period": period,
        "account_id": None,
        "partner_id": None,
        "beneficiary_account_id": None,
        "kind": "volume",
        "level": 1,
        "rule_id": None,
        "base_micros": 0,
        "rate_micros": None,
        "tier": None,
        "multiplier_micros": None,
        "amount_micros": 0,
        "currency": "USD",
        "reason": "",
        "adjusts_period": "",
    }
    frame = pd.DataFrame([{**defaults, **line} for line in lines], columns=list(LINE_COLUMNS))
    for column in ("account_id", "partner_id", "beneficiary_account_id", "rule_id", "rate_micros", "tier"):
        frame[column] = frame[column].astype("Int64")
    frame["multiplier_micros"] = frame["multiplier_micros"].astype("Int64")
    with transaction.atomic():
        run_lines_write(parent=LINES, run_id=run.pk, lines=frame)
        run_lines_publish(parent=LINES, run_id=run.pk)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE runs_run SET status = %s WHERE id = %s", [status, run.pk])
    return run


def _partner_id(code: str) -> int:
    from partners.models import Partner

    return Partner.objects.get(code=code).pk


def test_the_normal_flows_claim_disjoint_boxes(staff_client):
    """Period run, correction and cancellation after approval (reversals and adjustments), recompute then approve:
    every run's claims are derived from its lines and approved with it, without overlapping."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2, close="2026-03-20T12:00:00Z"), trade(3)])
    march = _compute(staff_client, "2026-03")
    v1 = [_version(t, 1) for t in (1, 2, 3)]
    assert _claims(march) == [_box("post", v1, True)]

    post_ok(staff_client, "/api/v1/trades/", [trade(1, lots="2.00"), trade(2, status="cancelled")])
    first = _compute(staff_client, "2026-04", approve=False)
    v2 = [_version(1, 2), _version(2, 2)]
    # Computed: derived, not approved yet; reversals boxed exactly (runs of consecutive ids).
    assert _claims(first) == sorted([_box("post", v2, False), *_islands(v1[:2], False)])
    # A late trade for March, then April is recomputed: the superseded run's claims never count.
    post_ok(staff_client, "/api/v1/trades/", [trade(9)])
    april = _compute(staff_client, "2026-04", recompute=True)
    late = _version(9, 1)
    assert Run.objects.get(pk=first).status == Run.Status.SUPERSEDED
    assert _claims(first) == sorted([_box("post", v2, False), *_islands(v1[:2], False)])
    assert _claims(april) == sorted([_box("post", [*v2, late], True), *_islands(v1[:2], True)])
    # Nothing is left for May: no lines, no claims.
    may = _compute(staff_client, "2026-05")
    assert _claims(may) == []
    assert AttributionLine.objects.filter(run_id=may).count() == 0


def test_a_second_posting_of_a_version_is_refused_by_the_database(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1), trade(2)])
    march = _compute(staff_client, "2026-03")
    posted = _version(2, 1)
    # A run made without the service that pays trade 2's version again, labelled as April's own line (the label
    # does not matter: claims are boxed by the trades' own ids and close times).
    forged = _forged_run(
        "2026-04", [{"trade_id": posted.pk, "partner_id": _partner_id("sub"), "amount_micros": 5_000_000}]
    )
    assert _claims(forged.pk) == [_box("post", [posted], False)]
    # The bare UPDATE, bypassing every service: refused by PostgreSQL.
    refused = f"trade version {posted.pk} is already posted by approved run {march}"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE runs_run SET status = 'approved' WHERE id = %s", [forged.pk])
    # Through the service: a Conflict (409 through the API), and nothing of the approval stays.
    with pytest.raises(Conflict, match=f"^run {forged.pk} cannot be approved: {refused}$"):
        run_approve(run_id=forged.pk)
    refusal = post_ok(staff_client, f"/api/v1/runs/{forged.pk}/approve/", {}, expect=(409,))
    assert refused in str(refusal)
    forged.refresh_from_db()
    assert forged.status == Run.Status.COMPUTED
    assert not JournalTransaction.objects.filter(source_key__startswith=run_source_prefix(forged)).exists()
    assert not PeriodLock.objects.filter(kind="commissions", period="2026-04").exists()
    assert _claims(forged.pk) == [_box("post", [posted], False)]


def test_a_run_that_never_was_computed_is_claimed_when_approved(staff_client):
    """A run pushed straight from running to approved by hand (no claims derived yet) is claimed at approval."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    march = _compute(staff_client, "2026-03")
    posted = _version(1, 1)
    refused = f"trade version {posted.pk} is already posted by approved run {march}"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic():
        _forged_run("2026-04", [{"trade_id": posted.pk}], status=Run.Status.APPROVED)


def test_a_second_reversal_of_a_version_is_refused_by_the_database(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    _compute(staff_client, "2026-03")
    post_ok(staff_client, "/api/v1/trades/", [trade(1, lots="2.00")])
    april = _compute(staff_client, "2026-04")
    old = _version(1, 1)
    assert AttributionLine.objects.filter(run_id=april, trade=old, kind="reversal").count() == 2
    forged = _forged_run(
        "2026-05",
        [{"trade_id": old.pk, "partner_id": _partner_id("sub"), "kind": "reversal", "amount_micros": -5_000_000}],
    )
    assert _claims(forged.pk) == [_box("reverse", [old], False)]
    with pytest.raises(Conflict, match=f"trade version {old.pk} is already reversed by approved run {april}"):
        run_approve(run_id=forged.pk)


def test_two_concurrent_approvals_of_one_version_let_only_the_first_commit(staff_client):
    """The check in the trigger cannot see another transaction's uncommitted approval; the exclusion constraint
    can: the second approval waits for the first and fails when it commits."""
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    version = _version(1, 1)
    first = _forged_run("2026-03", [{"trade_id": version.pk}])
    second = _forged_run("2026-04", [{"trade_id": version.pk}])
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    outcome: dict[str, object] = {}

    def approve_second() -> None:
        with psycopg.connect(**params) as other:
            try:
                other.execute("UPDATE runs_run SET status = 'approved' WHERE id = %s", [second.pk])
                other.commit()
                outcome["second"] = "approved"
            except psycopg.errors.ExclusionViolation as exc:
                outcome["second"] = exc.sqlstate

    with psycopg.connect(**params) as mine:
        mine.execute("UPDATE runs_run SET status = 'approved' WHERE id = %s", [first.pk])
        waiting = threading.Thread(target=approve_second)
        waiting.start()
        waiting.join(timeout=2)
        assert waiting.is_alive()  # blocked on the first approval's claim
        mine.commit()
    waiting.join(timeout=30)
    assert outcome == {"second": "23P01"}  # exclusion_violation
    assert Run.objects.get(pk=second.pk).status == Run.Status.COMPUTED


def test_claims_and_published_lines_cannot_be_written_by_hand(staff_client):
    setup_reference(staff_client)
    setup_chain(staff_client)
    post_ok(staff_client, "/api/v1/trades/", [trade(1)])
    march = _compute(staff_client, "2026-03")
    posted = _version(1, 1)
    statements = [
        (
            f"INSERT INTO {PostingClaim._meta.db_table} (run_id, action, trade_ids, close_times, approved) "
            "VALUES (%s, 'post', int8range(1, 2), tstzrange(now(), now(), '[]'), false)",
            [march],
            "derived by the database",
        ),
        (f"UPDATE {PostingClaim._meta.db_table} SET approved = false WHERE run_id = %s", [march], "derived"),
        (f"DELETE FROM {PostingClaim._meta.db_table} WHERE run_id = %s", [march], "never deleted"),
        (
            f"INSERT INTO {LINES} (run_id, period, trade_id, kind, level, amount_micros, currency, reason, "
            "adjusts_period) VALUES (%s, '2026-03', %s, 'volume', 1, 1000000, 'USD', '', '')",
            [march, posted.pk],
            f"lines of run {march} are published",
        ),
        (
            f"UPDATE {Trade._meta.db_table} SET close_time = close_time + interval '40 days' WHERE id = %s",
            [posted.pk],
            f"trade version {posted.pk} is fixed",
        ),
    ]
    for sql, params, message in statements:
        with pytest.raises(DatabaseError, match=message), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    assert _claims(march) == [_box("post", [posted], True)]
    # What ingest updates on a trade row (current flag, resolved instrument) stays allowed.
    Trade.objects.filter(pk=posted.pk).update(superseded_at=posted.ingested_at)
