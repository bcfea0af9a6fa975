"""Master trades: open → allocations over the sub-accounts; close → sub-account closes → ordinary closed trades.

Units: lots are exact ``Decimal`` (4 places, the trades table's), prices 10 places, P&L in the sub-account's
currency. Rounding point: a sub-account trade's P&L is rounded once, half-up to the account currency's minor unit
(``core.money.round_minor``), as the platform books it; allocation targets are stored to 8 places (informational:
the allocated lots, multiples of the volume step, are exact).

Open (``master_trade_open``), DOMAIN.md 5.0–5.1: the members' state is read as of the open day (server time zone):
membership on that day, the latest equity snapshot on or before it, the highest equity since joining (drawdown
stop); figures of accounts in another currency than the group's are converted to it with that day's rates (6
places), so weights compare like with like; the allocation engine (``mam.engine.allocation``) shares the volume and
says why each account got less or nothing; every member's row is stored with its lots (0 included) and reason.
Re-sending the same open (same symbol, side, lots, time and price) changes nothing and answers as the first time;
another open with the same ticket is a 409. The master's lots must be a multiple of the instrument's volume step.

Close (``master_trade_close``), DOMAIN.md 5.2: closing all the master still holds closes every linked sub-position
fully; a partial close goes through the closing engine (``mam.engine.closing``). Members that were deactivated or
left since the open still follow closes (they hold the position). Closing more than the master holds, lots that
are not a multiple of the instrument's volume step, or a close dated before the open or before the previous close
(same instant allowed: partial fills of one second) is a 400 with field errors.

Repeats (decided; money moves on every close, so a re-send must never close again): a close may carry
``close_id``, the platform's deal id, unique per master trade. With it, a repeat is a close with the same id: the
same content answers as the first time, other content is a 409; a new id is a new close — unless an earlier close
sent without an id has the same lots, time and price, which is a 409 (it cannot be told from a repeat). Without
it, a close equal to any earlier close of the ticket (lots, time and price — not only the last) is a repeat
answering that close's result and changing nothing. So two real partial fills identical in lots, time and price
must carry their ``close_id``: without it the second is taken for a repeat of the first. Each
sub-account close with lots becomes one closed trade through the ordinary ingest
(``commissions.services.trade_ingest.trades_ingest_records``): it carries ``master_ticket``, the master's open time
and price and this close's time and price, and P&L = side × (close − open) × lots × contract size in the quote
currency, converted to the account currency with the ``ledger`` daily rates of the close day (server time zone; USD
is 1). A missing rate is a 409 listing every missing (currency, day), and nothing is written. So MAM volume earns IB
commissions through the ordinary commission run.

Sub-account tickets (``sub_trade_ticket``): deterministic from the group, master ticket, login and close sequence —
``900000000000000000 + blake2b-64("ibex-mam|group|master ticket|login|seq|probe") mod 10^17`` — an 18-digit number
starting with 9 (the ingest's ticket limit is 18 digits). Trading platforms number their own tickets from 1 upwards
(MT4 in 32 bits; MT5 sequentially), far below 9·10^17, so these never meet a platform ticket; should a hash ever
meet a ticket already taken on that server (a platform trade or another sub-close), the next ``probe`` is taken, so
no trade is ever overwritten. A re-sent close answers the tickets it stored.

Locks, always in this order: the group row, then the master trade row (then the ingest's own locks), so concurrent
opens or closes of one ticket act once and every other request waits and answers as the first did.

Speed (a group of 1,000 members; ``tests/mam/bench_master_trades.py``, median of 9 rounds of an open of 100 lots, a
partial close of 37 and the close of the rest, on a shared 2-core machine under a load of 3–4, so wall times are
noisy): the per-row ORM is gone — allocations and sub-closes are inserted and the allocations' open lots updated by
one statement each over arrays (``allocation_rows``), ticket collisions are one query (``selectors.tickets_taken``),
allocations and sub-closes are read in one raw query straight into model instances (``selectors.allocations_of`` /
``sub_closes_of``; a close answers the sub-closes it just stored with the allocations it holds locked). Before →
after, wall (fastest run in brackets) and this process's CPU per call: open 166 ms (78) → 50 ms (47), CPU 134 →
51 ms; partial close 420 ms (326) → 114 ms (107), CPU 291 → 94 ms; full close 694 ms (435) → 118 ms (96), CPU 346 →
87 ms; then instances built by Django's ``Model.from_db`` instead of by hand (simpler, standard): open 63 ms (57),
partial close 145 ms (124), full close 156 ms (124), measured beside a CI run (load 2.4). What is left in a close
is mostly the ordinary trade ingest of the 1,000 sub-account trades (about 40 % of
it: CSV text, COPY, staging and versioning in ``commissions.services.trade_ingest``), then the database's own work
of the locked read, 1,000 inserted sub-closes (with their key checks) and 1,000 updated allocations. Every row and
returned instance is as before (the bench's row fingerprint, and ``tests/mam/test_instance_reads.py`` against the
ORM's instances).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from commissions.models import Instrument, Trade
from commissions.services.symbols import symbols_resolve
from commissions.services.trade_ingest import trades_ingest_records
from core.exceptions import ApplicationError, Conflict, NotFound
from core.models import exact_decimal_for
from core.money import MoneyError, quantize, round_line, round_minor
from core.periods import FIRST_YEAR, LAST_YEAR
from mam.engine.allocation import GroupPolicy, VolumeSpec, allocate
from mam.engine.closing import close_partial

from ..adapters import members_frame, positions_frame
from ..models import Allocation, MamGroup, MasterClose, MasterTrade, SubClose
from ..selectors import (
    MemberState,
    allocations_of,
    members_on,
    model_instances,
    sub_closes_of,
    tickets_taken,
    usd_rates,
)
from ..vocabulary import AllocationMethod, BelowMinPolicy, ResidualPolicy
from .allocation_rows import allocations_insert, allocations_lots_open_update, sub_closes_insert

TICKET_BASE = 9 * 10**17
TICKET_SPAN = 10**17
SIDES = {"buy": Trade.Side.BUY, "sell": Trade.Side.SELL}
_TARGET_PLACES = 8
_WEIGHT_PLACES = 12


@dataclass(frozen=True)
class OpenResult:
    master_trade: MasterTrade
    allocations: list[Allocation]
    created: bool


@dataclass(frozen=True)
class CloseResult:
    master_trade: MasterTrade
    master_close: MasterClose
    sub_closes: list[SubClose]
    created: bool


def server_day(instant: datetime) -> date:
    """The day of ``instant`` in the trading server's time zone (how snapshots and rates are dated)."""
    return instant.astimezone(ZoneInfo(settings.IBEX_SERVER_TIME_ZONE)).date()


