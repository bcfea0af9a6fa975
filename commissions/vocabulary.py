"""The commission app's vocabularies, defined once: the engine (pure) and the models import them alike.

Pure: standard library and ``core.vocabulary`` only.
"""

from __future__ import annotations

from core.vocabulary import Vocabulary


class TradeStatus(Vocabulary):
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class TierMode(Vocabulary):
    """How volume tiers apply (DOMAIN.md 4.3)."""

    RETROACTIVE = "retroactive", "Retroactive"
    MARGINAL = "marginal", "Marginal"


class RuleType(Vocabulary):
    """What a plan rule computes per trade (DOMAIN.md 4.1)."""

    PER_LOT = "per_lot", "Per lot"
    PER_MILLION = "per_million", "Per million USD notional"
    SPREAD_SHARE = "spread_share", "Spread share"
    COMMISSION_SHARE = "commission_share", "Client commission share"


class Reason(Vocabulary):
    """Why a commission line carries amount 0 (DOMAIN.md 4.2). ``beyond_max_depth`` is never written: levels deeper
    than the program's ``max_depth`` get no line at all; the code is listed so readers of the docs find it."""

    CANCELLED = "cancelled", "Cancelled"
    UNRESOLVED_SYMBOL = "unresolved_symbol", "Unresolved symbol"
    ACCOUNT_NOT_EARNING = "account_not_earning", "Account not earning"
    NO_IB = "no_ib", "No IB at trade time"
    NO_PLAN = "no_plan", "No plan"
    MIN_HOLD = "min_hold", "Held less than the minimum"
    MIN_POINTS = "min_points", "Moved less than the minimum points"
    NO_RULE = "no_rule", "No matching rule"
    SUSPENDED = "suspended", "Partner suspended"
    NO_SPREAD = "no_spread", "No spread recorded"
    BEYOND_MAX_DEPTH = "beyond_max_depth", "Beyond the program's depth"


class LateChangeCode(Vocabulary):
    """What a commission run's approval counts as having arrived after the run read its data (``services.late``)."""

    LATE_TRADES = "late_trades", "Late trades"
    CORRECTIONS = "corrections", "Corrections"
    CANCELLATIONS = "cancellations", "Cancellations"
    SYMBOL_RESOLUTIONS = "symbol_resolutions", "Symbols resolved"
    LATE_ACCOUNTS = "late_accounts", "Trades of accounts created late"
    DATED_CHANGES = "dated_changes", "Dated changes"
