"""Posting claims: PostgreSQL itself guarantees that no trade version is posted by two approved commission runs, and
none is reversed by two (DOMAIN.md 3: "nothing can post the same trade version in two approved runs").

A version (a ``commissions_trade`` row) is **posted** by a run that holds a line of any kind but ``reversal`` for
it — a zero line too (no IB, filtered out, cancelled: posted at 0) — and **reversed** by a run that holds a
``reversal`` line for it. Each version is posted at most once and reversed at most once, after its posting; a
version is never posted again after its reversal (a correction is a new version, with a new id). A change that
re-prices a version without creating one (a symbol resolved by a new alias, an account created after the fact) can
therefore reach the journal only as a new version or as a rule of its own: the database refuses a second posting.

What the database keeps, per commission run, is a handful of **claims**: boxes in the plane (trade version id ×
close time). When a run becomes ``computed`` — its lines are complete, indexed and attached, and no line can be
added any more — a trigger on ``runs_run`` derives them from the run's own lines joined to the trades:

- ``post``: per label of the lines (the run's own period, or the locked period an adjustment names), the box from
  the smallest to the largest id and close time of the versions posted. A period run posts the versions of its
  snapshot (ids up to its ``trade_max_id``) that close in its period; an adjustment run posts, for a locked period,
  versions above that period's run's snapshot, and the run after it versions above its own snapshot. So legitimate
  claims never overlap: each close period's ids are cut into consecutive windows, one per run.
- ``reverse``: exact runs of consecutive reversed ids (islands), each boxed by its close times. Reversed versions
  are scattered among the posted ones, so only exact id ranges keep two runs' reversals from overlapping.

When a run becomes ``approved`` its claims are marked approved (derived then, if the run was computed before claims
existed), and an exclusion constraint refuses any approved claim that overlaps another of the same action. A
version posted by two runs lies in a post box of each, so the second approval fails, whatever code approves it —
the ORM, raw ``UPDATE runs_run SET status = 'approved'``, a concurrent approval (the exclusion constraint waits for
the other transaction). The trigger names the first version it finds posted by both runs.

Why boxes and not a row per posted version: a unique index over one row per version (1M rows for the benchmark's
month) made approval 3.5 times slower (6.9 s → 24 s). The boxes cost one aggregate over the run's lines when the
run is computed (1.4–2.6 s for 1M trades and 3.9M lines, in parallel) and a few rows at approval (4 ms).

What keeps the boxes true afterwards: attribution lines are append-only (no UPDATE or DELETE) and no line can be
INSERTed into a run's published partition (``attributionline_published``), so a computed run's lines are those its
claims were derived from; a trade version's id and close time never change (``trade_version_fixed``); claims are
written only by those triggers (a direct INSERT, an UPDATE other than approving, and a DELETE are refused) and an
approved claim stays approved even if its run's status is later changed by hand. What they do not stop, as for the
ledger's guards: the tables' owner disabling triggers or detaching a partition (DDL).

A box over-approximates the versions a run posted, so it could refuse a correct approval only if a later run posted
a version of the same close period with an id between two versions the earlier run posted — which the snapshots
exclude (a version current at a later snapshot with an id inside an earlier snapshot was current then, and the
earlier run computed it). The one exception is a run approved before snapshots existed that read trades while they
were being ingested; its approval then fails with the versions named instead of posting them twice.
"""

from __future__ import annotations

import pgtrigger
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import BigIntegerRangeField, DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q

from core.vocabulary import Vocabulary
from ledger.models.guards import GuardTrigger
from runs.models import Run


class ClaimAction(Vocabulary):
    POST = "post", "Post"
    REVERSE = "reverse", "Reverse"


# Claims are written by the database's own triggers only (depth >= 2: inside the trigger on runs_run); approving
# them is the one update allowed.
_DERIVED_ONLY = """
IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'posting claims are never deleted' USING ERRCODE = 'insufficient_privilege';
END IF;
IF pg_trigger_depth() < 2 THEN
    RAISE EXCEPTION 'posting claims are derived by the database from a run''s lines; they cannot be written directly'
        USING ERRCODE = 'insufficient_privilege';
END IF;
IF TG_OP = 'UPDATE' AND (
    (NEW.run_id, NEW.action, NEW.trade_ids, NEW.close_times) IS DISTINCT FROM
    (OLD.run_id, OLD.action, OLD.trade_ids, OLD.close_times) OR (OLD.approved AND NOT NEW.approved)) THEN
    RAISE EXCEPTION 'a posting claim only goes from unapproved to approved' USING ERRCODE = 'insufficient_privilege';
END IF;
RETURN NEW;
"""


class PostingClaim(models.Model):
    """A box of trade versions (ids × close times) a commission run posts or reverses (see the module docstring)."""

    Action = ClaimAction

    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=8, choices=ClaimAction.choices)
    trade_ids = BigIntegerRangeField()
    close_times = DateTimeRangeField()
    approved = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["run"], name="posting_claim_run")]
        constraints = [
            ExclusionConstraint(
                name="posting_claim_once",
                expressions=[
                    ("action", RangeOperators.EQUAL),
                    ("trade_ids", RangeOperators.OVERLAPS),
                    ("close_times", RangeOperators.OVERLAPS),
                ],
                condition=Q(approved=True),
            ),
        ]
        triggers = [
            GuardTrigger(
                name="postingclaim_derived_only",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=_DERIVED_ONLY,
            ),
            GuardTrigger(
                name="postingclaim_no_truncate",
                when=pgtrigger.Before,
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                func="RAISE EXCEPTION 'ledger: % is append-only: TRUNCATE is refused', TG_TABLE_NAME "
                "USING ERRCODE = 'insufficient_privilege'; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.action} {self.trade_ids}"
