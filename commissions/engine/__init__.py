"""Pure IB commission engine: DataFrames, Decimals and dataclasses in and out; no Django, no clock, no database.

Units: line amounts in USD with 6 decimal places (Decimal, and int64 micro-units for the COPY write path).
Rounding points: the three listed in ``run`` (leg notional, eff_rate, line amount), half-up to 6 places.
Invariants: see ``run`` (determinism, chunk independence through one ``TierContext``, loud ``MissingRates``).

Public API: ``compute_lines(inputs, tier_context)``, ``tier_context(trades, trade_chains, plans)``,
``validate_inputs(inputs)``, the ``EngineInputs``/``TierContext`` dataclasses and the errors.
"""

from .run import compute_lines
from .schema import EngineError, EngineInputError, EngineInputs, MissingRates, validate_inputs
from .tiers import TierContext, tier_context

__all__ = [
    "EngineError",
    "EngineInputError",
    "EngineInputs",
    "MissingRates",
    "TierContext",
    "compute_lines",
    "tier_context",
    "validate_inputs",
]
