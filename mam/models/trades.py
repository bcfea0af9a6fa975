"""Master trades, their allocations over the sub-accounts, and their closes (DOMAIN.md 5.1, 5.2).

Posted and derived data: rows here are written by ``mam.services.master_trades`` only, under the group's lock,
and never edited except the running ``lots_open`` figures. Lots are exact decimals with 4 places (the trades
table's), prices 10 places.

- ``MasterTrade``: one per master ticket of a group; ``lots_open`` is what the master still holds.
- ``Allocation``: what one open gave one member (lots, possibly 0, with the reason it got less than its exact share
  or nothing), and ``lots_open``, what that sub-position still holds.
- ``MasterClose``: one per (partial or full) close of the master, numbered ``seq`` 1, 2, … in the order received,
  with the platform's ``close_id`` (deal id) when sent.
- ``SubClose``: what that close closed of each linked sub-position, and the ``ticket`` of the closed sub-account
  trade it became (ingested as an ordinary trade, so it earns IB commissions); no ticket when nothing was closed.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from commissions.models import Instrument, Trade

from ..vocabulary import AllocationReason
from .groups import MamGroup
from .members import Member


class MasterTrade(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    Side = Trade.Side

    group = models.ForeignKey(MamGroup, on_delete=models.PROTECT, related_name="master_trades")
    ticket = models.BigIntegerField()
    symbol = models.CharField(max_length=48, help_text="Symbol as the platform sent it")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.SmallIntegerField(choices=Trade.Side.choices)
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    open_time = models.DateTimeField()
    open_price = models.DecimalField(max_digits=24, decimal_places=10)
    lots_open = models.DecimalField(max_digits=16, decimal_places=4)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    allocated = models.DecimalField(max_digits=16, decimal_places=4)
    # Master lots no sub-account took (discard, clamped, nobody eligible); for multiplier and fixed_lot the
    # difference from the master's volume, which may be negative.
    unallocated = models.DecimalField(max_digits=16, decimal_places=4)
    unallocated_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "ticket"]
        indexes = [models.Index(fields=["group", "open_time"])]
        constraints = [
            models.UniqueConstraint(fields=["group", "ticket"], name="mastertrade_group_ticket_unique"),
            models.CheckConstraint(condition=Q(ticket__gte=0), name="mastertrade_ticket_non_negative"),
            models.CheckConstraint(condition=Q(lots__gt=0), name="mastertrade_lots_positive"),
            models.CheckConstraint(condition=Q(open_price__gt=0), name="mastertrade_open_price_positive"),
            models.CheckConstraint(
                condition=Q(lots_open__gte=0) & Q(lots_open__lte=F("lots")), name="mastertrade_lots_open_in_range"
            ),
            models.CheckConstraint(
                condition=(Q(status="closed") & Q(lots_open=0)) | (Q(status="open") & Q(lots_open__gt=0)),
                name="mastertrade_status_matches_lots_open",
            ),
            models.CheckConstraint(condition=Q(allocated__gte=0), name="mastertrade_allocated_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} #{self.ticket}"


class Allocation(models.Model):
    Reason = AllocationReason

    master_trade = models.ForeignKey(MasterTrade, on_delete=models.PROTECT, related_name="allocations")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="allocations")
    weight = models.DecimalField(max_digits=36, decimal_places=12, null=True, blank=True)
    # The exact share before rounding, kept to 8 places (informational: ``lots`` is what was allocated).
    target = models.DecimalField(max_digits=24, decimal_places=8)
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    lots_open = models.DecimalField(max_digits=16, decimal_places=4)
    reason = models.CharField(max_length=32, choices=AllocationReason.choices, blank=True)

    class Meta:
        ordering = ["master_trade_id", "member_id"]
        constraints = [
            models.UniqueConstraint(fields=["master_trade", "member"], name="allocation_trade_member_unique"),
            models.CheckConstraint(condition=Q(lots__gte=0), name="allocation_lots_non_negative"),
            models.CheckConstraint(
                condition=Q(lots_open__gte=0) & Q(lots_open__lte=F("lots")), name="allocation_closed_within_opened"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.master_trade_id} → {self.member_id}: {self.lots}"


class MasterClose(models.Model):
    master_trade = models.ForeignKey(MasterTrade, on_delete=models.PROTECT, related_name="closes")
    seq = models.PositiveIntegerField()
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    close_time = models.DateTimeField()
    close_price = models.DecimalField(max_digits=24, decimal_places=10)
    lots_open_before = models.DecimalField(max_digits=16, decimal_places=4)
    # The platform's deal id of this close, unique per master trade when given: what tells a repeat from a second
    # fill identical in lots, time and price. Empty when the sender gave none.
    close_id = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["master_trade_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["master_trade", "seq"], name="masterclose_trade_seq_unique"),
            models.UniqueConstraint(
                fields=["master_trade", "close_id"], condition=~Q(close_id=""), name="masterclose_trade_id_unique"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="masterclose_seq_positive"),
            models.CheckConstraint(condition=Q(lots__gt=0), name="masterclose_lots_positive"),
            models.CheckConstraint(condition=Q(lots__lte=F("lots_open_before")), name="masterclose_within_open"),
            models.CheckConstraint(condition=Q(close_price__gt=0), name="masterclose_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.master_trade_id} close {self.seq}: {self.lots}"


class SubClose(models.Model):
    master_close = models.ForeignKey(MasterClose, on_delete=models.PROTECT, related_name="sub_closes")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="sub_closes")
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    ticket = models.BigIntegerField(null=True, blank=True, help_text="The closed sub-account trade's ticket")
    # P&L in the account currency, rounded to its minor unit, as the closed trade carries it.
    profit = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    # Why it closed other than its exact proportional share (the closing engine's reason: rounded, clamped, below
    # the minimum so nothing now, the rest below the minimum so all); empty when exact or the master closed fully.
    reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["master_close_id", "allocation_id"]
        constraints = [
            models.UniqueConstraint(fields=["master_close", "allocation"], name="subclose_close_allocation_unique"),
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(ticket__isnull=False), name="subclose_ticket_unique"
            ),
            models.CheckConstraint(condition=Q(lots__gte=0), name="subclose_lots_non_negative"),
            models.CheckConstraint(
                condition=(Q(lots__gt=0) & Q(ticket__isnull=False) & Q(profit__isnull=False))
                | (Q(lots=0) & Q(ticket__isnull=True)),
                name="subclose_ticket_when_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.master_close_id} → {self.allocation_id}: {self.lots}"
