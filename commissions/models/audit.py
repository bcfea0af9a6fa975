"""What the audit trail tracks of commissions (``core.models.tracked``; README "Audit trail"): plans with their
dated terms, tiers and rules, partners' dated plans, rebates and the reference data that prices trades (instruments,
aliases, suffixes) — every insert, update and delete, with who made it and how.

Not tracked row by row: what COPY writes and runs compute — trades and MT5 deals (the feed; each trade version is
its own immutable row anyway), attribution lines, tier volumes, posting claims, late-version queues; the runs that
wrote them are (``runs.models``). A plan terms' set of rules (the many-to-many link table) is not tracked either:
every rule is an immutable row of its own, so a changed rule set shows as the new terms and the rules added
(inserted) or retired (``active`` updated) with them.
"""

from core.models import tracked

from .instruments import Instrument, InstrumentAlias, SymbolSuffix
from .plans import PartnerPlan, Plan, PlanRule, PlanTerms, PlanTier, Rebate

for model in (Plan, PlanTerms, PlanTier, PlanRule, PartnerPlan, Rebate, Instrument, InstrumentAlias, SymbolSuffix):
    tracked()(model)
