"""Signing a test client in as a user whose session has passed the two-factor step (what staff need for the admin
and session-authenticated API calls; ``IBEX_STAFF_REQUIRE_2FA`` stays on in tests)."""

from __future__ import annotations


def verified_login(client, user):
    """``client.force_login(user)`` and mark the session verified with a confirmed TOTP device of the user's (made if
    missing), as a code passed at the code step would (django-otp's session key). Returns the client."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="test", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
