"""The API's token authentication: DRF's, refusing a key no token can have before it reaches a query.

A token key is 40 hexadecimal characters; a key holding anything but ASCII letters and digits (a NUL, which
PostgreSQL text cannot hold, would otherwise fail the lookup as a database error) is a 401 ``Invalid token.``, like
any other unknown key.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        if not (key.isascii() and key.isalnum()):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().authenticate_credentials(key)
