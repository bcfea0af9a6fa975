from django.db import models

from core.models import TimeStamped, effective_dated_constraints

from .network import Partner


class ClientAccount(TimeStamped):
    """A client's trading account (``login`` on ``server``). Its IB is effective-dated in ``AccountAttribution``."""

    server = models.CharField(max_length=64)
    login = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    # The latest group and flag set; what held when is the dated record in ``AccountTerms`` (runs read that).
    group = models.CharField(max_length=64, blank=True, help_text="Account group on the trading server")
    earns_commission = models.BooleanField(default=True)

    class Meta:
        ordering = ["server", "login"]
        constraints = [models.UniqueConstraint(fields=["server", "login"], name="account_server_login_unique")]

    def __str__(self) -> str:
        return f"{self.server}/{self.login}"


class AccountAttribution(models.Model):
    """One stretch of time ``[valid_from, valid_to)`` during which ``account`` was attributed to ``partner``.

    ``partner`` NULL records a stretch with no IB. An account has at most one IB at any instant (exclusion
    constraint); changes close the open row and start a new one, never rewrite the past.
    """

    account = models.ForeignKey(ClientAccount, on_delete=models.CASCADE, related_name="attributions")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="attributions")
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account_id", "valid_from"]
        indexes = [models.Index(fields=["partner", "valid_from"])]
        constraints = effective_dated_constraints("account", "accountattribution")

    def __str__(self) -> str:
        return f"{self.account_id} -> {self.partner_id} from {self.valid_from:%Y-%m-%d %H:%M}"


class AccountTerms(models.Model):
    """An account's group and ``earns_commission`` flag during ``[valid_from, valid_to)``: a trade is priced with the
    group (for group rules) and the flag in force at its close time (DOMAIN.md 4.0). The two are one record because
    the CRM and the trading server send them together; a change of one keeps the other as it was then."""

    account = models.ForeignKey(ClientAccount, on_delete=models.CASCADE, related_name="terms")
    group = models.CharField(max_length=64, blank=True)
    earns_commission = models.BooleanField()
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account_id", "valid_from"]
        constraints = effective_dated_constraints("account", "accountterms")
        verbose_name_plural = "account terms"

    def __str__(self) -> str:
        return f"{self.account_id} {self.group or '-'} earns={self.earns_commission} from {self.valid_from:%Y-%m-%d}"
