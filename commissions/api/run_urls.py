from django.urls import path

from . import partner_plans, plans, runs

urlpatterns = [
    # Ahead of the partner app's routes: the same endpoints, plus the partner's commission plan.
    path("partners/", partner_plans.PartnerWithPlanListApi.as_view(), name="partner-list"),
    path("partners/<slug:code>/", partner_plans.PartnerWithPlanDetailApi.as_view(), name="partner-detail"),
    path("plans/", plans.PlanListCreateView.as_view(), name="plan-list"),
    path("plans/<slug:code>/", plans.PlanDetailView.as_view(), name="plan-detail"),
    path("rebates/", plans.RebateView.as_view(), name="rebates"),
    path("runs/", runs.RunCreateView.as_view(), name="run-create"),
    path("runs/<int:pk>/", runs.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/approve/", runs.RunApproveView.as_view(), name="run-approve"),
    path("lines/", runs.LineListView.as_view(), name="line-list"),
    path("partners/<slug:code>/statement/", runs.PartnerStatementView.as_view(), name="partner-statement"),
]
