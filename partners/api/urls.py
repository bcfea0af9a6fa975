from django.urls import path

import core.api.converters  # noqa: F401  (registers <key:…>)

from . import views

urlpatterns = [
    path("programs/", views.ProgramListApi.as_view(), name="program-list"),
    path("programs/<slug:code>/", views.ProgramDetailApi.as_view(), name="program-detail"),
    path("partners/", views.PartnerListApi.as_view(), name="partner-list"),
    path("partners/<slug:code>/", views.PartnerDetailApi.as_view(), name="partner-detail"),
    path("partners/<slug:code>/move/", views.PartnerMoveApi.as_view(), name="partner-move"),
    path(
        "partners/<slug:code>/payout-details/", views.PartnerPayoutDetailsApi.as_view(), name="partner-payout-details"
    ),
    path("partners/<slug:code>/tokens/", views.PartnerTokenApi.as_view(), name="partner-tokens"),
    path("partners/<slug:code>/downline/", views.PartnerDownlineApi.as_view(), name="partner-downline"),
    path("partners/<slug:code>/chain/", views.PartnerChainApi.as_view(), name="partner-chain"),
    path("accounts/", views.AccountListApi.as_view(), name="account-list"),
    path("accounts/<path:server>/<key:login>/", views.AccountDetailApi.as_view(), name="account-detail"),
    path(
        "accounts/<path:server>/<key:login>/attribute/", views.AccountAttributeApi.as_view(), name="account-attribute"
    ),
]
