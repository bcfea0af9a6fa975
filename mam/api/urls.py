from django.urls import path

import core.api.converters  # noqa: F401  (registers <key:…>)

from . import views

urlpatterns = [
    path("groups/", views.GroupListApi.as_view(), name="mam-group-list"),
    path("groups/<slug:code>/members/", views.GroupMembersApi.as_view(), name="mam-group-members"),
    path("groups/<slug:code>/allocations/", views.GroupAllocationsApi.as_view(), name="mam-group-allocations"),
    path("equity/", views.EquityListApi.as_view(), name="mam-equity-list"),
    path("cash-flows/", views.CashFlowListApi.as_view(), name="mam-cash-flow-list"),
    path("master-trades/", views.MasterTradeListApi.as_view(), name="mam-master-trade-list"),
    path(
        "master-trades/<slug:group>/<key:ticket>/close/",
        views.MasterTradeCloseApi.as_view(),
        name="mam-master-trade-close",
    ),
]
