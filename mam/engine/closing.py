"""STAND-IN for the closing engine of branch ``mam-alloc`` (``close_partial``), with its interface; the merge
replaces this file whole. A partial master close of ``c`` out of ``M`` open lots closes ``round_half_up(s_i × c / M)``
of each sub-position, to the volume step, clamped to ``[0, s_i]``; below the minimum volume nothing is closed now
(reason ``below_minimum``). Pure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from mam.vocabulary import AllocationReason

from .allocation import VolumeSpec


def close_partial(
    positions: pd.DataFrame, *, master_open: Decimal, close_lots: Decimal, spec: VolumeSpec
) -> pd.DataFrame:
    if close_lots <= 0 or close_lots > master_open:
        raise ValueError("close_lots must be in (0, master_open]")
    out = []
    for row in positions.to_dict("records"):
        held = row["lots_open"]
        if close_lots == master_open:
            closed, reason = held, ""
        else:
            closed = (held * close_lots / master_open / spec.step).to_integral_value(rounding=ROUND_HALF_UP) * spec.step
            closed = min(max(closed, Decimal(0)), held)
            reason = ""
            if closed < spec.minimum:
                closed, reason = Decimal(0), AllocationReason.BELOW_MINIMUM.value
        out.append({"server": row["server"], "login": row["login"], "lots_closed": closed, "reason": reason})
    return pd.DataFrame(out, columns=["server", "login", "lots_closed", "reason"]).astype(object)
