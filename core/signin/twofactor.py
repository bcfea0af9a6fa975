"""Who must pass a TOTP code, and the TOTP arithmetic of enrolment (django-otp's, on a key not saved yet)."""

from __future__ import annotations

import time
from binascii import unhexlify

from django.conf import settings
from django_otp import user_has_device
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

# Where a user's sign-in continues after the code or enrolment step (a checked local URL, or absent).
NEXT_SESSION_KEY = "signin_next"
# The key being enrolled: it lives in the session until a code made from it confirms it; only then is a device saved.
ENROL_SESSION_KEY = "signin_totp_key"


def staff_must_enrol(user) -> bool:
    return bool(getattr(settings, "IBEX_STAFF_REQUIRE_2FA", True) and (user.is_staff or user.is_superuser))


def needs_code(user) -> bool:
    """A signed-in user who must pass a TOTP code before anything else: staff (while required) and anyone with a
    confirmed device."""
    if not user.is_authenticated:
        return False
    return staff_must_enrol(user) or user_has_device(user, confirmed=True)


def is_verified(user) -> bool:
    return bool(getattr(user, "is_verified", None) and user.is_verified())


def session_verified_enough(request) -> bool:
    """False for a session that still owes its TOTP code (the admin's and the API's session check)."""
    user = request.user
    return not needs_code(user) or is_verified(user)


def confirmed_devices(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True)


def new_key() -> str:
    return random_hex(20)


def unsaved_device(user, key: str) -> TOTPDevice:
    return TOTPDevice(user=user, key=key, name="authenticator", confirmed=True)


def code_matches_key(key: str, token: str, *, tolerance: int = 1) -> tuple[int, int] | None:
    """(time step, drift) at which a code made from ``key`` is valid (now, or one step either side), or None."""
    device = unsaved_device(None, key)
    if not (token.isascii() and token.isdigit()):
        return None
    totp = TOTP(unhexlify(key.encode()), device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.verify(int(token), tolerance):
        return totp.t(), totp.drift
    return None


def qr_svg(uri: str) -> str | None:
    """The otpauth URI as an inline SVG QR code (segno: pure Python); None if segno is missing."""
    try:
        import segno
    except ImportError:  # the URI text is shown anyway
        return None
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")
