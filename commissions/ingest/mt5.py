"""MT5 deals → closed trades: FIFO pairing of one position's deals (pure: Decimals and datetimes, no database).

Units: lots (``Volume / 10 000``), prices and money as ``Decimal``; times timezone-aware UTC.
Rounding: an open price that is a volume-weighted average is rounded half-up to 10 places (the trade column's scale)
and a prorated commission to 6 places, both with :mod:`core.money`; a prorated part of an entry's commission is
taken so that the parts of one entry always add up to the whole (the last consumer takes the remainder).

Rules (API.md "MT5 deals export"), deals of one position in ``(time, deal)`` order:

- ``Entry`` 0 (in) adds an entry lot to the position (side = the deal's action).
- ``Entry`` 1 (out) and 3 (out by) close part of the position: the volume is taken FIFO from the entry lots. The
  trade's ticket is the out deal, its side the position's side, its lots the volume matched, its open price the
  volume-weighted average of the consumed entry volume, its open time the earliest consumed entry's time; profit and
  swap are the out deal's, commission the out deal's plus the consumed share of each entry's commission. Partial
  closes therefore become separate trades.
- ``Entry`` 2 (in/out, reversal) closes the open volume like an out deal and opens the remainder in the deal's own
  direction; its commission is split in proportion to the two parts, its profit and swap belong to the close.
- An exit with nothing open is counted (``exit without a matching entry``) and produces no trade; an exit larger
  than the open volume closes what is open and counts the excess (``exit exceeds the open volume``). Because
  positions are rebuilt from every stored deal on each import, the missing entry arriving later repairs both.
- An entry against the direction of the open volume is counted and ignored.

Counts are only reported for deals of the file being imported (``in_file``): older deals are replayed silently.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from core.money import quantize, round_line

ENTRY_IN, ENTRY_OUT, ENTRY_IN_OUT, ENTRY_OUT_BY = 0, 1, 2, 3
PRICE_PLACES = 10
ZERO = Decimal(0)

SKIP_NO_ENTRY = "exit without a matching entry"
SKIP_EXCESS = "exit exceeds the open volume"
SKIP_OPEN = "open position (entry kept for a later exit)"
SKIP_AGAINST = "entry against the open position's direction"


@dataclass(frozen=True, slots=True)
class Mt5DealRow:
    """One stored buy/sell deal of a position."""

    deal: int
    position_id: int
    login: int
    symbol: str
    side: int
    entry: int
    time: datetime
    price: Decimal
    lots: Decimal
    profit: Decimal = ZERO
    swap: Decimal = ZERO
    commission: Decimal = ZERO
    in_file: bool = True


@dataclass(frozen=True, slots=True)
class PairedTrade:
    """A closed trade (or closed part of a position) built from deals; ``ticket`` is the exit deal."""

    ticket: int
    login: int
    symbol: str
    side: int
    lots: Decimal
    open_time: datetime
    open_price: Decimal
    close_time: datetime
    close_price: Decimal
    profit: Decimal
    swap: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class OpenEntry:
    """An entry still (partly) open after all known deals: ``lots`` opened, ``remaining_lots`` not yet closed."""

    deal: int
    position_id: int
    login: int
    symbol: str
    side: int
    time: datetime
    price: Decimal
    lots: Decimal
    remaining_lots: Decimal


@dataclass(slots=True)
class PositionResult:
    trades: list[PairedTrade] = field(default_factory=list)
    open_entries: list[OpenEntry] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


@dataclass(slots=True)
class _Lot:
    deal: int
    login: int
    symbol: str
    side: int
    time: datetime
    price: Decimal
    lots: Decimal
    remaining: Decimal
    commission_left: Decimal
    in_file: bool


def pair_position(deals: list[Mt5DealRow]) -> PositionResult:
    """Pair the deals of one position (any order; sorted here by time, then deal number)."""
    with localcontext(prec=60):  # price × lots sums must never lose digits before the one rounding
        return _pair(deals)


def _pair(deals: list[Mt5DealRow]) -> PositionResult:
    result = PositionResult()
    queue: deque[_Lot] = deque()
    for deal in sorted(deals, key=lambda d: (d.time, d.deal)):
        open_volume = sum((lot.remaining for lot in queue), ZERO)
        if deal.entry == ENTRY_IN or (deal.entry == ENTRY_IN_OUT and open_volume == 0):
            if queue and deal.side != queue[0].side:
                _count(result, deal, SKIP_AGAINST)
                continue
            queue.append(_lot(deal, deal.lots, deal.commission))
        elif deal.entry in (ENTRY_OUT, ENTRY_OUT_BY) or (deal.entry == ENTRY_IN_OUT and deal.lots <= open_volume):
            _close(result, queue, deal, deal.lots, deal.commission)
        elif deal.entry == ENTRY_IN_OUT:
            closing = open_volume
            close_commission = round_line(deal.commission * closing / deal.lots)
            _close(result, queue, deal, closing, close_commission)
            queue.append(_lot(deal, deal.lots - closing, deal.commission - close_commission))
        else:
            raise ValueError(f"deal {deal.deal}: unknown entry {deal.entry}")
    for lot in queue:
        result.open_entries.append(
            OpenEntry(
                deal=lot.deal,
                position_id=deals[0].position_id,
                login=lot.login,
                symbol=lot.symbol,
                side=lot.side,
                time=lot.time,
                price=lot.price,
                lots=lot.lots,
                remaining_lots=lot.remaining,
            )
        )
        if lot.in_file:
            result.skipped[SKIP_OPEN] += 1
    return result


def _lot(deal: Mt5DealRow, lots: Decimal, commission: Decimal) -> _Lot:
    return _Lot(
        deal=deal.deal,
        login=deal.login,
        symbol=deal.symbol,
        side=deal.side,
        time=deal.time,
        price=deal.price,
        lots=lots,
        remaining=lots,
        commission_left=commission,
        in_file=deal.in_file,
    )


def _count(result: PositionResult, deal: Mt5DealRow, reason: str) -> None:
    if deal.in_file:
        result.skipped[reason] += 1


def _close(result: PositionResult, queue: deque[_Lot], deal: Mt5DealRow, volume: Decimal, commission: Decimal) -> None:
    if not queue:
        _count(result, deal, SKIP_NO_ENTRY)
        return
    side = queue[0].side
    left = volume
    weighted = ZERO
    entry_commission = ZERO
    open_time = queue[0].time
    while left > 0 and queue:
        lot = queue[0]
        take = min(lot.remaining, left)
        # The last consumer of an entry takes what is left of its commission, so the parts add up to the whole.
        share = lot.commission_left if take == lot.remaining else round_line(lot.commission_left * take / lot.remaining)
        lot.commission_left -= share
        lot.remaining -= take
        left -= take
        weighted += lot.price * take
        entry_commission += share
        open_time = min(open_time, lot.time)
        if lot.remaining == 0:
            queue.popleft()
    matched = volume - left
    if left > 0:
        _count(result, deal, SKIP_EXCESS)
    result.trades.append(
        PairedTrade(
            ticket=deal.deal,
            login=deal.login,
            symbol=deal.symbol,
            side=side,
            lots=matched,
            open_time=open_time,
            open_price=quantize(weighted / matched, PRICE_PLACES),
            close_time=deal.time,
            close_price=deal.price,
            profit=deal.profit,
            swap=deal.swap,
            commission=commission + entry_commission,
        )
    )
