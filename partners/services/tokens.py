"""A partner's named API tokens (``partners.models.tokens``): created with a key shown once, revoked one by one."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import NotFound

from ..models import Partner, PartnerToken
from ..models.tokens import KEY_PREFIX, key_digest

# A token's ``last_used_at`` is refreshed at most this often: a write on every request would make reads write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_LIVE_TOKENS = 20


def partner_token_create(*, partner: Partner, name: str) -> tuple[PartnerToken, str]:
    """A new token of ``partner`` named ``name`` and its key (returned here only: just its digest is stored)."""
    key = KEY_PREFIX + secrets.token_hex(20)
    with transaction.atomic():
        Partner.objects.select_for_update().filter(pk=partner.pk).first()  # serialise the count below
        live = PartnerToken.objects.filter(partner=partner, revoked_at__isnull=True)
        if live.count() >= MAX_LIVE_TOKENS:
            raise ValidationError({"name": [f"A partner has at most {MAX_LIVE_TOKENS} live tokens: revoke one."]})
        if live.filter(name=name).exists():
            raise ValidationError({"name": ["A live token already has this name."]})
        try:
            with transaction.atomic():
                token = PartnerToken.objects.create(
                    partner=partner, name=name, digest=key_digest(key), prefix=key[: len(KEY_PREFIX) + 4]
                )
        except IntegrityError as exc:  # pragma: no cover - a concurrent create of the same name
            raise ValidationError({"name": ["A live token already has this name."]}) from exc
    return token, key


def partner_token_revoke(*, partner: Partner, token_id: int) -> PartnerToken:
    """Revoke ``partner``'s live token ``token_id``: any other (another partner's, revoked, unknown) is not found."""
    token = PartnerToken.objects.filter(partner=partner, pk=token_id, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound("No such token.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token


def partner_token_touch(*, token: PartnerToken) -> None:
    """Record that ``token`` was used now (at most once per ``LAST_USED_RESOLUTION``)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        PartnerToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
