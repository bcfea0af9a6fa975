"""Pure MAM engines (allocation, closing, fees): DataFrames, Decimals and dataclasses in and out; no Django, no clock.

Built on ``core.exact`` and ``core.money``; the purity contract holds for this package.

Units: lots are ``Decimal`` (at most 8 places), handled inside as exact integers and whole volume steps; money
figures and parameters are ``Decimal`` (at most 8 places). Rounding points and invariants: ``allocation`` (and
``sharing`` for the normalised methods) and ``closing``.

Public API: ``allocate(volume, members, policy=, spec=) -> Allocation`` with ``GroupPolicy``, ``VolumeSpec`` and the
member columns ``MEMBER_COLUMNS``; ``close_partial(positions, master_open=, close_lots=, spec=) -> DataFrame``.
"""

from .allocation import (
    MEMBER_COLUMNS,
    NO_ELIGIBLE_ACCOUNT,
    NOT_NORMALISED,
    SHARE_COLUMNS,
    TARGET_PLACES,
    Allocation,
    GroupPolicy,
    allocate,
)
from .closing import CLOSE_COLUMNS, close_partial
from .volume import VolumeSpec

__all__ = [
    "CLOSE_COLUMNS",
    "MEMBER_COLUMNS",
    "NOT_NORMALISED",
    "NO_ELIGIBLE_ACCOUNT",
    "SHARE_COLUMNS",
    "TARGET_PLACES",
    "Allocation",
    "GroupPolicy",
    "VolumeSpec",
    "allocate",
    "close_partial",
]
