"""Sign-in pages: password (``/login/``), then the TOTP code or enrolment step, two-factor settings, password reset
(Django's views, on these templates), logout (POST only) and the front door ``/``."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponseForbidden
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login

from core.signin.forms import CodeForm, SignInForm
from core.signin.twofactor import (
    ENROL_SESSION_KEY,
    NEXT_SESSION_KEY,
    code_matches_key,
    confirmed_devices,
    is_verified,
    needs_code,
    new_key,
    qr_svg,
    staff_must_enrol,
    unsaved_device,
)


def _safe_next(request, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _continue(request):
    """Where a finished sign-in goes: the page first asked for, else the front door."""
    return redirect(request.session.pop(NEXT_SESSION_KEY, None) or settings.LOGIN_REDIRECT_URL)


class SignInView(auth_views.LoginView):
    """Username and password. Success signs the user in, but a user who owes a code (staff, anyone with a device)
    reaches nothing but the code or enrolment step until it is passed (``core.signin.gate``)."""

    template_name = "signin/login.html"
    authentication_form = SignInForm

    def form_valid(self, form):
        user = form.get_user()
        nxt = self.get_redirect_url()
        response = super().form_valid(form)  # auth.login: a new session key, the old session's data dropped
        if user.is_staff and settings.IBEX_STAFF_SESSION_BROWSER_CLOSE:
            self.request.session.set_expiry(0)
        if not needs_code(user):
            return response
        if nxt:
            self.request.session[NEXT_SESSION_KEY] = nxt
        return redirect("signin:code" if confirmed_devices(user).exists() else "signin:two_factor")


@method_decorator(login_required, name="dispatch")
class CodeView(View):
    """The second step: a code from the user's authenticator. A wrong code counts as a failed sign-in for the
    lockout (with the password's failures); the device also throttles guesses (django-otp)."""

    template_name = "signin/code.html"

    def dispatch(self, request, *args, **kwargs):
        nxt = _safe_next(request, request.GET.get("next"))
        if nxt:
            request.session[NEXT_SESSION_KEY] = nxt
        if not confirmed_devices(request.user).exists():
            return redirect("signin:two_factor") if needs_code(request.user) else _continue(request)
        if is_verified(request.user):
            return _continue(request)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return render(request, self.template_name, {"form": CodeForm()})

    def post(self, request):
        form = CodeForm(request.POST)
        if form.is_valid():
            for device in confirmed_devices(request.user):
                if device.verify_token(form.cleaned_data["code"]):
                    otp_login(request, device)
                    return _continue(request)
        form.add_error(None, "That code is not valid. Check your authenticator app's time and try again.")
        user = request.user
        user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)
        if getattr(request, "axes_locked_out", False):
            # Locked out at the second step: the half-signed-in session goes too (the lockout page follows).
            auth_logout(request)
        return render(request, self.template_name, {"form": form}, status=400)


@method_decorator(login_required, name="dispatch")
class TwoFactorView(View):
    """Two-factor settings. Without a device: enrolment — a fresh key (kept in the session, never saved before it is
    confirmed), shown as an otpauth URI and a QR code; a valid code from it saves the device and verifies the
    session. With one: its status, and switching it off with a current code (not for staff while it is required)."""

    template_name = "signin/two_factor.html"

    def dispatch(self, request, *args, **kwargs):
        nxt = _safe_next(request, request.GET.get("next"))
        if nxt:
            request.session[NEXT_SESSION_KEY] = nxt
        if confirmed_devices(request.user).exists() and not is_verified(request.user):
            # A password alone never adds or changes a second factor.
            return redirect("signin:code")
        return super().dispatch(request, *args, **kwargs)

    def _context(self, request, form=None):
        user = request.user
        if confirmed_devices(user).exists():
            return {"enrolled": True, "form": form or CodeForm(), "can_disable": not staff_must_enrol(user)}
        key = request.session.get(ENROL_SESSION_KEY)
        if not key:
            key = request.session[ENROL_SESSION_KEY] = new_key()
        uri = unsaved_device(user, key).config_url
        return {
            "enrolled": False,
            "form": form or CodeForm(),
            "otpauth_uri": uri,
            "qr_svg": qr_svg(uri),
            "secret": uri.split("secret=", 1)[1].split("&", 1)[0],
            "required": staff_must_enrol(user),
        }

    def get(self, request):
        return render(request, self.template_name, self._context(request))

    def post(self, request):
        if confirmed_devices(request.user).exists():
            return redirect("signin:two_factor")
        form = CodeForm(request.POST)
        key = request.session.get(ENROL_SESSION_KEY)
        match = code_matches_key(key, form.cleaned_data["code"]) if key and form.is_valid() else None
        if match is None:
            if form.is_valid():
                form.add_error("code", "That code does not match. Scan the code again or check your device's time.")
            return render(request, self.template_name, self._context(request, form), status=400)
        device = unsaved_device(request.user, key)
        device.last_t, device.drift = match
        device.save()
        del request.session[ENROL_SESSION_KEY]
        otp_login(request, device)
        messages.success(request, "Two-factor sign-in is on: you will be asked for a code at every sign-in.")
        return _continue(request)


@login_required
@require_POST
def two_factor_disable(request):
    user = request.user
    if staff_must_enrol(user):
        return HttpResponseForbidden("Two-factor sign-in is required for staff: it cannot be switched off.")
    form = CodeForm(request.POST)
    if form.is_valid() and is_verified(user):
        for device in confirmed_devices(user):
            if device.verify_token(form.cleaned_data["code"]):
                confirmed_devices(user).delete()
                messages.success(request, "Two-factor sign-in is off.")
                return redirect("signin:two_factor")
    form.add_error(None, "Enter a current code from your authenticator app to switch two-factor sign-in off.")
    return render(
        request, TwoFactorView.template_name, {"enrolled": True, "form": form, "can_disable": True}, status=400
    )


class LogoutView(auth_views.LogoutView):
    """POST only (Django's): a link or an image cannot sign anyone out."""

    http_method_names = ["post", "options"]


class PasswordResetView(auth_views.PasswordResetView):
    """Always "check your mail", whether or not the address has an account (Django's form sends only to active users
    with a usable password). The reset link does not sign in: the user signs in after, code step included."""

    template_name = "signin/password_reset_form.html"
    email_template_name = "signin/password_reset_email.txt"
    subject_template_name = "signin/password_reset_subject.txt"
    success_url = reverse_lazy("signin:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "signin/password_reset_confirm.html"
    success_url = reverse_lazy("signin:password_reset_complete")
    post_reset_login = False  # a reset is never a sign-in: the two-factor step still comes


@require_GET
def front_door(request):
    """``/``: sign in; staff get links to the admin and the API docs; a partner its portal."""
    user = request.user
    if not user.is_authenticated:
        return redirect("signin:login")
    if user.is_staff:
        return render(request, "signin/staff_home.html", {"api_docs": reverse("api-docs")})
    return redirect("/portal/")
