"""The audit trail (django-pghistory, ``core/audit.py``, each app's ``models/audit.py``): every audited action leaves
an event row with who made it, how, and the diff — through the real paths (the API with a token, an admin post, a
command, a Celery task run eagerly), a queryset ``.update()`` and raw SQL alike; tables written by COPY carry no
trigger; the log and the History pages are the broker admin's and finance's, not support's."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from pghistory.core import event_models
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.audit import ACTOR_HEADER, audit_context, carry_actor, current_context, task_finished, task_started
from core.models import AuditEvent
from core.roles import Role, sync_roles
from ledger.models import PayoutBatch, PayoutLine
from partners.models import Partner
from runs.models import Run
from tests.ledger.payout_support import earn, partner, user
from tests.roles import staff_with_roles
from tests.twofactor import verified_login

pytestmark = pytest.mark.django_db


def events(obj, label: str | None = None) -> list[AuditEvent]:
    """``obj``'s own events, oldest first."""
    found = AuditEvent.objects.tracks(obj).order_by("pgh_created_at", "pgh_id")
    return list(found.filter(pgh_label=label) if label else found)


def token_client(someone) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=someone)[0].key}")
    return client


def role_client(role: Role) -> Client:
    return verified_login(Client(), staff_with_roles(f"audit-{role.name.lower()}", role))


# What is tracked, and what is not ----------------------------------------------------------------------------------

TRACKED = {
    "partners.Program", "partners.ProgramTerms", "partners.Partner", "partners.PartnerLink", "partners.PartnerStatus",
    "partners.PartnerProgram", "partners.AccountAttribution", "partners.AccountTerms",
    "commissions.Plan", "commissions.PlanTerms", "commissions.PlanTier", "commissions.PlanRule",
    "commissions.PartnerPlan", "commissions.Rebate", "commissions.Instrument", "commissions.InstrumentAlias",
    "commissions.SymbolSuffix",
    "ledger.Currency", "ledger.ConversionRate", "ledger.PayoutBatch", "ledger.PayoutLine",
    "runs.Run", "core.DataExport",
    "mam.MoneyManager", "mam.MamGroup", "mam.GroupFeeTerms", "mam.Member",
}  # fmt: skip
# Written by COPY or on the engine's hot path: never a trigger of the trail (their runs are tracked).
UNTRACKED_TABLES = [
    "commissions_trade", "commissions_attributionline", "commissions_mt5deal", "commissions_runtiervolume",
    "mam_equitysnapshot", "mam_feeline", "mam_memberfeestate", "ledger_journalentry", "ledger_journaltransaction",
    "runs_runchunk",
]  # fmt: skip


