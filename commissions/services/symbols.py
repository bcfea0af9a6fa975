"""Platform symbols → instruments, in SQL.

Resolution order (case-insensitive throughout): the instrument's own symbol, then an exact alias, then — trying
the configured suffixes longest first — the symbol with that suffix stripped, matched against instrument symbols and
then aliases. Among equal candidates the lowest instrument id wins, so the answer is deterministic. An unknown
symbol resolves to nothing: the trade is stored with ``instrument`` NULL and reported, never dropped.

The same statement serves the ingest (a handful of distinct symbols of one import) and
:func:`trades_resolve_unresolved` (the distinct symbols of every unresolved stored trade), so both always agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from runs.models import LIVE_STATUSES, Run

from ..models import AttributionLine, Instrument, InstrumentAlias, SymbolSuffix, Trade
from .versions import trades_restate

TABLES = {
    "INSTRUMENTS": Instrument._meta.db_table,
    "ALIASES": InstrumentAlias._meta.db_table,
    "SUFFIXES": SymbolSuffix._meta.db_table,
    "TRADES": Trade._meta.db_table,
}
TRADES = TABLES["TRADES"]
LINES = AttributionLine._meta.db_table
RUNS = Run._meta.db_table

# ``{symbols}`` is a query yielding one column ``symbol``; the result has (symbol, instrument_id) per resolved symbol.
_RESOLVE = """
WITH y AS ({symbols}),
cand AS (
    SELECT y.symbol, 0 AS stage, 0 AS suffix_len, 0 AS kind, i.id AS instrument_id
    FROM y JOIN {INSTRUMENTS} i ON upper(i.symbol) = upper(y.symbol)
    UNION ALL
    SELECT y.symbol, 1, 0, 1, a.instrument_id
    FROM y JOIN {ALIASES} a ON upper(a.alias) = upper(y.symbol)
    UNION ALL
    SELECT y.symbol, 2, length(x.suffix), 0, i.id
    FROM y
    JOIN {SUFFIXES} x
      ON length(x.suffix) > 0 AND length(y.symbol) > length(x.suffix)
     AND upper(right(y.symbol, length(x.suffix))) = upper(x.suffix)
    JOIN {INSTRUMENTS} i ON upper(i.symbol) = upper(left(y.symbol, length(y.symbol) - length(x.suffix)))
    UNION ALL
    SELECT y.symbol, 2, length(x.suffix), 1, a.instrument_id
    FROM y
    JOIN {SUFFIXES} x
      ON length(x.suffix) > 0 AND length(y.symbol) > length(x.suffix)
     AND upper(right(y.symbol, length(x.suffix))) = upper(x.suffix)
    JOIN {ALIASES} a
      ON upper(a.alias) = upper(left(y.symbol, length(y.symbol) - length(x.suffix)))
)
SELECT DISTINCT ON (symbol) symbol, instrument_id
FROM cand
ORDER BY symbol, stage, suffix_len DESC, kind, instrument_id
"""


def symbols_resolve(*, symbols: Iterable[str]) -> dict[str, int | None]:
    """Map each platform symbol to its instrument id, or None when it is unknown."""
    wanted = sorted(set(symbols))
    if not wanted:
        return {}
    query = _RESOLVE.format(symbols="SELECT DISTINCT unnest(%s::text[]) AS symbol", **TABLES)
    with connection.cursor() as cursor:
        cursor.execute(query, [wanted])
        found = dict(cursor.fetchall())
    return {symbol: found.get(symbol) for symbol in wanted}


def trades_resolve_unresolved() -> int:
    """Point every stored trade whose instrument is NULL at its instrument if its symbol now resolves (after an
    instrument, alias or suffix was added); return the number of trades resolved. Set-based, two statements.

    A row a live run of its period may have read (queued, running, computed, approved) is never edited: the
    resolution of such a *current* version
    is a new version of the trade, the same but for its instrument (``versions.trades_restate``), paid by its
    period's next run or as an adjustment. Old versions that lines refer to stay as they are; every other row is
    updated in place (the instrument is derived from the symbol the platform sent, which no version changes).
    """
    query = _RESOLVE.format(
        symbols=f"SELECT DISTINCT symbol::text AS symbol FROM {TRADES} WHERE instrument_id IS NULL",
        **TABLES,
    )
    # A run that is live for the trade's period (queued, running, computed or approved) may have read the row, or
    # be reading it now (a running run's lines are not visible yet): such a row is never edited.
    referred = (
        f"EXISTS (SELECT 1 FROM {RUNS} u WHERE u.kind = 'commissions' AND u.status = ANY(%(live)s) "
        "AND t.close_time >= u.period_start AND t.close_time < u.period_end)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        versioned = trades_restate(
            cursor,
            source=f"""
                WITH resolved AS ({query})
                SELECT t.id, r.instrument_id FROM {TRADES} t JOIN resolved r ON t.symbol = r.symbol
                 WHERE t.instrument_id IS NULL AND t.is_current AND {referred}
            """,
            params={"live": list(LIVE_STATUSES)},
            changes={"instrument_id": "v.instrument_id"},
        )
        cursor.execute(
            f"""
            WITH resolved AS ({query})
            UPDATE {TRADES} t
               SET instrument_id = r.instrument_id
              FROM resolved r
             WHERE t.instrument_id IS NULL AND t.symbol = r.symbol AND NOT {referred}
            """,
            {"live": list(LIVE_STATUSES)},
        )
        return versioned + cursor.rowcount
