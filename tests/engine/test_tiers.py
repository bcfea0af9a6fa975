"""The tier context: which trades count, and the partner's volume strictly before any trade."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from commissions.engine import tier_context
from commissions.engine.tiers import TierContext
from tests.engine import builders as b

D = Decimal


def test_only_eligible_direct_trades_count():
    trades = [
        b.trade(1, lots=D("1")),
        b.trade(2, lots=D("2"), status="cancelled"),
        b.trade(3, lots=D("4"), instrument_id=None),
        b.trade(4, lots=D("8"), earns_commission=False),
        b.trade(5, lots=D("16")),  # partner 10's plan missing on this trade
        b.trade(6, lots=D("32"), open_time=pd.Timestamp("2024-03-15T10:59:30Z")),  # held 36 s < 60
        b.trade(7, lots=D("64"), close_price=D("1.08551")),  # moved 1 point < 5
        b.trade(8, lots=D("0.5")),
    ]
    chains = (
        b.chain(1, [(10, 1), (20, 1)])
        + b.chain(2, [(10, 1)])
        + b.chain(3, [(10, 1)])
        + b.chain(4, [(10, 1)])
        + b.chain(5, [(10, None)])
        + b.chain(6, [(10, 1)])
        + b.chain(7, [(10, 1)])
        + b.chain(8, [(20, 2)])
    )
    plans = [b.plan(1, min_hold_seconds=60, min_points=5), b.plan(2)]
    inputs = b.make_inputs(trades=trades, chains=chains, plans=plans)
    context = tier_context(inputs.trades, inputs.trade_chains, inputs.plans)
    assert sorted(context.direct["trade_id"]) == [1, 8]
    # Partner 20 is level 2 on trade 1: only its own direct trade 8 counts.
    assert context.period_lots(np.array([10, 20, 30])).tolist() == [10000, 5000, 0]


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 3), st.integers(1, 4), st.integers(1, 50_000)),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3), st.integers(1, 4)), min_size=1, max_size=10),
)
def test_lots_before_counts_exactly_the_earlier_trades_of_that_partner(direct, queries):
    # direct: (partner, close second, ticket, lots); queries: (partner, close second, ticket) of other trades.
    rows = pd.DataFrame(
        {
            "partner_id": [d[0] for d in direct],
            "trade_id": np.arange(1, len(direct) + 1),
            "ticket": [d[2] for d in direct],
            "close_ns": [d[1] * 10**9 for d in direct],
            "lots": [d[3] for d in direct],
        }
    ).sort_values(["partner_id", "close_ns", "ticket", "trade_id"], ignore_index=True)
    rows["cum_lots"] = rows.groupby("partner_id")["lots"].cumsum()
    context = TierContext(direct=rows)
    # Ask about every direct trade (as level 1) and about new trades (as uplines).
    keys = [(d[1] * 10**9, d[2], i + 1) for i, d in enumerate(direct)]
    keys += [(q[1] * 10**9, q[2], 1000 + i) for i, q in enumerate(queries)]
    partners = [d[0] for d in direct] + [q[0] for q in queries]
    close = np.array([k[0] for k in keys], dtype=np.int64)
    ticket = np.array([k[1] for k in keys], dtype=np.int64)
    trade_id = np.array([k[2] for k in keys], dtype=np.int64)
    got = context.lots_before(np.array(partners, dtype=np.int64), np.arange(len(keys)), close, ticket, trade_id)
    for i, (partner, key) in enumerate(zip(partners, keys, strict=True)):
        expected = sum(d[3] for j, d in enumerate(direct) if d[0] == partner and (d[1] * 10**9, d[2], j + 1) < key)
        assert got[i] == expected


@given(
    # The period as first computed: (partner, close minute, ticket, lots in hundredths, eligible).
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, 5), st.integers(1, 6), st.integers(1, 900), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    # Changes since, by position in that list: None = cancelled, else (close minute, lots); and late trades.
    st.dictionaries(st.integers(0, 11), st.none() | st.tuples(st.integers(0, 5), st.integers(1, 900)), max_size=6),
    st.lists(st.tuples(st.integers(1, 3), st.integers(0, 5), st.integers(1, 900)), max_size=4),
)
def test_replacing_versions_gives_the_context_of_the_final_versions(first, changes, late):
    """The locked context with the superseded versions out and the new ones in (``replace_versions``) is the context
    a from-scratch computation of the period's final versions builds."""
    from commissions.engine.tiers import replace_versions

    def row(trade_id, partner, minute, ticket, lots, eligible=True, status="closed"):
        close = pd.Timestamp("2024-03-15T11:00:00Z") + pd.Timedelta(minutes=minute)
        trade = b.trade(
            trade_id,
            ticket=ticket,
            lots=D(lots) / 100,
            status=status,
            open_time=close - pd.Timedelta(hours=1),
            close_time=close,
            earns_commission=eligible,
        )
        return trade, b.chain(trade_id, [(partner, 1)])

    def context(rows):
        inputs = b.make_inputs(trades=[t for t, _ in rows], chains=[c for _, cs in rows for c in cs], plans=[b.plan(1)])
        return tier_context(inputs.trades, inputs.trade_chains, inputs.plans)

    original = [row(i + 1, p, m, t, lots, e) for i, (p, m, t, lots, e) in enumerate(first)]
    newer, removed, next_id = [], [], 100
    for position, change in changes.items():
        if position >= len(first):
            continue
        partner, _, ticket, _, eligible = first[position]
        removed.append(position + 1)
        minute, lots = change if change is not None else (first[position][1], first[position][3])
        status = "closed" if change is not None else "cancelled"
        newer.append(row(next_id, partner, minute, ticket, lots, eligible, status))
        next_id += 1
    for partner, minute, lots in late:
        newer.append(row(next_id, partner, minute, 50 + next_id, lots))
        next_id += 1
    final = [r for r in original if r[0]["trade_id"] not in removed] + newer

    replaced = replace_versions(context(original), removed=removed, added=context(newer))
    pd.testing.assert_frame_equal(replaced.direct, context(final).direct)


