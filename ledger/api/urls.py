from django.urls import path

from . import views

urlpatterns = [
    path("rates/", views.RateListApi.as_view(), name="rate-list"),
    path("partners/<slug:code>/statement/", views.PartnerStatementView.as_view(), name="partner-statement"),
]
