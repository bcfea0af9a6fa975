"""Computing one chunk of a fee run: its groups' inputs through the fee engine, out as fee lines and carried states.

Units: each member's amounts are in its account's currency, charged at that currency's minor unit (at most the
lines' 6 places, ``fee_adapters.places_of``); fee shares at 6 places. The engine does every rounding
(``mam.engine.fees``: one per crystallised fee, hurdle and share); nothing here rounds.

How a chunk computes, group by group (a group is never split over chunks, and a member's computation reads only its
own rows, so lines do not depend on how groups are chunked):
- the terms are the group's terms in force at the period's last instant; a group with none computes with zero
  rates, so its HWMs keep being carried for when it gets a schedule;
- each member starts from its latest approved state (``MemberFeeState``) or, without one, from joining; a
  membership entered after the run of its joining month was approved (a back-dated ``joined``) has no state: its
  management fee accrues from joining (the late days are charged in this run) and its HWM starts at the equity of
  the day before the period (what it made before is not charged: it was never measured);
- an account that left a group and joined it again within the period has two memberships there: the engine keys
  members by account, so each membership of one account is computed in its own engine call (the n-th
  memberships of the group's accounts together), which is exact because members are independent;
- the IB paid a fee share is the investor's IB at the crystallisation (``fee_adapters.crystallisation_instants``);
  with no IB then, no share is paid and the manager keeps the whole fee.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from runs.models import Run
from runs.registry import ChunkFailure

from ..engine.fees import FeeTerms, compute_fees
from ..fee_adapters import (
    ENGINE_MEMBER_COLUMNS,
    FeeSnapshot,
    RunDays,
    crystallisation_instants,
    fee_lines_frame,
    first_days_needed,
    introducing_brokers,
    load_flows,
    load_members,
    load_snapshots,
    load_terms,
    places_of,
)

KEY = ["server", "login"]
MEMBER_INFO = ["server", "login", "group_id", "member_id", "manager_id", "account_id", "currency"]


def fee_chunk_lines(*, run: Run, group_ids: Sequence[int]) -> pd.DataFrame:
    """The lines (and state rows) of the groups ``group_ids`` for ``run``'s period, in their stored form."""
    days = RunDays.of(run)
    snapshot = FeeSnapshot.of(run)
    members = load_members(run=run, days=days, snapshot=snapshot, group_ids=group_ids)
    if members.empty:
        return fee_lines_frame(run=run, events=pd.DataFrame(), states=pd.DataFrame(), days=days)
    terms = load_terms(days=days, group_ids=group_ids)
    members["places"] = members["currency"].map(places_of(members["currency"].tolist()))
    first_days = first_days_needed(members, days)
    snapshots = load_snapshots(first_days=first_days, days=days)
    flows = load_flows(snapshots=snapshots, account_ids=list(first_days.index), days=days, snapshot=snapshot)
    members["batch"] = members.groupby(["group_id", "account_id"]).cumcount()

    events, states = [], []
    for (group_id, _), batch in members.groupby(["group_id", "batch"], sort=True):
        batch_events, batch_states = _compute_batch(
            group_id=int(group_id), batch=batch, terms=terms, snapshots=snapshots, flows=flows, days=days
        )
        events.append(batch_events)
        states.append(batch_states)
    all_events = pd.concat(events, ignore_index=True)
    all_events["ib_id"] = -1
    if not all_events.empty and (all_events["fee_share"] > 0).any():
        all_events["ib_id"] = introducing_brokers(events=all_events, days=days)
    return fee_lines_frame(run=run, events=all_events, states=pd.concat(states, ignore_index=True), days=days)


def _compute_batch(
    *,
    group_id: int,
    batch: pd.DataFrame,
    terms: dict[int, dict],
    snapshots: pd.DataFrame,
    flows: pd.DataFrame,
    days: RunDays,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One engine call: memberships of one group, each account at most once. Returns its events with the member's
    ids, the withdrawal's flow id and the crystallisation instant (``at``), and its states that carry something."""
    mine = pd.MultiIndex.from_frame(batch[KEY])
    batch_snapshots = snapshots[pd.MultiIndex.from_frame(snapshots[KEY]).isin(mine)] if len(snapshots) else snapshots
    batch_flows = flows[pd.MultiIndex.from_frame(flows[KEY]).isin(mine)] if len(flows) else flows
    try:
        result = compute_fees(
            terms=FeeTerms(**terms.get(group_id, {})),
            period_start=days.start,
            period_end=days.end,
            members=batch[ENGINE_MEMBER_COLUMNS].reset_index(drop=True),
            snapshots=batch_snapshots[["server", "login", "day", "balance", "equity"]].reset_index(drop=True),
            flows=batch_flows[["server", "login", "day", "seq", "amount"]].reset_index(drop=True),
        )
    except (TypeError, ValueError) as exc:
        raise ChunkFailure(f"fees of group {group_id} cannot be computed: {exc}") from exc

    info = batch[MEMBER_INFO]
    events = result.events.merge(info, on=KEY, how="left", validate="many_to_one")
    withdrawals = batch_flows[["server", "login", "seq", "cash_flow_id", "time"]].rename(columns={"seq": "flow_seq"})
    events = events.astype({"flow_seq": "Int64"}).merge(
        withdrawals.astype({"flow_seq": "Int64"}), on=[*KEY, "flow_seq"], how="left", validate="many_to_one"
    )
    events["cash_flow_id"] = events["cash_flow_id"].astype("Int64")
    events["at"] = crystallisation_instants(events, events["time"])

    states = result.states.merge(info, on=KEY, how="left", validate="one_to_one")
    states = states[states["hwm"].notna() | states["accrue_from"].notna()]
    return events, states
