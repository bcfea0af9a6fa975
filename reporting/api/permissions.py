"""Who may call a partner route (``/api/v1/me/…``): a partner's own user, by session or token.

Staff are refused with a 403, not a 404: a staff token is not "out of scope" of some partner, it is the wrong kind of
caller (as a partner token is on a staff route), and staff read any partner through the broker routes
(``GET /partners/{code}/statement/``…). Inside the route a partner meets only its own objects (``reporting
.selectors``): anything else is a 404.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from ..selectors import me_partner


class PartnerPermission(BasePermission):
    message = "This route is a partner's own: sign in as the partner (a staff user reads the broker routes)."

    def has_permission(self, request, view) -> bool:
        partner = me_partner(request.user)
        view.partner = partner
        return partner is not None
