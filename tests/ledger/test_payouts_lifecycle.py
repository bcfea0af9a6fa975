"""Payout batches against an obviously-correct model, on generated histories (hypothesis): earnings and clawbacks
posted over several periods, batches made, approved, exported, paid, failed and discarded in any order. After every
step each batch line (status and amount) and, at the end, every partner's owed balance equal the model's — which
keeps a list of postings and a list of batches and sums them in Decimal, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.models import PayoutBatch
from ledger.payout_selectors import payables
from ledger.services.payouts import (
    LineOutcome,
    payout_batch_approve,
    payout_batch_create,
    payout_batch_discard,
    payout_batch_export,
    payout_lines_resolve,
)
from partners.models import Partner

from .payout_support import earn, partner, program, user

pytestmark = pytest.mark.django_db

PERIODS = ["2026-01", "2026-02", "2026-03", "2026-04"]
# code → (minimum payout, status, has payout details)
PARTNERS = {
    "a": ("0", "active", True),
    "b": ("50", "active", True),
    "c": ("0", "suspended", True),
    "d": ("0", "active", False),
}
OPEN = {"draft", "approved", "exported"}


@dataclass
class Model:
    postings: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (partner, period | "payout", amount)
    batches: list[dict] = field(default_factory=list)  # {"status", "lines": {partner: [status, amount]}}

    def owed(self, who: str, up_to: str | None = None) -> Decimal:
        return sum(
            (
                a
                for p, period, a in self.postings
                if p == who and (up_to is None or period == "payout" or period <= up_to)
            ),
            Decimal(0),
        )

    def held(self, who: str) -> Decimal:
        return sum(
            (
                b["lines"][who][1]
                for b in self.batches
                if b["status"] in OPEN and b["lines"].get(who, ["", 0])[0] == "to_pay"
            ),
            Decimal(0),
        )

    def make(self, period: str) -> dict:
        lines = {}
        for who, (minimum, status, details) in PARTNERS.items():
            available = self.owed(who, period) - self.held(who)
            if available == 0:
                continue
            if status == "suspended" or not details:
                lines[who] = ["held", available]
            elif available <= 0 or available < Decimal(minimum):
                lines[who] = ["carried_over", available]
            else:
                lines[who] = ["to_pay", available]
        batch = {"status": "draft", "lines": lines}
        self.batches.append(batch)
        return batch

    def resolve(self, batch: dict, fail: str | None) -> None:
        for who, line in sorted(batch["lines"].items()):
            if line[0] == "to_pay":
                if who == fail:
                    line[0] = "failed"
                elif fail is None:
                    line[0] = "paid"
                    self.postings.append((who, "payout", -line[1]))
        if not any(line[0] == "to_pay" for line in batch["lines"].values()):
            batch["status"] = "paid"


amounts = st.decimals(min_value=Decimal("-60"), max_value=Decimal("200"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.sampled_from(sorted(PARTNERS)), st.sampled_from(PERIODS), amounts),
        st.tuples(st.just("make"), st.sampled_from(PERIODS)),
        st.tuples(st.sampled_from(["approve", "export", "pay", "fail", "discard"]), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=20,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(history=steps)
@example(  # a second batch while the first is open takes only what the first does not hold
    history=[
        ("earn", "a", "2026-01", Decimal("10")),
        ("earn", "b", "2026-01", Decimal("20")),
        ("make", "2026-01"),
        ("make", "2026-02"),
        ("approve", 0),
        ("export", 0),
        ("fail", 0),
        ("make", "2026-03"),
        ("pay", 0),
    ]
)
def test_batches_pay_what_the_model_pays(history):
    with transaction.atomic():
        maker, checker = user("maker"), user("checker")
        prog = {m: program(f"min{m}", minimum=m) for m in ("0", "50")}
        partners = {}
        for code, (minimum, status, details) in PARTNERS.items():
            extra = {} if details else {"payout_method": "", "payout_account": ""}
            partners[code] = Partner.objects.filter(code=code).first() or partner(
                code, prog=prog[minimum], status=status, **extra
            )
        model, batches = Model(), []  # batches: (model batch, database id)
        for step in history:
            kind = step[0]
            if kind == "earn":
                _, who, period, amount = step
                if amount:
                    earn(partners[who], str(amount), period=period)
                    model.postings.append((who, period, amount))
            elif kind == "make":
                made = payout_batch_create(period=step[1], user=maker)
                batches.append((model.make(step[1]), made.pk))
            elif batches:
                mine, pk = batches[step[1] % len(batches)]
                status = mine["status"]
                if kind == "approve" and status == "draft":
                    payout_batch_approve(batch_id=pk, user=checker)
                    mine["status"] = "approved"
                elif kind == "export" and status == "approved":
                    payout_batch_export(batch_id=pk, user=maker)
                    mine["status"] = "exported"
                elif kind == "discard" and status == "draft":
                    payout_batch_discard(batch_id=pk, user=maker)
                    mine["status"] = "discarded"
                elif kind in ("pay", "fail") and status == "exported":
                    to_pay = sorted(w for w, line in mine["lines"].items() if line[0] == "to_pay")
                    fail = to_pay[0] if kind == "fail" and to_pay else None
                    outcomes = None if fail is None else [LineOutcome(fail, "failed", "bounced")]
                    payout_lines_resolve(batch_id=pk, user=maker, outcomes=outcomes)
                    model.resolve(mine, fail if kind == "fail" else None)
            for mine, pk in batches:
                stored = PayoutBatch.objects.get(pk=pk)
                lines = {
                    line.partner.code: [line.status, line.amount] for line in stored.lines.select_related("partner")
                }
                assert (stored.status, lines) == (mine["status"], mine["lines"]), (history, step)
        owed = {}
        for row in payables():
            code = Partner.objects.get(pk=row.partner_id).code
            owed[code] = owed.get(code, Decimal(0)) + row.owed
        expected = {who: model.owed(who) for who in PARTNERS if model.owed(who) != 0}
        assert {k: v for k, v in owed.items() if v != 0} == expected
        transaction.set_rollback(True)
