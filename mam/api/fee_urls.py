"""Routes of the fee reports and export (``mam.api.fees``), mounted under ``/api/v1/mam/`` beside the MAM app's
other routes."""

from django.urls import path

from . import fees

urlpatterns = [
    path("groups/<slug:code>/fees/", fees.GroupFeesApi.as_view(), name="mam-group-fees"),
    path("fees/export/", fees.FeeExportApi.as_view(), name="mam-fee-export"),
]
