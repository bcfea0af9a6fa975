"""Seed the demo broker into the database through the real services and the real ingest path.

Order: reference data (suffixes, instruments, rates), programs, the partner tree and the accounts as they stood at
the demo's epoch, then the effective-dated moves, all in one transaction; then the trades CSV and its amendments
(second versions: corrections and cancellations) through ``trades_import_file`` exactly as a broker's file would go.

Re-running: the demo is recognised by its import's ``source_name`` (``demo-s<seed>-n<trades>-p<partners>-a<accounts>
-amendments.csv``, written last). The same demo already there is reported and skipped; a different demo or other
data already there is refused unless ``reset`` wipes the domain tables first (never allowed with DEBUG off).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from commissions.models import (
    Instrument,
    InstrumentAlias,
    PartnerPlan,
    Plan,
    PlanRule,
    Rebate,
    SymbolSuffix,
    Trade,
    TradeImport,
)
from commissions.services.reference_data import instruments_upsert, suffixes_upsert
from commissions.services.trade_ingest import trades_import_file
from core.roles import Role, sync_roles
from ledger.models import ConversionRate
from ledger.selectors import partner_statement
from ledger.services.rates import rates_upsert
from ledger.services.scratch import truncate_guards_lifted
from mam.models import MoneyManager
from partners.models import AccountAttribution, ClientAccount, Partner, PartnerLink, Program
from partners.selectors import partner_tree_stats
from partners.services.accounts import account_attribute, accounts_upsert
from partners.services.partners import partner_create, partner_issue_token, partner_move
from partners.services.programs import program_upsert

from . import generator
from .generator import DemoConfig, DemoData
from .mam import MamSeeded, demo_mam_load, demo_mam_plan, demo_mam_present
from .payouts import DemoPayouts, demo_payouts
from .plans import DemoRunSummary, demo_busy_partner, demo_fee_runs, demo_periods, demo_runs, demo_terms_load

# Apps whose tables ``reset`` empties (those installed); users only partners log in with go too.
DOMAIN_APPS = ("partners", "ledger", "runs", "commissions", "mam", "reporting")
DEMO_PREFIX = "demo-"
ADMIN_USERNAME = "admin"
FINANCE_USERNAME = "finance"
# One login per role (core/roles.py), each password the admin's with its name in front ("finance-demo-11"):
# finance makes the payout batch and the controller, a second finance clerk, approves it (maker-checker).
ROLE_USERS = (
    ("broker", Role.BROKER_ADMIN),
    (FINANCE_USERNAME, Role.FINANCE),
    ("controller", Role.FINANCE),
    ("support", Role.SUPPORT),
)

# A progress factory: (description, total, unit) -> a context manager yielding ``update(n)``.
ProgressFactory = Callable[[str, int, str], AbstractContextManager[Callable[[int], Any]]]


@dataclass(frozen=True)
class DemoLogin:
    """A partner's portal login printed in the summary: ``label`` is what kind of partner it shows."""

    label: str
    code: str
    username: str
    password: str


class DemoError(Exception):
    """The database is not in a state the demo can be seeded into (and ``reset`` was not asked for)."""


@dataclass
class DemoResult:
    """What ``demo_seed`` did and where to look."""

    config: DemoConfig
    skipped: bool
    trades_csv: Path
    amendments_csv: Path
    admin_username: str
    admin_password: str
    partner_code: str
    partner_token: str
    counts: dict[str, Any] = field(default_factory=dict)
    terms: dict[str, int] = field(default_factory=dict)
    runs: list[DemoRunSummary] = field(default_factory=list)
    statement: dict[str, Any] | None = None
    mam: MamSeeded | None = None
    payouts: DemoPayouts | None = None
    partner_logins: list[DemoLogin] = field(default_factory=list)


def demo_file_stem(config: DemoConfig) -> str:
    return f"{DEMO_PREFIX}s{config.seed}-n{config.trades}-p{config.partners}-a{config.accounts}"


def _no_progress(description: str, total: int, unit: str) -> AbstractContextManager[Callable[[int], Any]]:
    return nullcontext(lambda n: None)


