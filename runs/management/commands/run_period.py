"""``manage.py run_period --kind KIND --period YYYY-MM [--scope S] [--recompute] [--approve]``: compute (or show)
a run of any registered kind, follow it to the end, print its totals, optionally approve it."""

from runs.management.base import RunCommand


class Command(RunCommand):
    help = (
        "Compute a period's run of a registered kind (or show the live one), optionally recompute an unapproved run "
        "and approve it. Exits non-zero when the run fails, the period is locked for a recompute, or the wait times "
        "out."
    )
