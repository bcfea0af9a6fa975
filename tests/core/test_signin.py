"""Sign-in (core/signin): lockout, two-factor for staff and partners, password reset, logout, the front door."""

from __future__ import annotations

import re
from binascii import unhexlify
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from core.signin.twofactor import ENROL_SESSION_KEY
from partners.models import Partner, Program
from tests.roles import staff_with_roles

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-1"


def code(key_hex: str, steps_ahead: int = 0) -> str:
    """The code an authenticator shows for the hex key now (or ``steps_ahead`` 30-second steps later)."""
    return f"{totp(unhexlify(key_hex), drift=steps_ahead):06d}"


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def sign_in(client: Client, username: str, password: str = PASSWORD, url: str = "/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


@pytest.fixture
def partner_user():
    program = Program.objects.create(code="std", name="Standard", min_payout=Decimal("0"), currency="USD")
    user = get_user_model().objects.create_user("ib-7", "ib7@example.com", PASSWORD)
    Partner.objects.create(code="ib-7", name="Seven Trading", program=program, user=user)
    return user


@pytest.fixture
def staff():
    return staff_with_roles("operator", email="operator@example.com", password=PASSWORD)


def forgive_failures(device: TOTPDevice) -> None:
    """django-otp delays the next try after a wrong code (1 s, then doubling): a test does not sleep through it."""
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)


