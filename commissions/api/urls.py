from django.urls import include, path

urlpatterns = [
    path("", include("commissions.api.reference_urls")),
    path("", include("commissions.api.trade_urls")),
    path("", include("commissions.api.run_urls")),
]