def _decimal(errors: dict, model, name: str, raw, *, positive: bool = True) -> Decimal | None:
    try:
        value = exact_decimal_for(model, name, raw)
    except MoneyError as exc:
        errors[name] = [str(exc)]
        return None
    if positive and value <= 0:
        errors[name] = ["Must be greater than zero."]
        return None
    return value


def _moment(errors: dict, name: str, value) -> datetime | None:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors[name] = ["A time-zone-aware datetime is required."]
        return None
    try:
        year = value.astimezone(ZoneInfo("UTC")).year
    except OverflowError:  # an offset that carries the instant past year 1 or 9999
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        errors[name] = [f"Must be between the years {FIRST_YEAR} and {LAST_YEAR}."]
        return None
    return value


def _instrument(symbol: str) -> Instrument:
    instrument_id = symbols_resolve(symbols=[symbol]).get(symbol)
    if instrument_id is None:
        raise ValidationError({"symbol": [f"Unknown instrument {symbol!r} (add it, or an alias, first)."]})
    return Instrument.objects.get(pk=instrument_id)


def _spec(instrument: Instrument) -> VolumeSpec:
    return VolumeSpec(step=instrument.volume_step, minimum=instrument.volume_min, maximum=instrument.volume_max)


def _policy(group: MamGroup) -> GroupPolicy:
    overflow = (group.master_server, group.overflow_login) if group.overflow_login is not None else None
    return GroupPolicy(
        method=AllocationMethod(group.method),
        residual=ResidualPolicy(group.residual_policy),
        below_min=BelowMinPolicy(group.below_min),
        overflow_key=overflow,
    )


