"""``manage.py run_commissions --period YYYY-MM [--recompute] [--approve]``: the commission run of a period, through
the run framework (``runs.management.base.RunCommand``). Other kinds have their own command (``run_fees``) or go
through ``run_period --kind``; this one computes commissions only."""

from runs.management.base import RunCommand


class Command(RunCommand):
    kind = "commissions"
    help = (
        "Compute a period's commission run (or show the live one), optionally recompute an unapproved run and "
        "approve it. With a Redis broker the chunks run on the workers and this command follows the run's progress. "
        "Exits non-zero when the run fails, the period is locked for a recompute, or the wait times out."
    )
