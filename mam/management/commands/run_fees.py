"""``manage.py run_fees --period YYYY-MM [--scope GROUP] [--recompute] [--approve]``: the MAM fee run of a period (or
of one group), through the run framework (``runs.management.base.RunCommand``): requested, followed with a progress
bar, its totals printed (by ``kind:currency``), optionally approved."""

from runs.management.base import RunCommand


class Command(RunCommand):
    kind = "fees"
    help = (
        "Compute a period's MAM fee run (or show the live one; --scope GROUP for one group), optionally recompute an "
        "unapproved run and approve it. A month is computed once the previous month's fees are approved. With a "
        "Redis broker the chunks run on the workers and this command follows the run's progress. Exits non-zero "
        "when the run fails, the period is locked for a recompute, or the wait times out."
    )
