"""A run kind that exists only in the tests: ``widgets``. It knows nothing of commissions — its lines live in a
partitioned table of its own and its approval posts through the ledger — so tests using it show that the framework
(chunks, leases, redelivery, the sweeper, approval) works for any registered kind.

Each widget ``w`` earns ``w × 1.234567`` (6 dp, in integer micro-units), so the expected totals are known by hand.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import pandas as pd
from django.db import connection

from ledger.postings import AccountRef, Leg, Posting
from ledger.vocabulary import Purpose
from runs.registry import ChunkSpec, PlannedChunk, RunKind, register, run_source_key, unregister

WIDGET_LINES = "test_widget_lines"
PER_WIDGET_MICROS = 1_234_567
CHUNKS = ((1, 2), (3,), (4, 5, 6))


def expected_total(widgets) -> Decimal:
    return Decimal(sum(w * PER_WIDGET_MICROS for w in widgets)).scaleb(-6)


@dataclass(frozen=True)
class WidgetChunk(ChunkSpec):
    type: ClassVar[str] = "widgets"
    widget_ids: tuple[int, ...] = ()


class WidgetKind(RunKind):
    name = "widgets"
    label = "Widgets (tests only)"
    line_table = WIDGET_LINES
    line_columns = ("run_id", "widget_id", "kind", "amount_micros")
    spec_types = (WidgetChunk,)

    def __init__(self) -> None:
        self.computed: Counter = Counter()
        self.slow: dict[tuple[int, ...], float] = {}  # widget ids → seconds a chunk takes
        self.failures: dict[tuple[int, ...], list[BaseException]] = {}  # raised in order, one per attempt
        self.lock = threading.Lock()

    def plan_chunks(self, run) -> list[PlannedChunk]:
        return [PlannedChunk(WidgetChunk(widget_ids=ids), size=len(ids)) for ids in CHUNKS]

    def compute_chunk(self, run, spec: WidgetChunk) -> pd.DataFrame:
        with self.lock:
            self.computed[spec.widget_ids] += 1
            pending = self.failures.get(spec.widget_ids)
            failure = pending.pop(0) if pending else None
        if failure is not None:
            raise failure
        if spec.widget_ids in self.slow:
            time.sleep(self.slow[spec.widget_ids])
        ids = list(spec.widget_ids)
        return pd.DataFrame(
            {
                "run_id": run.pk,
                "widget_id": ids,
                "kind": "volume",
                "amount_micros": [w * PER_WIDGET_MICROS for w in ids],
            }
        )

    def postings(self, run) -> list[Posting]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT SUM(amount_micros) FROM {WIDGET_LINES} WHERE run_id = %s", [run.pk])
            (micros,) = cursor.fetchone()
        total = Decimal(int(micros or 0)).scaleb(-6)
        return [
            Posting(
                source_key=run_source_key(run, "widgets", "USD"),
                kind="volume",
                period=run.period,
                currency="USD",
                legs=(
                    Leg(AccountRef(Purpose.COMMISSION_EXPENSE, "USD"), total, exact=True),
                    Leg(AccountRef(Purpose.PAYOUT_CLEARING, "USD"), -total),
                ),
            )
        ]


@contextmanager
def widget_kind() -> Iterator[WidgetKind]:
    """Register the kind and create its partitioned line table for the block (committed: use transactional tests)."""
    kind = WidgetKind()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TABLE {WIDGET_LINES} (
                id bigserial, run_id bigint NOT NULL, widget_id bigint NOT NULL, kind varchar(16) NOT NULL,
                amount_micros bigint NOT NULL, PRIMARY KEY (id, run_id), UNIQUE (run_id, widget_id)
            ) PARTITION BY LIST (run_id)
            """
        )
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind = 'r'", [f"{WIDGET_LINES}_r%"]
            )
            for (table,) in cursor.fetchall():
                cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
            cursor.execute(f"DROP TABLE IF EXISTS {WIDGET_LINES} CASCADE")


def widget_lines(run_id: int) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT widget_id, amount_micros FROM {WIDGET_LINES} WHERE run_id = %s ORDER BY widget_id", [run_id]
        )
        return cursor.fetchall()
