from django.urls import path

import core.api.converters  # noqa: F401  (registers <key:…>)

from . import lines, plans, reference, trades

urlpatterns = [
    path("instruments/", reference.InstrumentListApi.as_view(), name="instrument-list"),
    path("symbol-suffixes/", reference.SuffixListApi.as_view(), name="symbol-suffix-list"),
    path("trades/", trades.TradeListApi.as_view(), name="trade-list"),
    path("trades/<path:server>/<key:ticket>/", trades.TradeDetailApi.as_view(), name="trade-detail"),
    path("trade-imports/", trades.TradeImportListApi.as_view(), name="trade-import-list"),
    path("trade-imports/<int:pk>/", trades.TradeImportDetailApi.as_view(), name="trade-import-detail"),
    path("plans/", plans.PlanListCreateView.as_view(), name="plan-list"),
    path("plans/<slug:code>/", plans.PlanDetailView.as_view(), name="plan-detail"),
    path("rebates/", plans.RebateView.as_view(), name="rebates"),
    path("lines/", lines.LineListView.as_view(), name="line-list"),
    path("lines/export/", lines.LineExportView.as_view(), name="line-export"),
]
