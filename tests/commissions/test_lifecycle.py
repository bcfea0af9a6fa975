"""The lifecycle property (issue 8): random sequences of what a broker's month-end throws at Ibex — ingest, corrections
(lots, price, close time across a period boundary, profit only), cancellations, late trades, an alias added, an
account created late, moves and re-attributions (back-dated too), plan content, partner status and program terms
changed from a date, client rebates and account flags set (back-dated too), runs, recomputes and approvals over three
periods — and the invariants:

- after every approval, no approved period's posted figures (its lines and its journal) have changed;
- after every approval, every trade is either settled — the sum of everything posted for it (all its versions,
  reversals and adjustments) equals what a from-scratch computation of its final version earns under the terms in
  force at its close time when that closes in an approved period (zero for a cancelled one), and nothing when it
  closes in an open one — or legitimately pending: its data changed after the run that paid it read its data, so
  it waits for the next open period's adjustments. Pending is a fact read from the lines (a current version of an
  approved period that no live run holds lines for; a posted version superseded and not reversed by a live run; a
  version a computed, unapproved run holds), and the versions pending must be exactly what Ibex reports and queues
  (``pending_versions``: the late versions' queue and the reversals) — so no exception can hide a bug; an approval
  that warned of nothing leaves nothing of its period pending;
- once every period is settled, nothing is pending and every trade is settled.

"From scratch" is the independent Decimal reference of ``tests/engine``, fed from the database's dated records read
here with plain ORM lookups (not the adapters). Plans have no tiers here: a paid period's tier band is frozen at its
approval by design, so a later correction is priced on it, not on a band a from-scratch computation would find.
Changes a service refuses (a back-dating into an approved period: 409) are part of the sequence too — they must
change nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from commissions.engine.schema import REBATE_ALWAYS, REBATE_OPEN_END
from commissions.models import AttributionLine, LateTradeVersion, PartnerPlan, PlanTerms, Rebate, Trade
from commissions.services.adjustments import pending_versions
from core.periods import server_period
from ledger.models import JournalEntry
from partners.models import (
    AccountAttribution,
    AccountTerms,
    ClientAccount,
    PartnerLink,
    PartnerProgram,
    PartnerStatus,
    ProgramTerms,
)
from runs.models import Run
from tests.engine import builders as b
from tests.engine.reference import reference_lines
from tests.roles import staff_with_roles

from .runs_support import EURUSD, setup_reference

pytestmark = pytest.mark.django_db(transaction=True)

PERIODS = ("2026-01", "2026-02", "2026-03")
SETTLE = "2026-04"  # an empty period after the others: settling approves it last, carrying what is still pending
D = Decimal


def _days() -> list[str]:
    day, days = date(2026, 1, 1), []
    while day < date(2026, 5, 1):
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def instant(period: str, day: int, hour: int = 12) -> str:
    return f"{period}-{day:02d}T{hour:02d}:00:00Z"


class Broker:
    """The API as a broker's scripts use it, on a world set up without dates."""

    def __init__(self, client: APIClient) -> None:
        self.client = client
        self.trades: dict[int, dict] = {}
        self.refused = 0

    def post(self, path: str, body, *, method: str = "post"):
        response = getattr(self.client, method)(path, body, format="json")
        assert response.status_code < 500, response.content
        assert response.status_code in (200, 201, 202, 400, 409), (path, body, response.content)
        self.refused += response.status_code == 409 and "/runs/" not in path
        if response.status_code == 400:
            # Only a date the series cannot take may be refused as a field error here; never our bodies.
            assert "effective_from" in response.json(), response.content
        return response

    def set_up(self) -> None:
        setup_reference(self.client, _days())
        self.post("/api/v1/programs/", {"code": "prog", "name": "Program", "model": "differential"})
        for code, rate in (("plan-master", "7"), ("plan-sub", "5"), ("plan-sub2", "4")):
            self.post("/api/v1/plans/", {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}]})
        partners = [
            {"code": "master", "plan": "plan-master"},
            {"code": "sub", "parent": "master", "plan": "plan-sub"},
            {"code": "sub2", "parent": "master"},  # no plan yet: a first plan may come later, since always
        ]
        for partner in partners:
            self.post("/api/v1/partners/", {"name": partner["code"], "program": "prog", **partner})
        accounts = [{"server": "live1", "login": 1001, "partner": "sub"}, {"server": "live1", "login": 1002}]
        self.post("/api/v1/accounts/", [{**a, "currency": "USD", "group": "standard"} for a in accounts])

    # ------------------------------------------------------------------------------------------------ events
    def ingest(self, ticket: int, period: str, day: int, lots: str, login: int, symbol: str) -> None:
        row = {
            "server": "live1",
            "ticket": ticket,
            "login": login,
            "symbol": symbol,
            "side": "buy",
            "lots": lots,
            "open_time": instant(period, day, 10),
            "open_price": "1.08000",
            "close_time": instant(period, day, 12),
            "close_price": "1.08100",
            "profit": "100.00",
            "swap": "0",
            "commission": "-7.00",
            "status": "closed",
        }
        self.trades[ticket] = row
        assert self.post("/api/v1/trades/", [row]).json()["rejected"] == []

    def correct(self, ticket: int, what: str, value) -> None:
        if ticket not in self.trades:
            return
        row = dict(self.trades[ticket])
        if what == "lots":
            row["lots"] = value
        elif what == "price":
            row["close_price"] = value
        elif what == "profit":
            row["profit"] = value
        elif what == "cancel":
            row["status"] = "cancelled"
        else:  # close time, possibly in another period
            period, day = value
            row["open_time"], row["close_time"] = instant(period, day, 10), instant(period, day, 12)
        self.trades[ticket] = row
        assert self.post("/api/v1/trades/", [row]).json()["rejected"] == []

    def alias(self) -> None:
        self.post("/api/v1/instruments/", [{**EURUSD, "aliases": ["EURUSD.x"]}])

    def late_account(self) -> None:
        self.post("/api/v1/accounts/", [{"server": "live1", "login": 1003, "partner": "sub", "currency": "USD"}])

    def move(self, when: str | None) -> None:
        self.post("/api/v1/partners/sub2/move/", {"parent": "sub", **({"effective_from": when} if when else {})})

    def attribute(self, login: int, partner: str | None, when: str | None) -> None:
        if not ClientAccount.objects.filter(login=login).exists():
            return
        body = {"partner": partner, **({"effective_from": when} if when else {})}
        self.post(f"/api/v1/accounts/live1/{login}/attribute/", body)

    def plan(self, code: str, rate: str, when: str | None) -> None:
        body = {"code": code, "name": code, "rules": [{"type": "per_lot", "rate": rate}]}
        self.post("/api/v1/plans/", {**body, **({"effective_from": when} if when else {})})

    def first_plan(self) -> None:
        self.post("/api/v1/partners/sub2/", {"plan": "plan-sub2"}, method="patch")

    def status(self, code: str, status: str, when: str) -> None:
        self.post(f"/api/v1/partners/{code}/", {"status": status, "effective_from": when}, method="patch")

    def program(self, depth: int, when: str) -> None:
        self.post("/api/v1/programs/prog/", {"max_depth": depth, "effective_from": when}, method="patch")

    def rebate(self, pct: str, when: str | None) -> None:
        self.post("/api/v1/rebates/", {"partner": "sub", "pct": pct, **({"effective_from": when} if when else {})})

    def flag(self, login: int, earns: bool, when: str | None) -> None:
        if not ClientAccount.objects.filter(login=login).exists():
            return
        current = AccountAttribution.objects.filter(account__login=login).order_by("-valid_from").first()
        row = {"server": "live1", "login": login, "currency": "USD", "group": "standard", "earns_commission": earns}
        row["partner"] = current.partner.code if current and current.partner else None
        self.post("/api/v1/accounts/", [{**row, **({"effective_from": when} if when else {})}])

    def run(self, period: str, *, approve: bool, recompute: bool) -> list[dict] | None:
        """Compute ``period`` (a 409 when it is locked), and approve it: the approval's warnings, or None when
        nothing was approved."""
        response = self.post("/api/v1/runs/", {"kind": "commissions", "period": period, "recompute": recompute})
        if response.status_code == 409:
            return None
        detail = self.client.get(f"/api/v1/runs/{response.json()['id']}/").json()
        if detail["status"] == "approved":
            return None  # asking for a paid period answers with its approved run
        assert detail["status"] == "computed", detail
        if not approve:
            return None
        answer = self.post(f"/api/v1/runs/{detail['id']}/approve/", {}).json()
        assert answer["status"] == "approved", answer
        return answer["warnings"]