def _locked_group(group: MamGroup) -> MamGroup:
    return MamGroup.objects.select_for_update().get(pk=group.pk)


def master_trade_open(
    *,
    group: MamGroup,
    ticket: int,
    symbol: str,
    side: str,
    lots: Decimal,
    open_time: datetime,
    open_price: Decimal,
) -> OpenResult:
    """Allocate the master trade ``ticket`` of ``group`` over its members (see the module docstring)."""
    errors: dict[str, list[str]] = {}
    if side not in SIDES:
        errors["side"] = ["buy or sell."]
    if not isinstance(ticket, int) or isinstance(ticket, bool) or not 0 <= ticket < 10**18:
        errors["ticket"] = ["A ticket is a whole number of at most 18 digits."]
    lots = _decimal(errors, MasterTrade, "lots", lots)
    open_price = _decimal(errors, MasterTrade, "open_price", open_price)
    open_time = _moment(errors, "open_time", open_time)
    if errors:
        raise ValidationError(errors)
    instrument = _instrument(symbol)
    spec = _spec(instrument)
    if lots % spec.step != 0:
        raise ValidationError({"lots": [f"Must be a multiple of {symbol}'s volume step {spec.step.normalize()}."]})
    with transaction.atomic():
        group = _locked_group(group)
        existing = MasterTrade.objects.select_for_update().filter(group=group, ticket=ticket).first()
        if existing is not None:
            same = (
                existing.instrument_id == instrument.pk
                and existing.side == SIDES[side]
                and existing.lots == lots
                and existing.open_time == open_time
                and existing.open_price == open_price
            )
            if not same:
                raise Conflict(
                    f"Master ticket {ticket} of group {group.code} was opened with other values.",
                    extra={"group": group.code, "ticket": ticket},
                )
            return OpenResult(existing, allocations_of(master_trade=existing), created=False)
        day = server_day(open_time)
        states = _in_currency(members_on(group=group, day=day), currency=group.currency, day=day)
        try:
            result = allocate(lots, members_frame(states), policy=_policy(group), spec=spec)
        except ValueError as exc:  # the group's set-up refuses it (an overflow account that is no eligible member)
            raise Conflict(f"Cannot allocate ticket {ticket} in group {group.code}: {exc}") from exc
        master = MasterTrade.objects.create(
            group=group,
            ticket=ticket,
            symbol=symbol,
            instrument=instrument,
            side=SIDES[side],
            lots=lots,
            open_time=open_time,
            open_price=open_price,
            lots_open=lots,
            status=MasterTrade.Status.OPEN,
            allocated=result.allocated,
            unallocated=result.unallocated,
            unallocated_reason=str(result.unallocated_reason or "")[:64],
        )
        by_key = {(s.server, s.login): s.member_id for s in states}
        rows = []
        for share in result.shares.itertuples(index=False):
            weight = share.weight
            rows.append(
                (
                    by_key[(share.server, int(share.login))],
                    None if weight is None or weight != weight else quantize(Decimal(weight), _WEIGHT_PLACES),
                    quantize(Decimal(share.target), _TARGET_PLACES),
                    Decimal(share.lots),
                    str(share.reason or ""),
                )
            )
        allocations_insert(master_trade_id=master.pk, rows=rows)
        return OpenResult(master, allocations_of(master_trade=master), created=True)


