"""Authentication by a partner's named token (``partners.models.tokens``), beside DRF's one token per user.

Both travel as ``Authorization: Token <key>``, so one class reads both (and the schema documents one scheme): a
named token's key starts with ``ibx`` (never a DRF key, which is hexadecimal), any other key is DRF's, checked by
``core.api.authentication.TokenAuthentication``. A revoked or unknown ``ibx`` key is a 401, as any unknown key is,
and so is a named token of a partner that has no active login user (a request acts as a user: audit, permissions).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions

from core.api.authentication import TokenAuthentication
from core.audit import note_actor

from ..models import PartnerToken
from ..models.tokens import KEY_PREFIX, key_digest
from ..services.tokens import partner_token_touch


class PartnerTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str):
        if not key.startswith(KEY_PREFIX):
            return super().authenticate_credentials(key)
        if not (key.isascii() and key.isalnum()):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = (
            PartnerToken.objects.select_related("partner__user")
            .filter(digest=key_digest(key), revoked_at__isnull=True)
            .first()
        )
        user = token.partner.user if token else None
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        partner_token_touch(token=token)
        note_actor(user)
        return user, token
