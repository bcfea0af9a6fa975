"""Trade versions Ibex writes itself: a restatement of a current version that run lines refer to.

A row that computed or posted lines refer to is never edited — the lines must keep explaining what was computed,
and a paid period must not change underneath its journal (DOMAIN.md 3). When what such a trade earns changes
without the platform sending anything new (its symbol is resolved later; its account, IB or a plan arrives after
its period was paid), the trade gets a new version, equal to the current one except where stated (``changes``), so
it is late data like any correction: computed by its own period's next run, or reversed-and-adjusted in the next
open period (``adjustments``). The new version has the same content hash, so re-sending the platform's row is still
"unchanged"; its ``ingested_at`` is when it was written.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger.services.locks import approvals_hold
from runs.models import Run

from ..models import LateTradeVersion, Trade

TRADES = Trade._meta.db_table
LATE = LateTradeVersion._meta.db_table
RUNS = Run._meta.db_table


def locked_close(alias: str) -> str:
    """SQL condition: the trade version ``alias`` closes in a period an approved commission run locked."""
    return (
        f"EXISTS (SELECT 1 FROM {RUNS} l WHERE l.kind = 'commissions' AND l.status = 'approved' "
        f"AND {alias}.close_time >= l.period_start AND {alias}.close_time < l.period_end)"
    )


# The stored columns a trade version is written with (the ingest's INSERT and a restatement's).
STORED_COLUMNS = (
    "server, ticket, version, is_current, login, symbol, instrument_id, side, lots, open_time, open_price, "
    "close_time, close_price, profit, swap, commission, spread_pips, master_ticket, status, content_hash, "
    "trade_import_id, ingested_at"
)
_RESTATED = {"version": "t.version + 1", "is_current": "true", "ingested_at": "now()"}


def trades_restate(
    cursor, *, source: str, params: Mapping | None = None, changes: Mapping[str, str] | None = None
) -> int:
    """Give each current version that ``source`` selects (SQL yielding ``id`` and the columns named in ``changes``)
    a new version; ``changes`` maps a column to its new value as an SQL expression over ``v`` (the selected row).
    Returns the number of versions written. Run inside the caller's transaction; it takes the trade table's
    SHARE ROW EXCLUSIVE lock, which serialises it with ingests, so no version is written in between."""
    approvals_hold(kind="commissions")  # first (as the ingest does): no period locks before the queue's check commits
    cursor.execute(f"LOCK TABLE {TRADES} IN SHARE ROW EXCLUSIVE MODE")
    cursor.execute(f"CREATE TEMP TABLE restated_versions ON COMMIT DROP AS {source}", params or {})
    cursor.execute(
        f"UPDATE {TRADES} t SET is_current = false, superseded_at = now() "
        "FROM restated_versions v WHERE t.id = v.id AND t.is_current"
    )
    written = cursor.rowcount
    values = {**_RESTATED, **(changes or {})}
    select = ", ".join(values.get(column, f"t.{column}") for column in STORED_COLUMNS.split(", "))
    cursor.execute(
        f"""
        WITH inserted AS (
            INSERT INTO {TRADES} ({STORED_COLUMNS})
            SELECT {select} FROM {TRADES} t JOIN restated_versions v ON v.id = t.id
            RETURNING id, close_time
        )
        INSERT INTO {LATE} (trade_id) SELECT i.id FROM inserted i WHERE {locked_close("i")}
        """
    )
    cursor.execute("DROP TABLE restated_versions")  # the caller's transaction may restate again before it commits
    return written
