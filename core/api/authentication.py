"""The API's authentication: DRF's token and session schemes, telling the audit trail who the request's user is.

DRF authenticates inside the view, after every middleware has run: the audit context the request opened
(``core.audit.AuditContextMiddleware``) learns the user here, before the view changes anything.

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


class SessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            note_actor(result[0])
        return result
