"""Abstract model pieces shared by the apps (core itself has no domain models)."""

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import F, Func, Q


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TstzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()


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
    with a different body is a 409. Keys are scoped to the user and the path."""

    key = models.CharField(max_length=200)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "path", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} {self.path}"
