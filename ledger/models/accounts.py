import pgtrigger
from django.db import models
from django.db.models import Q

from partners.models import ClientAccount, Partner

from ..vocabulary import CLIENT_OWNED, PARTNER_OWNED, PURPOSE_NATURE, Nature, Purpose
from .currencies import Currency
from .guards import GuardProtect, GuardReadOnly


def _nature_matches_purpose() -> Q:
    condition = Q()
    for purpose, nature in PURPOSE_NATURE.items():
        condition |= Q(purpose=purpose.value, nature=nature.value)
    return condition


def _owner_matches_purpose() -> Q:
    partner_owned = sorted(p.value for p in PARTNER_OWNED)  # sorted: the migration must not depend on set order
    client_owned = sorted(p.value for p in CLIENT_OWNED)
    return (
        Q(purpose__in=partner_owned, partner__isnull=False, client_account__isnull=True)
        | Q(purpose__in=client_owned, partner__isnull=True, client_account__isnull=False)
        | (~Q(purpose__in=partner_owned + client_owned) & Q(partner__isnull=True, client_account__isnull=True))
    )


ACCOUNTS_TABLE = "ledger_ledgeraccount"


class LedgerAccount(models.Model):
    """An account of the double-entry journal, in one currency: a partner's payable, a client's rebate payable, the
    broker's commission expense, the rounding account, payout clearing, the bank…

    Its ``nature`` follows from its ``purpose`` and its owner from the purpose too (both checked by PostgreSQL), and
    none of the four changes once the account exists (a trigger): every entry posted to it keeps its meaning.
    """

    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    nature = models.CharField(max_length=12, choices=Nature.choices)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_column="currency", related_name="+")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    client_account = models.ForeignKey(ClientAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)

    class Meta:
        db_table = ACCOUNTS_TABLE
        ordering = ["purpose", "currency", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "currency", "partner", "client_account"],
                nulls_distinct=False,
                name="ledgeraccount_one_per_purpose_owner",
            ),
            models.CheckConstraint(condition=_nature_matches_purpose(), name="ledgeraccount_nature_of_purpose"),
            models.CheckConstraint(condition=_owner_matches_purpose(), name="ledgeraccount_owner_of_purpose"),
        ]
        indexes = [models.Index(fields=["partner", "purpose"], name="ledgeraccount_partner")]
        triggers = [
            GuardReadOnly(
                name="ledgeraccount_identity_fixed",
                fields=["purpose", "nature", "currency", "partner", "client_account"],
            ),
            GuardProtect(name="ledgeraccount_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return self.name
