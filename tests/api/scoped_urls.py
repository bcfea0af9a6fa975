"""A URL configuration for the unit test of ``cases.PartnerScoped`` : the API's
routes, plus a partner-scoped account route done right and two done wrong."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler404, handler500
from config.urls import urlpatterns as api_urlpatterns
from partners.selectors import account_list
from reporting.api.permissions import PartnerPermission

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]


def _partner_code(request) -> str | None:
    partner = getattr(request.user, "partner", None)
    return partner.code if partner else None


class MyAccount(APIView):
    """The caller's own account: anything else, existing or not, is a 404."""

    permission_classes = [PartnerPermission]

    def get(self, request, server: str, login: int):
        account = account_list().filter(server=server, login=login, current_partner_code=_partner_code(request))
        if not account.exists():
            raise Http404
        return Response({"server": server, "login": login})


class ForbiddingAccount(MyAccount):
    """Wrong: says 403 for another partner's account, so the account is known to exist."""

    def get(self, request, server: str, login: int):
        if not account_list().filter(server=server, login=login).exists():
            raise Http404
        if not account_list().filter(server=server, login=login, current_partner_code=_partner_code(request)).exists():
            raise PermissionDenied
        return Response({"server": server, "login": login})


class LeakingAccount(MyAccount):
    """Wrong: shows any partner's account."""

    def get(self, request, server: str, login: int):
        if not account_list().filter(server=server, login=login).exists():
            raise Http404
        return Response({"server": server, "login": login})


urlpatterns = [
    path("api/v1/me/accounts/<str:server>/<int:login>/", MyAccount.as_view()),
    path("api/v1/forbidding/accounts/<str:server>/<int:login>/", ForbiddingAccount.as_view()),
    path("api/v1/leaking/accounts/<str:server>/<int:login>/", LeakingAccount.as_view()),
    *api_urlpatterns,
]