# ---------------------------------------------------------------------------------------------------- events
periods = st.sampled_from(PERIODS)
days = st.integers(2, 27)
when = st.one_of(st.none(), st.builds(lambda p, d: instant(p, d, 0), periods, days))
dated = st.builds(lambda p, d: instant(p, d, 0), periods, days)
tickets = st.integers(1, 3)
ingests = st.tuples(
    st.just("ingest"),
    tickets,
    periods,
    days,
    st.sampled_from(["0.50", "1.00", "2.00"]),
    st.sampled_from([1001, 1001, 1001, 1002, 1003, 1004]),
    st.sampled_from(["EURUSD", "EURUSD", "EURUSD", "EURUSD.x"]),
)
approvals = st.tuples(st.just("run"), periods, st.just(True), st.booleans())
events = st.one_of(
    ingests,
    approvals,
    approvals,
    st.tuples(st.just("correct"), tickets, st.just("lots"), st.sampled_from(["0.10", "3.00"])),
    st.tuples(st.just("correct"), tickets, st.just("price"), st.sampled_from(["1.07900", "1.08500"])),
    st.tuples(st.just("correct"), tickets, st.just("profit"), st.sampled_from(["-50.00", "12.34"])),
    st.tuples(st.just("correct"), tickets, st.just("close"), st.tuples(periods, days)),
    st.tuples(st.just("correct"), tickets, st.just("cancel"), st.none()),
    st.tuples(st.just("alias")),
    st.tuples(st.just("late_account")),
    st.tuples(st.just("move"), when),
    st.tuples(st.just("attribute"), st.sampled_from([1001, 1002, 1003]), st.sampled_from(["sub", "sub2", None]), when),
    st.tuples(st.just("plan"), st.sampled_from(["plan-sub", "plan-master"]), st.sampled_from(["3", "6", "8"]), when),
    st.tuples(st.just("first_plan")),
    st.tuples(st.just("status"), st.sampled_from(["master", "sub"]), st.sampled_from(["suspended", "active"]), dated),
    st.tuples(st.just("program"), st.sampled_from([1, 10]), dated),
    st.tuples(st.just("rebate"), st.sampled_from(["10", "50"]), when),
    st.tuples(st.just("flag"), st.sampled_from([1001, 1002]), st.booleans(), dated),
    st.tuples(st.just("run"), periods, st.booleans(), st.booleans()),
    st.tuples(st.just("run"), periods, st.just(True), st.booleans()),
)


