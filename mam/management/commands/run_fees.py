"""``manage.py run_fees --period YYYY-MM [--scope GROUP] [--recompute] [--approve]``: the MAM fee run of a period (or
of one group), through the run framework (``runs.management.base.RunCommand``): requested, followed with a progress
bar, its totals printed, optionally approved.

Totals are keyed ``kind:currency``; their sum per currency would count a fee share twice (it is part of the fee it
is paid out of), so what is printed below them is what the investors are charged, per currency."""

from decimal import Decimal

from mam.vocabulary import INVESTOR_FEE_KINDS
from runs.management.base import RunCommand
from runs.models import Run


class Command(RunCommand):
    kind = "fees"
    help = (
        "Compute a period's MAM fee run (or show the live one; --scope GROUP for one group), optionally recompute an "
        "unapproved run and approve it. A month is computed once the previous month's fees are approved. With a "
        "Redis broker the chunks run on the workers and this command follows the run's progress. Exits non-zero "
        "when the run fails, the period is locked for a recompute, or the wait times out."
    )

    def _totals(self, run: Run) -> None:
        if not run.totals:
            self.stdout.write("  no fees (no member to compute in the period)")
            return
        charged: dict[str, Decimal] = {}
        for key, amount in sorted(run.totals.items()):
            self.stdout.write(f"  {key:<24} {Decimal(amount):>20,.6f}")
            kind, _, currency = key.partition(":")
            if kind in INVESTOR_FEE_KINDS:
                charged[currency] = charged.get(currency, Decimal(0)) + Decimal(amount)
        for currency, amount in sorted(charged.items()):
            self.stdout.write(f"  {'charged to investors ' + currency:<24} {amount:>20,.6f}")
