"""Closing the sub-positions of one master ticket (DOMAIN.md 5.2).

``close_partial(positions, master_open=M, close_lots=c, spec=)``: positions are the open sub-positions linked to the
master ticket (server, login, lots_open); the result says per position (same order and index) how many lots to
close now and why that differs from the exact proportional share ``s_i x c / M``.

Units: lots are ``Decimal`` with at most 8 places (integers of 1e-8 lots inside); ``lots_closed`` carries the
step's places. The minimum volume is ``spec.minimum`` rounded up to the step and at least one step.

Rounding point: one, ``round_half_up(s_i x c / M)`` to the step (``core.exact.div_round``), then clamped to
``[0, s_i]``.

Rules and decisions (DOMAIN.md 5.2, and where it is silent):
- A full master close (``c == M``) closes every sub-position fully, whatever its size (reason ``""``); deactivated
  or stopped-out accounts follow closes like any other, so nothing here looks at the account.
- A partial close whose rounded share is below the minimum volume closes nothing now (``below_minimum``): the
  position keeps following the master and is closed by later closes, at the latest by the master's full close.
- A partial close that would leave an open rest above 0 but below the minimum volume closes the sub-position fully
  instead (``remainder_below_minimum``): such a rest could never be closed partially (platforms refuse a close
  that leaves less than the minimum); closing it too deviates from the proportional close by less than the
  minimum volume.
- Otherwise ``rounded`` where the closed lots differ from the exact share, ``clamped`` where the rounded share
  exceeded the lots open (possible only for a position that is not a multiple of the step), else ``""``.

Invariants: ``0 <= lots_closed <= lots_open`` for every position; a full close closes everything; ``ValueError``
when ``close_lots <= 0``, ``close_lots > master_open``, or a position's lots are missing or negative.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from core.exact import div_round, mul
from mam.vocabulary import CloseReason

from .volume import VolumeSpec, lot_units, lot_units_array, steps_of, units_to_lots

CLOSE_COLUMNS = ("server", "login", "lots_closed", "reason")


def close_partial(
    positions: pd.DataFrame, *, master_open: Decimal, close_lots: Decimal, spec: VolumeSpec
) -> pd.DataFrame:
    """Lots to close now per open sub-position when the master closes ``close_lots`` of ``master_open`` lots."""
    steps = steps_of(spec)
    master = lot_units(master_open, what="master_open")
    closing = lot_units(close_lots, what="close_lots")
    if closing <= 0 or closing > master:
        raise ValueError(f"close_lots must be in (0, master_open]: {close_lots} of {master_open}")
    open_lots, missing = lot_units_array(positions["lots_open"].to_numpy(dtype=object), what="lots_open")
    if missing.any() or (open_lots < 0).any():
        raise ValueError("lots_open must be given and not negative for every position")
    reason = np.full(open_lots.size, "", dtype=object)
    if closing == master:
        closed = open_lots
    else:
        exact = mul(open_lots, closing)  # the exact share is exact / master, in units
        closed = mul(div_round(exact, master * steps.step), steps.step)
        reason[mul(closed, master) != exact] = CloseReason.ROUNDED.value
        clamped = closed > open_lots
        closed = np.where(clamped, open_lots, closed)
        reason[clamped] = CloseReason.CLAMPED.value
        minimum = steps.min_steps * steps.step
        below = (closed < minimum) & (open_lots > 0)
        stranded = ~below & (open_lots - closed > 0) & (open_lots - closed < minimum)
        closed = np.where(below, 0, np.where(stranded, open_lots, closed))
        reason[stranded] = CloseReason.REMAINDER_BELOW_MINIMUM.value
        reason[below] = CloseReason.BELOW_MINIMUM.value
    return pd.DataFrame(
        {
            "server": positions["server"].to_numpy(dtype=object),
            "login": positions["login"].to_numpy(),
            "lots_closed": units_to_lots(np.asarray(closed, dtype=np.int64), steps.step),
            "reason": reason,
        },
        index=positions.index,
    )
