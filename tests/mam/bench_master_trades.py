"""Bench (not collected: no ``test_`` prefix) of master_trade_open / master_trade_close over a 1,000-member group,
built like ``tests/mam/support.py`` (partners and group through the API, then 1,000 accounts, memberships and
snapshots through the API too). Run explicitly:

    pytest -q -s -p no:cacheprovider tests/mam/bench_master_trades.py [--profile-mam]

Prints the median wall time per open, per partial close and per full close; no timed assertion. ``MAM_PROFILE=1``
prints the cProfile top of one open and one close; ``MAM_PHASES=1`` the wall time of each step the services call
(summed over the rounds).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mam.models import MamGroup
from mam.services.master_trades import master_trade_close, master_trade_open
from tests.commissions.runs_support import post_ok

from .support import GROUP, group_body, setup_partners

MEMBERS = 1_000
ROUNDS = 9
OPEN = datetime(2026, 3, 10, 10, tzinfo=UTC)


def _build(client) -> MamGroup:
    setup_partners(client)
    post_ok(client, "/api/v1/mam/groups/", group_body())
    logins = list(range(100_000, 100_000 + MEMBERS))
    partners = ("sub", "ib2", "mgr", None)
    post_ok(
        client,
        "/api/v1/accounts/",
        [
            {"server": "live1", "login": login, **({"partner": p} if (p := partners[i % 4]) else {})}
            for i, login in enumerate(logins)
        ],
    )
    for login in logins:
        post_ok(client, f"/api/v1/mam/groups/{GROUP}/members/", {"server": "live1", "login": login})
    post_ok(
        client,
        "/api/v1/mam/equity/",
        [
            {"server": "live1", "login": login, "day": "2026-03-01", "balance": e, "equity": e, "free_margin": e}
            for login in logins
            for e in [str(1_000 + (login * 7919) % 50_000)]
        ],
    )
    return MamGroup.objects.get(code=GROUP)


def _profiled(label: str, call):
    profile = cProfile.Profile()
    result = profile.runcall(call)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
    if dump := os.environ.get("MAM_PROFILE_DUMP"):
        profile.dump_stats(f"{dump}.{label.replace(' ', '_')}.prof")
    print(f"\n===== profile: {label}\n{out.getvalue()}")
    return result


def _phases(monkeypatch) -> dict[str, float]:
    """Wrap the steps ``mam.services.master_trades`` calls, summing their wall time."""
    from mam.services import master_trades

    spent: dict[str, float] = {}
    names = [
        "allocations_of",
        "members_on",
        "allocate",
        "allocations_insert",
        "sub_closes_insert",
        "allocations_lots_open_update",
        "trades_ingest_records",
        "_free_tickets",
        "_closed_lots",
        "_stored_sub_closes",
        "_in_currency",
        "_instrument",
        "usd_rates",
    ]
    for name in names:
        original = getattr(master_trades, name, None)
        if original is None:  # a step this version does not have
            continue

        def timed(*args, _original=original, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - started

        monkeypatch.setattr(master_trades, name, timed)
    return spent


@pytest.mark.django_db
def test_bench_master_trades(staff_client, monkeypatch):
    group = _build(staff_client)
    spent = _phases(monkeypatch) if os.environ.get("MAM_PHASES") == "1" else {}
    profile = os.environ.get("MAM_PROFILE") == "1"
    opens, partials, fulls = [], [], []
    cpu = {"open": 0.0, "partial close": 0.0, "full close": 0.0}
    for round_ in range(ROUNDS):
        ticket = 10_000 + round_
        at = OPEN + timedelta(minutes=round_)

        def do_open(ticket=ticket, at=at):
            return master_trade_open(
                group=group,
                ticket=ticket,
                symbol="EURUSD",
                side="buy",
                lots=Decimal("100.00"),
                open_time=at,
                open_price=Decimal("1.08"),
            )

        def do_close(ticket=ticket, at=at, lots="37.00", minutes=60, price="1.0815"):
            return master_trade_close(
                group=group,
                ticket=ticket,
                lots=Decimal(lots),
                close_time=at + timedelta(minutes=minutes),
                close_price=Decimal(price),
            )

        started, cpu_started = time.perf_counter(), time.process_time()
        opened = _profiled("open", do_open) if profile and round_ == ROUNDS - 1 else do_open()
        opens.append(time.perf_counter() - started)
        cpu["open"] += time.process_time() - cpu_started
        assert sum(a.lots for a in opened.allocations) == Decimal("100.00")
        started, cpu_started = time.perf_counter(), time.process_time()
        do_close()
        partials.append(time.perf_counter() - started)
        cpu["partial close"] += time.process_time() - cpu_started
        started, cpu_started = time.perf_counter(), time.process_time()
        if profile and round_ == ROUNDS - 1:
            _profiled("full close", lambda: do_close(lots="63.00", minutes=90, price="1.0790"))
        else:
            do_close(lots="63.00", minutes=90, price="1.0790")
        fulls.append(time.perf_counter() - started)
        cpu["full close"] += time.process_time() - cpu_started
    _fingerprint()
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {name}: {seconds / ROUNDS * 1000:.1f} ms per round")
    print(
        f"\nMAM bench, {MEMBERS} members, median of {ROUNDS}: open {statistics.median(opens) * 1000:.1f} ms, "
        f"partial close {statistics.median(partials) * 1000:.1f} ms, "
        f"full close {statistics.median(fulls) * 1000:.1f} ms; fastest: open {min(opens) * 1000:.1f} ms, "
        f"partial close {min(partials) * 1000:.1f} ms, full close {min(fulls) * 1000:.1f} ms; this process's CPU "
        + ", ".join(f"{name} {seconds / ROUNDS * 1000:.1f} ms" for name, seconds in cpu.items())
    )


def _fingerprint() -> None:
    """Every row the bench wrote, by natural keys, to ``MAM_FINGERPRINT`` (a path): compare before and after."""
    path = os.environ.get("MAM_FINGERPRINT")
    if not path:
        return
    from django.db import connection

    queries = [
        "SELECT t.ticket, a.lots, a.lots_open, a.weight, a.target, a.reason, c.login FROM mam_allocation a"
        " JOIN mam_mastertrade t ON t.id = a.master_trade_id JOIN mam_member m ON m.id = a.member_id"
        " JOIN partners_clientaccount c ON c.id = m.account_id ORDER BY 1, 7",
        "SELECT t.ticket, t.lots_open, t.status, t.allocated, t.unallocated, t.unallocated_reason"
        " FROM mam_mastertrade t ORDER BY 1",
        "SELECT t.ticket, mc.seq, mc.lots, mc.close_time, mc.close_price, mc.lots_open_before, c.login, s.lots,"
        " s.ticket, s.profit, s.reason FROM mam_subclose s JOIN mam_masterclose mc ON mc.id = s.master_close_id"
        " JOIN mam_mastertrade t ON t.id = mc.master_trade_id JOIN mam_allocation a ON a.id = s.allocation_id"
        " JOIN mam_member m ON m.id = a.member_id JOIN partners_clientaccount c ON c.id = m.account_id"
        " ORDER BY 1, 2, 7",
    ]
    with connection.cursor() as cursor, open(path, "w") as out:
        for query in queries:
            cursor.execute(query)
            for row in cursor.fetchall():
                out.write(repr(row) + "\n")
        cursor.execute("SELECT * FROM commissions_trade WHERE master_ticket IS NOT NULL ORDER BY server, ticket")
        names = [c.name for c in cursor.description]
        for row in cursor.fetchall():
            out.write(
                repr(
                    {
                        n: v
                        for n, v in zip(names, row, strict=True)
                        if n not in ("id", "ingested_at", "superseded_at", "trade_import_id")
                    }
                )
                + "\n"
            )
