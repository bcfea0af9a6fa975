"""The payout batch admin: New batch…, approve as another user (the maker is refused), download the CSV, mark
paid, discard — each through the services, with their messages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ledger.models import JournalTransaction, PayoutBatch
from tests.twofactor import verified_login

from .payout_support import earn, partner

pytestmark = pytest.mark.django_db


def _admin(name: str) -> Client:
    return verified_login(Client(), get_user_model().objects.create_superuser(name, f"{name}@x.io", "pw"))


def test_new_batch_approve_export_and_pay_through_the_admin():
    earn(partner("ib", name="=cmd|x"), "25.00", period="2026-01")
    maker, checker = _admin("maker"), _admin("checker")
    listing = maker.get("/admin/ledger/payoutbatch/")
    assert listing.status_code == 200 and b"New batch" in listing.content
    bad = maker.post("/admin/ledger/payoutbatch/new/", {"period": "2026-13"})
    assert bad.status_code == 200 and b"period" in bad.content and not PayoutBatch.objects.exists()
    made = maker.post("/admin/ledger/payoutbatch/new/", {"period": "2026-01"})
    batch = PayoutBatch.objects.get()
    assert made.status_code == 302 and made["Location"].endswith(f"/{batch.pk}/change/")
    page = maker.get(f"/admin/ledger/payoutbatch/{batch.pk}/change/")
    assert page.status_code == 200 and b"to_pay: 1 \xc2\xb7 25.00 USD" in page.content
    action = {"action": "approve_selected", "_selected_action": [batch.pk]}
    maker.post("/admin/ledger/payoutbatch/", action, follow=True)
    assert PayoutBatch.objects.get().status == "draft"  # the maker's own approval is refused
    checker.post("/admin/ledger/payoutbatch/", action, follow=True)
    assert PayoutBatch.objects.get().status == "approved"
    confirm = maker.get(f"/admin/ledger/payoutbatch/{batch.pk}/export/")  # a GET (a prefetch, a preview) asks only
    assert confirm.status_code == 200 and b"Export and download" in confirm.content
    assert PayoutBatch.objects.get().status == "approved"
    csv_response = maker.post(f"/admin/ledger/payoutbatch/{batch.pk}/export/")
    body = b"".join(csv_response.streaming_content).decode()
    assert "'=cmd|x" in body and ",25.00," in body
    assert PayoutBatch.objects.get().status == "exported"
    again = maker.get(f"/admin/ledger/payoutbatch/{batch.pk}/export/")  # once exported, the file is a plain GET
    assert b"".join(again.streaming_content).decode() == body
    maker.post("/admin/ledger/payoutbatch/", {"action": "mark_paid_selected", "_selected_action": [batch.pk]})
    assert PayoutBatch.objects.get().status == "paid" and JournalTransaction.objects.filter(kind="payout").count() == 1


def test_a_user_without_the_payout_permissions_gets_403():
    user = get_user_model().objects.create_user("support", is_staff=True)
    client = verified_login(Client(), user)
    assert client.get("/admin/ledger/payoutbatch/new/").status_code == 403
    assert client.get("/admin/ledger/payoutbatch/1/export/").status_code == 403


def test_the_payout_batch_command_makes_approves_exports_and_pays(tmp_path):
    import csv as csv_module

    from django.core.management import CommandError, call_command

    from .payout_support import user

    earn(partner("ib"), "25.00", period="2026-01")
    user("maker"), user("checker")
    with pytest.raises(CommandError, match="--user"):
        call_command("payout_batch", "--period", "2026-01")
    call_command("payout_batch", "--period", "2026-01", "--user", "maker")
    batch = PayoutBatch.objects.get()
    with pytest.raises(CommandError, match="another user"):
        call_command("payout_batch", "--batch", str(batch.pk), "--approve", "--user", "maker")
    target = tmp_path / "out" / "batch.csv"
    call_command("payout_batch", "--batch", str(batch.pk), "--approve", "--user", "checker")
    call_command("payout_batch", "--period", "2026-01", "--export", str(target), "--user", "maker")
    rows = list(csv_module.DictReader(target.open(newline="", encoding="utf-8")))
    assert [(r["partner_code"], r["amount"]) for r in rows] == [("ib", "25.00")]
    call_command("payout_batch", "--batch", str(batch.pk), "--mark-paid", "--user", "maker")
    assert PayoutBatch.objects.get().status == "paid"


def test_the_batch_list_does_not_query_per_batch(django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .payout_support import user

    earn(partner("ib"), "25.00", period="2026-01")
    client = _admin("viewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/ledger/payoutbatch/").status_code == 200
        return len(captured)

    from ledger.services.payouts import payout_batch_create

    payout_batch_create(period="2026-01", user=user("maker"))
    one = queries()
    for _ in range(4):
        payout_batch_create(period="2026-01", user=user("maker"))
    assert queries() == one


def test_the_payout_batch_command_holds_to_the_roles():
    """A command is no way around the roles: support cannot make a batch, a broker admin cannot approve one, a
    user without a role cannot pay — each a CommandError naming the permission, nothing done."""
    from django.core.management import CommandError, call_command

    from core.roles import Role, sync_roles
    from tests.roles import staff_with_roles

    from .payout_support import user

    sync_roles()
    earn(partner("ib"), "25.00", period="2026-01")
    staff_with_roles("support", Role.SUPPORT)
    staff_with_roles("broker", Role.BROKER_ADMIN)
    get_user_model().objects.create_user("nobody")
    with pytest.raises(CommandError, match=r"ledger\.add_payoutbatch"):
        call_command("payout_batch", "--period", "2026-01", "--user", "support")
    assert not PayoutBatch.objects.exists()
    user("maker")
    call_command("payout_batch", "--period", "2026-01", "--user", "maker")
    batch = str(PayoutBatch.objects.get().pk)
    with pytest.raises(CommandError, match=r"ledger\.approve_payoutbatch"):
        call_command("payout_batch", "--batch", batch, "--approve", "--user", "broker")
    assert PayoutBatch.objects.get().status == "draft"
    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("payout_batch", "--batch", batch, "--approve", "--user", "nobody")


def test_the_payout_batch_command_fails_a_line_with_the_banks_reason_and_pays_the_rest(tmp_path):
    from django.core.management import CommandError, call_command

    from ledger.models import PayoutLine

    from .payout_support import user

    earn(partner("ib"), "25.00", period="2026-01")
    earn(partner("ib2"), "40.00", period="2026-01")
    user("maker"), user("checker")
    call_command("payout_batch", "--period", "2026-01", "--user", "maker")
    batch = str(PayoutBatch.objects.get().pk)
    call_command("payout_batch", "--batch", batch, "--approve", "--user", "checker")
    call_command("payout_batch", "--batch", batch, "--export", str(tmp_path / "b.csv"), "--user", "maker")
    with pytest.raises(CommandError, match="PARTNER=REASON"):
        call_command("payout_batch", "--batch", batch, "--fail", "ib2", "--user", "maker")
    call_command("payout_batch", "--batch", batch, "--mark-paid", "--fail", "ib2=account closed", "--user", "maker")
    lines = dict(PayoutLine.objects.values_list("partner__code", "status"))
    assert lines == {"ib": "paid", "ib2": "failed"}
    assert PayoutLine.objects.get(partner__code="ib2").reason == "account closed"
    assert JournalTransaction.objects.filter(kind="payout").count() == 1


def test_finance_records_a_failed_line_in_the_admin_and_pays_the_rest(tmp_path):
    """A bounced transfer is recorded with the bank's reason (back to payable), never posted as paid."""
    from ledger.models import PayoutLine

    earn(partner("ib"), "25.00", period="2026-01")
    earn(partner("ib2"), "40.00", period="2026-01")
    maker, checker = _admin("maker"), _admin("checker")
    maker.post("/admin/ledger/payoutbatch/new/", {"period": "2026-01"})
    batch = PayoutBatch.objects.get()
    checker.post("/admin/ledger/payoutbatch/", {"action": "approve_selected", "_selected_action": [batch.pk]})
    maker.post(f"/admin/ledger/payoutbatch/{batch.pk}/export/")
    page = maker.get(f"/admin/ledger/payoutbatch/{batch.pk}/change/").content.decode()
    assert f"/{batch.pk}/outcomes/" in page
    url = f"/admin/ledger/payoutbatch/{batch.pk}/outcomes/"
    assert maker.post(url, {"failures": "ib2 account closed"}).status_code == 200  # no colon: a form error
    assert maker.post(url, {"failures": "nope: x", "pay_the_rest": "on"}).status_code == 200  # unknown partner
    assert not JournalTransaction.objects.filter(kind="payout").exists()
    done = maker.post(url, {"failures": "ib2: account closed", "pay_the_rest": "on"})
    assert done.status_code == 302
    assert dict(PayoutLine.objects.values_list("partner__code", "status")) == {"ib": "paid", "ib2": "failed"}
    assert PayoutLine.objects.get(partner__code="ib2").reason == "account closed"
    assert JournalTransaction.objects.filter(kind="payout").count() == 1
    support = verified_login(Client(), get_user_model().objects.create_user("support-1", is_staff=True))
    assert support.post(url, {"pay_the_rest": "on"}).status_code == 403


