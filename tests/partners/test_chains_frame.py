"""``chains_frame`` (one set-based query over a period) against the per-instant selector on generated trees with
moves and attribution changes; and the move service's cycle rule against a brute-force check of every later tree.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partners.models import ClientAccount, PartnerLink
from partners.selectors import account_chain_at, chains_frame
from partners.services.accounts import account_attribute
from partners.services.partners import partner_create, partner_move
from partners.services.programs import program_upsert

from .conftest import T0, at

pytestmark = pytest.mark.django_db

N_PARTNERS = 4
N_ACCOUNTS = 3

hours = st.integers(min_value=0, max_value=24)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("move"),
            st.integers(0, N_PARTNERS - 1),
            st.none() | st.integers(0, N_PARTNERS - 1),
            hours,
        ),
        st.tuples(
            st.just("attribute"),
            st.integers(0, N_ACCOUNTS - 1),
            st.none() | st.integers(0, N_PARTNERS - 1),
            hours,
        ),
    ),
    max_size=20,
)
initial_parents = st.lists(st.none() | st.integers(0, N_PARTNERS - 1), min_size=N_PARTNERS, max_size=N_PARTNERS)
join_hours = st.lists(st.integers(0, 6), min_size=N_PARTNERS, max_size=N_PARTNERS)


def _links() -> list[tuple[int, int | None, datetime, datetime | None]]:
    return list(PartnerLink.objects.values_list("partner_id", "parent_id", "valid_from", "valid_to"))


def _parents_at(links, t: datetime) -> dict[int, int | None]:
    return {child: parent for child, parent, vf, vt in links if vf <= t and (vt is None or vt > t)}


def _brute_force_cycle(links, partner_id: int, parent_id: int, start: datetime) -> bool:
    """Would ``partner`` under ``parent`` from ``start`` on make a cycle at any instant >= start?"""
    instants = {start} | {vf for *_, vf, _ in links if vf > start} | {vt for *_, vt in links if vt and vt > start}
    for t in instants:
        parents = _parents_at(links, t)
        parents[partner_id] = parent_id
        node, seen = parent_id, set()
        while node is not None and node not in seen:
            if node == partner_id:
                return True
            seen.add(node)
            node = parents.get(node)
    return False


def _build(parents, joins, ops) -> tuple[list, list[ClientAccount]]:
    program = program_upsert(code="p", name="P", model="differential")
    partners = []
    for index, (parent, join) in enumerate(zip(parents, joins, strict=True)):
        parent_obj = partners[parent] if parent is not None and parent < index else None
        partner = partner_create(
            code=f"p{index}", name=f"P{index}", program=program, parent=parent_obj, effective_from=at(join)
        )
        partners.append(partner)
    accounts = [ClientAccount.objects.create(server="s", login=n) for n in range(N_ACCOUNTS)]
    for kind, who, target, hour in ops:
        target_obj = partners[target] if target is not None else None
        if kind == "move":
            partner = partners[who]
            links_before = _links()
            try:
                with transaction.atomic():
                    partner_move(partner=partner, parent=target_obj, effective_from=at(hour))
            except ValidationError as exc:
                if "parent" in exc.message_dict:
                    assert (
                        target_obj is None
                        or target_obj.pk == partner.pk
                        or _brute_force_cycle(links_before, partner.pk, target_obj.pk, at(hour))
                    )
            else:
                if target_obj is not None:
                    latest = max(vf for p, _, vf, _ in links_before if p == partner.pk)
                    if at(hour) > latest:
                        assert not _brute_force_cycle(links_before, partner.pk, target_obj.pk, at(hour))
        else:
            try:
                with transaction.atomic():
                    account_attribute(account=accounts[who], partner=target_obj, effective_from=at(hour))
            except ValidationError:
                pass
    return partners, accounts


def _sample_instants(start: datetime, end: datetime) -> list[datetime]:
    tick = timedelta(microseconds=1)
    points = {start, end - tick}
    for vf, vt in PartnerLink.objects.values_list("valid_from", "valid_to"):
        points |= {vf, vf - tick, *([vt, vt - tick] if vt else [])}
    from partners.models import AccountAttribution

    for vf, vt in AccountAttribution.objects.values_list("valid_from", "valid_to"):
        points |= {vf, vf - tick, *([vt, vt - tick] if vt else [])}
    return sorted(t for t in points if start <= t < end)


def _frame_chain(frame: pd.DataFrame, account_id: int, t: datetime) -> list[int]:
    ts = pd.Timestamp(t)
    rows = frame[(frame.account_id == account_id) & (frame.valid_from <= ts) & (frame.valid_to > ts)]
    return rows.sort_values("level")["partner_id"].tolist()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parents=initial_parents,
    joins=join_hours,
    ops=operations,
    window=st.tuples(st.integers(-5, 45), st.integers(1, 50)),
    subset=st.booleans(),
)
def test_chains_frame_matches_per_instant_chains(parents, joins, ops, window, subset):
    with transaction.atomic():
        _partners, accounts = _build(parents, joins, ops)
        start, end = at(window[0]), at(window[0] + window[1])
        chosen = accounts[:2] if subset else accounts
        frame = chains_frame(account_ids=[a.pk for a in chosen] if subset else None, start=start, end=end)

        assert list(frame.columns) == ["account_id", "valid_from", "valid_to", "level", "partner_id"]
        assert set(frame.account_id) <= {a.pk for a in chosen}
        assert (frame.valid_from >= pd.Timestamp(start)).all() and (frame.valid_to <= pd.Timestamp(end)).all()
        assert (frame.valid_from < frame.valid_to).all()
        for account in chosen:
            for t in _sample_instants(start, end):
                expected = [p.pk for p in account_chain_at(server="s", login=account.login, at=t)]
                assert _frame_chain(frame, account.pk, t) == expected, (account.login, t)
            # Stretches are maximal and disjoint: each differs from the one it touches.
            stretches = (
                frame[frame.account_id == account.pk]
                .groupby(["valid_from", "valid_to"], sort=True)["partner_id"]
                .apply(tuple)
                .reset_index()
            )
            for (_, prev), (_, cur) in zip(stretches.iloc[:-1].iterrows(), stretches.iloc[1:].iterrows(), strict=True):
                assert prev.valid_to <= cur.valid_from
                if prev.valid_to == cur.valid_from:
                    assert prev.partner_id != cur.partner_id
        # After every accepted move the tree is acyclic at every instant.
        links = _links()
        for t in {vf for *_, vf, _ in links}:
            parents_now = _parents_at(links, t)
            for start_node in parents_now:
                node, seen = start_node, set()
                while node is not None:
                    assert node not in seen, f"cycle at {t}"
                    seen.add(node)
                    node = parents_now.get(node)
        transaction.set_rollback(True)


def test_chains_frame_example_and_types(make_partner, make_account):
    top = make_partner("top")
    sub = make_partner("sub", parent=top)
    other = make_partner("other")
    account = make_account(42)
    account_attribute(account=account, partner=sub, effective_from=at(2))
    partner_move(partner=sub, parent=other, effective_from=at(5))
    account_attribute(account=account, partner=None, effective_from=at(8))
    frame = chains_frame(start=at(0), end=at(24))
    rows = [
        (r.account_id, r.valid_from.to_pydatetime(), r.valid_to.to_pydatetime(), r.level, r.partner_id)
        for r in frame.itertuples()
    ]
    assert rows == [
        (account.pk, at(2), at(5), 1, sub.pk),
        (account.pk, at(2), at(5), 2, top.pk),
        (account.pk, at(5), at(8), 1, sub.pk),
        (account.pk, at(5), at(8), 2, other.pk),
    ]
    assert str(frame.valid_from.dtype).startswith("datetime64") and str(frame.valid_from.dt.tz) == "UTC"
    assert frame.level.dtype == "int64" and frame.partner_id.dtype == "int64"
    # Clipped to the window.
    clipped = chains_frame(start=at(3), end=at(6))
    assert clipped.valid_from.min() == pd.Timestamp(at(3)) and clipped.valid_to.max() == pd.Timestamp(at(6))


def test_chains_frame_empty_cases(make_account):
    account = make_account(1)
    assert chains_frame(start=at(0), end=at(1)).empty
    assert chains_frame(account_ids=[], start=at(0), end=at(1)).empty
    assert chains_frame(account_ids=[account.pk], start=at(1), end=at(1)).empty
    assert list(chains_frame(start=at(0), end=at(1)).columns) == [
        "account_id",
        "valid_from",
        "valid_to",
        "level",
        "partner_id",
    ]


def test_chains_frame_is_one_query(make_partner, make_account, django_assert_num_queries):
    top = make_partner("top")
    subs = [make_partner(f"s{n}", parent=top) for n in range(5)]
    for n in range(50):
        account_attribute(account=make_account(n), partner=subs[n % 5], effective_from=T0)
    with django_assert_num_queries(1):
        frame = chains_frame(start=at(0), end=at(10))
    assert len(frame) == 100
