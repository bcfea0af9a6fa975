import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from ledger.models.guards import GuardTrigger

from ..vocabulary import TradeStatus
from .instruments import Instrument


class TradeImport(models.Model):
    """One ingest of trades (a file, an upload or an API call) and its report."""

    class Format(models.TextChoices):
        GENERIC = "generic", "Generic CSV"
        MT4 = "mt4", "MT4 trades table"
        MT5 = "mt5", "MT5 deals"
        API = "api", "REST API"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    format = models.CharField(max_length=8, choices=Format.choices)
    source_name = models.CharField(max_length=255, blank=True, help_text="File name or API client")
    server = models.CharField(max_length=64, blank=True, help_text="Server name given for MT4/MT5 files")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    rows_read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    unresolved = models.PositiveIntegerField(default=0, help_text="Stored trades whose symbol is not yet known")
    skipped_reasons = models.JSONField(default=dict, blank=True, help_text="reason → count")
    rejections = models.JSONField(default=list, blank=True, help_text="[{line, errors}] (first 1000)")
    unresolved_symbols = models.JSONField(default=dict, blank=True, help_text="symbol → count")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.format} import #{self.pk} {self.source_name}"


class Trade(models.Model):
    """One version of a closed trade (or closed part of one), identified by ``(server, ticket)``.

    Re-ingesting identical data is a no-op; a change makes a new version (the old row gets ``is_current`` false
    and ``superseded_at``); a cancellation is a new version with status ``cancelled``. Rows are never edited in
    place otherwise, so every computed line can name the exact version it came from. An unknown symbol leaves
    ``instrument`` NULL: the trade is kept, reported, and resolved when the alias is added.
    """

    class Side(models.IntegerChoices):
        BUY = 1, "buy"
        SELL = -1, "sell"

    Status = TradeStatus

    server = models.CharField(max_length=64)
    ticket = models.BigIntegerField()
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    login = models.BigIntegerField()
    symbol = models.CharField(max_length=48, help_text="Symbol as the platform sent it")
    # No database FK constraints on the two references below: the ingest inserts up to millions of rows per
    # transaction and a per-row RI trigger check costs more than the COPY itself. The ingest takes instrument ids from
    # a join with the instrument table in the same transaction, and Django's on_delete still guards ORM deletes.
    # No index on instrument either: nothing looks trades up by instrument id (the unresolved ones have their own).
    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.PROTECT, db_constraint=False, db_index=False
    )
    side = models.SmallIntegerField(choices=Side.choices)
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    open_time = models.DateTimeField()
    open_price = models.DecimalField(max_digits=24, decimal_places=10)
    close_time = models.DateTimeField()
    close_price = models.DecimalField(max_digits=24, decimal_places=10)
    profit = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    swap = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    commission = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    spread_pips = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    master_ticket = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=TradeStatus.choices, default=TradeStatus.CLOSED.value)
    content_hash = models.CharField(max_length=32, help_text="md5 of the normalised trade fields")
    # Indexed (import ids only grow, so the index is appended to): "what did this import write" stays cheap.
    trade_import = models.ForeignKey(TradeImport, null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False)
    ingested_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["server", "ticket", "version"]
        indexes = [
            models.Index(fields=["close_time"], name="trade_close_time", condition=Q(is_current=True)),
            # Old versions by close time: what a run's snapshot reads of a ticket corrected since it started.
            models.Index(fields=["close_time"], name="trade_close_time_old", condition=Q(is_current=False)),
            models.Index(fields=["server", "login", "close_time"], name="trade_account_close"),
            models.Index(fields=["symbol"], name="trade_unresolved", condition=Q(instrument__isnull=True)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["server", "ticket", "version"], name="trade_version_unique"),
            models.UniqueConstraint(
                fields=["server", "ticket"], condition=Q(is_current=True), name="trade_one_current"
            ),
            models.CheckConstraint(condition=Q(lots__gt=0), name="trade_lots_positive"),
            models.CheckConstraint(condition=Q(close_time__gte=models.F("open_time")), name="trade_closes_after_open"),
        ]
        # A version's identity and close time never change: posting claims (``claims``) name versions by id and
        # close time. Fires only for an UPDATE that sets one of these columns (ingest sets none of them).
        triggers = [
            GuardTrigger(
                name="trade_version_fixed",
                when=pgtrigger.Before,
                operation=pgtrigger.UpdateOf("id", "server", "ticket", "version", "close_time"),
                func="""
                IF (NEW.id, NEW.server, NEW.ticket, NEW.version, NEW.close_time) IS DISTINCT FROM
                   (OLD.id, OLD.server, OLD.ticket, OLD.version, OLD.close_time) THEN
                    RAISE EXCEPTION 'trade version % is fixed: a change is a new version', OLD.id
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.server}#{self.ticket} v{self.version}"


class Mt5Deal(models.Model):
    """Every MT5 buy/sell deal ever imported for a server, as the latest file stated it.

    MT5 exports list deals, not trades. The trades of a position are rebuilt from all its known deals whenever a file
    touches it, so an exit in a later file pairs with entries from an earlier one, a re-imported file cannot consume
    an entry twice, and a corrected deal flows into the trades it affects. ``lots`` is ``Volume / 10 000``.
    """

    class Entry(models.IntegerChoices):
        IN = 0, "in"
        OUT = 1, "out"
        IN_OUT = 2, "in/out (reversal)"
        OUT_BY = 3, "out by"

    server = models.CharField(max_length=64)
    deal = models.BigIntegerField()
    position_id = models.BigIntegerField()
    login = models.BigIntegerField()
    symbol = models.CharField(max_length=48)
    side = models.SmallIntegerField(choices=Trade.Side.choices)
    entry = models.SmallIntegerField(choices=Entry.choices)
    time = models.DateTimeField()
    price = models.DecimalField(max_digits=24, decimal_places=10)
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    profit = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    swap = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    commission = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    trade_import = models.ForeignKey(
        TradeImport, null=True, blank=True, on_delete=models.SET_NULL, db_constraint=False, db_index=False
    )

    class Meta:
        ordering = ["server", "position_id", "time", "deal"]
        indexes = [models.Index(fields=["server", "position_id", "time", "deal"], name="mt5_deal_position")]
        constraints = [
            models.UniqueConstraint(fields=["server", "deal"], name="mt5_deal_unique"),
            models.CheckConstraint(condition=Q(lots__gt=0), name="mt5_deal_lots_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.server} deal {self.deal} (position {self.position_id})"


class Mt5OpenDeal(models.Model):
    """An MT5 entry deal (``Entry`` 0 in, or the opening part of 2 in/out) still open after an import.

    MT5 exports list deals, not trades; an exit in a later file pairs with the entries kept here, so trades that
    span two exports are not lost. ``remaining_lots`` shrinks as exits consume it (FIFO by time, then deal).
    """

    server = models.CharField(max_length=64)
    position_id = models.BigIntegerField()
    deal = models.BigIntegerField()
    login = models.BigIntegerField()
    symbol = models.CharField(max_length=48)
    side = models.SmallIntegerField(choices=Trade.Side.choices)
    time = models.DateTimeField()
    price = models.DecimalField(max_digits=24, decimal_places=10)
    lots = models.DecimalField(max_digits=16, decimal_places=4)
    remaining_lots = models.DecimalField(max_digits=16, decimal_places=4)

    class Meta:
        ordering = ["server", "position_id", "time", "deal"]
        indexes = [models.Index(fields=["server", "position_id"])]
        constraints = [models.UniqueConstraint(fields=["server", "deal"], name="mt5_open_deal_unique")]

    def __str__(self) -> str:
        return f"{self.server} position {self.position_id} deal {self.deal}"


class LateTradeVersion(models.Model):
    """A trade version that closes in a period whose approved run never read it: ingested (or restated) while the
    period was locked, or between the run's snapshot and its approval. The adjustments of the next open period
    start from these rows (``services.adjustments``), so their work grows with the late data, not with the locked
    periods' size; a row is dropped once the run that adjusted it is approved."""

    trade = models.OneToOneField(
        Trade, primary_key=True, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    queued_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"late {self.trade_id}"
