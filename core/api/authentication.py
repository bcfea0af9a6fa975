"""The API's token authentication: DRF's, telling the audit trail who the request's user is, and refusing a key no
token can have before it reaches a query.

DRF authenticates inside the view, after every middleware has run: the audit context the request opened
(``core.audit.AuditContextMiddleware``) learns a token's user here, before the view changes anything. A session
user is the middleware's from the start (DRF's session authentication reads the same ``request.user``).

A token key is 40 hexadecimal characters; a key holding anything but ASCII letters and digits (a NUL, which
PostgreSQL text cannot hold, would otherwise fail the lookup as a database error) is a 401 ``Invalid token.``, like
any other unknown key.

A session authenticates the API only once it has passed its two-factor step (``SessionAuthentication``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication, exceptions

from core.audit import note_actor
from core.signin.twofactor import session_verified_enough


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        if not (key.isascii() and key.isalnum()):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = super().authenticate_credentials(key)
        note_actor(user)
        return user, token


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, for sessions that have passed their two-factor step: a session that still owes
    a TOTP code (staff, a partner with a device) authenticates no API request. Tokens are not sessions: unchanged."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and not session_verified_enough(request._request):
            return None
        return result


class VerifiedSessionScheme(SessionScheme):
    """The schema documents it as DRF's session (``cookieAuth``): the two-factor step happens at sign-in."""

    target_class = "core.api.authentication.SessionAuthentication"