# ------------------------------------------------------------------------------------------------ the invariants
def posted_figures() -> dict[int, tuple]:
    """Per approved run: its lines' totals per (trade version, beneficiary, kind) and its journal legs."""
    figures: dict[int, tuple] = {}
    for run in Run.objects.filter(kind="commissions", status="approved"):
        lines = defaultdict(Decimal)
        for line in AttributionLine.objects.filter(run=run):
            lines[(line.trade_id, line.partner_id, line.beneficiary_account_id, line.kind)] += line.amount
        legs = sorted(
            JournalEntry.objects.filter(transaction__source_key__startswith=f"run:{run.pk}:").values_list(
                "account_id", "amount"
            )
        )
        figures[run.pk] = (dict(lines), legs)
    return figures


def _in_force(rows, at: datetime):
    return next((r for r in rows if r.valid_from <= at and (r.valid_to is None or at < r.valid_to)), None)


def _by(rows, key: str) -> dict:
    grouped = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


class World:
    """The database's dated records and lines as they are now, read once per check with plain ORM queries (a dozen,
    whatever the number of trades), for the from-scratch computation and the pending facts."""

    def __init__(self) -> None:
        self.accounts = {(a.server, a.login): a for a in ClientAccount.objects.all()}
        self.attributions = _by(AccountAttribution.objects.select_related("partner"), "account_id")
        self.account_terms = _by(AccountTerms.objects.all(), "account_id")
        self.partner_plans = _by(PartnerPlan.objects.all(), "partner_id")
        self.plan_terms = _by(PlanTerms.objects.prefetch_related("rules"), "plan_id")
        self.program_terms = _by(ProgramTerms.objects.all(), "program_id")
        self.statuses = _by(PartnerStatus.objects.all(), "partner_id")
        self.partner_programs = _by(PartnerProgram.objects.all(), "partner_id")
        self.links = _by(PartnerLink.objects.select_related("parent", "parent__program"), "partner_id")
        self.rebates = list(Rebate.objects.all())
        self.approved = list(Run.objects.filter(kind="commissions", status="approved"))
        self.versions = list(Trade.objects.filter(server="live1").select_related("instrument").order_by("pk"))
        self.queue = set(LateTradeVersion.objects.values_list("trade_id", flat=True))
        self.lines = _by(
            AttributionLine.objects.filter(trade__server="live1").select_related("run", "partner"), "trade_id"
        )

    def approved_period_of(self, at: datetime) -> str | None:
        return next((r.period for r in self.approved if r.period_start <= at < r.period_end), None)

    def current(self, ticket: int) -> Trade:
        return next(v for v in self.versions if v.ticket == ticket and v.is_current)

    def posted(self, ticket: int) -> dict[str, Decimal]:
        """Everything approved runs posted for the ticket's versions, per partner code."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for version in self.versions:
            if version.ticket == ticket:
                for line in self.lines[version.pk]:
                    if line.run.status == "approved" and line.partner_id is not None:
                        totals[line.partner.code] += line.amount
        return {code: amount for code, amount in totals.items() if amount}

    def from_scratch(self, trade: Trade) -> dict[str, Decimal]:
        """What ``trade`` (a final version) earns per partner code under the terms of its close time, by the
        reference."""
        at = trade.close_time
        if trade.status == "cancelled":
            return {}
        account = self.accounts.get((trade.server, trade.login))
        attribution = _in_force(self.attributions[account.pk], at) if account else None
        partner = attribution.partner if attribution else None
        terms = _in_force(self.account_terms[account.pk], at) if account else None
        instrument = trade.instrument
        row = b.trade(
            trade.pk,
            instrument_id=instrument.pk if instrument else None,
            ticket=trade.ticket,
            account_id=account.pk if account else 0,
            account_group=(terms.group or None) if terms else None,
            earns_commission=terms.earns_commission if terms else True,
            lots=trade.lots,
            open_time=trade.open_time,
            close_time=at,
            open_price=trade.open_price,
            close_price=trade.close_price,
            commission=trade.commission,
            spread_pips=trade.spread_pips,
            open_day=server_day(trade.open_time),
            close_day=server_day(at),
        )
        if instrument is not None:
            row.update(
                symbol_group=instrument.group,
                base=instrument.base,
                quote=instrument.quote,
                contract_size=instrument.contract_size,
                pip_size=instrument.pip_size,
                digits=instrument.digits,
            )
        chain, plans, rules, programs, codes = [], {}, [], {}, {}
        level, first_program = 1, None
        while partner is not None:
            codes[partner.pk] = partner.code
            assignment = _in_force(self.partner_plans[partner.pk], at)
            plan_terms = _in_force(self.plan_terms[assignment.plan_id], at) if assignment else None
            if plan_terms is not None:
                plans[plan_terms.pk] = b.plan(plan_terms.pk, currency=plan_terms.currency)
                for rule in plan_terms.rules.all():
                    rules.append(b.rule(rule.pk, plan_terms.pk, rule.type, rate=rule.rate))
            if first_program is None:
                # The program the level-1 partner had at the close (dated), not the latest ``Partner.program``.
                membership = _in_force(self.partner_programs[partner.pk], at)
                first_program = _in_force(self.program_terms[membership.program_id], at)
                programs[first_program.pk] = b.program(
                    first_program.pk, model=first_program.model, max_depth=first_program.max_depth
                )
            status = _in_force(self.statuses[partner.pk], at)
            chain.append(
                {
                    "trade_id": trade.pk,
                    "level": level,
                    "partner_id": partner.pk,
                    "plan_id": plan_terms.pk if plan_terms else None,
                    "program_id": first_program.pk,
                    "active": status.status == "active",
                }
            )
            link = _in_force(self.links[partner.pk], at)
            partner, level = (link.parent if link else None), level + 1
        rebates = []
        for rebate in self.rebates:
            if rebate.partner_id not in codes:
                continue
            if rebate.account_id is None or (account is not None and rebate.account_id == account.pk):
                rebates.append(
                    b.rebate(
                        rebate.partner_id,
                        rebate.account_id,
                        pct=rebate.pct,
                        per_lot=rebate.per_lot,
                        valid_from=max(rebate.valid_from, REBATE_ALWAYS),
                        valid_to=min(rebate.valid_to or REBATE_OPEN_END, REBATE_OPEN_END),
                    )
                )
        inputs = b.make_inputs(
            trades=[row],
            rebates=rebates,
            chains=chain,
            programs=programs.values(),
            plans=plans.values(),
            rules=rules,
            rates=[b.rate("EUR", "1.08", server_day(at)), b.rate("EUR", "1.08", server_day(trade.open_time))],
        )
        earned: dict[str, Decimal] = defaultdict(Decimal)
        for line in reference_lines(inputs).itertuples(index=False):
            if not pd_na(line.partner_id):
                earned[codes[int(line.partner_id)]] += line.amount
        return {code: amount for code, amount in earned.items() if amount}

    def pending(self) -> Pending:
        """What waits for adjustment, as facts of the lines (see the module docstring)."""
        to_compute, to_reverse, held = {}, {}, set()
        live = ("computed", "approved")
        for version in self.versions:
            lines = self.lines[version.pk]
            locked = self.approved_period_of(version.close_time)
            if version.is_current and locked and not any(line.run.status in live for line in lines):
                to_compute[version.pk] = locked
            if not version.is_current:
                posted_lines = [line for line in lines if line.run.status == "approved" and line.kind != "reversal"]
                groups: dict[tuple, Decimal] = defaultdict(Decimal)
                for line in posted_lines:
                    groups[(line.partner_id, line.beneficiary_account_id, line.level)] += line.amount
                reversed_ = any(line.kind == "reversal" and line.run.status in live for line in lines)
                if any(groups.values()) and not reversed_:
                    to_reverse[version.pk] = posted_lines[0].adjusts_period or posted_lines[0].period
            if any(line.run.status == "computed" for line in lines) and (locked or not version.is_current):
                held.add(version.ticket)
        tickets = {v.pk: v.ticket for v in self.versions}
        return Pending(to_compute=to_compute, to_reverse=to_reverse, held=held, tickets=tickets)


def pd_na(value) -> bool:
    return value is None or value != value  # NaN/NA


def server_day(at: datetime) -> date:
    return at.astimezone(ZoneInfo(django_settings.IBEX_SERVER_TIME_ZONE)).date()


@dataclass(frozen=True)
class Pending:
    """What waits for adjustment, read from the lines (see the module docstring): version id → period."""

    to_compute: dict[int, str]
    to_reverse: dict[int, str]
    held: set[int]  # tickets with a version of a locked period (or superseded) in a computed, unapproved run
    tickets: dict[int, int]  # version id → ticket

    def excepted(self) -> set[int]:
        return {self.tickets[v] for v in [*self.to_compute, *self.to_reverse]} | self.held

    def periods(self) -> set[str]:
        return set(self.to_compute.values()) | set(self.to_reverse.values())


def show(sequence: list) -> str:
    """The events, one a line, in full (a failure names the sequence to replay)."""
    return "\n".join(map(repr, sequence))


def check_after_approval(broker: Broker, period: str, warnings: list[dict], sequence: list) -> int:
    """The per-approval invariants (module docstring); the number of trades pending."""
    world = World()
    facts = world.pending()
    reported = pending_versions()
    assert (facts.to_compute, facts.to_reverse) == (reported.to_compute, reported.to_reverse), show(sequence)
    # The late versions' queue holds what is to compute, and otherwise only versions a computed run carries.
    carried = {v for v, lines in world.lines.items() if any(line.run.status == "computed" for line in lines)}
    assert set(facts.to_compute) <= world.queue <= set(facts.to_compute) | carried, show(sequence)
    if not warnings:
        assert period not in facts.periods(), f"{period} {facts}\n{show(sequence)}"
    excepted = facts.excepted()
    for ticket in sorted(set(broker.trades) - excepted):
        final = world.current(ticket)
        expected = world.from_scratch(final) if world.approved_period_of(final.close_time) else {}
        assert world.posted(ticket) == expected, f"ticket {ticket} after {period}\n{show(sequence)}"
    return len(excepted & set(broker.trades))


# ------------------------------------------------------------------------------------------------------ the test
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(  # a paid trade corrected across a period boundary, one cancelled, terms and set-up changed after payment
    opening=[
        ("ingest", 1, "2026-01", 10, "1.00", 1001, "EURUSD"),
        ("ingest", 2, "2026-01", 20, "2.00", 1001, "EURUSD"),
        ("ingest", 3, "2026-02", 5, "1.00", 1004, "EURUSD.x"),
    ],
    paid=[("run", "2026-01", True, False), ("run", "2026-02", True, False)],
    later=[
        ("correct", 1, "close", ("2026-03", 3)),
        ("correct", 2, "cancel", None),
        ("status", "master", "suspended", "2026-03-01T00:00:00Z"),
        ("plan", "plan-sub", "6", "2026-03-02T00:00:00Z"),
        ("alias",),
        ("attribute", 1001, "sub2", "2026-01-15T00:00:00Z"),  # into a paid period: refused
        ("run", "2026-03", True, False),
    ],
)
@example(  # set-up that arrives after payment: an account, an IB, a first plan; a back-dated move in an open period
    opening=[
        ("ingest", 1, "2026-02", 10, "1.00", 1003, "EURUSD"),
        ("ingest", 2, "2026-02", 12, "1.00", 1002, "EURUSD"),
        ("ingest", 3, "2026-03", 12, "0.50", 1002, "EURUSD"),
    ],
    paid=[("run", "2026-02", True, False)],
    later=[
        ("late_account",),
        ("attribute", 1002, "sub2", None),
        ("first_plan",),
        ("move", "2026-03-05T00:00:00Z"),
        ("program", 1, "2026-03-20T00:00:00Z"),
        ("run", "2026-03", False, False),
        ("correct", 3, "lots", "3.00"),
    ],
)
@example(  # a plan change back-dated into a computed period, approved without recomputing: restated at approval
    opening=[
        ("ingest", 1, "2026-03", 10, "1.00", 1001, "EURUSD"),
        ("ingest", 2, "2026-02", 10, "1.00", 1001, "EURUSD"),
    ],
    paid=[("run", "2026-03", False, False)],
    later=[("plan", "plan-sub", "6", "2026-03-02T00:00:00Z"), ("run", "2026-03", True, False)],
)
@example(  # a first IB (since always) after the run started: its trades are queued when the period is approved
    opening=[
        ("ingest", 1, "2026-02", 10, "1.00", 1002, "EURUSD"),
        ("ingest", 2, "2026-02", 11, "1.00", 1001, "EURUSD"),
    ],
    paid=[("run", "2026-02", False, False)],
    later=[("attribute", 1002, "sub", None), ("run", "2026-02", True, False)],
)
@example(  # a first IB after March was paid, then February approved: March's trade is queued at that approval
    opening=[
        ("ingest", 1, "2026-03", 10, "1.00", 1002, "EURUSD"),
        ("ingest", 2, "2026-02", 11, "1.00", 1001, "EURUSD"),
    ],
    paid=[("run", "2026-03", True, False)],
    later=[("attribute", 1002, "sub", None), ("run", "2026-02", True, False)],
)
@example(  # the account arrives after the run started
    opening=[
        ("ingest", 1, "2026-02", 10, "1.00", 1003, "EURUSD"),
        ("ingest", 2, "2026-02", 11, "1.00", 1001, "EURUSD"),
    ],
    paid=[("run", "2026-02", False, False)],
    later=[("late_account",), ("run", "2026-02", True, False)],
)
@given(
    opening=st.lists(ingests, min_size=2, max_size=5),
    paid=st.lists(approvals, min_size=1, max_size=3),
    later=st.lists(events, min_size=3, max_size=12),
)
def test_every_trade_is_paid_once_what_its_final_version_earns(
    transactional_db, django_user_model, opening, paid, later
):
    sequence = opening + paid + later  # trades, some periods paid, then everything else
    call_command("flush", interactive=False, verbosity=0)
    user = staff_with_roles("staff-lifecycle")  # the flush dropped the fixtures' users; roles are re-synced
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    broker = Broker(client)
    broker.set_up()
    figures: dict[int, tuple] = {}
    pending_seen = 0

    def approved(period: str, warnings: list[dict]) -> None:
        nonlocal figures, pending_seen
        now = posted_figures()
        assert {k: now[k] for k in figures} == figures, show(sequence)  # approved figures never change
        figures = now
        pending_seen = max(pending_seen, check_after_approval(broker, period, warnings, sequence))

    for step in sequence:
        name, *args = step
        if name == "run":
            period, approve, recompute = args
            warnings = broker.run(period, approve=approve, recompute=recompute)
            if warnings is not None:
                approved(period, warnings)
        elif name == "ingest":
            broker.ingest(*args)
        elif name == "correct":
            broker.correct(*args)
        else:
            getattr(broker, name)(*args)
    for period in (*PERIODS, SETTLE):
        warnings = broker.run(period, approve=True, recompute=True)
        if warnings is not None:
            approved(period, warnings)
    world = World()
    settled = world.pending()
    assert (settled.to_compute, settled.to_reverse, settled.held) == ({}, {}, set()), show(sequence)
    for ticket in sorted(broker.trades):
        final = world.current(ticket)
        assert world.posted(ticket) == world.from_scratch(final), f"ticket {ticket}\n{show(sequence)}"
    event(f"pending after an approval: {min(pending_seen, 2)}")
    adjusted = AttributionLine.objects.exclude(adjusts_period="").filter(amount_micros__gt=0).exists()
    event(f"adjustments paid: {adjusted}")
    event(f"reversals: {AttributionLine.objects.filter(kind='reversal').exclude(amount_micros=0).exists()}")
    event(f"refusals: {min(broker.refused, 3)}")
    event(f"trades paid something: {min(sum(1 for t in broker.trades if world.posted(t)), 3)}")
    assert datetime.now(UTC) > server_period(SETTLE).end  # the periods are all in the past: runs may run them
