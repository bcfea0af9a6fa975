"""A partner's named API tokens (``/api/v1/me/tokens/``): several per partner, each revocable on its own.

DRF's ``authtoken`` keeps one token per user, stored in clear, with no name and no last use: enough for the token
staff issue to a partner's integration (``POST /partners/{code}/tokens/``), not for self-service — a partner with a
reporting script and a CRM bridge wants to revoke one without breaking the other, and to see which one is still in
use. Only a SHA-256 digest of the key is stored: the key is shown once, when the token is created.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q

from .network import Partner

KEY_PREFIX = "ibx"  # marks a named token's key (letters and digits only, like DRF's, for the same header)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class PartnerToken(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    # The key's first characters, shown in lists so a partner can tell its tokens apart (not enough to use one).
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live token per name: a name identifies a token in the partner's list.
            models.UniqueConstraint(
                fields=["partner", "name"], condition=Q(revoked_at__isnull=True), name="partner_token_live_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.name}"