def _in_currency(states: list[MemberState], *, currency: str, day: date) -> list[MemberState]:
    """Members' money figures in the group currency, so that balance, equity and free-margin weights compare
    like with like: each account's figures (its equity stop and peak equity too, so its stops are unchanged) times
    ``rate(account currency, day) / rate(group currency, day)``, rounded to 6 places (``round_line``). A missing
    rate is a 409 listing every missing (currency, day)."""
    foreign = {s.currency for s in states if s.currency != currency}
    if not foreign:
        return states
    needed = {(code, day) for code in foreign | {currency}}
    rates = usd_rates(keys=needed)
    missing = sorted(key for key in needed if key not in rates)
    if missing:
        raise Conflict(
            "Missing conversion rates to weigh the members in the group currency: add them, then open again.",
            extra={"missing_rates": [{"currency": c, "day": d.isoformat()} for c, d in missing]},
        )
    converted = []
    for state in states:
        if state.currency == currency:
            converted.append(state)
            continue
        with localcontext(prec=60):
            factor = rates[(state.currency, day)] / rates[(currency, day)]

        def times(value: Decimal | None, factor: Decimal = factor) -> Decimal | None:
            if value is None:
                return None
            with localcontext(prec=60):
                return round_line(value * factor)

        converted.append(
            replace(
                state,
                balance=times(state.balance),
                equity=times(state.equity),
                free_margin=times(state.free_margin),
                peak_equity=times(state.peak_equity),
                equity_stop=times(state.equity_stop),
            )
        )
    return converted


def sub_trade_ticket(*, group_code: str, master_ticket: int, login: int, seq: int, probe: int = 0) -> int:
    """The deterministic ticket of a sub-account close (see the module docstring)."""
    text = f"ibex-mam|{group_code}|{master_ticket}|{login}|{seq}|{probe}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return TICKET_BASE + int.from_bytes(digest, "big") % TICKET_SPAN


def _free_tickets(*, group: MamGroup, master_ticket: int, seq: int, logins: list[int]) -> dict[int, int]:
    """A ticket per login, probing past any ticket already taken on the server (a platform trade or a sub-close)."""
    chosen: dict[int, int] = {}
    probe = 0
    pending = list(logins)
    while pending:
        candidates = {
            login: sub_trade_ticket(
                group_code=group.code, master_ticket=master_ticket, login=login, seq=seq, probe=probe
            )
            for login in pending
        }
        taken = tickets_taken(server=group.master_server, tickets=set(candidates.values()))
        seen: set[int] = set(chosen.values())
        retry = []
        for login, ticket in candidates.items():
            if ticket in taken or ticket in seen:
                retry.append(login)
            else:
                chosen[login] = ticket
                seen.add(ticket)
        pending = retry
        probe += 1
    return chosen


_PROFIT_FIELD = Trade._meta.get_field("profit")
_PROFIT_LIMIT = Decimal(10) ** (_PROFIT_FIELD.max_digits - _PROFIT_FIELD.decimal_places)


def _profit(
    *, side: int, open_price: Decimal, close_price: Decimal, lots: Decimal, contract: Decimal, rate: Decimal
) -> Decimal:
    with localcontext(prec=60):
        return side * (close_price - open_price) * lots * contract * rate


def _repeat_of(master: MasterTrade, closes: list[MasterClose], *, close_id: str, content: tuple) -> MasterClose | None:
    """The earlier close this one repeats, or None when it is a new close (see the module docstring: repeats)."""

    def same(close: MasterClose) -> bool:
        return (close.lots, close.close_time, close.close_price) == content

    if close_id:
        for close in closes:
            if close.close_id == close_id:
                if not same(close):
                    raise Conflict(
                        f"Close {close_id!r} of master ticket {master.ticket} was recorded with other lots, time or "
                        "price: a close is never edited.",
                        extra={"ticket": master.ticket, "close_id": close_id, "seq": close.seq},
                    )
                return close
        for close in closes:
            if not close.close_id and same(close):
                raise Conflict(
                    f"Close seq {close.seq} of master ticket {master.ticket}, sent without a close_id, has the same "
                    "lots, time and price: it cannot be told whether this is a repeat of it or another fill.",
                    extra={"ticket": master.ticket, "close_id": close_id, "seq": close.seq},
                )
        return None
    return next((close for close in closes if same(close)), None)


