from django.urls import path, register_converter

from . import tokens, views


class PeriodConverter:
    regex = "[0-9]{4}-[0-9]{2}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PeriodConverter, "period")

urlpatterns = [
    path("", views.MeView.as_view(), name="me"),
    path("summary/", views.MeSummaryView.as_view(), name="me-summary"),
    path("lines/", views.MeLinesView.as_view(), name="me-lines"),
    path("downline/", views.MeDownlineView.as_view(), name="me-downline"),
    path("clients/", views.MeClientsView.as_view(), name="me-clients"),
    path("payouts/", views.MePayoutsView.as_view(), name="me-payouts"),
    path("statements/<period:period>/", views.MeStatementView.as_view(), name="me-statement"),
    path("tokens/", tokens.MeTokensView.as_view(), name="me-tokens"),
    path("tokens/<int:token_id>/", tokens.MeTokenView.as_view(), name="me-token"),
]
