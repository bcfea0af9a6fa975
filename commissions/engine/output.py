"""Line blocks and the output frame.

Units: every number in a block is an int64 in micro-units (amount, base, rate, multiplier at scale 6); ids are
int64 with ``NA_ID`` for NA; tier and reason codes use -1 for NA. The output frame carries each number twice: as
a ``Decimal`` with exactly 6 places (``amount``, ``base``, ``rate``, ``multiplier``) and as ``*_micros`` integers
for the COPY write path (NA where the Decimal is None). ``kind``, ``reason`` and ``currency`` are categoricals
(``reason`` NA on a paying line); ``currency`` is always USD.

Rounding points: none here (every value arrives rounded). Invariants: (trade_id, beneficiary, kind, level) is
unique, where the beneficiary is the partner, or the account for a ``rebate`` line; rows come in a deterministic
order (grouped by how they were computed, not sorted: sorting millions of lines would cost more than computing them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.exact import ints_to_decimals

from .prepare import NA, NA_ID
from .schema import CURRENCY, KINDS, LINE_COLUMNS, REASONS

KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class LineBlock:
    """A batch of lines as parallel arrays (see the module docstring for units and NA markers).

    A field is an int64 array with one value per line, or a Python int shared by every line of the block (kept
    scalar until ``concat`` writes it, so constant fields cost no memory).
    """

    trade: np.ndarray  # position in the trades arrays
    partner_id: np.ndarray | int
    account_id: np.ndarray | int
    kind: np.ndarray | int
    level: np.ndarray | int
    rule_id: np.ndarray | int
    base: np.ndarray | int
    rate: np.ndarray | int
    tier: np.ndarray | int
    multiplier: np.ndarray | int
    amount: np.ndarray | int
    reason: np.ndarray | int

    def __len__(self) -> int:
        return len(self.trade)

    def values(self, name: str) -> np.ndarray:
        """A field as an array with one value per line (a read-only broadcast view for a shared value)."""
        value = getattr(self, name)
        if isinstance(value, np.ndarray):
            return value
        return np.broadcast_to(np.int64(value), (len(self.trade),))


_DEFAULTS = {
    "partner_id": NA_ID,
    "account_id": NA_ID,
    "kind": KIND_CODE["volume"],
    "level": 1,
    "rule_id": NA_ID,
    "base": NA_ID,
    "rate": NA_ID,
    "tier": NA,
    "multiplier": NA_ID,
    "amount": 0,
    "reason": NA,
}
_FIELDS = ("trade", *_DEFAULTS)


def block(trade: np.ndarray, **values: np.ndarray | int) -> LineBlock:
    """A block for ``trade`` rows; omitted fields are NA (amount 0); scalars are shared by every line."""
    n = len(trade)
    unknown = set(values) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown line fields {sorted(unknown)}")
    fields_: dict[str, np.ndarray | int] = {}
    for name, default in _DEFAULTS.items():
        value = values.get(name, default)
        if isinstance(value, np.ndarray):
            if len(value) != n:
                raise ValueError(f"{name}: {len(value)} values for {n} lines")
            fields_[name] = value.astype(np.int64, copy=False)
        else:
            fields_[name] = int(value)
    return LineBlock(trade=np.asarray(trade, dtype=np.int64), **fields_)


def concat(blocks: list[LineBlock]) -> LineBlock:
    """One block holding every line of ``blocks``, each field written once into a preallocated array."""
    total = sum(len(b) for b in blocks)
    merged = {}
    for name in _FIELDS:
        out = np.empty(total, dtype=np.int64)
        start = 0
        for b in blocks:
            out[start : start + len(b)] = getattr(b, name)
            start += len(b)
        merged[name] = out
    return LineBlock(**merged)


def _nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values, values == NA_ID)


def to_frame(lines: LineBlock, trade_id: np.ndarray, *, with_decimals: bool = True) -> pd.DataFrame:
    """The output frame (columns ``LINE_COLUMNS``, or only the non-Decimal ones without ``with_decimals``).

    Columns reuse the block arrays (no copies, no consolidation): a frame of millions of lines costs little more
    than its arrays.
    """
    columns: dict[str, object] = {
        "trade_id": trade_id[lines.trade],
        "partner_id": _nullable(lines.partner_id),
        "account_id": _nullable(lines.account_id),
        # Categoricals: millions of lines share a handful of codes; -1 is NA (the reason of a paying line).
        "kind": pd.Categorical.from_codes(lines.kind, categories=list(KINDS)),
        "level": lines.level,
        "rule_id": _nullable(lines.rule_id),
        "tier": pd.arrays.IntegerArray(lines.tier, lines.tier == NA),
        "currency": pd.Categorical.from_codes(np.zeros(len(lines.trade), dtype=np.int8), categories=[CURRENCY]),
        "reason": pd.Categorical.from_codes(lines.reason, categories=list(REASONS)),
        "amount_micros": lines.amount,
        "base_micros": _nullable(lines.base),
        "rate_micros": _nullable(lines.rate),
        "multiplier_micros": _nullable(lines.multiplier),
    }
    if with_decimals:
        for name in ("base", "rate", "multiplier"):
            columns[name] = ints_to_decimals(getattr(lines, name), 6, NA_ID)
        columns["amount"] = ints_to_decimals(lines.amount, 6)
    return pd.DataFrame({name: columns[name] for name in LINE_COLUMNS if name in columns}, copy=False)
