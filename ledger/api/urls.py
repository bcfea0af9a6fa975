from django.urls import path

from . import payouts, reconciliation, views

urlpatterns = [
    path("rates/", views.RateListApi.as_view(), name="rate-list"),
    path("partners/<slug:code>/statement/", views.PartnerStatementView.as_view(), name="partner-statement"),
    path("client-rebates/export/", payouts.ClientRebateExportApi.as_view(), name="client-rebate-export"),
    path("payables/", payouts.PayableListApi.as_view(), name="payable-list"),
    path("payout-batches/", payouts.PayoutBatchListApi.as_view(), name="payout-batch-list"),
    path("payout-batches/<int:pk>/", payouts.PayoutBatchDetailApi.as_view(), name="payout-batch-detail"),
    path("payout-batches/<int:pk>/lines/", payouts.PayoutBatchLinesApi.as_view(), name="payout-batch-lines"),
    path("payout-batches/<int:pk>/approve/", payouts.PayoutBatchApproveApi.as_view(), name="payout-batch-approve"),
    path("payout-batches/<int:pk>/discard/", payouts.PayoutBatchDiscardApi.as_view(), name="payout-batch-discard"),
    path("payout-batches/<int:pk>/mark-paid/", payouts.PayoutBatchMarkPaidApi.as_view(), name="payout-batch-paid"),
    path("payout-batches/<int:pk>/export/", payouts.PayoutBatchExportApi.as_view(), name="payout-batch-export"),
    path("reconciliation/", reconciliation.ReconciliationApi.as_view(), name="reconciliation"),
    path("reconciliation/export/", reconciliation.ReconciliationExportApi.as_view(), name="reconciliation-export"),
]