def demo_seed(
    *,
    config: DemoConfig,
    out_dir: Path,
    admin_password: str,
    reset: bool = False,
    progress: ProgressFactory | None = None,
) -> DemoResult:
    """Seed the demo described by ``config`` (or recognise it is already there); return the summary.

    Raises ``DemoError`` when other data is present and ``reset`` is false, or ``reset`` is asked with DEBUG off.
    """
    progress = progress or _no_progress
    stem = demo_file_stem(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    trades_csv, amendments_csv = out_dir / f"{stem}-trades.csv", out_dir / f"{stem}-amendments.csv"

    if reset:
        demo_reset()
    present = _seeded_demo()
    skipped = present == amendments_csv.name
    if present is not None and not skipped:
        raise DemoError(
            f"This database already holds another demo ({present.removesuffix('-amendments.csv')}). "
            "Run seed_demo with --reset to wipe it and seed this one."
        )
    if present is None and (Partner.objects.exists() or ClientAccount.objects.exists() or Trade.objects.exists()):
        raise DemoError(
            "This database already holds partners, accounts or trades that are not a complete demo. "
            "Run seed_demo with --reset to wipe the partners, commissions, MAM and reporting tables first."
        )

    if not skipped:
        with progress("Generating the demo broker", config.trades, "trades") as update:
            data = generator.generate(config, progress=update)
        generator.write_csv(data.trades, trades_csv)
        generator.write_csv(data.amendments, amendments_csv)
        _load_network(data)
        _import(trades_csv, "Importing trades", len(data.trades), progress)
        _import(amendments_csv, "Importing amendments", len(data.amendments), progress)
        terms = demo_terms_load(epoch=data.epoch)
        mam = _seed_mam(config=config, start=data.start, end=data.end, progress=progress)
    else:
        terms, mam = {}, None
    # Computing is idempotent (a live run is returned, approving twice posts nothing), so a re-run finishes the
    # months a previous, interrupted seeding left.
    complete, _current = demo_periods(config.today)
    with progress("Computing and approving months", len(complete) + 1, "months") as update:
        runs = demo_runs(today=config.today, progress=lambda period: update(1))
    if demo_mam_present():
        with progress("Computing and approving MAM fees", len(complete), "months") as update:
            runs += demo_fee_runs(today=config.today, progress=lambda period: update(1))
    busy = demo_busy_partner(period=complete[-1])
    statement = partner_statement(partner=busy, period=complete[-1]) if busy else None

    admin_user = _ensure_admin(password=admin_password)
    staff = {name: _ensure_role_user(name, role, admin_password=admin_password) for name, role in ROLE_USERS}
    payouts = demo_payouts(
        period=complete[-1], out_dir=out_dir, maker=staff[FINANCE_USERNAME], checker=staff["controller"]
    )
    token_partner = _token_partner()
    token = partner_issue_token(partner=token_partner)
    partner_logins = _partner_logins(master=token_partner, admin_password=admin_password)
    return DemoResult(
        config=config,
        skipped=skipped,
        trades_csv=trades_csv,
        amendments_csv=amendments_csv,
        admin_username=admin_user.get_username(),
        admin_password=admin_password,
        partner_code=token_partner.code,
        partner_token=token,
        counts=demo_counts(),
        terms=terms,
        runs=runs,
        statement=statement,
        mam=mam,
        payouts=payouts,
        partner_logins=partner_logins,
    )


def _seed_mam(*, config: DemoConfig, start, end, progress: ProgressFactory) -> MamSeeded | None:
    """The MAM book (``demo.seed.mam``) after the network and its plans, before the months are computed, so the
    sub-account trades are in the commission runs. None when the network is too small to fill a group."""
    book = demo_mam_plan(seed=config.seed, start=start, end=end)
    if book is None:
        return None
    with progress("Seeding MAM master trades", len(book.events), "events") as update:
        return demo_mam_load(book, progress=update)


def _seeded_demo() -> str | None:
    """The source name of the last file of a completely seeded demo, if there is one."""
    row = (
        TradeImport.objects.filter(
            source_name__startswith=DEMO_PREFIX,
            source_name__endswith="-amendments.csv",
            status=TradeImport.Status.DONE,
        )
        .order_by("-pk")
        .values_list("source_name", flat=True)
        .first()
    )
    return row


def demo_reset() -> None:
    """Empty every table of the domain apps (partners, ledger, runs, commissions, MAM, reporting) and delete the
    partners' login users. Only for demo databases: refused when DEBUG is off.

    The ledger's tables refuse TRUNCATE by trigger; wiping a demo database is the one place that lifts it (for this
    transaction, by the tables' owner: ``ledger.services.scratch``). A real ledger is never wiped: benchmarks use their
    own database."""
    if not settings.DEBUG:
        raise DemoError("Refusing to wipe the database with DEBUG off: --reset is for demo databases only.")
    tables: list[str] = []
    for label in DOMAIN_APPS:
        try:
            app = apps.get_app_config(label)
        except LookupError:
            continue
        for model in app.get_models(include_auto_created=True):
            if model._meta.managed and not model._meta.proxy:
                tables.append(model._meta.db_table)
    user_ids = list(Partner.objects.exclude(user=None).values_list("user_id", flat=True))
    with transaction.atomic(), truncate_guards_lifted():
        if tables:
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            with connection.cursor() as cursor:
                # Deferred foreign-key checks still pending in an enclosing transaction would block TRUNCATE.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"TRUNCATE {quoted} CASCADE")
        get_user_model().objects.filter(pk__in=user_ids, is_staff=False, is_superuser=False).delete()


def _load_network(data: DemoData) -> None:
    """Reference data, programs, partners, accounts and their moves: all of it or nothing."""
    with transaction.atomic():
        suffixes_upsert(suffixes=data.suffixes)
        instruments_upsert(rows=data.instruments)
        rates_upsert(rows=data.rates)
        programs = {row["code"]: program_upsert(**row) for row in data.programs}
        partners: dict[str, Partner] = {}
        for row in data.partners:  # parents come before their children
            partners[row.code] = partner_create(
                code=row.code,
                name=row.name,
                program=programs[row.program],
                parent=partners[row.parent] if row.parent else None,
                effective_from=data.epoch,
                email=row.email,
                status=row.status,
                payout_currency=row.payout_currency,
                payout_method=row.payout_method,
                payout_account=row.payout_account,
            )
        accounts_upsert(rows=[{**row, "effective_from": data.epoch} for row in data.accounts])
        for move in data.partner_moves:
            partner_move(
                partner=partners[move.partner], parent=partners[move.parent], effective_from=move.effective_from
            )
        by_key = {
            (a.server, a.login): a
            for a in ClientAccount.objects.filter(login__in=[m.login for m in data.account_moves])
        }
        for move in data.account_moves:
            account_attribute(
                account=by_key[move.server, move.login],
                partner=partners[move.partner],
                effective_from=move.effective_from,
            )


def _import(path: Path, description: str, rows: int, progress: ProgressFactory) -> TradeImport:
    with progress(description, rows, "rows") as update:
        trade_import = trades_import_file(path=path, fmt="generic", source_name=path.name, progress=update)
    if trade_import.status != TradeImport.Status.DONE:
        raise DemoError(f"Importing {path.name} failed: {trade_import.error or trade_import.status}")
    return trade_import


def _ensure_admin(*, password: str):
    """The demo's superuser, with the password printed in the summary (reset on every run so it is true)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first() or user_model(
        username=ADMIN_USERNAME, email="admin@example.com"
    )
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return user


def role_password(username: str, admin_password: str) -> str:
    return admin_password.replace("admin", username, 1)


def _ensure_role_user(username: str, role: Role, *, admin_password: str):
    """A staff user in ``role`` only (not a superuser: the role is what it may do), its password reset every run."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first() or user_model(
        username=username, email=f"{username}@example.com"
    )
    user.is_staff = user.is_active = True
    user.is_superuser = False
    user.set_password(role_password(username, admin_password))
    user.save()
    sync_roles()
    user.groups.set([Group.objects.get(name=role.value)])
    return user


