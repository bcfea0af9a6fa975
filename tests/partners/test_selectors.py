"""Effective-dated tree reads: chains, downlines and tree stats at several instants, in one query each."""

from __future__ import annotations

import pytest

from partners.selectors import (
    TreeStats,
    account_chain_at,
    account_list,
    partner_chain_at,
    partner_downline_at,
    partner_list,
    partner_parent_at,
    partner_tree_stats,
)
from partners.services.accounts import account_attribute
from partners.services.partners import partner_move

from .conftest import at

pytestmark = pytest.mark.django_db


def codes(partners) -> list[str]:
    return [p.code for p in partners]


@pytest.fixture
def network(make_partner, make_account):
    """T0: root > mid > leaf, other (top).  t=10: leaf moves under other.  t=20: mid moves under other.
    Account 500 is leaf's client from t=0, then other's from t=15. Account 501 joins at t=5 under mid."""
    root = make_partner("root")
    mid = make_partner("mid", parent=root)
    leaf = make_partner("leaf", parent=mid)
    other = make_partner("other")
    partner_move(partner=leaf, parent=other, effective_from=at(10))
    partner_move(partner=mid, parent=other, effective_from=at(20))
    a500, a501 = make_account(500), make_account(501)
    account_attribute(account=a500, partner=leaf, effective_from=at(0))
    account_attribute(account=a500, partner=other, effective_from=at(15))
    account_attribute(account=a501, partner=mid, effective_from=at(5))
    return {"root": root, "mid": mid, "leaf": leaf, "other": other}


@pytest.mark.parametrize(
    ("hours", "leaf_chain", "mid_chain"),
    [
        (0, ["leaf", "mid", "root"], ["mid", "root"]),
        (9.99, ["leaf", "mid", "root"], ["mid", "root"]),
        (10, ["leaf", "other"], ["mid", "root"]),
        (20, ["leaf", "other"], ["mid", "other"]),
        (100, ["leaf", "other"], ["mid", "other"]),
    ],
)
def test_partner_chain_at_follows_moves(network, hours, leaf_chain, mid_chain, django_assert_num_queries):
    with django_assert_num_queries(1):
        chain = partner_chain_at(partner=network["leaf"], at=at(hours))
    assert codes(chain) == leaf_chain
    assert codes(partner_chain_at(partner=network["mid"], at=at(hours))) == mid_chain


@pytest.mark.parametrize(
    ("login", "hours", "expected"),
    [
        (500, -1, []),
        (500, 0, ["leaf", "mid", "root"]),
        (500, 10, ["leaf", "other"]),
        (500, 15, ["other"]),
        (501, 4, []),
        (501, 5, ["mid", "root"]),
        (501, 25, ["mid", "other"]),
        (999, 5, []),
    ],
)
def test_account_chain_at_follows_moves_and_attribution(network, login, hours, expected, django_assert_num_queries):
    with django_assert_num_queries(1):
        chain = account_chain_at(server="live", login=login, at=at(hours))
    assert codes(chain) == expected
    assert [p.level for p in chain] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    ("code", "hours", "expected"),
    [
        ("root", 0, [("mid", 1), ("leaf", 2)]),
        ("root", 10, [("mid", 1)]),
        ("root", 20, []),
        ("other", 5, []),
        ("other", 10, [("leaf", 1)]),
        ("other", 20, [("leaf", 1), ("mid", 1)]),
        ("mid", 0, [("leaf", 1)]),
    ],
)
def test_partner_downline_at(network, code, hours, expected, django_assert_num_queries):
    with django_assert_num_queries(1):
        downline = partner_downline_at(partner=network[code], at=at(hours))
    assert [(p.code, depth) for p, depth in downline] == expected


def test_downline_carries_each_partners_parent(network):
    downline = partner_downline_at(partner=network["root"], at=at(0))
    assert [(p.code, p.parent_code) for p, _ in downline] == [("mid", "root"), ("leaf", "mid")]


def test_partner_parent_at(network):
    assert partner_parent_at(partner=network["leaf"], at=at(0)).code == "mid"
    assert partner_parent_at(partner=network["leaf"], at=at(10)).code == "other"
    assert partner_parent_at(partner=network["root"], at=at(10)) is None


def test_tree_stats_in_one_query(network, django_assert_num_queries):
    ids = [p.pk for p in network.values()]
    with django_assert_num_queries(1):
        stats0 = partner_tree_stats(partner_ids=ids, at=at(0))
    assert stats0 == {
        network["root"].pk: TreeStats(parent_code=None, level=1, downline_size=2),
        network["mid"].pk: TreeStats(parent_code="root", level=2, downline_size=1),
        network["leaf"].pk: TreeStats(parent_code="mid", level=3, downline_size=0),
        network["other"].pk: TreeStats(parent_code=None, level=1, downline_size=0),
    }
    stats20 = partner_tree_stats(partner_ids=ids, at=at(20))
    assert stats20[network["other"].pk] == TreeStats(parent_code=None, level=1, downline_size=2)
    assert stats20[network["mid"].pk] == TreeStats(parent_code="other", level=2, downline_size=0)
    assert stats20[network["root"].pk].downline_size == 0
    assert partner_tree_stats(partner_ids=[], at=at(0)) == {}


def test_tree_stats_for_a_large_page_stays_one_query(make_partner, django_assert_num_queries):
    top = make_partner("top")
    previous = top
    partners = [top]
    for n in range(60):
        parent = previous if n % 3 else top
        previous = make_partner(f"p{n:02d}", parent=parent)
        partners.append(previous)
    with django_assert_num_queries(1):
        stats = partner_tree_stats(partner_ids=[p.pk for p in partners], at=at(1))
    assert stats[top.pk].downline_size == 60 and stats[top.pk].level == 1
    # p01 sits under p00 which sits under top.
    assert stats[partners[2].pk] == TreeStats(parent_code="p00", level=3, downline_size=1)


def test_list_selectors_filter(network):
    assert codes(partner_list(filters={"parent": "other"})) == ["leaf", "mid"]
    assert codes(partner_list(filters={"q": "ro"})) == ["root"]
    assert [a.login for a in account_list(filters={"partner": "other"})] == [500]
    assert [a.current_partner_code for a in account_list(at=at(6))] == ["leaf", "mid"]
