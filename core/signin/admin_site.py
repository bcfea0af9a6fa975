"""The admin site: staff sign in through the one sign-in page (lockout and two-factor apply to the admin as to
everyone) and need a session verified with a TOTP code (what django-otp's ``OTPAdminSite`` checks), unless
``IBEX_STAFF_REQUIRE_2FA`` is off."""

from __future__ import annotations

from django.contrib import admin

from core.signin.twofactor import session_verified_enough


class AdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        return super().has_permission(request) and session_verified_enough(request)

    def login(self, request, extra_context=None):
        # Imported here: the views module imports the admin's auth forms, which need the app registry this module
        # is loaded during (``default_site`` is resolved while apps are being readied).
        from core.signin.views import SignInView

        return SignInView.as_view()(request)
