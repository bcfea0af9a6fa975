"""``manage.py seed_demo [--trades N] [--seed S]``: a realistic demo broker, loaded through the real services."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from rest_framework.authtoken.models import Token
from tqdm import tqdm

from core.management.base import AuditedCommand
from demo.seed.generator import DemoConfig
from demo.seed.seed import ROLE_USERS, DemoError, DemoResult, demo_digest, demo_seed, role_password


class Command(AuditedCommand):
    help = (
        "Seed a demo broker: instruments, rates, programs, a multi-level IB network, client accounts and trades "
        "over the last three complete months plus this one, imported through the real ingest path; then plans, "
        "rebates and a commission run per month (complete months approved, this one computed for review). "
        "Deterministic for a given seed, sizes and day. Re-running with the same options reports the demo and skips it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--trades", type=int, default=200_000, help="Number of trades (default 200000).")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument("--partners", type=int, default=300, help="Number of IBs (default 300).")
        parser.add_argument("--accounts", type=int, default=4_000, help="Number of client accounts (default 4000).")
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="Pretend today is this day (YYYY-MM-DD): the months are counted back from it. Default: today.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Wipe every partners/commissions/MAM/reporting table first (demo databases only; needs DEBUG).",
        )
        parser.add_argument(
            "--out-dir", type=Path, default=None, help="Where the generated CSV files go (default var/demo/)."
        )

    def handle(self, *args, **options) -> None:
        if options["trades"] < 0 or options["partners"] < 3 or options["accounts"] < 1:
            raise CommandError("Need --trades >= 0, --partners >= 3 and --accounts >= 1.")
        today = options["today"] or timezone.localdate(timezone=_server_tz())
        config = DemoConfig(
            seed=options["seed"],
            trades=options["trades"],
            partners=options["partners"],
            accounts=options["accounts"],
            today=today,
            tz=settings.IBEX_SERVER_TIME_ZONE,
        )
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or f"admin-demo-{config.seed}"
        out_dir = options["out_dir"] or Path(settings.IBEX_VAR_DIR) / "demo"
        try:
            result = demo_seed(
                config=config, out_dir=out_dir, admin_password=password, reset=options["reset"], progress=_bars
            )
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        self._summary(result)

    def _summary(self, result: DemoResult) -> None:
        c = result.counts
        trades = c["trades"]
        out = self.stdout.write
        if result.skipped:
            out(
                self.style.WARNING(
                    f"The demo with seed {result.config.seed} and these sizes is already seeded: nothing to do "
                    "(use --reset to wipe and re-seed)."
                )
            )
        else:
            out(self.style.SUCCESS(f"Demo broker seeded (seed {result.config.seed}, today {result.config.today})."))
        out(f"  instruments {c['instruments']} (aliases {c['aliases']}, suffixes {c['suffixes']}), rates {c['rates']}")
        levels = ", ".join(f"L{level}: {n}" for level, n in c["partners_by_level"].items())
        out(
            f"  programs {c['programs']}; partners {c['partners']} ({c['suspended_partners']} suspended; {levels}); "
            f"sub-IB moves {c['partner_moves']}"
        )
        out(
            f"  accounts {c['accounts']} ({c['accounts_without_ib_now']} without IB now, "
            f"{c['accounts_not_earning']} not earning); IB changes {c['account_moves']}"
        )
        out(
            f"  trades {trades['current']} (versions {trades['versions']}: {trades['corrected']} corrected, "
            f"{trades['cancelled']} cancelled); unresolved {trades['unresolved']}"
        )
        for report in c["imports"]:
            symbols = ", ".join(f"{s} ×{n}" for s, n in sorted(report["unresolved_symbols"].items())[:6])
            out(
                f"  import {report['source']}: read {report['rows_read']}, created {report['created']}, updated "
                f"{report['updated']}, unchanged {report['unchanged']}, skipped {report['skipped']}, rejected "
                f"{report['rejected']}, unresolved {report['unresolved']}" + (f" ({symbols}, …)" if symbols else "")
            )
        if result.terms:
            t = result.terms
            out(f"  plans {t['plans']}; partners on a plan {t['assigned']}; rebates {t['rebates']}")
        if result.mam:
            m = result.mam
            out(
                f"  MAM: {m.groups} groups of managers {', '.join(m.managers)}; {m.members} memberships, "
                f"{m.snapshots} daily snapshots, {m.cash_flows} cash flows; {m.opens} master opens, "
                f"{m.closes} closes ({m.seconds:.1f}s)"
            )
        for run in result.runs:
            totals = ", ".join(f"{kind} {Decimal(amount):,.2f}" for kind, amount in sorted(run.totals.items()))
            label = "run" if run.kind == "commissions" else f"{run.kind} run"
            out(
                f"  {label} {run.period} #{run.run_id}: {run.status}, {run.chunks} chunk(s), {run.seconds:.1f}s"
                + (f" — {totals}" + (" USD" if run.kind == "commissions" else "") if totals else "")
            )
        if result.statement:
            s = result.statement
            out(f"  statement of {s['partner']} for {s['period']} ({s['currency']}):")
            out(f"    opening balance {s['opening_balance']:,.2f}")
            for kind, amount in s["totals"].items():
                out(f"    {kind:<15} {amount:,.2f}")
            out(f"    earned {s['earned']:,.2f}, payouts {s['payouts']:,.2f}")
            out(f"    closing balance {s['closing_balance']:,.2f}")
        if result.payouts:
            p = result.payouts
            lines = "; ".join(f"{r['status']} {r['lines']} ({r['amount']:,} {r['currency']})" for r in p.totals)
            out(f"  payout batch #{p.batch_id} for {p.period}: {p.status} — {lines or 'no lines'}")
            out(f"    made by finance, approved by the controller (finance), exported to {p.csv}, paid")
        out(f"  files: {result.trades_csv}, {result.amendments_csv}")
        out(f"  digest: {demo_digest()[:16]}")
        out("")
        base = os.environ.get("DEMO_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
        admin_user = get_user_model().objects.get(username=result.admin_username)
        staff_token = Token.objects.get_or_create(user=admin_user)[0].key
        out(f"  Sign in:  {base}/login/  (staff then reach the admin, partners their portal)")
        out("            Two-factor: staff must use it; the first sign-in of a staff login shows the enrolment (scan")
        out("            the QR code with any TOTP authenticator app, enter its code), later sign-ins ask for a code.")
        out("            Partners may switch it on in the portal; these demo partners have none.")
        out(f"  Admin:    {base}/admin/")
        out(f"            user {result.admin_username!r}, password {result.admin_password!r}")
        for username, role in ROLE_USERS:
            password = role_password(username, result.admin_password)
            out(f"  {role.value + ':':<14}user {username!r}, password {password!r}")
        out(f"  Portal:   {base}/portal/")
        for login in result.partner_logins:
            out(f"  {login.label + ':':<15}user {login.username!r}, password {login.password!r}")
        out(f"  API docs: {base}/api/docs/  (schema: {base}/api/schema/)")
        out(f"  Staff API token ({result.admin_username}): {staff_token}")
        statement = f"{base}/api/v1/partners/{result.partner_code}/statement/?period=YYYY-MM"
        out(f'            curl -H "Authorization: Token {staff_token}" "{statement}"')
        out(f"  Partner {result.partner_code} API token: {result.partner_token}")
        out("            (for the partner's own API, /api/v1/me/, which the portal issue adds)")


def _server_tz():
    return ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)


@contextmanager
def _bars(description: str, total: int, unit: str) -> Iterator[Callable[[int], object]]:
    """A tqdm bar on stderr (hidden when stderr is not a terminal, e.g. in tests and CI logs)."""
    with tqdm(total=total, desc=description, unit=f" {unit}", unit_scale=True, file=sys.stderr, disable=None) as bar:
        yield bar.update
