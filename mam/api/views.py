"""Broker (staff) API of the MAM app, under ``/api/v1/mam/``: groups (with dated fee terms), members, equity
snapshots, cash flows, master trades (open, close) and the allocation report. Views translate HTTP to service and
selector calls only; groups are addressed by ``code``, accounts by ``server`` + ``login``, master trades by group
and ticket.

- ``POST /groups/``, ``POST /groups/{code}/members/`` and ``POST /equity/`` are upserts (201 created / 200
  changed or as sent; equity answers counts): repeating them changes nothing.
- ``POST /cash-flows/``, ``POST /master-trades/`` and ``POST /master-trades/{group}/{ticket}/close/`` move money
  or positions: they take an ``Idempotency-Key``, and are idempotent by content besides (the same flow id, the
  same open, a close with the same ``close_id`` or, without one, equal to any earlier close answer as the first
  time and change nothing).
- Flows and snapshots dated in an approved fee period of the account's group are a 409 naming the rows
  (``mam.services.equity``): a paid fee month is not adjusted.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.bulk import RowsInvalid, validated_rows
from core.api.filters import DateFilter, ServerFilter, login_filter, ticket_filter
from core.api.idempotency import idempotency_exempt, idempotent
from core.api.permissions import StaffPermission, requires
from core.exceptions import RowErrors
from partners.models import ClientAccount

from ..models import Allocation, CashFlow, EquitySnapshot, MamGroup, MasterTrade, Member
from ..permissions import (
    ADD_MASTER_TRADE,
    CHANGE_CASH_FLOW,
    CHANGE_EQUITY,
    CHANGE_GROUP,
    CHANGE_MEMBER,
    CLOSE_MASTER_TRADE,
    VIEW_ALLOCATION,
    VIEW_CASH_FLOW,
    VIEW_EQUITY,
    VIEW_GROUP,
    VIEW_MASTER_TRADE,
    VIEW_MEMBER,
)
from ..selectors import (
    allocation_report,
    cash_flow_list,
    group_get,
    group_list,
    master_trade_list,
    member_list,
    snapshot_list,
)
from ..services.equity import cash_flows_record, equity_upsert
from ..services.groups import group_upsert
from ..services.master_trades import CloseResult, OpenResult, master_trade_close, master_trade_open
from ..services.members import member_upsert
from . import serializers as s


def _group_or_404(code: str) -> MamGroup:
    group = group_get(code=code)
    if group is None:
        raise Http404
    return group


# --- groups -------------------------------------------------------------------------------------------------------


class GroupListApi(generics.ListAPIView):
    """``GET`` lists groups with their fee terms; ``POST`` creates or changes one by ``code``."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_GROUP, write=CHANGE_GROUP)
    serializer_class = s.GroupOutputSerializer

    def get_queryset(self):
        return group_list()

    @extend_schema(
        request=s.GroupInputSerializer,
        responses={201: s.GroupOutputSerializer, 200: s.GroupOutputSerializer},
        examples=[
            OpenApiExample(
                "A group allocating by equity, 2 % management and 20 % performance fee",
                request_only=True,
                value={
                    "code": "gamma",
                    "name": "Gamma fund",
                    "manager": "master",
                    "master_server": "live1",
                    "master_login": 9100,
                    "currency": "USD",
                    "method": "equity",
                    "residual_policy": "largest_weight",
                    "below_min": "skip",
                    "fees": {"management_rate": "0.02", "performance_rate": "0.20", "hwm_mode": "net"},
                },
            )
        ],
        description="201 with a new group; 200 with the group of that code, changed (or already as sent). A group "
        "with master trades keeps its master account and currency (409). Fee terms are dated (``fees."
        "effective_from``); rates are fractions (0.02 = 2 %), ``_pct`` fields percents.",
    )
    @idempotency_exempt("an upsert by code: repeating it changes nothing (200 with the group)")
    def post(self, request: Request) -> Response:
        data = s.GroupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        fees = values.pop("fees", None)
        fees_from = fees.pop("effective_from", None) if fees is not None else None
        group, created = group_upsert(**values, fees=fees, fees_effective_from=fees_from)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.GroupOutputSerializer(group_get(code=group.code)).data, status=code)


CODE_PARAMETER = OpenApiParameter("code", str, OpenApiParameter.PATH, description="The group's code")


