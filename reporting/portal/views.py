"""Portal pages. Only the home page for now: who the partner is. The dashboard (earnings, charts, downline, lines,
statements) comes next, read from the rollups; the partner API (``/api/v1/me/``) is built beside it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from partners.models import Partner


@login_required
@require_GET
def home(request):
    """The signed-in partner's home: name, code and (a money manager) its groups' side. A login that is no
    partner's (staff, a stray user) gets a 403 page, never another partner's data."""
    partner = Partner.objects.filter(user=request.user).select_related("program").first()
    if partner is None:
        return render(request, "portal/no_partner.html", status=403)
    context = {
        "partner": partner,
        "is_money_manager": hasattr(partner, "money_manager"),
        "referral_code": getattr(partner, "referral_code", None),  # partners get referral codes with the portal
    }
    return render(request, "portal/home.html", context)
