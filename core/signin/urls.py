from django.contrib.auth import views as auth_views
from django.urls import path

from core.signin import views

app_name = "signin"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("login/code/", views.CodeView.as_view(), name="code"),
    path("login/two-factor/", views.TwoFactorView.as_view(), name="two_factor"),
    path("login/two-factor/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("login/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "login/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="signin/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("login/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "login/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="signin/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.front_door, name="front_door"),
]
