"""The role groups follow the code (``core/roles.py``), and the staff permission class fails closed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from core.api.permissions import StaffPermission, requires
from core.roles import Role, role_permissions

pytestmark = pytest.mark.django_db


def names(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_made_the_groups_and_sync_roles_repairs_a_hand_edit(capsys):
    support = Group.objects.get(name=Role.SUPPORT.value)
    assert names(support) == role_permissions(Role.SUPPORT)
    support.permissions.add(Permission.objects.get(codename="pay_payoutbatch"))
    support.permissions.remove(Permission.objects.get(codename="view_trade"))
    call_command("sync_roles")
    assert names(Group.objects.get(name=Role.SUPPORT.value)) == role_permissions(Role.SUPPORT)
    assert "ledger.pay_payoutbatch" not in names(support) and "commissions.view_trade" in names(support)
    assert "Support:" in capsys.readouterr().out


class Half(APIView):
    """Declares GET only, but serves POST too: POST must refuse everyone but superusers."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read="commissions.view_trade")

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})


def _call(method: str, user) -> int:
    request = getattr(APIRequestFactory(), method)("/x/")
    force_authenticate(request, user=user)
    return Half.as_view()(request).status_code


def test_a_served_method_without_a_declaration_refuses_all_but_superusers(django_user_model):
    from tests.roles import staff_with_roles

    admin = staff_with_roles("everything", Role.BROKER_ADMIN, Role.FINANCE)
    superuser = django_user_model.objects.create_superuser("root", "r@x.io", "pw")
    assert _call("get", admin) == 200
    assert _call("post", admin) == 403
    assert _call("post", superuser) == 200
    assert _call("delete", admin) == 405  # not served: the method's own answer, not a 403
    assert _call("get", django_user_model.objects.create_user("plain", is_staff=False)) == 403
