"""Hypothesis strategies for MAM groups: small groups that hit the edges (ties, stops, caps, tiny and huge weights,
volumes of a few steps over many accounts, volumes that are not a multiple of the step)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from hypothesis import strategies as st

from core.money import quantize
from mam.engine import MEMBER_COLUMNS, GroupPolicy, VolumeSpec
from mam.vocabulary import AllocationMethod, BelowMinPolicy, ResidualPolicy

D = Decimal
SERVERS = ("live1", "live2")


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(low), max_value=D(high), places=places, allow_nan=False, allow_infinity=False)


@st.composite
def specs(draw: st.DrawFn) -> VolumeSpec:
    step = draw(st.sampled_from([D("0.01"), D("0.1"), D("1")]))
    minimum = draw(st.sampled_from([step, step, step * 2, step * 10, D(0), step * D("1.5")]))
    maximum = draw(st.sampled_from([D(100), D(1000), D(50), max(minimum, step) * 5, max(minimum, step)]))
    return VolumeSpec(step=step, minimum=minimum, maximum=max(maximum, minimum))


EQUITY_POOLS = {
    # Many equal weights: ties everywhere (key order decides).
    "ties": [D(1000), D(1000), D("1000.00"), D(5000), D(5000), D(250)],
    "round": [D(10000), D(7000), D(3000), D(6000), D(1000), D(500), D(2000)],
    "mixed": None,  # uniform cents
    "whales": None,  # a few huge, many small
    "dust": None,  # tiny figures at the finest scale
    "huge": None,  # billions at the finest scale: beyond int64 products (the Python-int arithmetic)
}


def _money(rng: random.Random, pool: str) -> Decimal:
    if pool in ("ties", "round"):
        return rng.choice(EQUITY_POOLS[pool])
    if pool == "whales":
        if rng.random() < 0.1:
            return D(rng.randint(10**7, 9 * 10**10)).scaleb(-2)
        return D(rng.randint(1, 2 * 10**6)).scaleb(-2)
    if pool == "dust":
        return D(rng.randint(1, 5 * 10**8)).scaleb(-8)
    if pool == "huge":
        return D(rng.randint(10**8, 10**18)).scaleb(-8)
    return D(rng.randint(1, 2 * 10**6)).scaleb(-2)


def _param(rng: random.Random) -> Decimal | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.1:
        return D(0)
    if roll < 0.5:
        return rng.choice([D(1), D(2), D("0.5"), D(10), D(25), D("0.01"), D("0.005"), D("0.1")])
    if roll < 0.8:
        return D(rng.randint(1, 50000)).scaleb(-3)
    return D(rng.randint(1, 100)).scaleb(-4)


@dataclass(frozen=True)
class Profile:
    """How a generated group looks: the hypothesis-drawn knobs; the row values come from a seeded Random."""

    pool: str
    excluded: float  # chance of each exclusion (not a member, inactive, no equity)
    stops: float  # chance of an equity stop or a drawdown limit
    capped: float  # chance of an own max_lots


profiles = st.builds(
    Profile,
    pool=st.sampled_from(sorted(EQUITY_POOLS)),
    excluded=st.sampled_from([0.0, 0.0, 0.03, 0.15]),
    stops=st.sampled_from([0.0, 0.05, 0.3]),
    capped=st.sampled_from([0.0, 0.0, 0.1, 0.5]),
)


def member_rows(rng: random.Random, size: int, profile: Profile) -> list[dict]:
    logins = rng.sample(range(1, 400), size)
    rows = []
    for login in logins:
        equity: Decimal | None = _money(rng, profile.pool)
        if rng.random() < profile.excluded:
            equity = rng.choice([None, D(0), D(-10)])
        peak = stop = limit = None
        if equity is not None and equity > 0 and rng.random() < profile.stops:
            # Around the account's own figures, so that both sides of each stop are hit.
            if rng.random() < 0.5:
                stop = equity + rng.choice([D(-1), D(0), D("0.01"), D(100), -equity])
            else:
                peak = equity + rng.choice([D(0), equity, quantize(equity / 4, 8), D(100)])
                limit = rng.choice([D(0), D(10), D(20), D(25), D(50), D(100)])
        max_lots = None
        if rng.random() < profile.capped:
            max_lots = rng.choice(
                [D(0), D("0.005"), D("0.01"), D("0.02"), D("0.05"), D("0.1"), D("0.5"), D(1), D(3), D(40)]
            )
        rows.append(
            {
                "server": rng.choice(SERVERS),
                "login": login,
                "active": rng.random() >= profile.excluded,
                "member": rng.random() >= profile.excluded,
                "param": _param(rng),
                "risk_factor": rng.choice(
                    [D(1), D(1), D("0.5"), D(2), None, D("1.25")] + [D(0)] * (profile.excluded > 0)
                ),
                "balance": _money(rng, profile.pool) if rng.random() >= profile.excluded else None,
                "equity": equity,
                "free_margin": _money(rng, profile.pool) if rng.random() >= profile.excluded else D(-5),
                "peak_equity": peak,
                "max_lots": max_lots,
                "equity_stop": stop,
                "max_drawdown_pct": limit,
            }
        )
    return rows


@st.composite
def groups(
    draw: st.DrawFn,
    max_members: int = 60,
    min_members: int = 0,
    methods: list[AllocationMethod] | None = None,
    residuals: list[ResidualPolicy] | None = None,
) -> tuple[Decimal, pd.DataFrame, GroupPolicy, VolumeSpec]:
    """(volume, members, policy, spec)."""
    spec = draw(specs())
    size = draw(
        st.one_of(
            st.integers(min_members, max(min_members, 6)),
            st.integers(min_members, max_members),
            st.integers(max(min_members, max_members // 2), max_members),
        )
    )
    profile = draw(profiles)
    # Row values from a seeded Random: hypothesis shrinks the knobs (size, profile, policy, volume) and the seed.
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    rows = member_rows(rng, size, profile)
    members = pd.DataFrame(rows, columns=list(MEMBER_COLUMNS))
    method = draw(st.sampled_from(methods or list(AllocationMethod)))
    residual = draw(st.sampled_from(residuals or list(ResidualPolicy)))
    overflow_key = None
    if residual == ResidualPolicy.OVERFLOW:
        if not rows:
            residual = ResidualPolicy.LARGEST_WEIGHT
        else:
            row = rows[draw(st.integers(0, len(rows) - 1))]
            overflow_key = (row["server"], row["login"])
    policy = GroupPolicy(
        method=method,
        residual=residual,
        below_min=draw(st.sampled_from(list(BelowMinPolicy))),
        overflow_key=overflow_key,
    )
    # A few steps over many accounts (the skip search's hard case), about one step each, or a big volume.
    volume_steps = draw(
        st.one_of(st.integers(1, 30), st.integers(max(1, size // 3), max(1, 2 * size)), st.integers(1, 30000))
    )
    volume = spec.step * volume_steps
    if volume > 500:
        volume = spec.step * draw(st.integers(1, int(D(500) / spec.step)))
    if draw(st.integers(0, 9)) == 0:
        volume += spec.step * draw(st.sampled_from([D("0.5"), D("0.01"), D("0.999")]))
    return volume, members, policy, spec


@st.composite
def positions(draw: st.DrawFn) -> tuple[pd.DataFrame, Decimal, Decimal, VolumeSpec]:
    """(positions, master_open, close_lots, spec)."""
    spec = draw(specs())
    size = draw(st.integers(0, 40))
    lots = draw(
        st.lists(
            st.one_of(
                st.integers(0, 300).map(lambda k: spec.step * k),
                st.integers(0, 30000).map(lambda k: spec.step * k),
                decimals("0", "3", 3),
            ),
            min_size=size,
            max_size=size,
        )
    )
    frame = pd.DataFrame(
        {"server": ["live1"] * size, "login": list(range(1, size + 1)), "lots_open": lots},
        columns=["server", "login", "lots_open"],
    )
    master_open = spec.step * draw(st.integers(1, 50000))
    close = draw(
        st.one_of(
            st.just(master_open),
            st.integers(1, 50000).map(lambda k: min(master_open, spec.step * k)),
            decimals("0.001", "1", 3).map(lambda f: max(D("0.001"), min(master_open, master_open * f))),
        )
    )
    return frame, master_open, close, spec


@st.composite
def crowded_groups(draw: st.DrawFn) -> tuple[Decimal, pd.DataFrame, GroupPolicy, VolumeSpec]:
    """Hundreds of plain accounts (uniform equities, no stops or caps) sharing about one step each under
    ``largest_remainder`` + ``skip``: the skip search's long stretch of accounts within a step of the minimum."""
    size = draw(st.integers(100, 300))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    low = draw(st.sampled_from([1, 500, 5000]))
    places = draw(st.sampled_from([2, 2, 8]))  # 8: equities at the finest scale, beyond int64 products
    rows = [
        {
            "server": "live1",
            "login": login,
            "active": True,
            "member": True,
            "equity": D(rng.randint(low * 10**places, 50000 * 10**places) + rng.randint(0, 9)).scaleb(-places),
        }
        for login in rng.sample(range(1, 10000), size)
    ]
    spec = VolumeSpec(step=D("0.01"), minimum=draw(st.sampled_from([D("0.01"), D("0.02")])), maximum=D(100))
    volume = spec.step * draw(st.integers(size // 2, 3 * size))
    return volume, pd.DataFrame(rows), GroupPolicy(residual=ResidualPolicy.LARGEST_REMAINDER), spec
