from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# Each app serves its own routes; none shadows another's (upper apps extend lower ones through extension points).
api_v1 = [
    path("mam/", include("mam.api.fee_urls")),
    path("", include("partners.api.urls")),
    path("", include("ledger.api.urls")),
    path("", include("runs.api.urls")),
    path("", include("commissions.api.urls")),
    path("mam/", include("mam.api.urls")),
    path("me/", include("reporting.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("portal/", include("reporting.portal.urls")),
    # Sign-in, two-factor, password reset, logout and the front door ``/``.
    path("", include("core.signin.urls")),
]

# Under /api/, a path no route matches and a request Django refuses answer JSON like every other API error.
handler400 = "core.api.errors.bad_request_view"
handler404 = "core.api.errors.not_found"
handler500 = "core.api.errors.server_error"