def test_an_adjustment_context_counts_final_volumes_before_but_keeps_the_paid_period_volume():
    from commissions.engine.tiers import adjustment_context

    def context(rows):  # (trade_id, close second, lots in 1/10 000) of partner 7
        frame = pd.DataFrame(
            {
                "partner_id": 7,
                "trade_id": [r[0] for r in rows],
                "ticket": [r[0] for r in rows],
                "close_ns": [r[1] * 10**9 for r in rows],
                "lots": [r[2] for r in rows],
            }
        )
        frame["cum_lots"] = frame["lots"].cumsum()
        return TierContext(direct=frame)

    paid = context([(1, 10, 30000), (2, 20, 60000), (3, 30, 20000)])
    # Trade 2 corrected (new version 9: 4 lots, same close): 3 + 4 before trade 3, 9 for the paid period.
    adjusted = adjustment_context(paid, removed=[2], added=context([(9, 20, 40000)]))
    # Asked about: the new version 9 (closes at 20 s, ticket 2) and trade 3 (30 s).
    asked = (
        np.array([7, 7], dtype=np.int64),
        np.arange(2),
        np.array([20, 30], dtype=np.int64) * 10**9,
        np.array([2, 3], dtype=np.int64),
        np.array([9, 3], dtype=np.int64),
    )
    assert adjusted.lots_before(*asked).tolist() == [30000, 70000]  # 3 lots; 3 + 4
    assert paid.lots_before(*asked).tolist() == [90000, 90000]  # the old 6 lots counted before version 9
    assert adjusted.period_lots(np.array([7])).tolist() == [110000]  # as paid: 3 + 6 + 2, not 3 + 4 + 2
