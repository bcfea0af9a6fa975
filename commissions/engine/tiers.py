"""Volume tiers: the period context that makes results independent of chunking, band lookup and the marginal split.

Units: lots are integers at scale 4 (1.25 lots = 12500); multipliers and rates at scale 6 (micro-units); times in
int64 nanoseconds UTC.

Decisions (DOMAIN.md 4.3, where it is silent):
- A trade counts towards its level-1 partner's *direct* volume when it is closed, its symbol is resolved, its account
  earns commission, the chain gives the level-1 partner a plan at close time, and the trade passes that plan's
  ``min_hold_seconds`` and ``min_points`` filters. Rules and partner status do not matter (a volume is a volume).
- Order for the marginal mode is ``(close_time, ticket, trade_id)``; ``trade_id`` breaks ties between servers.
- Band ``i`` is ``[from_i, from_{i+1})``: the band of a volume V is the last band whose ``from`` is <= V. Plans'
  tiers start at 0 lots (validated), so every volume has a band.
- Tiers multiply the per-lot and per-million *rates* only; spread and commission shares are percentages and are not
  multiplied (their lines record tier NA).
- Level 1 retroactive: the band of the partner's whole-period direct volume. Level 1 marginal: the trade's lots are
  split across the bands they cross starting from the partner's direct volume strictly before the trade; each
  piece is paid at its band's eff_rate and the line records the band where the trade started, the weighted rate and
  the weighted multiplier (both rounded to 6 places for storage only). An upline (level >= 2, differential only:
  the other models do not use uplines' plans) uses its own plan's bands on *its own* direct volume: the period
  total (retroactive) or the volume strictly before the trade (marginal), without splitting.

Rounding point: ROUNDING POINT 2, ``eff_rate = round6(rate x usd_rate(plan currency) x multiplier)``, per band.
Invariants: the context depends only on the period's trades, chains and plans, so every chunk of a run sees the same
volumes; a partner's ``lots_before`` never counts the trade itself.

Adjustments (a trade of a locked period changed or arrived late, ``adjustment_context``): in marginal mode the new
version's volume before it is the one a from-scratch computation of the period with its final versions gives it —
the locked run's context with every version superseded since taken out and every version new since put in
(``replace_versions``): the old version of a corrected trade is not earlier volume of its new version. The trades
whose volume before them the correction moved keep what was posted for them (they are not re-priced). In
retroactive mode the band is the one the period was paid at (its whole-period volume as approved: frozen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from core.exact import INT64_MAX, ExactValueError, add, div_round, max_abs, mul, pow10

from .prepare import (
    NA,
    PlanArrays,
    build_vocabularies,
    distinct_positions,
    plan_failures,
    prepare_chains,
    prepare_plans,
    prepare_trades,
)
from .schema import CONFIG_PLACES

_KEY = np.dtype([("close_ns", "<i8"), ("ticket", "<i8"), ("trade_id", "<i8")])


@dataclass(frozen=True)
class _Lookup:
    """Search structures derived once from a context (see ``TierContext``)."""

    partners: pd.Index  # distinct partner ids, ascending; code = position
    totals: np.ndarray  # per partner code: whole-period direct lots
    trades: pd.Index  # trade_id per direct row
    rank: np.ndarray  # per direct row: number of direct trades strictly before it in (close, ticket, id)
    keys: np.ndarray  # per direct row: its (close_ns, ticket) to verify a trade_id match
    sorted_keys: np.ndarray  # every direct trade's (close_ns, ticket, trade_id), ascending (structured)
    combined: np.ndarray  # per direct row: partner code << 32 | rank, ascending in ``direct`` order
    cum: np.ndarray  # per direct row: cum_lots


@dataclass(frozen=True, eq=False)
class TierContext:
    """Every partner's direct tier-eligible trades in the period, sorted by (partner_id, close_ns, ticket, trade_id).

    ``direct`` columns: partner_id, trade_id, ticket, close_ns (int64 ns UTC), lots (int, scale 4) and cum_lots (the
    partner's running total including the row). Build it with ``tier_context`` over ALL the period's trades and
    pass the same object to every chunk: the search structures are built once, on first use, so each chunk pays
    only for its own rows (a pickled context carries them along).

    ``paid`` (adjustments only, see ``adjustment_context``): the context the locked period was paid on, whose
    whole-period volumes ``period_lots`` answers with — the retroactive band stays the one the period was paid at.
    """

    direct: pd.DataFrame
    paid: TierContext | None = None

    @cached_property
    def _lookup(self) -> _Lookup:
        direct = self.direct
        partner_id = direct["partner_id"].to_numpy(np.int64)
        close_ns = direct["close_ns"].to_numpy(np.int64)
        ticket = direct["ticket"].to_numpy(np.int64)
        trade_id = direct["trade_id"].to_numpy(np.int64)
        lots = direct["lots"].to_numpy(np.int64)
        partners = pd.Index(np.unique(partner_id))
        code = partners.get_indexer(partner_id).astype(np.int64)
        totals = np.zeros(len(partners), dtype=np.int64)
        np.add.at(totals, code, lots)
        order = np.lexsort((trade_id, ticket, close_ns))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        sorted_keys = np.empty(len(order), dtype=_KEY)
        sorted_keys["close_ns"], sorted_keys["ticket"], sorted_keys["trade_id"] = (
            close_ns[order],
            ticket[order],
            trade_id[order],
        )
        return _Lookup(
            partners=partners,
            totals=totals,
            trades=pd.Index(trade_id),
            rank=rank,
            keys=np.stack([close_ns, ticket], axis=1) if len(order) else np.zeros((0, 2), dtype=np.int64),
            sorted_keys=sorted_keys,
            combined=(code << 32) | rank,
            cum=direct["cum_lots"].to_numpy(np.int64),
        )

    def period_lots(self, partner_ids: np.ndarray) -> np.ndarray:
        """Each partner's whole-period direct volume (scale 4; 0 for a partner without direct trades)."""
        if self.paid is not None:
            return self.paid.period_lots(partner_ids)
        lookup = self._lookup
        if not len(lookup.totals):
            return np.zeros(len(partner_ids), dtype=np.int64)
        position = lookup.partners.get_indexer(partner_ids)
        return np.where(position >= 0, lookup.totals[np.maximum(position, 0)], 0).astype(np.int64)

    def _ranks(self, close_ns: np.ndarray, ticket: np.ndarray, trade_id: np.ndarray) -> np.ndarray:
        """For each asked trade, how many direct trades come strictly before it in (close, ticket, trade_id)."""
        lookup = self._lookup
        position = lookup.trades.get_indexer(trade_id)
        known = position >= 0
        if known.any():
            # A trade of the context (the usual case) knows its rank; its key must match the context's.
            at = position[known]
            known[known] = (lookup.keys[at, 0] == close_ns[known]) & (lookup.keys[at, 1] == ticket[known])
        rank = np.where(known, lookup.rank[np.maximum(position, 0)], 0)
        unknown = np.flatnonzero(~known)
        if len(unknown):
            asked = np.empty(len(unknown), dtype=_KEY)
            asked["close_ns"], asked["ticket"], asked["trade_id"] = (
                close_ns[unknown],
                ticket[unknown],
                trade_id[unknown],
            )
            rank[unknown] = np.searchsorted(lookup.sorted_keys, asked, side="left")
        return rank.astype(np.int64)

    def lots_before(
        self,
        partner_ids: np.ndarray,
        row_trade: np.ndarray,
        close_ns: np.ndarray,
        ticket: np.ndarray,
        trade_id: np.ndarray,
    ) -> np.ndarray:
        """Per row, the partner's direct volume from trades strictly before the row's trade in (close, ticket, id).

        ``row_trade`` maps each row to an entry of the trade key arrays ``close_ns``/``ticket``/``trade_id``.
        """
        rows = len(partner_ids)
        if rows == 0 or self.direct.empty:
            return np.zeros(rows, dtype=np.int64)
        lookup = self._lookup
        distinct, position = distinct_positions(len(close_ns), row_trade)
        rank = self._ranks(close_ns[distinct], ticket[distinct], trade_id[distinct])[position]
        code = lookup.partners.get_indexer(partner_ids).astype(np.int64)
        at = np.searchsorted(lookup.combined, (np.maximum(code, 0) << 32) | rank, side="left") - 1
        safe = np.maximum(at, 0)
        found = (at >= 0) & (code >= 0) & ((lookup.combined[safe] >> 32) == code)
        return np.where(found, lookup.cum[safe], 0).astype(np.int64)


def tier_context(trades: pd.DataFrame, trade_chains: pd.DataFrame, plans: pd.DataFrame) -> TierContext:
    """The period's tier context from ALL the period's trades, their chains and the plans they name."""
    vocabularies = build_vocabularies(trades)
    trade_arrays = prepare_trades(trades, vocabularies)
    plan_arrays = prepare_plans(plans, None)
    # Only level 1 matters: a partner's tier volume is its direct clients' trades.
    direct_chains = trade_chains[trade_chains["level"].to_numpy() == 1]
    chains = prepare_chains(direct_chains, trade_arrays, plan_arrays, None)
    trade, plan = chains.trade, chains.plan
    eligible = (
        ~trade_arrays.cancelled[trade]
        & trade_arrays.resolved[trade]
        & trade_arrays.earns[trade]
        & (plan_failures(trade_arrays, trade, plan, plan_arrays) == NA)
    )
    trade = trade[eligible]
    partner_id = chains.partner_id[eligible]
    close_ns, ticket, trade_id = trade_arrays.close_ns[trade], trade_arrays.ticket[trade], trade_arrays.trade_id[trade]
    lots = trade_arrays.lots[trade]
    if len(lots) and max_abs(lots) * len(lots) > INT64_MAX:
        raise ExactValueError("tier volumes exceed the int64 range")
    return TierContext(direct=_direct(partner_id, trade_id, ticket, close_ns, lots))


def _direct(
    partner_id: np.ndarray, trade_id: np.ndarray, ticket: np.ndarray, close_ns: np.ndarray, lots: np.ndarray
) -> pd.DataFrame:
    """Direct rows sorted by (partner_id, close_ns, ticket, trade_id), with each partner's running ``cum_lots``."""
    order = np.lexsort((trade_id, ticket, close_ns, partner_id))
    partner_id, close_ns, ticket, trade_id, lots = (
        partner_id[order],
        close_ns[order],
        ticket[order],
        trade_id[order],
        lots[order],
    )
    # Running total within each partner: the global running total minus its value where the partner starts.
    running = np.cumsum(lots)
    starts = np.ones(len(lots), dtype=bool)
    starts[1:] = partner_id[1:] != partner_id[:-1]
    before_start = (running - lots)[starts]
    cum_lots = running - np.repeat(before_start, np.diff(np.append(np.flatnonzero(starts), len(lots))))
    return pd.DataFrame(
        {
            "partner_id": partner_id,
            "trade_id": trade_id,
            "ticket": ticket,
            "close_ns": close_ns,
            "lots": lots,
            "cum_lots": cum_lots.astype(np.int64),
        }
    )


def replace_versions(context: TierContext, *, removed: Iterable[int], added: TierContext) -> TierContext:
    """``context`` with the direct rows of the trade versions ``removed`` (trade ids) taken out and ``added``'s rows
    put in, running totals recomputed.

    This is how an adjustment sees its locked period as a from-scratch computation with the final versions would:
    the superseded version of a corrected trade no longer counts (not even as earlier volume of its own new
    version), the new version counts at its own lots and close time, a late trade counts where it closed. With
    ``added`` built by ``tier_context`` over the versions that are new since ``context`` was built (under the same
    terms), the result equals ``tier_context`` over the period's final versions. An added version may not already
    be in ``context`` (unless removed)."""
    direct = context.direct
    kept = direct[~direct["trade_id"].isin(np.asarray(list(removed), dtype=np.int64))]
    new = added.direct
    if len(new) and kept["trade_id"].isin(new["trade_id"]).any():
        raise ValueError("replace_versions: an added trade version is already in the context")
    columns = ["partner_id", "trade_id", "ticket", "close_ns", "lots"]
    both = pd.concat([kept[columns], new[columns]], ignore_index=True)
    if len(both) and max_abs(both["lots"].to_numpy(np.int64)) * len(both) > INT64_MAX:
        raise ExactValueError("tier volumes exceed the int64 range")
    arrays = [both[column].to_numpy(np.int64) for column in columns]
    return TierContext(direct=_direct(*arrays))


def adjustment_context(paid: TierContext, *, removed: Iterable[int], added: TierContext) -> TierContext:
    """What an adjustment of a locked period prices tiers on: in marginal mode each trade's volume before it comes
    from the period's final versions (``replace_versions``: ``paid`` with ``removed`` out and ``added`` in); in
    retroactive mode the band is the one the period was paid at (``paid``'s whole-period volumes, frozen at its
    approval)."""
    return TierContext(direct=replace_versions(paid, removed=removed, added=added).direct, paid=paid)


def bands_of(plans: PlanArrays, plan: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Band index reached by ``volume`` (scale 4) in each row's plan; -1 when the plan has no tiers."""
    if len(plan) == 0:
        return np.zeros(0, dtype=np.int64)
    reached = plans.tier_from[plan] <= volume[:, None]
    return reached.sum(axis=1).astype(np.int64) - 1


def eff_rates(
    rate: np.ndarray, fx: np.ndarray, fx_scale: int, multiplier: np.ndarray, converted: np.ndarray
) -> np.ndarray:
    """ROUNDING POINT 2: round6(rate x usd_rate(plan currency) x multiplier); rate and multiplier at scale 6.

    ``fx`` (at ``fx_scale``) is used only where ``converted`` (non-USD plans); USD plans skip the factor of 1, which
    keeps their products small enough for int64.
    """
    result = div_round(mul(rate, multiplier), pow10(CONFIG_PLACES))
    if converted.any():
        where = np.flatnonzero(converted)
        product = mul(mul(rate[where], fx[where]), multiplier[where])
        converted_rates = div_round(product, pow10(CONFIG_PLACES + fx_scale))
        if result.dtype == object or converted_rates.dtype == object:
            result = result.astype(object)
        result[where] = converted_rates
    return result


@dataclass(frozen=True)
class MarginalSplit:
    """A level-1 marginal trade's pieces: sum(piece x eff_rate) (scale 10), sum(piece x multiplier) (scale 10),
    and the band where the trade started."""

    weighted_rate: np.ndarray
    weighted_multiplier: np.ndarray
    start_band: np.ndarray


def marginal_split(
    plans: PlanArrays,
    plan: np.ndarray,
    start: np.ndarray,
    lots: np.ndarray,
    rate: np.ndarray,
    fx: np.ndarray,
    fx_scale: int,
    converted: np.ndarray,
) -> MarginalSplit:
    """Split each row's ``lots`` (from the partner's volume ``start``) across its plan's bands."""
    end = start + lots
    bands = plans.tier_from.shape[1]
    froms = plans.tier_from[plan]
    multipliers = plans.tier_multiplier[plan]
    weighted_rate: np.ndarray = np.zeros(len(plan), dtype=np.int64)
    weighted_multiplier: np.ndarray = np.zeros(len(plan), dtype=np.int64)
    for band in range(bands):
        upper = froms[:, band + 1] if band + 1 < bands else np.full(len(plan), INT64_MAX, dtype=np.int64)
        piece = np.minimum(end, upper) - np.maximum(start, froms[:, band])
        piece = np.where(froms[:, band] == INT64_MAX, 0, np.maximum(piece, 0))
        if not piece.any():
            continue
        band_rate = eff_rates(rate, fx, fx_scale, multipliers[:, band], converted)
        weighted_rate = add(weighted_rate, mul(piece, band_rate))
        weighted_multiplier = add(weighted_multiplier, mul(piece, multipliers[:, band]))
    return MarginalSplit(
        weighted_rate=weighted_rate,
        weighted_multiplier=weighted_multiplier,
        start_band=bands_of(plans, plan, start),
    )