def _token_partner() -> Partner:
    """The first top-level partner: it heads the deepest demo tree, so its token shows a full downline."""
    top = PartnerLink.objects.filter(parent__isnull=True, valid_to__isnull=True).order_by("partner__code")
    link = top.select_related("partner").first()
    if link is None:
        raise DemoError("The demo has no partners.")
    return link.partner


def _partner_logins(*, master: Partner, admin_password: str) -> list[DemoLogin]:
    """Portal logins for the master IB (the token partner), its first sub-IB and a money manager: each partner's own
    user (username = code, never staff), its password the admin's with the code in front ("ib-0001-demo-11"), reset
    every run like the staff logins'. Partners have no two-factor device: it is optional for them."""
    picks: list[tuple[str, Partner]] = [("Master IB", master)]
    sub = (
        PartnerLink.objects.filter(parent=master, valid_to__isnull=True)
        .select_related("partner")
        .order_by("partner__code")
        .first()
    )
    if sub is not None:
        picks.append(("Sub-IB", sub.partner))
    manager = (
        MoneyManager.objects.exclude(partner__in=[partner for _, partner in picks])
        .select_related("partner")
        .order_by("partner__code")
        .first()
    )
    if manager is not None:
        picks.append(("Money manager", manager.partner))
    logins = []
    for label, partner in picks:
        partner_issue_token(partner=partner)  # the partner's login user, made if missing
        user = Partner.objects.select_related("user").get(pk=partner.pk).user
        password = role_password(user.get_username(), admin_password)
        user.set_password(password)
        user.save(update_fields=["password"])
        logins.append(DemoLogin(label=label, code=partner.code, username=user.get_username(), password=password))
    return logins


