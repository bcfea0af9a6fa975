"""MT5 deal pairing on its own (pure): FIFO, partial closes, reversals, out-by, leftovers, exact commissions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from commissions.ingest.mt5 import (
    ENTRY_IN,
    ENTRY_IN_OUT,
    ENTRY_OUT,
    ENTRY_OUT_BY,
    SKIP_AGAINST,
    SKIP_EXCESS,
    SKIP_NO_ENTRY,
    SKIP_OPEN,
    Mt5DealRow,
    pair_position,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
BUY, SELL = 1, -1
D = Decimal


def deal(number: int, entry: int, side: int, lots: str, price: str, minute: int, **extra) -> Mt5DealRow:
    return Mt5DealRow(
        deal=number,
        position_id=77,
        login=6001,
        symbol="EURUSD",
        side=side,
        entry=entry,
        time=T0 + timedelta(minutes=minute),
        price=D(price),
        lots=D(lots),
        **{k: D(v) if k != "in_file" else v for k, v in extra.items()},
    )


def test_one_entry_one_exit_is_one_trade_with_the_exit_as_ticket():
    result = pair_position(
        [
            deal(10, ENTRY_IN, BUY, "1", "1.1000", 0, commission="-3"),
            deal(11, ENTRY_OUT, SELL, "1", "1.1050", 60, profit="50", swap="-1.5", commission="-3"),
        ]
    )
    assert len(result.trades) == 1
    trade = result.trades[0]
    assert (trade.ticket, trade.side, trade.lots) == (11, BUY, D(1))
    assert (trade.open_price, trade.close_price) == (D("1.1000"), D("1.1050"))
    assert (trade.open_time, trade.close_time) == (T0, T0 + timedelta(minutes=60))
    assert (trade.profit, trade.swap, trade.commission) == (D(50), D("-1.5"), D(-6))
    assert result.open_entries == [] and not result.skipped


def test_partial_closes_are_separate_trades_consuming_entries_fifo():
    result = pair_position(
        [
            deal(1, ENTRY_IN, SELL, "1", "1.2000", 0, commission="-7"),
            deal(2, ENTRY_IN, SELL, "2", "1.2030", 5, commission="-14"),
            deal(3, ENTRY_OUT, BUY, "0.5", "1.1900", 10),
            deal(4, ENTRY_OUT, BUY, "1.5", "1.1950", 20),
            deal(5, ENTRY_OUT, BUY, "1", "1.1990", 30),
        ]
    )
    t3, t4, t5 = result.trades
    assert [t.ticket for t in result.trades] == [3, 4, 5]
    assert {t.side for t in result.trades} == {SELL}
    assert (t3.lots, t3.open_price, t3.open_time) == (D("0.5"), D("1.2000"), T0)
    # 0.5 left of deal 1 at 1.2000 and 1.0 of deal 2 at 1.2030: (0.6 + 1.203) / 1.5 = 1.202
    assert (t4.lots, t4.open_price, t4.open_time) == (D("1.5"), D("1.2020000000"), T0)
    assert (t5.lots, t5.open_price, t5.open_time) == (D(1), D("1.2030"), T0 + timedelta(minutes=5))
    assert t3.commission + t4.commission + t5.commission == D(-21)
    assert t3.commission == D("-3.5")
    assert result.open_entries == []


def test_the_open_price_of_mixed_entries_is_rounded_once_to_ten_places():
    result = pair_position(
        [
            deal(1, ENTRY_IN, BUY, "1", "1.00001", 0),
            deal(2, ENTRY_IN, BUY, "2", "1.00002", 1),
            deal(3, ENTRY_OUT, SELL, "3", "1.1", 2),
        ]
    )
    # (1.00001 + 2.00004) / 3 = 1.0000166666…
    assert result.trades[0].open_price == D("1.0000166667")


def test_a_reversal_closes_the_open_volume_and_opens_the_rest_the_other_way():
    result = pair_position(
        [
            deal(1, ENTRY_IN, BUY, "1", "1.1000", 0, commission="-4"),
            deal(2, ENTRY_IN_OUT, SELL, "3", "1.1100", 10, profit="100", commission="-12"),
            deal(3, ENTRY_OUT, BUY, "2", "1.1000", 20, profit="200", commission="-8"),
        ]
    )
    close_buy, close_sell = result.trades
    assert (close_buy.ticket, close_buy.side, close_buy.lots) == (2, BUY, D(1))
    assert (close_buy.open_price, close_buy.close_price, close_buy.profit) == (D("1.1000"), D("1.1100"), D(100))
    assert close_buy.commission == D(-8)  # a third of the reversal's -12, plus the entry's -4
    assert (close_sell.ticket, close_sell.side, close_sell.lots) == (3, SELL, D(2))
    assert (close_sell.open_price, close_sell.open_time) == (D("1.1100"), T0 + timedelta(minutes=10))
    assert close_sell.commission == D(-16)  # the reversal's other -8, plus the exit's -8
    assert result.open_entries == []


def test_out_by_closes_like_an_exit():
    result = pair_position([deal(1, ENTRY_IN, BUY, "0.3", "1.5", 0), deal(2, ENTRY_OUT_BY, SELL, "0.3", "1.6", 1)])
    assert [(t.ticket, t.lots) for t in result.trades] == [(2, D("0.3"))]


def test_what_stays_open_is_returned_with_its_remaining_volume():
    result = pair_position(
        [
            deal(1, ENTRY_IN, BUY, "1", "1.1", 0),
            deal(2, ENTRY_IN, BUY, "1", "1.2", 1),
            deal(3, ENTRY_OUT, SELL, "1.25", "1.3", 2),
        ]
    )
    assert [(e.deal, e.lots, e.remaining_lots, e.price) for e in result.open_entries] == [
        (2, D(1), D("0.75"), D("1.2"))
    ]
    assert result.skipped == {SKIP_OPEN: 1}


def test_exits_without_entries_or_beyond_the_open_volume_are_counted():
    no_entry = pair_position([deal(5, ENTRY_OUT, SELL, "1", "1.1", 0)])
    assert no_entry.trades == [] and no_entry.skipped == {SKIP_NO_ENTRY: 1}
    excess = pair_position([deal(1, ENTRY_IN, BUY, "1", "1.1", 0), deal(2, ENTRY_OUT, SELL, "1.5", "1.2", 1)])
    assert [t.lots for t in excess.trades] == [D(1)]
    assert excess.skipped == {SKIP_EXCESS: 1}


def test_an_entry_against_the_open_direction_is_ignored_and_counted():
    result = pair_position(
        [
            deal(1, ENTRY_IN, BUY, "1", "1.1", 0),
            deal(2, ENTRY_IN, SELL, "1", "1.2", 1),
            deal(3, ENTRY_OUT, SELL, "1", "1.3", 2),
        ]
    )
    assert [t.open_price for t in result.trades] == [D("1.1")]
    assert result.skipped == {SKIP_AGAINST: 1}


def test_replayed_deals_from_earlier_files_are_not_counted():
    result = pair_position(
        [deal(1, ENTRY_IN, BUY, "1", "1.1", 0, in_file=False), deal(2, ENTRY_IN, BUY, "1", "1.1", 1, in_file=True)]
    )
    assert result.skipped == {SKIP_OPEN: 1}


def test_deals_are_taken_in_time_then_deal_order_whatever_the_input_order():
    deals = [
        deal(3, ENTRY_OUT, SELL, "1", "1.3", 5),
        deal(2, ENTRY_IN, BUY, "1", "1.2", 0),
        deal(1, ENTRY_IN, BUY, "1", "1.1", 0),
    ]
    assert pair_position(deals).trades[0].open_price == D("1.1")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([ENTRY_IN, ENTRY_OUT]), st.integers(1, 500), st.integers(-50_000, 50_000)),
        min_size=1,
        max_size=25,
    )
)
def test_volume_and_commission_are_conserved(steps):
    """Entries and exits of one direction, then a final exit closing what is open (a simple running sum says how
    much): every entry lot ends up in exactly one trade, and the trades' commissions are exactly the entries'
    commissions plus those of the exits that closed something — nothing created or lost by the prorating."""
    deals, open_volume = [], D(0)
    for i, (entry, hundredths, cents) in enumerate(steps):
        lots = D(hundredths) / 100
        deals.append(
            deal(i + 1, entry, BUY if entry == ENTRY_IN else SELL, str(lots), "1.1", i, commission=str(D(cents) / 100))
        )
        open_volume = open_volume + lots if entry == ENTRY_IN else max(D(0), open_volume - lots)
    if open_volume:
        deals.append(deal(len(deals) + 1, ENTRY_OUT, SELL, str(open_volume), "1.2", len(deals), commission="-0.01"))
    result = pair_position(deals)
    entries = [d for d in deals if d.entry == ENTRY_IN]
    closing_exits = {t.ticket for t in result.trades}
    assert result.open_entries == []
    assert sum((t.lots for t in result.trades), D(0)) == sum((d.lots for d in entries), D(0))
    assert sum((t.commission for t in result.trades), D(0)) == sum((d.commission for d in entries), D(0)) + sum(
        (d.commission for d in deals if d.deal in closing_exits), D(0)
    )
    for trade in result.trades:
        assert trade.lots > 0 and trade.close_time >= trade.open_time and trade.side == BUY