class GroupMembersApi(generics.ListAPIView):
    """``GET`` lists a group's memberships (past ones too); ``POST`` adds an account or changes its membership."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_MEMBER, write=CHANGE_MEMBER)
    serializer_class = s.MemberOutputSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no group to read
            return Member.objects.none()
        return member_list(group=_group_or_404(self.kwargs["code"]))

    @extend_schema(parameters=[CODE_PARAMETER])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=s.MemberInputSerializer,
        responses={201: s.MemberOutputSerializer, 200: s.MemberOutputSerializer},
        examples=[
            OpenApiExample(
                "Follow the group with an equity stop",
                request_only=True,
                value={"server": "live1", "login": 3001, "equity_stop": "500"},
            )
        ],
        description="201 with a new membership; 200 with the account's running membership in this group, changed. "
        "An account in another group is a 409 (it leaves that group first: ``left``).",
    )
    @idempotency_exempt("an upsert by group and account: repeating it changes nothing")
    def post(self, request: Request, code: str) -> Response:
        group = _group_or_404(code)
        data = s.MemberInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        server, login = values.pop("server"), values.pop("login")
        account = ClientAccount.objects.filter(server=server, login=login).first()
        if account is None:
            raise serializers.ValidationError({"login": [f"Unknown account {server}/{login}."]})
        member, created = member_upsert(group=group, account=account, **values)
        member = member_list(group=group).get(pk=member.pk)
        code_ = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.MemberOutputSerializer(member).data, status=code_)


class AllocationFilter(django_filters.FilterSet):
    ticket = ticket_filter(field_name="master_trade__ticket", help_text="One master ticket")

    class Meta:
        model = Allocation
        fields = ["ticket"]


class GroupAllocationsApi(generics.ListAPIView):
    """Per master ticket and sub-account: lots opened, closed and open, P&L of what was closed, and the reason an
    account got less or nothing."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_ALLOCATION)
    serializer_class = s.AllocationReportSerializer
    filterset_class = AllocationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Allocation.objects.none()
        return allocation_report(group=_group_or_404(self.kwargs["code"]))

    @extend_schema(parameters=[CODE_PARAMETER])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


# --- equity and cash flows ----------------------------------------------------------------------------------------


class EquityFilter(django_filters.FilterSet):
    server = ServerFilter(field_name="account__server")
    login = login_filter(field_name="account__login")
    day_from = DateFilter(field_name="day", lookup_expr="gte")
    day_to = DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = EquitySnapshot
        fields = ["server", "login", "day_from", "day_to"]


class CashFlowFilter(django_filters.FilterSet):
    server = ServerFilter(field_name="account__server")
    login = login_filter(field_name="account__login")
    id = django_filters.CharFilter(field_name="external_id", max_length=100)

    class Meta:
        model = CashFlow
        fields = ["server", "login", "id"]


class EquityListApi(generics.ListAPIView):
    """``GET`` lists equity snapshots; ``POST`` upserts a list on ``(server, login, day)``."""

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_EQUITY, write=CHANGE_EQUITY)
    serializer_class = s.EquityOutputSerializer
    filterset_class = EquityFilter

    def get_queryset(self):
        return snapshot_list()

    @extend_schema(
        request=s.EquityRowSerializer(many=True),
        responses={200: s.CountsSerializer},
        description="Upserts by (account, day). A new or changed snapshot dated in an approved fee period of the "
        "account's group is a 409 naming the rows (nothing is written): a paid fee month is not adjusted.",
        examples=[
            OpenApiExample(
                "One day of one account",
                request_only=True,
                value=[
                    {
                        "server": "live1",
                        "login": 2001,
                        "day": "2026-03-02",
                        "balance": "10000.00",
                        "equity": "10250.50",
                        "free_margin": "9800.00",
                    }
                ],
            )
        ],
    )
    @idempotency_exempt("an upsert on (account, day): repeating it changes nothing (counted unchanged)")
    def post(self, request: Request) -> Response:
        rows = validated_rows(s.EquityRowSerializer, request.data)
        try:
            return Response(equity_upsert(rows=rows))
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc


