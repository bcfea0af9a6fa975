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

TABLES = {
    "INSTRUMENTS": Instrument._meta.db_table,
    "ALIASES": InstrumentAlias._meta.db_table,
    "SUFFIXES": SymbolSuffix._meta.db_table,
    "TRADES": Trade._meta.db_table,
}
TRADES = TABLES["TRADES"]
LINES = AttributionLine._meta.db_table
RUNS = Run._meta.db_table
# The stored columns a trade version is written with (the ingest's INSERT and a resolved copy's).
STORED_COLUMNS = (
    "server, ticket, version, is_current, login, symbol, instrument_id, side, lots, open_time, open_price, "
    "close_time, close_price, profit, swap, commission, spread_pips, master_ticket, status, content_hash, "
    "trade_import_id, ingested_at"
)
_COLUMNS = STORED_COLUMNS.split(", ")
# A resolved copy of the current version ``t`` (``v`` holds its instrument): everything else as the platform sent it.
_CHANGED = {
    "version": "t.version + 1",
    "is_current": "true",
    "instrument_id": "v.instrument_id",
    "ingested_at": "now()",
}
_NEW_VERSION = ", ".join(_CHANGED.get(column, f"t.{column}") for column in _COLUMNS)

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

    A row that run lines refer to (computed or approved) is never edited — those lines must keep explaining what
    was computed, and a period paid on it must not change underneath its journal (DOMAIN.md 3): the resolution of
    such a *current* version is a new version of the trade, the same but for its instrument, so it is late data like
    any correction: computed by its own period's next run, or, for a locked period, reversed-and-adjusted in the
    next open period. Old versions that lines refer to stay as they are; every other row is updated in place (the
    instrument is derived from the symbol the platform sent, which no version changes). The new version has the
    same content hash, so re-sending the platform's row is still "unchanged".
    """
    query = _RESOLVE.format(
        symbols=f"SELECT DISTINCT symbol::text AS symbol FROM {TRADES} WHERE instrument_id IS NULL",
        **TABLES,
    )
    referred = (
        f"EXISTS (SELECT 1 FROM {LINES} x JOIN {RUNS} u ON u.id = x.run_id AND u.status = ANY(%(live)s) "
        "WHERE x.trade_id = t.id)"
    )
    columns = STORED_COLUMNS
    with transaction.atomic(), connection.cursor() as cursor:
        # Serialise with ingests (they take ROW EXCLUSIVE), so no version is written between the two statements.
        cursor.execute(f"LOCK TABLE {TRADES} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"""
            CREATE TEMP TABLE resolved_versions ON COMMIT DROP AS
            WITH resolved AS ({query})
            SELECT t.id, r.instrument_id FROM {TRADES} t JOIN resolved r ON t.symbol = r.symbol
             WHERE t.instrument_id IS NULL AND t.is_current AND {referred}
            """,
            {"live": list(LIVE_STATUSES)},
        )
        cursor.execute(
            f"UPDATE {TRADES} t SET is_current = false, superseded_at = now() "
            "FROM resolved_versions v WHERE t.id = v.id"
        )
        versioned = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO {TRADES} ({columns}, superseded_at)
            SELECT {_NEW_VERSION}, NULL FROM {TRADES} t JOIN resolved_versions v ON v.id = t.id
            """
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
        resolved = versioned + cursor.rowcount
        cursor.execute("DROP TABLE resolved_versions")  # the caller's transaction may resolve again before it commits
        return resolved
