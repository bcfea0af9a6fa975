"""The benchmarks ``manage.py bench`` knows: importing their modules registers them."""

from __future__ import annotations

from . import commissions, ingest, mam, payouts
from .registry import BENCHES, Bench

__all__ = ["commissions", "ingest", "mam", "payouts"]


def load_benches() -> dict[str, Bench]:
    return BENCHES