def _exported_batch_of_two(tmp_path) -> PayoutBatch:
    from django.core.management import call_command

    from .payout_support import user

    earn(partner("ib"), "25.00", period="2026-01")
    earn(partner("ib2"), "40.00", period="2026-01")
    user("maker"), user("checker")
    call_command("payout_batch", "--period", "2026-01", "--user", "maker")
    batch = PayoutBatch.objects.get()
    call_command("payout_batch", "--batch", str(batch.pk), "--approve", "--user", "checker")
    call_command("payout_batch", "--batch", str(batch.pk), "--export", str(tmp_path / "b.csv"), "--user", "maker")
    return batch


def test_a_banks_reason_too_long_or_not_one_line_is_refused_by_the_command_and_the_admin(tmp_path):
    """The line's reason column holds 255 characters of one line: a longer or multi-line reason is a CommandError
    and a form error, never a database error; nothing is paid or failed."""
    from django.core.management import CommandError, call_command

    from ledger.models import PayoutLine

    batch = _exported_batch_of_two(tmp_path)
    for reason in ("x" * 300, "closed\u202e"):
        with pytest.raises(CommandError, match=r"255 characters|One line of text"):
            call_command(
                "payout_batch", "--batch", str(batch.pk), "--mark-paid", "--fail", f"ib2={reason}", "--user", "maker"
            )
    url = f"/admin/ledger/payoutbatch/{batch.pk}/outcomes/"
    admin_user = _admin("finance")
    too_long = admin_user.post(url, {"failures": "ib2: " + "x" * 300, "pay_the_rest": "on"})
    assert too_long.status_code == 200 and b"at most 255 characters" in too_long.content
    override = admin_user.post(url, {"failures": "ib2: closed\u200b", "pay_the_rest": "on"})
    assert override.status_code == 200 and b"One line of text" in override.content
    assert set(PayoutLine.objects.values_list("status", flat=True)) == {"to_pay"}
    assert not JournalTransaction.objects.filter(kind="payout").exists()