def _trail_triggers(table: str) -> list[str]:
    """The triggers on ``table`` that write an audit event (pghistory's insert/update/delete triggers)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal AND p.prosrc ~ 'pghistory[.]context'",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def test_the_trail_tracks_exactly_the_set_up_payout_and_run_models():
    assert {m.pgh_tracked_model._meta.label for m in event_models()} == TRACKED


def test_tables_written_by_copy_and_the_hot_path_carry_no_trail_trigger():
    for table in UNTRACKED_TABLES:
        assert _trail_triggers(table) == [], table
    assert len(_trail_triggers("partners_partner")) == 3  # insert, update, delete
    assert len(_trail_triggers("runs_runchunk")) == 0


def test_event_rows_are_append_only():
    p = partner("ib")
    with pytest.raises(Exception, match="Cannot update or delete"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE partners_partnerevent SET name = 'forged' WHERE pgh_obj_id = %s", [p.pk])


# Bulk updates and raw SQL ------------------------------------------------------------------------------------------


def test_a_bulk_update_and_raw_sql_are_caught_with_their_context():
    a, b = partner("a"), partner("b")
    with audit_context(via="command", command="cleanup", **{"user": 7, "username": "ops"}):
        Partner.objects.filter(pk__in=[a.pk, b.pk]).update(status="suspended")
        with connection.cursor() as cursor:
            # A literal % in a statement sent without parameters survives the context's prefix.
            cursor.execute("UPDATE partners_partner SET name = 'Bank 100%' WHERE code = 'a'")
    for p in (a, b):
        bulk = events(p, "update")[0]
        assert bulk.pgh_diff == {"status": ["active", "suspended"]}
        assert (bulk.username, bulk.via, bulk.command) == ("ops", "command", "cleanup")
    raw = events(a, "update")[1]
    assert raw.pgh_diff == {"name": ["A", "Bank 100%"]} and raw.username == "ops"
    # Outside any context the triggers still write the event, unattributed.
    Partner.objects.filter(pk=a.pk).update(email="a@example.com")
    assert events(a, "update")[-1].pgh_context is None


# The real paths: the API with a token, an admin post, a command, a Celery task -------------------------------------


def test_the_api_with_a_token_records_the_user_the_request_and_the_diff():
    ib = partner("ib", payout_account="DE00 1111")
    clerk = staff_with_roles("clerk")
    response = token_client(clerk).patch("/api/v1/partners/ib/", {"payout_account": "DE00 2222"}, format="json")
    assert response.status_code == 200, response.content
    change = events(ib, "update")[-1]
    assert change.pgh_diff == {"payout_account": ["DE00 1111", "DE00 2222"]}
    assert (change.user_id, change.username) == (clerk.pk, "clerk")
    assert (change.via, change.method, change.path) == ("request", "PATCH", "/api/v1/partners/ib/")


def test_an_admin_post_records_the_admin_user():
    ib = partner("ib")
    client = role_client(Role.BROKER_ADMIN)
    client.post("/admin/partners/partner/", {"action": "suspend_selected", "_selected_action": [ib.pk]})
    change = events(ib, "update")[-1]
    assert change.pgh_diff == {"status": ["active", "suspended"]}
    assert (change.username, change.method, change.path) == ("audit-broker_admin", "POST", "/admin/partners/partner/")
    status = AuditEvent.objects.references(ib).filter(pgh_obj_model="partners.PartnerStatus", pgh_label="insert")
    assert [e.username for e in status] == ["audit-broker_admin"]


def test_who_made_approved_exported_and_paid_a_batch_is_in_the_trail():
    """The lines of record of a payout: each step's user, from the batch's and its lines' events."""
    ib = partner("ib")
    earn(ib, "25.00", period="2026-01")
    maker, checker = token_client(user("maker")), token_client(user("checker"))
    batch_id = maker.post("/api/v1/payout-batches/", {"period": "2026-01"}, format="json").json()["id"]
    checker.post(f"/api/v1/payout-batches/{batch_id}/approve/", {}, format="json")
    assert maker.get(f"/api/v1/payout-batches/{batch_id}/export/").status_code == 200
    maker.post(f"/api/v1/payout-batches/{batch_id}/mark-paid/", {}, format="json")
    batch = PayoutBatch.objects.get(pk=batch_id)
    steps = [(e.pgh_label, (e.pgh_diff or {}).get("status", [None, None])[1], e.username) for e in events(batch)]
    assert steps == [
        ("insert", None, "maker"),
        ("update", "approved", "checker"),
        ("update", "exported", "maker"),
        ("update", "paid", "maker"),
    ]
    line = PayoutLine.objects.get(batch=batch)
    made, paid = events(line)
    assert made.pgh_data["payout_account"] == "IBAN-ib" and made.username == "maker"
    assert paid.pgh_diff["status"] == ["to_pay", "paid"] and paid.username == "maker"
    assert paid.path == f"/api/v1/payout-batches/{batch_id}/mark-paid/"


def test_a_command_records_its_name_and_the_user_it_acts_as(capsys):
    earn(partner("ib"), "25.00", period="2026-01")
    user("maker")
    call_command("payout_batch", "--period", "2026-01", "--user", "maker")
    made = events(PayoutBatch.objects.get(), "insert")[0]
    assert (made.via, made.command, made.username) == ("command", "payout_batch", "maker")
    assert made.pgh_context["os_user"]


@pytest.mark.django_db(transaction=True)
def test_runs_record_who_requested_and_approved_them_and_the_tasks_that_moved_them():
    from tests.runs.widgets import widget_kind

    staff = staff_with_roles("operator")
    with widget_kind():
        client = token_client(staff)
        run_id = client.post("/api/v1/runs/", {"kind": "widgets", "period": "2026-03"}, format="json").json()["id"]
        client.post(f"/api/v1/runs/{run_id}/approve/", {}, format="json")
    trail = [
        (e.pgh_label, (e.pgh_diff or {}).get("status", [None, e.pgh_data["status"]])[1], e.username, e.task)
        for e in events(Run.objects.get(pk=run_id))
    ]
    # Eager Celery: the start and finish tasks ran inside the request that queued them, and say so.
    assert trail[0] == ("insert", "queued", "operator", None)
    assert ("update", "running", "operator", "runs.start") in trail
    assert any(step[1] == "computed" and step[2] == "operator" and step[3] for step in trail)
    assert trail[-1] == ("update", "approved", "operator", None)


