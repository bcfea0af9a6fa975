"""Rows ↔ DataFrames for the MAM engines: the only place MAM rows become frames and back. Amounts and lots stay
``Decimal`` (object columns); nothing is coerced to float."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mam.engine.allocation import MEMBER_COLUMNS

from .models import Allocation


def members_frame(states: Sequence[Any]) -> pd.DataFrame:
    """The allocation engine's members frame (``MEMBER_COLUMNS``), one row per member state (anything with those
    attributes: ``selectors.MemberState``), in the given order."""
    records = [{name: getattr(state, name) for name in MEMBER_COLUMNS} for state in states]
    return pd.DataFrame.from_records(records, columns=list(MEMBER_COLUMNS)).astype(object)


def positions_frame(allocations: Sequence[Allocation]) -> pd.DataFrame:
    """The closing engine's open sub-positions: server, login, lots_open (Decimal)."""
    records = [
        {"server": a.member.account.server, "login": a.member.account.login, "lots_open": a.lots_open}
        for a in allocations
    ]
    return pd.DataFrame.from_records(records, columns=["server", "login", "lots_open"]).astype(object)