def master_trade_close(
    *,
    group: MamGroup,
    ticket: int,
    lots: Decimal,
    close_time: datetime,
    close_price: Decimal,
    close_id: str = "",
) -> CloseResult:
    """Close ``lots`` of the master trade ``ticket`` of ``group``; ``close_id`` is the platform's deal id (see the
    module docstring)."""
    errors: dict[str, list[str]] = {}
    lots = _decimal(errors, MasterClose, "lots", lots)
    close_price = _decimal(errors, MasterClose, "close_price", close_price)
    close_time = _moment(errors, "close_time", close_time)
    if not isinstance(close_id, str) or len(close_id) > 100:
        errors["close_id"] = ["A close id of at most 100 characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        group = _locked_group(group)
        master = (
            MasterTrade.objects.select_for_update()
            .select_related("instrument")
            .filter(group=group, ticket=ticket)
            .first()
        )
        if master is None:
            raise NotFound(f"Group {group.code} has no master ticket {ticket}.")
        closes = list(MasterClose.objects.filter(master_trade=master).order_by("seq"))
        repeat = _repeat_of(master, closes, close_id=close_id, content=(lots, close_time, close_price))
        if repeat is not None:
            return CloseResult(master, repeat, sub_closes_of(master_close=repeat), created=False)
        last = closes[-1] if closes else None
        step = master.instrument.volume_step
        if lots % step != 0:
            raise ValidationError(
                {"lots": [f"Must be a multiple of {master.instrument.symbol}'s volume step {step.normalize()}."]}
            )
        if lots > master.lots_open:
            raise ValidationError(
                {
                    "lots": [
                        f"Ticket {ticket} holds {master.lots_open.normalize()} lots: cannot close {lots.normalize()}."
                    ]
                }
            )
        if close_time < master.open_time:
            raise ValidationError({"close_time": ["A trade closes after it opened."]})
        if last is not None and close_time < last.close_time:
            raise ValidationError(
                {
                    "close_time": [
                        f"Ticket {ticket}'s previous close (seq {last.seq}) is at {last.close_time.isoformat()}: "
                        "closes come in time order."
                    ]
                }
            )
        allocations = allocations_of(master_trade=master, open_only=True, lock=True)
        closed = _closed_lots(master, allocations, lots=lots)
        day = server_day(close_time)
        instrument = master.instrument
        closing = [a for a in allocations if closed[a.pk][0] > 0]
        needed: set[tuple[str, date]] = set()
        for allocation in closing:
            if allocation.member.account.currency != instrument.quote:
                needed |= {(instrument.quote, day), (allocation.member.account.currency, day)}
        rates = usd_rates(keys=needed)
        missing = sorted(key for key in needed if key not in rates)
        if missing:
            raise Conflict(
                "Missing conversion rates for the sub-account trades' P&L: add them, then close again.",
                extra={"missing_rates": [{"currency": c, "day": d.isoformat()} for c, d in missing]},
            )
        seq = (last.seq if last else 0) + 1
        master_close = MasterClose.objects.create(
            master_trade=master,
            seq=seq,
            lots=lots,
            close_time=close_time,
            close_price=close_price,
            lots_open_before=master.lots_open,
            close_id=close_id,
        )
        tickets = _free_tickets(
            group=group, master_ticket=master.ticket, seq=seq, logins=[a.member.account.login for a in closing]
        )
        side_name = {v: k for k, v in SIDES.items()}[master.side]
        records, sub_closes, lots_open = [], [], []
        by_pk = {a.pk: a for a in allocations}
        for allocation in allocations:
            account = allocation.member.account
            closed_lots, reason = closed[allocation.pk]
            if closed_lots > 0:
                rate = Decimal(1)
                if account.currency != instrument.quote:
                    with localcontext(prec=60):
                        rate = rates[(instrument.quote, day)] / rates[(account.currency, day)]
                profit = round_minor(
                    _profit(
                        side=master.side,
                        open_price=master.open_price,
                        close_price=close_price,
                        lots=closed_lots,
                        contract=instrument.contract_size,
                        rate=rate,
                    ),
                    account.currency,
                )
                if abs(profit) >= _PROFIT_LIMIT:
                    raise ValidationError(
                        {
                            "close_price": [
                                f"At this price the P&L of {account.server}:{account.login} ({profit} "
                                f"{account.currency}) is beyond what a trade's profit can hold."
                            ]
                        }
                    )
                ticket_of = tickets[account.login]
                records.append(
                    {
                        "server": account.server,
                        "ticket": ticket_of,
                        "login": account.login,
                        "symbol": instrument.symbol,
                        "side": side_name,
                        "lots": format(closed_lots, "f"),
                        "open_time": master.open_time.isoformat(),
                        "open_price": format(master.open_price, "f"),
                        "close_time": close_time.isoformat(),
                        "close_price": format(close_price, "f"),
                        "profit": format(profit, "f"),
                        "swap": "0",
                        "commission": "0",
                        "master_ticket": master.ticket,
                        "status": "closed",
                    }
                )
                sub_closes.append((allocation.pk, closed_lots, ticket_of, profit, reason))
                allocation.lots_open -= closed_lots
                lots_open.append((allocation.pk, allocation.lots_open))
            else:
                sub_closes.append((allocation.pk, Decimal(0), None, None, reason))
        stored = sub_closes_insert(master_close_id=master_close.pk, rows=sub_closes)
        # Only the rows that closed lots change; the others keep theirs (bulk_update rewrote them unchanged).
        for pk, lots_left in allocations_lots_open_update(rows=lots_open).items():
            by_pk[pk].lots_open = lots_left  # as stored, to the column's scale, as a fresh read gives it
        master.lots_open -= lots
        master.status = MasterTrade.Status.CLOSED if master.lots_open == 0 else MasterTrade.Status.OPEN
        master.save(update_fields=["lots_open", "status"])
        if records:
            ingest = trades_ingest_records(records=records, source_name=f"mam:{group.code}:{master.ticket}:{seq}")
            if ingest.status != ingest.Status.DONE or ingest.rejected:
                raise ApplicationError(
                    f"The sub-account trades of ticket {ticket} were refused by the trade ingest: "
                    f"{ingest.error or ingest.rejections}"
                )
        return CloseResult(master, master_close, _stored_sub_closes(stored, by_pk), created=True)


def _stored_sub_closes(stored: list[tuple], allocations: dict[int, Allocation]) -> list[SubClose]:
    """The sub-closes just stored, each with its (locked, just updated) allocation, member and account, in the
    allocations' (server, login) order: what ``selectors.sub_closes_of`` reads back, without reading it back."""
    order = {pk: position for position, pk in enumerate(allocations)}
    out = model_instances(stored, ((SubClose, None),))
    cache = SubClose._meta.get_field("allocation").set_cached_value
    for sub_close in out:
        cache(sub_close, allocations[sub_close.allocation_id])
    return sorted(out, key=lambda sub_close: order[sub_close.allocation_id])


def _closed_lots(
    master: MasterTrade, allocations: list[Allocation], *, lots: Decimal
) -> dict[int, tuple[Decimal, str]]:
    """Lots each open sub-position closes now, with the reason when it closes nothing."""
    if lots == master.lots_open:  # the master is flat: every linked sub-position closes fully
        return {a.pk: (a.lots_open, "") for a in allocations}
    if not allocations:
        return {}
    frame = close_partial(
        positions_frame(allocations), master_open=master.lots_open, close_lots=lots, spec=_spec(master.instrument)
    )
    out: dict[int, tuple[Decimal, str]] = {}
    by_key = {(a.member.account.server, a.member.account.login): a for a in allocations}
    for row in frame.itertuples(index=False):
        allocation = by_key[(row.server, int(row.login))]
        out[allocation.pk] = (Decimal(row.lots_closed), str(row.reason or ""))
    return out