def device_for(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


# Lockout ------------------------------------------------------------------------------------------------------------


def test_five_failures_lock_the_username_from_that_address_out_even_with_the_right_password(client, partner_user):
    for attempt in range(1, 5):
        response = sign_in(client, "ib-7", "wrong")
        assert response.status_code == 200 and b"username or password is wrong" in response.content, attempt
    fifth = sign_in(client, "ib-7", "wrong")
    assert fifth.status_code == 429 and b"Too many failed sign-in attempts" in fifth.content
    locked = sign_in(client, "ib-7")
    assert locked.status_code == 429 and not signed_in(client)
    # By username and address together: the same user from elsewhere, or another user from here, still signs in.
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert sign_in(elsewhere, "ib-7").status_code == 302 and signed_in(elsewhere)


def test_the_admin_login_counts_and_is_locked_out_too(client, staff):
    for _ in range(5):
        response = sign_in(client, "operator", "wrong", url="/admin/login/?next=/admin/")
    assert response.status_code == 429
    assert sign_in(client, "operator", url="/admin/login/?next=/admin/").status_code == 429
    assert sign_in(client, "operator").status_code == 429 and not signed_in(client)


def test_wrong_codes_at_the_second_step_count_as_failures_and_end_the_session(client, partner_user):
    device = device_for(partner_user)
    assert sign_in(client, "ib-7")["Location"] == "/login/code/"
    wrong = f"{(int(code(device.key)) + 1) % 1_000_000:06d}"
    for _ in range(4):
        assert client.post("/login/code/", {"code": wrong}).status_code == 400
    assert client.post("/login/code/", {"code": wrong}).status_code == 429
    assert not signed_in(client)
    assert sign_in(client, "ib-7").status_code == 429


# Two-factor for staff ------------------------------------------------------------------------------------------------


def test_staff_without_a_device_are_sent_to_enrolment_and_cannot_reach_the_admin(client, staff):
    response = sign_in(client, "operator", url="/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/login/two-factor/"
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/login/two-factor/")
    assert client.get("/admin/partners/partner/").status_code == 302
    page = client.get("/login/two-factor/")
    assert b"Staff accounts must use two-factor" in page.content and b"otpauth://totp/" in page.content
    assert b"<svg" in page.content
    assert not TOTPDevice.objects.exists()  # nothing saved before a code confirms it
    # Enrolment confirms with a code made from the key shown; the sign-in then goes on to the page asked for.
    key = client.session[ENROL_SESSION_KEY]
    done = client.post("/login/two-factor/", {"code": code(key)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert TOTPDevice.objects.get(user=staff, confirmed=True).key == key
    assert client.get("/admin/").status_code == 200


def test_staff_with_a_device_pass_the_code_step_before_the_admin(client, staff):
    device = device_for(staff)
    assert sign_in(client, "operator", url="/login/?next=/admin/")["Location"] == "/login/code/"
    assert client.get("/admin/")["Location"].startswith("/login/code/")
    assert client.get("/login/two-factor/")["Location"] == "/login/code/"  # no second device on a password alone
    wrong = f"{(int(code(device.key)) + 1) % 1_000_000:06d}"
    assert client.post("/login/code/", {"code": wrong}).status_code == 400
    assert client.get("/admin/")["Location"].startswith("/login/code/")
    forgive_failures(device)
    done = client.post("/login/code/", {"code": code(device.key)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_site_itself_refuses_an_unverified_staff_session(staff, rf):
    """Not only the gate: the admin's own permission check wants the verified session (as OTPAdminSite does)."""
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = staff
    staff.is_verified = lambda: False  # what django-otp's middleware installs
    assert not admin.site.has_permission(request)
    staff.is_verified = lambda: True
    assert admin.site.has_permission(request)


def test_a_verified_staff_session_reaches_the_admin(verified_client, staff):
    client = verified_client(staff)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/partners/partner/").status_code == 200


def test_session_api_calls_by_staff_need_the_verified_session_tokens_do_not(client, staff, verified_client):
    client.force_login(staff)
    assert client.get("/api/v1/partners/").status_code == 401
    assert verified_client(staff).get("/api/v1/partners/").status_code == 200
    token = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert token.get("/api/v1/partners/").status_code == 200


def test_staff_cannot_switch_two_factor_off(verified_client, staff):
    client = verified_client(staff)
    device = TOTPDevice.objects.get(user=staff)
    assert client.post("/login/two-factor/disable/", {"code": code(device.key, 1)}).status_code == 403
    assert TOTPDevice.objects.filter(user=staff).exists()


# Two-factor for partners ---------------------------------------------------------------------------------------------


def test_a_partner_without_a_device_signs_in_with_the_password_alone(client, partner_user):
    response = sign_in(client, "ib-7")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/")["Location"] == "/portal/"
    portal = client.get("/portal/")
    assert portal.status_code == 200 and b"Seven Trading" in portal.content and b"ib-7" in portal.content


def test_a_partner_enrols_with_a_valid_code_then_every_sign_in_asks_for_one(client, partner_user):
    sign_in(client, "ib-7")
    page = client.get("/login/two-factor/")
    assert page.status_code == 200 and b"Staff accounts" not in page.content
    key = client.session[ENROL_SESSION_KEY]
    assert re.search(rb"secret=[A-Z2-7]+", page.content)
    refused = client.post("/login/two-factor/", {"code": code(key, 5)})
    assert refused.status_code == 400 and not TOTPDevice.objects.exists()
    assert client.post("/login/two-factor/", {"code": "12ab56"}).status_code == 400
    assert client.post("/login/two-factor/", {"code": code(key)}).status_code == 302
    device = TOTPDevice.objects.get(user=partner_user)
    assert device.confirmed and device.key == key

    client.post("/logout/")
    assert sign_in(client, "ib-7")["Location"] == "/login/code/"
    assert client.get("/portal/")["Location"].startswith("/login/code/")
    assert client.get("/api/v1/partners/").status_code == 401
    assert client.post("/login/code/", {"code": code(key, 1)})["Location"] == "/"
    assert client.get("/portal/").status_code == 200


def test_switching_two_factor_off_needs_a_current_code(client, partner_user):
    device = device_for(partner_user)
    sign_in(client, "ib-7")
    client.post("/login/code/", {"code": code(device.key)})
    assert client.post("/login/two-factor/disable/", {"code": "000001"}).status_code == 400
    assert TOTPDevice.objects.filter(user=partner_user).exists()
    forgive_failures(device)
    done = client.post("/login/two-factor/disable/", {"code": code(device.key, 1)})
    assert done.status_code == 302 and not TOTPDevice.objects.filter(user=partner_user).exists()


# Password reset ------------------------------------------------------------------------------------------------------


def test_reset_does_not_say_whether_an_address_exists(client, partner_user):
    unknown = client.post("/login/reset/", {"email": "nobody@example.com"})
    known = client.post("/login/reset/", {"email": "ib7@example.com"})
    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"] == "/login/reset/sent/"
    assert [m.to for m in mail.outbox] == [["ib7@example.com"]]


def test_a_reset_never_bypasses_the_code_step(client, partner_user):
    device = device_for(partner_user)
    client.post("/login/reset/", {"email": "ib7@example.com"})
    link = re.search(r"http://testserver(/login/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    new = "another-long-pass-9"
    done = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert done.status_code == 302 and done["Location"] == "/login/reset/complete/"
    assert not signed_in(client)
    assert client.get("/portal/")["Location"].startswith("/login/")
    assert sign_in(client, "ib-7", new)["Location"] == "/login/code/"
    assert client.get("/portal/")["Location"].startswith("/login/code/")
    assert client.post("/login/code/", {"code": code(device.key)}).status_code == 302
    assert client.get("/portal/").status_code == 200


# Logout, CSRF, the front door ----------------------------------------------------------------------------------------


def test_logout_is_post_only(client, partner_user):
    client.force_login(partner_user)
    assert client.get("/logout/").status_code == 405 and signed_in(client)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/" and not signed_in(client)


def test_sign_in_forms_need_the_csrf_token(partner_user):
    strict = Client(enforce_csrf_checks=True)
    assert sign_in(strict, "ib-7").status_code == 403 and not signed_in(strict)
    strict.force_login(partner_user)
    assert strict.post("/logout/").status_code == 403 and signed_in(strict)
    page = strict.get("/login/two-factor/")
    assert b"csrfmiddlewaretoken" in page.content


def test_the_front_door(client, partner_user, staff, verified_client):
    assert client.get("/")["Location"] == "/login/"
    assert client.get("/portal/")["Location"].startswith("/login/")
    login_page = client.get("/login/")
    assert login_page.status_code == 200 and b"csrfmiddlewaretoken" in login_page.content
    partner = Client()
    partner.force_login(partner_user)
    assert partner.get("/")["Location"] == "/portal/"
    staff_page = verified_client(staff).get("/")
    assert staff_page.status_code == 200 and b'href="/admin/"' in staff_page.content
    assert b'href="/api/docs/"' in staff_page.content
    unverified = Client()
    unverified.force_login(staff)
    assert unverified.get("/")["Location"].startswith("/login/code/")  # verified_client gave staff a device
    assert verified_client(staff).get("/portal/").status_code == 403  # staff are no partner


def test_a_staff_session_ends_with_the_browser(client, staff):
    sign_in(client, "operator")
    assert client.session.get_expire_at_browser_close()
    partner_side = Client()
    get_user_model().objects.create_user("ib-x", password=PASSWORD)
    sign_in(partner_side, "ib-x")
    assert not partner_side.session.get_expire_at_browser_close()
