"""The API's token authentication: DRF's, telling the audit trail who the request's user is, and refusing a key no
token can have before it reaches a query.

DRF authenticates inside the view, after every middleware has run: the audit context the request opened
(``core.audit.AuditContextMiddleware``) learns a token's user here, before the view changes anything. A session
user is the middleware's from the start (DRF's session authentication reads the same ``request.user``).

A token key is 40 hexadecimal characters; a key holding anything but ASCII letters and digits (a NUL, which
PostgreSQL text cannot hold, would otherwise fail the lookup as a database error) is a 401 ``Invalid token.``, like
any other unknown key.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from core.audit import note_actor


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        if not (key.isascii() and key.isalnum()):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = super().authenticate_credentials(key)
        note_actor(user)
        return user, token
