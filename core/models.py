"""Abstract model pieces shared by the apps (core itself has no domain models)."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.functions import Now
from pghistory.models import Events

from core.money import MoneyError, parse_decimal


def exact_decimal_for(model: type[models.Model], name: str, raw: Any) -> Decimal:
    """Parse ``raw`` exactly and check it fits ``model.name``'s NUMERIC column without rounding (raises
    ``MoneyError`` naming the limit): a value with more places or digits than the column holds is refused, never
    rounded."""
    value = parse_decimal(raw)
    field = model._meta.get_field(name)
    _, digits, exponent = value.normalize().as_tuple()
    if -exponent > field.decimal_places:
        raise MoneyError(f"at most {field.decimal_places} decimal places, got {raw}")
    if len(digits) + exponent > field.max_digits - field.decimal_places:
        raise MoneyError(f"too large: {raw}")
    return value


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TstzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()


def in_force(at, prefix: str = "") -> Q:
    """Rows of an effective-dated table in force at ``at``: ``valid_from <= at < valid_to`` (NULL = open)."""
    return Q(**{f"{prefix}valid_from__lte": at}) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gt": at})
    )


def effective_dated_constraints(owner: str, name: str) -> list:
    """Constraints for an effective-dated row keyed by ``owner``: ``[valid_from, valid_to)`` ranges never overlap
    (PostgreSQL exclusion constraint) and never run backwards. ``valid_to`` NULL means open-ended."""
    return [
        ExclusionConstraint(
            name=f"{name}_no_overlap",
            expressions=[
                (TstzRange(F("valid_from"), F("valid_to"), models.Value("[)")), RangeOperators.OVERLAPS),
                (owner, RangeOperators.EQUAL),
            ],
        ),
        models.CheckConstraint(
            condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
            name=f"{name}_forward",
        ),
    ]


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key``: the same key and body replays it; the same key
    with a different body is a 409. Keys are scoped to the user and the path; records past the retention are purged
    (``core.services.idempotency_records_purge``)."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    # The JSON text the first response was rendered to: replayed byte for byte (``jsonb`` would reorder its keys).
    response = models.TextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "path", "key"], name="idempotency_unique_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_at")]  # the periodic purge

    def __str__(self) -> str:
        return f"{self.key} {self.path}"


class DatedChange(models.Model):
    """A change of a dated thing (a parent, plan, IB, rebate, rate) that reaches back to ``since``, recorded when it
    is written (``core.history``): what a run computed before it missed, so approval can say so. Also the trail of
    every back-dating and first assignment."""

    since = models.DateTimeField()
    # Where the change stops reaching (NULL: open-ended): a rate of one day, a back-dated value that holds only
    # until a change already recorded.
    until = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=300)
    # Whose trades it can alter (``core.history.Reach``): trades where one of these partners takes part (ids of
    # partners), trades of these client accounts; both empty: anyone's (a rate).
    partner_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    account_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    recorded_at = models.DateTimeField(db_default=Func(function="clock_timestamp"))
    # The writing transaction's id: whether a run saw the change is whether it was committed in the run's snapshot
    # (``pg_visible_in_snapshot``), not when it was inserted — a change inserted before a run started but committed
    # after is missed by the run all the same. NULL for changes recorded before the column existed.
    xid = models.BigIntegerField(
        null=True,
        db_default=Func(template="(pg_current_xact_id()::text)::bigint", output_field=models.BigIntegerField()),
    )

    class Meta:
        indexes = [models.Index(fields=["recorded_at"])]

    def __str__(self) -> str:
        return f"{self.subject} from {self.since:%Y-%m-%d %H:%M}"


def tracked(*trackers: pghistory.Tracker, exclude: Iterable[str] = ()):
    """Track a model in the audit trail (``pghistory.track`` with Ibex's conventions; README "Audit trail"): by
    default every insert, update and delete, by PostgreSQL trigger (ORM, bulk ``.update()`` and raw SQL alike), into
    an event table of the model's own app (``<Model>Event``) holding the row's tracked fields and the change's
    context (``core/audit.py``).

    ``updated_at`` is never tracked (an update that changes nothing else is no event); ``exclude`` leaves out other
    noisy fields (an update that changes only those is no event). Event models carry no permissions of their own:
    reading the trail is ``core.view_auditevent``."""
    return pghistory.track(
        *(trackers or (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())),
        exclude=["updated_at", *exclude],
        meta={"default_permissions": ()},
    )


def _context_text(key: str) -> models.TextField:
    return pghistory.ProxyField(f"pgh_context__{key}", models.TextField(null=True))


class AuditEvent(Events):
    """The audit log: every tracked model's events in one queryset (pghistory's ``Events``, a UNION over the event
    tables with each event's diff against the object's previous event), with the context's keys as columns.

    Not a table: a proxy whose only use is the log's admin and its permission, ``core.view_auditevent`` — the
    broker admin's and finance's, not support's (diffs show payout details in full)."""

    user = pghistory.ProxyField(
        "pgh_context__user",
        models.ForeignKey(
            settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, db_constraint=False, related_name="+"
        ),
    )
    username = _context_text("username")
    via = _context_text("via")
    method = _context_text("method")
    path = _context_text("path")
    command = _context_text("command")
    task = _context_text("task")

    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = "audit event"
        verbose_name_plural = "audit log"


class DataExport(models.Model):
    """A file finance took out of Ibex for a bank or the trading platform (a payout batch, client rebates, MAM fees):
    kept so the audit log shows every download — a re-download of a batch or a repeated balance-operation export
    changes no other row, so no other event would. Its insert event carries who and how (``core/audit.py``)."""

    kind = models.CharField(max_length=32, help_text="payout_batch, client_rebates or mam_fees")
    period = models.CharField(max_length=7)
    scope = models.CharField(max_length=64, blank=True, help_text="The batch id, or the MAM group's code")
    rows = models.PositiveIntegerField()
    totals = models.JSONField(default=dict, help_text="Per currency, the sum of the file's amounts (strings)")
    exported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    exported_at = models.DateTimeField(db_default=Now())

    class Meta:
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.kind} {self.period} {self.scope}".strip()


tracked(pghistory.InsertEvent())(DataExport)