def test_an_eager_celery_task_outside_any_context_is_the_tasks():
    from runs.tasks import start

    feb = Run.objects.create(
        kind="ghost", period="2026-02", period_start="2026-01-31T22:00Z", period_end="2026-02-28T22:00Z"
    )
    start.delay(feb.pk)  # eager: no kind "ghost", so the task fails the run
    failed = events(feb, "update")[-1]
    assert failed.pgh_diff["status"] == ["queued", "failed"]
    assert (failed.via, failed.task, failed.username) == ("task", "runs.start", None)
    assert current_context() is None  # the task's context is closed with it


def test_a_queued_task_carries_who_queued_it_to_the_worker():
    headers: dict = {}
    with audit_context(via="request", method="POST", path="/api/v1/runs/", user=3, username="operator"):
        carry_actor(headers=headers)
    assert headers[ACTOR_HEADER] == {"user": 3, "username": "operator", "via": "request", "method": "POST",
                                     "path": "/api/v1/runs/"}  # fmt: skip

    class Task:
        name = "runs.chunk"
        request = type("Request", (), {ACTOR_HEADER: headers[ACTOR_HEADER]})()

    task_started(task_id="t1", task=Task())
    try:
        assert current_context() == {"user": 3, "username": "operator", "method": "POST", "path": "/api/v1/runs/",
                                     "via": "task", "task": "runs.chunk", "queued_via": "request"}  # fmt: skip
    finally:
        task_finished(task_id="t1")
    assert current_context() is None


def test_a_nested_context_adds_its_keys_and_gives_them_back():
    with audit_context(via="request", path="/x/", username="a"):
        with audit_context(task="runs.start"):
            assert current_context() == {"via": "request", "path": "/x/", "username": "a", "task": "runs.start"}
        assert current_context() == {"via": "request", "path": "/x/", "username": "a"}


def test_every_command_that_writes_is_audited():
    from django.core.management import get_commands, load_command_class

    from core.management.base import AuditedCommand

    exempt = {"bench", "embedded_db"}  # scratch databases of their own; the embedded server's start and stop
    ours = {name: app for name, app in get_commands().items() if app in {"core", "partners", "ledger", "runs",
                                                                         "commissions", "mam", "demo"}}  # fmt: skip
    unaudited = {n for n, app in ours.items() if not isinstance(load_command_class(app, n), AuditedCommand)}
    assert unaudited == exempt


# The admin: the log and every object's History -------------------------------------------------------------------


@pytest.fixture
def changed_partner():
    sync_roles()
    ib = partner("ib-audit", payout_account="DE89 3704 0044 0532 0130 00")
    with audit_context(via="request", method="POST", path="/admin/", **{"user": 1, "username": "someone"}):
        Partner.objects.filter(pk=ib.pk).update(payout_account="DE89 9999 0044 0532 0130 00")
    return ib


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name.lower())
def test_the_log_is_the_broker_admins_and_finances_not_supports(changed_partner, role):
    response = role_client(role).get("/admin/core/auditevent/")
    if role == Role.SUPPORT:
        assert response.status_code == 403
        return
    page = response.content.decode()
    assert response.status_code == 200
    assert "ib-audit" in page and "DE89 9999" in page and "someone" in page and "POST /admin/" in page


def test_an_objects_history_shows_its_trail_to_finance_and_djangos_log_to_support(changed_partner):
    url = f"/admin/partners/partner/{changed_partner.pk}/history/"
    finance = role_client(Role.FINANCE).get(url)
    assert finance.status_code == 200 and "audit-history" in finance.content.decode()
    assert "DE89 3704 0044 0532 0130 00 → DE89 9999 0044 0532 0130 00" in finance.content.decode()
    support = role_client(Role.SUPPORT).get(url)
    assert support.status_code == 200 and "DE89" not in support.content.decode()


def test_the_log_searches_and_filters_without_a_server_error(changed_partner):
    client = role_client(Role.FINANCE)
    found = client.get("/admin/core/auditevent/", {"q": "ib-audit"}).content.decode()
    assert "ib-audit" in found
    by_id = client.get("/admin/core/auditevent/", {"q": str(changed_partner.pk), "model": "partners.partnerevent"})
    assert by_id.status_code == 200 and "ib-audit" in by_id.content.decode()
    other_model = client.get("/admin/core/auditevent/", {"q": "ib-audit", "model": "runs.runevent"}).content.decode()
    assert "DE89" not in other_model
    someone = get_user_model().objects.create_user("someone-else", is_staff=True)
    for query in (
        {"user": str(someone.pk)},
        {"user": "none"},
        {"user": "x"},
        {"action": "update"},
        {"pgh_created_at__gte": "2026-01-01 00:00:00+00:00"},
        {"q": "a\x00b"},
        {"model": "no.such"},
    ):
        assert client.get("/admin/core/auditevent/", query).status_code == 200, query
