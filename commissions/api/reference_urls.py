from django.urls import path

from . import reference

urlpatterns = [
    path("instruments/", reference.InstrumentListApi.as_view(), name="instrument-list"),
    path("symbol-suffixes/", reference.SuffixListApi.as_view(), name="symbol-suffix-list"),
    path("rates/", reference.RateListApi.as_view(), name="rate-list"),
]