class CashFlowListApi(generics.ListAPIView):
    """``GET`` lists cash flows; ``POST`` records a list (idempotent by ``(server, id)``)."""

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_CASH_FLOW, write=CHANGE_CASH_FLOW)
    serializer_class = s.CashFlowOutputSerializer
    filterset_class = CashFlowFilter

    def get_queryset(self):
        return cash_flow_list()

    @extend_schema(
        request=s.CashFlowRowSerializer(many=True),
        responses={200: s.CountsSerializer},
        description="A flow already recorded with the same content is counted unchanged; the same id with other "
        "content is a 409 naming the rows (nothing is written): a correction is a new flow with its own id. A new "
        "flow dated in an approved fee period of the account's group is a 409 naming the rows: a paid fee month is "
        "not adjusted.",
        examples=[
            OpenApiExample(
                "A deposit and a withdrawal",
                request_only=True,
                value=[
                    {
                        "id": "dep-88213",
                        "server": "live1",
                        "login": 2001,
                        "time": "2026-03-05T09:30:00Z",
                        "amount": "5000.00",
                    },
                    {
                        "id": "wd-88240",
                        "server": "live1",
                        "login": 2001,
                        "time": "2026-03-19T14:00:00Z",
                        "amount": "-1200.00",
                    },
                ],
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        rows = validated_rows(s.CashFlowRowSerializer, request.data)
        try:
            return Response(cash_flows_record(rows=rows))
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc


# --- master trades ------------------------------------------------------------------------------------------------


def _open_output(result: OpenResult) -> dict:
    master = result.master_trade
    master.allocation_rows = result.allocations
    return s.MasterOpenOutputSerializer(master).data


def _close_output(result: CloseResult) -> dict:
    master, close = result.master_trade, result.master_close
    return s.MasterCloseOutputSerializer(
        {
            "group": master.group.code,
            "ticket": master.ticket,
            "seq": close.seq,
            "close_id": close.close_id,
            "lots": close.lots,
            "close_time": close.close_time,
            "close_price": close.close_price,
            "lots_open": master.lots_open,
            "status": master.status,
            "closes": result.sub_closes,
        }
    ).data


class MasterTradeFilter(django_filters.FilterSet):
    group = django_filters.CharFilter(field_name="group__code")
    status = django_filters.ChoiceFilter(choices=MasterTrade.Status.choices)

    class Meta:
        model = MasterTrade
        fields = ["group", "status"]


class MasterTradeListApi(generics.ListAPIView):
    """``GET`` lists master trades; ``POST`` opens one: its volume is allocated over the group's members."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_MASTER_TRADE, write=ADD_MASTER_TRADE)
    serializer_class = s.MasterTradeOutputSerializer
    filterset_class = MasterTradeFilter

    def get_queryset(self):
        return master_trade_list()

    @extend_schema(
        request=s.MasterOpenInputSerializer,
        responses={201: s.MasterOpenOutputSerializer, 200: s.MasterOpenOutputSerializer},
        examples=[
            OpenApiExample(
                "Open one lot of EURUSD",
                request_only=True,
                value={
                    "group": "alpha",
                    "ticket": 880001,
                    "symbol": "EURUSD",
                    "side": "buy",
                    "lots": "1.00",
                    "open_time": "2026-03-03T10:00:00Z",
                    "open_price": "1.08450",
                },
            )
        ],
        description="201 with the allocations (every member, with its lots, 0 included, and the reason it got less "
        "than its exact share or nothing) and the unallocated lots. Re-sending the same open answers 200 with the "
        "same allocations and changes nothing; another open with the same ticket is a 409. An unknown group or "
        "symbol is a 400 naming the field.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.MasterOpenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        group = group_get(code=values.pop("group"))
        if group is None:
            raise serializers.ValidationError({"group": ["Unknown group."]})
        result = master_trade_open(group=group, **values)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(_open_output(result), status=code)


class MasterTradeCloseApi(APIView):
    """Close part or all of a master trade: each linked sub-position closes its share, as a closed trade."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=CLOSE_MASTER_TRADE)

    @extend_schema(
        request=s.MasterCloseInputSerializer,
        responses={200: s.MasterCloseOutputSerializer},
        examples=[
            OpenApiExample(
                "Close part of a master position",
                request_only=True,
                value={"lots": "0.50", "close_time": "2026-03-12T15:30:00Z", "close_price": "1.08720"},
            )
        ],
        description="Closing what the master still holds closes every sub-position fully; less closes each "
        "proportionally (DOMAIN.md 5.2). More than it holds, lots off the volume step, or a close dated before the "
        "open or the previous close is a 400. A repeat answers as the first time and changes nothing: with "
        "`close_id`, the same id (other content: 409); without, a close equal to any earlier close of the ticket "
        "(same lots, time and price) — so two real fills identical in all three must carry their `close_id`. "
        "A missing conversion rate for a sub-account's P&L is a 409 "
        "listing every missing (currency, day).",
    )
    @idempotent
    def post(self, request: Request, group: str, ticket: int) -> Response:
        mam_group = _group_or_404(group)
        if not MasterTrade.objects.filter(group=mam_group, ticket=ticket).exists():
            raise Http404
        data = s.MasterCloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_close_output(master_trade_close(group=mam_group, ticket=ticket, **data.validated_data)))
