"""Volumes in whole steps: the instrument's volume spec and the exact integer form of lots.

Units: lots are ``Decimal`` with at most ``LOT_PLACES`` (8) decimal places. Inside the engines a lot figure is an
integer of units at ``LOT_PLACES`` and a volume is a whole number of the instrument's steps; the master volume in
steps is kept as a reduced fraction ``num / den`` (``den`` is 1 whenever the volume is a multiple of the step, the
usual case), so that every share computed from it is exact.

Rounding point: none here. Limits are converted exactly: a cap is the largest multiple of the step not above it
(floor) and the minimum is the smallest multiple of the step not below it (ceiling), both exact integer operations.

Invariants: ``step > 0``, ``0 <= minimum <= maximum`` and ``maximum > 0`` (else ``ValueError``); the effective
minimum is at least one step, since a position of 0 lots is never a valid opening.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from math import gcd

import numpy as np
import pandas as pd

from core.exact import ExactValueError, decimals_to_ints, ints_to_decimals, min_scale, pow10

LOT_PLACES = 8


@dataclass(frozen=True)
class VolumeSpec:
    """The instrument's volume rules, as on the trading platform: step, minimum and maximum lots per position."""

    step: Decimal
    minimum: Decimal
    maximum: Decimal


@dataclass(frozen=True)
class Steps:
    """A spec in integer form: ``step`` in units (lots x 10**LOT_PLACES); minimum and maximum in whole steps."""

    step: int
    min_steps: int
    max_steps: int

    def caps(self, max_lots: np.ndarray, unset: np.ndarray) -> np.ndarray:
        """Per account, the most steps it may hold: ``min(max_lots, maximum)`` floored to the step (``max_lots``
        in units; where ``unset`` only the instrument's maximum applies)."""
        own = max_lots // self.step
        caps = np.where(unset, self.max_steps, np.minimum(own, self.max_steps))
        return caps.astype(np.int64)


def lot_units(value: Decimal, *, what: str) -> int:
    """``value`` lots as integer units at ``LOT_PLACES`` (exact, else ``ExactValueError``)."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ExactValueError(f"{what}: expected a finite Decimal, got {value!r}")
    scaled = value.scaleb(LOT_PLACES)
    if scaled != scaled.to_integral_value():
        raise ExactValueError(f"{what}: more than {LOT_PLACES} decimal places: {value}")
    return int(scaled)


def lot_units_array(values: pd.Series | np.ndarray, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A column of lots (``Decimal`` or missing) as integer units at ``LOT_PLACES`` and its missing mask."""
    return decimals_to_ints(values, scale=LOT_PLACES, what=what, allow_na=True)


def steps_of(spec: VolumeSpec) -> Steps:
    """Check ``spec`` and give its integer form."""
    step = lot_units(spec.step, what="volume step")
    minimum = lot_units(spec.minimum, what="minimum volume")
    maximum = lot_units(spec.maximum, what="maximum volume")
    if step <= 0:
        raise ValueError(f"the volume step must be positive, got {spec.step}")
    if minimum < 0 or maximum <= 0 or minimum > maximum:
        raise ValueError(f"need 0 <= minimum <= maximum and maximum > 0, got {spec.minimum} and {spec.maximum}")
    min_steps = max(1, -(-minimum // step))
    return Steps(step=step, min_steps=min_steps, max_steps=maximum // step)


def volume_in_steps(volume: Decimal, steps: Steps) -> tuple[int, int]:
    """``volume / step`` as a reduced fraction ``(num, den)``; the volume must be positive."""
    if not isinstance(volume, Decimal):
        raise ExactValueError(f"volume: expected a Decimal, got {type(volume).__name__}")
    units = lot_units(volume, what="volume")
    if units <= 0:
        raise ValueError(f"the volume must be positive, got {volume}")
    common = gcd(units, steps.step)
    return units // common, steps.step // common


def units_to_lots(units: np.ndarray, step: int) -> np.ndarray:
    """Integer units as ``Decimal`` lots with the step's decimal places (0.50, not 0.50000000), or more where a value
    needs them (an odd position size)."""
    units = np.asarray(units)
    places = max(min_scale(np.array([step], dtype=np.int64), LOT_PLACES), min_scale(units, LOT_PLACES))
    return ints_to_decimals(units // pow10(LOT_PLACES - places), places)
