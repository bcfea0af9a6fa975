"""Django's admin app on Ibex's admin site (``core.signin.admin_site``): listed in INSTALLED_APPS instead of
``django.contrib.admin``, so ``admin.site`` everywhere is that site."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "core.signin.admin_site.AdminSite"
