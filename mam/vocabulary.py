"""The MAM vocabularies (DOMAIN.md 5), defined once and imported by the pure engines and the models alike.

Pure: standard library and ``core.vocabulary`` only.
"""

from __future__ import annotations

from core.vocabulary import LineKind, Vocabulary


class AllocationMethod(Vocabulary):
    """How a master trade's volume is shared over the group's sub-accounts (DOMAIN.md 5.1)."""

    LOT = "lot", "Lots (as weights)"
    PERCENT = "percent", "Percent"
    EQUAL = "equal", "Equal"
    BALANCE = "balance", "Balance"
    EQUITY = "equity", "Equity"
    FREE_MARGIN = "free_margin", "Free margin"
    RISK = "risk", "Equity × risk factor"
    MULTIPLIER = "multiplier", "Multiplier of the master volume"
    FIXED_LOT = "fixed_lot", "Fixed lots"


# Methods whose targets are shares of the master volume (summing to it); the others are per-account amounts.
NORMALISED_METHODS = frozenset(
    {
        AllocationMethod.LOT,
        AllocationMethod.PERCENT,
        AllocationMethod.EQUAL,
        AllocationMethod.BALANCE,
        AllocationMethod.EQUITY,
        AllocationMethod.FREE_MARGIN,
        AllocationMethod.RISK,
    }
)


class ResidualPolicy(Vocabulary):
    """Where the volume steps left after flooring every target go (normalised methods)."""

    LARGEST_WEIGHT = "largest_weight", "Largest weight first"
    LARGEST_REMAINDER = "largest_remainder", "Largest remainder"
    OVERFLOW = "overflow", "Overflow account"
    DISCARD = "discard", "Discard (not allocated)"


class BelowMinPolicy(Vocabulary):
    """What happens to an account whose allocation is below the instrument's minimum volume."""

    SKIP = "skip", "Skip the account and recompute"
    BUMP = "bump", "Bump to the minimum"


class AllocationReason(Vocabulary):
    """Why an account got less than its exact share, or nothing (recorded per account and master ticket)."""

    INACTIVE = "inactive", "Inactive member"
    NO_EQUITY = "no_equity", "No positive equity (or no snapshot)"
    EQUITY_STOP = "equity_stop", "Stopped out: equity below its equity stop"
    DRAWDOWN_STOP = "drawdown_stop", "Stopped out: drawdown beyond its limit"
    NOT_MEMBER = "not_member", "Not a member on that day (before joining or after leaving)"
    NO_PARAM = "no_param", "No positive parameter for the method (lots, percent, multiplier, fixed lots, risk factor)"
    BELOW_MINIMUM = "below_minimum", "Below the minimum volume"
    BUMPED = "bumped", "Raised to the minimum volume"
    BUMP_FUNDING = "bump_funding", "Gave steps back to fund other accounts' bumps to the minimum"
    CLAMPED = "clamped", "Clamped to its maximum"
    ROUNDED = "rounded", "Rounded to the volume step"
    RESIDUAL = "residual", "Took residual steps"
    DISCARDED = "discarded", "Residual discarded"


class CloseReason(Vocabulary):
    """Why a sub-position closed other than its exact proportional share of a master partial close (DOMAIN.md 5.2);
    "" (no member) when it closed exactly its share or the master closed fully."""

    ROUNDED = "rounded", "Rounded to the volume step"
    CLAMPED = "clamped", "Clamped to the lots still open"
    BELOW_MINIMUM = "below_minimum", "Share below the minimum volume: nothing closed now"
    REMAINDER_BELOW_MINIMUM = "remainder_below_minimum", "Closed fully: the rest would be below the minimum volume"


class ManagementBasis(Vocabulary):
    """Days per year of the management fee's daily accrual: every calendar day, or trading days (Mon–Fri) only."""

    CALENDAR = "365", "365 calendar days"
    TRADING = "260", "260 trading days"


class FeeBase(Vocabulary):
    """The daily figure the management fee accrues on."""

    EQUITY = "equity", "Equity"
    BALANCE = "balance", "Balance"


class HwmMode(Vocabulary):
    """The high-water mark after a performance fee is charged: equity after the fee (net) or before it (gross)."""

    NET = "net", "Net (after the fee)"
    GROSS = "gross", "Gross (before the fee)"


class FlowMode(Vocabulary):
    """How a withdrawal lowers the high-water mark."""

    ABSOLUTE = "absolute", "By the amount withdrawn"
    PROPORTIONAL = "proportional", "In proportion to the equity withdrawn"


class CrystallisationPeriod(Vocabulary):
    """When fees crystallise besides withdrawals and leaving."""

    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"


class CrystallisationReason(Vocabulary):
    """What made fees crystallise."""

    PERIOD_END = "period_end", "Period end"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    LEAVING = "leaving", "Member left the group"


class FeeLineKind(Vocabulary):
    """What a row of a fee run records: one of the fee kinds of ``core.vocabulary.LineKind`` (same values and
    labels: a fee line is a line like any other), or the state a member carries to the next run (its high-water mark
    and the first day not yet charged), one per member and run, amount 0."""

    MANAGEMENT_FEE = LineKind.MANAGEMENT_FEE.value, LineKind.MANAGEMENT_FEE.label
    PERFORMANCE_FEE = LineKind.PERFORMANCE_FEE.value, LineKind.PERFORMANCE_FEE.label
    FEE_SHARE = LineKind.FEE_SHARE.value, LineKind.FEE_SHARE.label
    STATE = "state", "State carried to the next run"


# The kinds that are money (charged to the investor, or moved from the manager to the investor's IB).
FEE_KINDS = frozenset({FeeLineKind.MANAGEMENT_FEE, FeeLineKind.PERFORMANCE_FEE, FeeLineKind.FEE_SHARE})
# The kinds charged to the investor's account (what the platform debits).
INVESTOR_FEE_KINDS = frozenset({FeeLineKind.MANAGEMENT_FEE, FeeLineKind.PERFORMANCE_FEE})