def demo_counts() -> dict[str, Any]:
    """What the database holds, for the summary."""
    now = timezone.now()
    partner_ids = list(Partner.objects.values_list("pk", flat=True))
    stats = partner_tree_stats(partner_ids=partner_ids, at=now)
    levels: dict[int, int] = {}
    for item in stats.values():
        levels[item.level] = levels.get(item.level, 0) + 1
    in_force = Q(valid_from__lte=now) & (Q(valid_to__isnull=True) | Q(valid_to__gt=now))
    trades = Trade.objects.aggregate(
        versions=Count("pk"),
        current=Count("pk", filter=Q(is_current=True)),
        cancelled=Count("pk", filter=Q(is_current=True, status=Trade.Status.CANCELLED)),
        corrected=Count("pk", filter=Q(is_current=True, version__gt=1, status=Trade.Status.CLOSED)),
        unresolved=Count("pk", filter=Q(is_current=True, instrument__isnull=True)),
    )
    imports = [
        {
            "source": ti.source_name,
            "rows_read": ti.rows_read,
            "created": ti.created,
            "updated": ti.updated,
            "unchanged": ti.unchanged,
            "skipped": ti.skipped,
            "rejected": ti.rejected,
            "unresolved": ti.unresolved,
            "unresolved_symbols": ti.unresolved_symbols,
        }
        for ti in TradeImport.objects.filter(source_name__startswith=DEMO_PREFIX).order_by("pk")
    ]
    return {
        "instruments": Instrument.objects.count(),
        "aliases": InstrumentAlias.objects.count(),
        "suffixes": SymbolSuffix.objects.count(),
        "rates": ConversionRate.objects.count(),
        "programs": Program.objects.count(),
        "partners": len(partner_ids),
        "suspended_partners": Partner.objects.filter(status=Partner.Status.SUSPENDED).count(),
        "partners_by_level": dict(sorted(levels.items())),
        "partner_moves": PartnerLink.objects.filter(valid_to__isnull=False).count(),
        "accounts": ClientAccount.objects.count(),
        "accounts_without_ib_now": ClientAccount.objects.exclude(
            pk__in=AccountAttribution.objects.filter(in_force, partner__isnull=False).values("account_id")
        ).count(),
        "accounts_not_earning": ClientAccount.objects.filter(earns_commission=False).count(),
        "account_moves": AccountAttribution.objects.filter(valid_to__isnull=False).count(),
        "trades": trades,
        "imports": imports,
    }


def demo_digest() -> str:
    """A fingerprint of the seeded partners, tree, accounts, trades, rates, plans and rebates by natural keys (not
    ids): equal digests mean the same demo. Hashed inside PostgreSQL (Django's connections use UTC, so times hash
    alike), so it is quick even for the full-size demo."""
    queries = [
        f"""SELECT p.code, p.name, p.status, g.code, p.payout_currency, p.payout_method, p.payout_account
             FROM {Partner._meta.db_table} p JOIN {Program._meta.db_table} g ON g.id = p.program_id""",
        f"""SELECT p.code, q.code, l.valid_from, l.valid_to
             FROM {PartnerLink._meta.db_table} l JOIN {Partner._meta.db_table} p ON p.id = l.partner_id
             LEFT JOIN {Partner._meta.db_table} q ON q.id = l.parent_id""",
        f"""SELECT a.server, a.login, a.currency, a."group", a.earns_commission, p.code, t.valid_from, t.valid_to
             FROM {ClientAccount._meta.db_table} a
             LEFT JOIN {AccountAttribution._meta.db_table} t ON t.account_id = a.id
             LEFT JOIN {Partner._meta.db_table} p ON p.id = t.partner_id""",
        f"""SELECT server, ticket, version, is_current, login, symbol, side, lots, open_time, open_price, close_time,
                  close_price, profit, swap, commission, spread_pips, status, instrument_id IS NULL
             FROM {Trade._meta.db_table}""",
        f"""SELECT currency, day, usd_rate FROM {ConversionRate._meta.db_table}""",
        f"""SELECT p.code, r.type, i.symbol, r.symbol_group, r.account_group, r.rate, r.pct, r.priority, r.active
             FROM {PlanRule._meta.db_table} r JOIN {Plan._meta.db_table} p ON p.id = r.plan_id
             LEFT JOIN {Instrument._meta.db_table} i ON i.id = r.instrument_id""",
        f"""SELECT p.code, l.code, a.valid_from, a.valid_to
             FROM {PartnerPlan._meta.db_table} a JOIN {Partner._meta.db_table} p ON p.id = a.partner_id
             JOIN {Plan._meta.db_table} l ON l.id = a.plan_id""",
        f"""SELECT p.code, c.server, c.login, r.pct, r.per_lot, r.valid_from, r.valid_to
             FROM {Rebate._meta.db_table} r JOIN {Partner._meta.db_table} p ON p.id = r.partner_id
             LEFT JOIN {ClientAccount._meta.db_table} c ON c.id = r.account_id""",
    ]
    parts = []
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(f"SELECT md5(coalesce(string_agg(q::text, E'\\n' ORDER BY q::text), '')) FROM ({sql}) q")
            parts.append(cursor.fetchone()[0])
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