def test_the_command_refuses_period_with_a_step_and_a_retried_period_export_makes_one_draft(tmp_path):
    """Steps that act on a batch take --batch: with --period they are refused before any draft is made. A cron
    retrying ``--period P --export`` makes one draft, answered as awaiting approval, and exports it once approved."""
    from django.core.management import CommandError, call_command

    from .payout_support import user

    earn(partner("ib"), "25.00", period="2026-01")
    user("maker"), user("checker")
    for step in (["--approve"], ["--mark-paid"], ["--fail", "ib=closed"], ["--discard"]):
        with pytest.raises(CommandError, match="give --batch ID"):
            call_command("payout_batch", "--period", "2026-01", *step, "--user", "checker")
    assert not PayoutBatch.objects.exists()
    target = tmp_path / "b.csv"
    for _ in range(3):
        with pytest.raises(CommandError, match="awaits approval by another user"):
            call_command("payout_batch", "--period", "2026-01", "--export", str(target), "--user", "maker")
    batch = PayoutBatch.objects.get()
    assert batch.status == "draft" and not target.exists()
    call_command("payout_batch", "--batch", str(batch.pk), "--approve", "--user", "checker")
    call_command("payout_batch", "--period", "2026-01", "--export", str(target), "--user", "maker")
    assert PayoutBatch.objects.get().status == "exported" and ",25.00," in target.read_text()
    call_command("payout_batch", "--batch", str(batch.pk), "--mark-paid", "--user", "maker")
    again = tmp_path / "again.csv"  # a paid file is never handed back by --period (a cron could pay it twice)
    for _ in range(2):
        with pytest.raises(CommandError, match="awaits approval by another user"):
            call_command("payout_batch", "--period", "2026-01", "--export", str(again), "--user", "maker")
    assert not again.exists()
    assert sorted(PayoutBatch.objects.values_list("status", flat=True)) == ["draft", "paid"]  # one new draft
