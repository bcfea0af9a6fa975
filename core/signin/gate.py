"""Until a session has passed its TOTP code, a user who owes one (staff; anyone with a device) reaches only the
sign-in pages: every other page sends them to the code step (or, staff without a device, to enrolment).

The API is not gated here: a session-authenticated API request that owes a code is unauthenticated there
(``core.api.authentication.SessionAuthentication``), and API tokens are unaffected.
"""

from __future__ import annotations

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from core.signin.twofactor import confirmed_devices, is_verified, needs_code

OPEN_PREFIXES = ("/login/", "/logout/", "/static/", "/api/")


class TwoFactorGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and needs_code(user)
            and not is_verified(user)
        ):
            step = "signin:code" if confirmed_devices(user).exists() else "signin:two_factor"
            query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
            return redirect(reverse(step) + (f"?{query}" if query else ""))
        return self.get_response(request)
