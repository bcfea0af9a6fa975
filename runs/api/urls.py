from django.urls import path

from . import views

urlpatterns = [
    path("runs/", views.RunCreateView.as_view(), name="run-create"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/approve/", views.RunApproveView.as_view(), name="run-approve"),
]
