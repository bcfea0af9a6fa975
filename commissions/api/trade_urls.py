from django.urls import path

from . import trades

urlpatterns = [
    path("trades/", trades.TradeListApi.as_view(), name="trade-list"),
    path("trades/<path:server>/<int:ticket>/", trades.TradeDetailApi.as_view(), name="trade-detail"),
    path("trade-imports/", trades.TradeImportListApi.as_view(), name="trade-import-list"),
    path("trade-imports/<int:pk>/", trades.TradeImportDetailApi.as_view(), name="trade-import-detail"),
]
