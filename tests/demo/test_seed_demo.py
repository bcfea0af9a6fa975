"""seed_demo: a realistic broker, deterministic for a seed, loaded through the services and the real ingest path."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.contrib.auth import authenticate as _authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Min
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from commissions.models import Instrument, Trade, TradeImport
from demo.seed.generator import DemoConfig, generate
from demo.seed.seed import demo_digest
from ledger.models import ConversionRate
from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from partners.selectors import partner_tree_stats

TODAY = date(2025, 11, 23)
OPTIONS = {"trades": 2_000, "partners": 40, "accounts": 300, "seed": 11, "today": TODAY}
SERVER_TZ = ZoneInfo("Etc/GMT-2")
WINDOW_START = datetime(2025, 8, 1, tzinfo=SERVER_TZ)  # the first of the three complete months before TODAY
WINDOW_END = datetime(2025, 11, 23, tzinfo=SERVER_TZ)


def authenticate(**credentials):
    """A sign-in the way the login page makes it: with a request (django-axes counts attempts by it)."""
    return _authenticate(RequestFactory().post("/login/"), **credentials)


def seed(tmp_path, **overrides) -> str:
    out = StringIO()
    call_command("seed_demo", out_dir=tmp_path, stdout=out, **{**OPTIONS, **overrides})
    return out.getvalue()


@pytest.fixture
def demo_settings(settings):
    settings.IBEX_SERVER_TIME_ZONE = "Etc/GMT-2"
    settings.DEBUG = True  # --reset is allowed on demo (DEBUG) databases only
    return settings


# --- the generator alone (no database) ------------------------------------------------------------------------------


def config(**overrides) -> DemoConfig:
    values = {"seed": 3, "trades": 3_000, "partners": 60, "accounts": 400, "today": TODAY, "tz": "Etc/GMT-2"}
    return DemoConfig(**{**values, **overrides})


def test_generator_is_deterministic_and_each_part_has_its_own_stream():
    first, again = generate(config()), generate(config())
    pd.testing.assert_frame_equal(first.trades, again.trades)
    pd.testing.assert_frame_equal(first.amendments, again.amendments)
    assert first.partners == again.partners and first.accounts == again.accounts
    assert first.partner_moves == again.partner_moves and first.rates == again.rates

    other_seed = generate(config(seed=4))
    assert not other_seed.trades["ticket"].equals(first.trades["ticket"])
    assert other_seed.partners != first.partners

    more_trades = generate(config(trades=4_000))  # a different trade count keeps the same network and accounts
    assert more_trades.partners == first.partners and more_trades.accounts == first.accounts


def test_generated_trades_are_plausible():
    data = generate(config(trades=5_000))
    trades = data.trades
    assert not trades.duplicated(["server", "ticket"]).any()
    lots = trades["lots"].map(Decimal)
    assert (lots > 0).all() and (lots <= 100).all()
    assert (lots < 1).mean() > 0.6  # mostly micro and mini lots
    hold = pd.to_datetime(trades["close_time"]) - pd.to_datetime(trades["open_time"])
    assert (hold < pd.Timedelta(minutes=1)).any() and (hold > pd.Timedelta(days=1)).any()
    assert (hold >= pd.Timedelta(0)).all()
    close = pd.to_datetime(trades["close_time"])
    assert close.min() >= WINDOW_START and close.max() < WINDOW_END
    assert sorted(close.dt.tz_convert(SERVER_TZ).dt.month.unique()) == [8, 9, 10, 11]
    assert {"EURUSD", "XAUUSD", "US30", "GER40", "BTCUSD"} <= {row["symbol"] for row in data.instruments}
    assert data.max_level == 5
    # FX prices come from the same daily rates that are stored: EURUSD trades sit near that day's EUR rate.
    eur = {row["day"]: Decimal(row["usd_rate"]) for row in data.rates if row["currency"] == "EUR"}
    eurusd = trades[trades["symbol"].str.upper().str.startswith("EURUSD")]
    for _, row in eurusd.head(200).iterrows():
        day = datetime.fromisoformat(row["close_time"]).astimezone(SERVER_TZ).date()
        assert abs(Decimal(row["close_price"]) / eur[day] - 1) < Decimal("0.05")


# --- seeding through the services -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_builds_a_realistic_broker(demo_settings, tmp_path):
    output = seed(tmp_path)

    assert Program.objects.count() == 3
    assert set(Program.objects.values_list("model", flat=True)) == {"differential", "cascade", "override"}
    assert Partner.objects.count() == 40 and ClientAccount.objects.count() == 300
    assert Instrument.objects.filter(symbol__in=["EURUSD", "USDJPY", "XAUUSD", "XAGUSD", "US30", "NAS100"]).count() == 6
    jpy_pairs = Instrument.objects.filter(quote="JPY", group__startswith="forex")
    assert jpy_pairs.exists() and set(jpy_pairs.values_list("pip_size", flat=True)) == {Decimal("0.01")}
    assert Instrument.objects.get(symbol="XAUUSD").contract_size == 100

    # Daily rates for every currency the trades need, every day of the window.
    days = (WINDOW_END.date() - WINDOW_START.date()).days
    for currency in ("USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD"):
        in_window = ConversionRate.objects.filter(currency=currency, day__gte=WINDOW_START.date(), day__lt=TODAY)
        assert in_window.count() == days, currency

    # The tree reaches five levels now, and some sub-IBs and accounts moved inside the window.
    stats = partner_tree_stats(partner_ids=Partner.objects.values_list("pk", flat=True))
    assert max(s.level for s in stats.values()) == 5
    moved = PartnerLink.objects.filter(valid_to__isnull=False)
    assert moved.exists()
    assert all(WINDOW_START <= link.valid_to < WINDOW_END for link in moved)
    assert AccountAttribution.objects.filter(valid_to__isnull=False).exists()

    # Accounts: several currencies and groups, some not earning, some with no IB.
    assert {"USD", "EUR", "GBP", "JPY"} <= set(ClientAccount.objects.values_list("currency", flat=True))
    assert set(ClientAccount.objects.values_list("group", flat=True)) == {"standard", "ecn", "pro"}
    assert ClientAccount.objects.filter(earns_commission=False).exists()
    assert ClientAccount.objects.exclude(attributions__partner__isnull=False).exists()

    # Trades: all 2 000 landed through the import, inside the window; some cancelled or corrected (version 2);
    # unknown suffixes are stored unresolved and reported. (The MAM sub-account trades, with their master ticket,
    # come through the MAM services: test_seed_demo_seeds_the_mam_book_and_approves_its_fees.)
    current = Trade.objects.filter(is_current=True, master_ticket__isnull=True)
    assert current.count() == 2_000
    assert current.filter(status="cancelled", version=2).exists()
    assert current.filter(status="closed", version=2).exists()
    assert Trade.objects.filter(is_current=False).count() == current.filter(version=2).count()
    unresolved = current.filter(instrument__isnull=True)
    assert unresolved.exists() and all(s.endswith(".x") for s in unresolved.values_list("symbol", flat=True))
    first = current.aggregate(first=Min("close_time"))["first"]
    assert first >= WINDOW_START and not current.filter(close_time__gte=WINDOW_END).exists()
    imports = list(TradeImport.objects.filter(source_name__startswith="demo-").order_by("pk"))
    assert [ti.source_name for ti in imports] == [
        "demo-s11-n2000-p40-a300-trades.csv",
        "demo-s11-n2000-p40-a300-amendments.csv",
    ]
    assert (imports[0].created, imports[0].rejected) == (2_000, 0)
    assert imports[0].unresolved == unresolved.count() and imports[0].unresolved_symbols
    assert imports[1].updated == current.filter(version=2).count()
    assert (tmp_path / "demo-s11-n2000-p40-a300-trades.csv").exists()

    # ECN accounts pay commission, others do not.
    ecn_logins = set(ClientAccount.objects.filter(group="ecn").values_list("login", flat=True))
    commissions = list(current.values_list("login", "commission"))
    assert all((c < 0) == (login in ecn_logins) for login, c in commissions)

    # The admin login and the partner token printed in the summary work.
    user = authenticate(username="admin", password="admin-demo-11")
    assert user is not None and user.is_superuser
    token = Token.objects.get(user__partner__code="ib-0001")
    for text in (
        "http://127.0.0.1:8000/admin/",
        "/api/docs/",
        "/api/schema/",
        "'admin-demo-11'",
        token.key,
        "Demo broker seeded",
        "Finance:      user 'finance', password 'finance-demo-11'",
        "Support:      user 'support', password 'support-demo-11'",
        "Broker admin: user 'broker', password 'broker-demo-11'",
        "http://127.0.0.1:8000/login/",
        "Master IB:     user 'ib-0001', password 'ib-0001-demo-11'",
        "Sub-IB:        user '",
        "Money manager: user '",
    ):
        assert text in output
    # One login per role, each in its role only (not a superuser, so the role is what it may do).
    for username, role in (("broker", "Broker admin"), ("finance", "Finance"), ("support", "Support")):
        member = authenticate(username=username, password=f"{username}-demo-11")
        assert member is not None and not member.is_superuser
        assert list(member.groups.values_list("name", flat=True)) == [role]
    assert not authenticate(username="support", password="support-demo-11").has_perm("ledger.view_reconciliation")
    # The partners' portal logins work: the master IB, one of its sub-IBs, a money manager; none is staff.
    master = authenticate(username="ib-0001", password="ib-0001-demo-11")
    assert master is not None and not master.is_staff and master.partner.code == "ib-0001"
    sub_ib = next(line for line in output.splitlines() if line.strip().startswith("Sub-IB:")).split("'")[1]
    assert PartnerLink.objects.get(partner__code=sub_ib, valid_to=None).parent.code == "ib-0001"
    assert authenticate(username=sub_ib, password=f"{sub_ib}-demo-11") is not None
    manager = next(line for line in output.splitlines() if line.strip().startswith("Money manager:")).split("'")[1]
    assert authenticate(username=manager, password=f"{manager}-demo-11").partner.money_manager is not None

    # Finance's batch for the last complete month: made by finance, approved by the controller, exported, paid; one line
    # failed at the bank; the CSV under the demo folder parses back to exactly the payouts the journal posted.
    from ledger.models import JournalEntry, PayoutBatch
    from ledger.services.payouts import payout_reference

    batch = PayoutBatch.objects.get()
    assert (batch.status, batch.created_by.username, batch.approved_by.username) == ("paid", "finance", "controller")
    assert authenticate(username="finance", password="finance-demo-11") is not None
    assert f"payout batch #{batch.pk} for {batch.period}: paid" in output
    statuses = dict(batch.lines.values_list("partner__code", "status"))
    assert list(statuses.values()).count("failed") == 1 and "paid" in statuses.values()
    rows = list(csv.DictReader((tmp_path / f"payout-batch-{batch.pk}-{batch.period}.csv").open(encoding="utf-8")))
    paid = {r["partner_code"]: Decimal(r["amount"]) for r in rows if statuses[r["partner_code"]] == "paid"}
    lines = {line.partner.code: line for line in batch.lines.select_related("partner") if line.status == "paid"}
    assert paid == {code: line.amount for code, line in lines.items()}
    assert all(r["reference"] == payout_reference(batch.pk, r["partner_code"]) for r in rows)
    for code, line in lines.items():
        legs = JournalEntry.objects.filter(
            transaction__kind="payout",
            account__partner__code=code,
            account__purpose__in=["partner_payable", "manager_payable"],
        )
        items = {(i.currency, i.amount) for i in line.items.all()}
        assert {(e.account.currency_id, e.amount) for e in legs.select_related("account")} == items, code


@pytest.mark.django_db
def test_profit_is_consistent_with_prices_in_the_account_currency(demo_settings, tmp_path):
    seed(tmp_path)
    accounts = dict(ClientAccount.objects.values_list("login", "currency"))
    checked = 0
    for trade in Trade.objects.filter(is_current=True, instrument__quote="USD").select_related("instrument"):
        if accounts[trade.login] != "USD":
            continue
        expected = (
            trade.side * (trade.close_price - trade.open_price) * trade.lots * trade.instrument.contract_size
        ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert trade.profit == expected, trade
        checked += 1
    assert checked > 200
    # Other account currencies: converted with the stored close-day rates (within a cent of rounding).
    rates = {(r.currency, r.day): r.usd_rate for r in ConversionRate.objects.all()}
    converted = 0
    for trade in Trade.objects.filter(is_current=True, instrument__quote="USD").select_related("instrument"):
        currency = accounts[trade.login]
        if currency not in ("EUR", "GBP"):
            continue
        day = trade.close_time.astimezone(SERVER_TZ).date()
        usd = trade.side * (trade.close_price - trade.open_price) * trade.lots * trade.instrument.contract_size
        assert abs(usd / rates[currency, day] - trade.profit) <= Decimal("0.005"), trade
        converted += 1
    assert converted > 50


def table_counts() -> tuple[int, ...]:
    models = (Partner, PartnerLink, ClientAccount, AccountAttribution, Trade, TradeImport, ConversionRate, Instrument)
    return tuple(model.objects.count() for model in models)


@pytest.mark.django_db
def test_second_run_does_not_duplicate_and_reset_reproduces_the_same_broker(demo_settings, tmp_path):
    seed(tmp_path)
    digest = demo_digest()
    counts = (
        Partner.objects.count(),
        ClientAccount.objects.count(),
        Trade.objects.count(),
        TradeImport.objects.count(),
    )

    again = seed(tmp_path)
    assert "already seeded" in again
    assert (
        Partner.objects.count(),
        ClientAccount.objects.count(),
        Trade.objects.count(),
        TradeImport.objects.count(),
    ) == counts
    assert demo_digest() == digest

    # A different seed is refused without --reset; --reset wipes and seeds it.
    with pytest.raises(CommandError, match="--reset"):
        seed(tmp_path, seed=12)
    seed(tmp_path, seed=12, reset=True)
    assert demo_digest() != digest
    assert TradeImport.objects.values("source_name").annotate(n=Count("pk")).filter(n__gt=1).count() == 0

    # Back to the first seed: the very same partners, tree, accounts, trade tickets and amounts.
    seed(tmp_path, reset=True)
    assert demo_digest() == digest
    assert Partner.objects.count() == 40


@pytest.mark.django_db
def test_seed_demo_refuses_foreign_data_and_reset_without_debug(demo_settings, tmp_path):
    program = Program.objects.create(code="mine", name="Mine")
    Partner.objects.create(code="real-ib", name="Real", program=program)
    with pytest.raises(CommandError, match="not a complete demo"):
        seed(tmp_path)
    demo_settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        seed(tmp_path, reset=True)
    assert Partner.objects.filter(code="real-ib").exists()


def test_demo_config_rejects_impossible_sizes():
    with pytest.raises(ValueError):
        config(partners=2)


@pytest.mark.django_db
def test_seed_demo_puts_partners_on_plans_and_computes_the_months(demo_settings, tmp_path):
    from django.db.models import Sum

    from commissions.models import AttributionLine, PartnerPlan, Plan, Rebate
    from ledger.models import JournalTransaction
    from ledger.selectors import partner_statement, trial_balance, trial_balance_totals
    from runs.models import Run

    output = seed(tmp_path)

    # Every partner is on a plan from before the first trade; the plans cover the rule types the demo promises.
    assert Plan.objects.count() == 4
    assert set(Plan.objects.values_list("rules__type", flat=True)) == {
        "per_lot",
        "per_million",
        "spread_share",
        "commission_share",
    }
    assert Plan.objects.filter(tiers__isnull=False).distinct().count() == 1
    assert PartnerPlan.objects.filter(valid_to__isnull=True).count() == Partner.objects.count()
    assert not PartnerPlan.objects.filter(valid_from__gte=WINDOW_START).exists()
    assert Rebate.objects.exists() and not Rebate.objects.filter(valid_from__gte=WINDOW_START).exists()

    # The three complete months are approved and posted; this month is computed, waiting for review.
    runs = {run.period: run for run in Run.objects.filter(kind="commissions")}
    assert {p: r.status for p, r in runs.items()} == {
        "2025-08": "approved",
        "2025-09": "approved",
        "2025-10": "approved",
        "2025-11": "computed",
    }
    for period, run in runs.items():
        assert run.chunks_done == run.chunks_total >= 1
        assert AttributionLine.objects.filter(run=run, amount__gt=0).exists(), period
        # The run's totals (summed from its chunks' totals) equal the sums of its stored lines.
        sums = AttributionLine.objects.filter(run=run).values("kind").annotate(total=Sum("amount"))
        assert {k: Decimal(v) for k, v in run.totals.items()} == {row["kind"]: row["total"] for row in sums}
        posted = JournalTransaction.objects.filter(source_key__startswith=f"run:{run.pk}:")
        assert posted.exists() == (run.status == "approved"), period
    assert {"volume", "spread", "rebate"} <= set(runs["2025-10"].totals)

    # The summary prints each run and a statement that matches the selector.
    assert "run 2025-08" in output and "run 2025-11" in output and ": computed," in output
    busy = output.split("statement of ", 1)[1].split(" ", 1)[0]
    statement = partner_statement(partner=Partner.objects.get(code=busy), period="2025-10")
    assert statement["earned"] > 0
    assert f"closing balance {statement['closing_balance']:,.2f}" in output

    # Every currency of the ledger nets to zero after the demo's approvals.
    totals = trial_balance_totals(trial_balance())
    assert totals and all(total == 0 for total in totals.values())

    # Seeding again reports the demo and posts nothing more.
    journal = JournalTransaction.objects.count()
    again = seed(tmp_path)
    assert "already seeded" in again
    assert JournalTransaction.objects.count() == journal and Run.objects.filter(kind="commissions").count() == 4
    assert Run.objects.filter(kind="fees").count() == 3


@pytest.mark.django_db
def test_seed_demo_seeds_the_mam_book_and_approves_its_fees(demo_settings, tmp_path):
    from django.db.models import Sum

    from commissions.models import AttributionLine
    from mam.models import Allocation, CashFlow, EquitySnapshot, FeeLine, MamGroup, MasterTrade, Member, SubClose
    from runs.models import Run

    output = seed(tmp_path)
    assert "MAM: 4 groups" in output and "fees run 2025-10" in output

    groups = MamGroup.objects.order_by("code")
    assert {g.method for g in groups} == {"equity", "balance", "percent", "multiplier"}
    members = Member.objects.select_related("account")
    ibs = set(
        AccountAttribution.objects.filter(account__in=[m.account for m in members], valid_to__isnull=True)
        .exclude(partner=None)
        .values_list("partner__code", flat=True)
    )
    assert len(ibs) >= 4  # members are clients of different IBs
    assert members.filter(joined__gt=WINDOW_START.date()).exists() and members.exclude(left=None).exists()
    assert EquitySnapshot.objects.count() > 20 * members.count()
    amounts = list(CashFlow.objects.values_list("amount", flat=True))
    assert any(a > 0 for a in amounts) and any(a < 0 for a in amounts)

    # Allocations carry their reasons: the stopped-out member, the member not yet joined.
    reasons = set(Allocation.objects.values_list("reason", flat=True))
    assert {"equity_stop", "not_member"} <= reasons
    stopped = Allocation.objects.filter(reason="equity_stop")
    assert not stopped.exclude(lots=0).exists()
    assert MasterTrade.objects.filter(status="closed").count() > 20

    # Every sub-account close is an ordinary trade with its master ticket, and earns in the commission runs.
    sub_tickets = set(SubClose.objects.exclude(ticket=None).values_list("ticket", flat=True))
    assert sub_tickets
    sub_trades = Trade.objects.filter(ticket__in=sub_tickets, is_current=True)
    assert sub_trades.count() == len(sub_tickets) and not sub_trades.filter(master_ticket=None).exists()
    assert AttributionLine.objects.filter(trade__in=sub_trades, run__status="approved", amount__gt=0).exists()

    # A manager who is also an IB is paid commissions (on its own clients' allocated lots, among others).
    manager_partners = set(groups.values_list("manager__partner__code", flat=True))
    paid = AttributionLine.objects.filter(
        partner__code__in=manager_partners, trade__in=sub_trades, run__status="approved", amount__gt=0
    )
    assert paid.exists()

    # The complete months' fee runs are approved, with non-zero management and performance fees; the quarterly
    # group crystallises at a period end only at the quarter's end (September), otherwise on withdrawals and leaving.
    fee_runs = {r.period: r for r in Run.objects.filter(kind="fees")}
    assert {p: r.status for p, r in fee_runs.items()} == {
        "2025-08": "approved",
        "2025-09": "approved",
        "2025-10": "approved",
    }
    lines = FeeLine.objects.filter(run__in=fee_runs.values())
    by_kind = {row["kind"]: row["total"] for row in lines.values("kind").annotate(total=Sum("amount"))}
    assert by_kind.get("management_fee", 0) > 0 and by_kind.get("performance_fee", 0) > 0
    quarterly = lines.filter(group__code="mam-balance", kind__in=["management_fee", "performance_fee"])
    assert set(quarterly.filter(reason="period_end").values_list("period", flat=True)) == {"2025-09"}
