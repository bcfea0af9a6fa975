"""Broker (staff) API for programs, partners, the tree and client accounts. Views only translate HTTP to
service and selector calls; objects are addressed by natural keys (program/partner ``code``, account
``server`` + ``login``)."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.bulk import RowsInvalid, validated_rows
from core.api.idempotency import idempotency_exempt
from core.api.no_body import takes_no_body
from core.api.permissions import StaffPermission, requires
from core.exceptions import RowErrors

from ..extensions import PARTNER_FIELDS, apply_partner_fields
from ..models import ClientAccount, Partner
from ..permissions import (
    ADD_PARTNER,
    CHANGE_ACCOUNT,
    CHANGE_PARTNER,
    CHANGE_PAYOUT_DETAILS,
    CHANGE_PROGRAM,
    ISSUE_TOKEN,
    VIEW_ACCOUNT,
    VIEW_PARTNER,
    VIEW_PROGRAM,
    may_set_payout_details,
    payout_destination_changes,
)
from ..selectors import (
    AccountFilter,
    PartnerFilter,
    account_attribution_history,
    account_get,
    account_list,
    partner_chain_at,
    partner_downline_at,
    partner_get,
    partner_list,
    partner_tree_stats,
    program_get,
    program_list,
)
from ..services.accounts import account_attribute, accounts_upsert
from ..services.partners import partner_create, partner_edit, partner_issue_token, partner_move
from ..services.programs import program_upsert
from . import serializers as s


def _partner_or_404(code: str) -> Partner:
    partner = partner_get(code=code)
    if partner is None:
        raise Http404
    return partner


def _partner_output(partner: Partner, request: Request) -> dict:
    stats = partner_tree_stats(partner_ids=[partner.pk], at=timezone.now())
    s.attach_extension_values([partner])
    return s.PartnerOutputSerializer(partner, context={"tree_stats": stats, "request": request}).data


def _check_payout_destination(request: Request, partner: Partner | None, values: dict) -> None:
    """A body that would set where a partner's money goes needs ``change_payout_details`` too (finance's)."""
    changed = payout_destination_changes(partner, values)
    if changed and not may_set_payout_details(request.user):
        raise PermissionDenied(
            f"Your role lacks the permission {CHANGE_PAYOUT_DETAILS} (to set {', '.join(changed)}): "
            "finance sets payout details (POST /partners/{code}/payout-details/)."
        )


def _split_extension_fields(data: dict) -> tuple[dict, dict]:
    """The partner's own fields, and those of the registered extensions (``partners.extensions``)."""
    own = {k: v for k, v in data.items() if k not in PARTNER_FIELDS}
    return own, {k: v for k, v in data.items() if k in PARTNER_FIELDS}


def _at(request: Request) -> timezone.datetime:
    query = s.AtQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["at"] or timezone.now()


AT_PARAMETER = OpenApiParameter("at", OpenApiTypes.DATETIME, description="The instant to read the tree at (now).")


# --- programs -----------------------------------------------------------------------------------------------------


def _program_settings(program) -> dict:
    """What an upsert or a PATCH leaves as it is: the program's name, payout settings and latest terms."""
    return {"name": program.name} | {field: getattr(program, field) for field in s.NEW_PROGRAM_SETTINGS}


class ProgramListApi(generics.ListAPIView):
    """``GET`` lists programs; ``POST`` creates or replaces one by ``code``."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PROGRAM, write=CHANGE_PROGRAM)
    serializer_class = s.ProgramOutputSerializer

    def get_queryset(self):
        return program_list()

    @extend_schema(
        request=s.ProgramInputSerializer,
        responses={201: s.ProgramOutputSerializer, 200: s.ProgramOutputSerializer},
        description="201 with a new program; 200 with the program of that code, changed (or already as sent).",
    )
    @idempotency_exempt("an upsert by code: repeating it changes nothing (200 with the program)")
    def post(self, request: Request) -> Response:
        data = s.ProgramInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existing = program_get(code=data.validated_data["code"])
        base = s.NEW_PROGRAM_SETTINGS if existing is None else _program_settings(existing)
        program = program_upsert(**(base | data.validated_data))
        code = status.HTTP_201_CREATED if existing is None else status.HTTP_200_OK
        return Response(s.ProgramOutputSerializer(program).data, status=code)


class ProgramDetailApi(generics.RetrieveAPIView):
    """``GET`` one program by code; ``PATCH`` changes any of its settings."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PROGRAM, write=CHANGE_PROGRAM)
    serializer_class = s.ProgramOutputSerializer
    lookup_field = "code"

    def get_queryset(self):
        return program_list()

    @extend_schema(request=s.ProgramPatchSerializer, responses={200: s.ProgramOutputSerializer})
    def patch(self, request: Request, code: str) -> Response:
        program = self.get_object()
        data = s.ProgramPatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        program = program_upsert(code=program.code, **(_program_settings(program) | data.validated_data))
        return Response(s.ProgramOutputSerializer(program).data)


# --- partners -----------------------------------------------------------------------------------------------------


class PartnerListApi(generics.ListAPIView):
    """``GET`` lists partners with their current parent, level and downline size; ``POST`` creates one."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PARTNER, write=ADD_PARTNER)
    serializer_class = s.PartnerOutputSerializer
    filterset_class = PartnerFilter

    def get_queryset(self):
        return partner_list()

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        stats = partner_tree_stats(partner_ids=[p.pk for p in page], at=timezone.now())
        s.attach_extension_values(page)
        output = s.PartnerOutputSerializer(page, many=True, context={"tree_stats": stats, "request": request})
        return self.get_paginated_response(output.data)

    @extend_schema(request=s.PartnerCreateSerializer, responses={201: s.PartnerOutputSerializer})
    @idempotency_exempt("a create by code: a repeat is refused (400, the code exists), never a second partner")
    def post(self, request: Request) -> Response:
        data = s.PartnerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _check_payout_destination(request, None, data.validated_data)
        fields, extensions = _split_extension_fields(data.validated_data)
        with transaction.atomic():
            partner = partner_create(**fields)
            first_link = partner.links.order_by("valid_from").first()
            apply_partner_fields(partner=partner, data=extensions, created=True, effective_from=first_link.valid_from)
        return Response(_partner_output(partner, request), status=status.HTTP_201_CREATED)


class PartnerDetailApi(APIView):
    """``GET`` a partner by code; ``PATCH`` its attributes (a new ``parent`` is a move effective now)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PARTNER, write=CHANGE_PARTNER)

    @extend_schema(responses={200: s.PartnerOutputSerializer})
    def get(self, request: Request, code: str) -> Response:
        return Response(_partner_output(_partner_or_404(code), request))

    @extend_schema(request=s.PartnerPatchSerializer, responses={200: s.PartnerOutputSerializer})
    def patch(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        data = s.PartnerPatchSerializer(data=request.data, partial=True, context={"partner": partner})
        data.is_valid(raise_exception=True)
        _check_payout_destination(request, partner, data.validated_data)
        fields, extensions = _split_extension_fields(data.validated_data)
        effective_from = fields.pop("effective_from", None)
        changes = {k: v for k, v in fields.items() if k != "code"}
        with transaction.atomic():
            partner = partner_edit(partner=partner, changes=changes, effective_from=effective_from)
            apply_partner_fields(partner=partner, data=extensions, created=False, effective_from=effective_from)
        return Response(_partner_output(partner, request))


class PartnerMoveApi(APIView):
    """Effective-dated re-parenting: closes the current link at ``effective_from`` (default now)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=CHANGE_PARTNER)

    @extend_schema(request=s.MoveInputSerializer, responses={200: s.PartnerLinkOutputSerializer})
    @idempotency_exempt("a move to a named parent from a date: repeating it changes nothing")
    def post(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        data = s.MoveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link = partner_move(
            partner=partner,
            parent=data.validated_data["parent"],
            effective_from=data.validated_data["effective_from"],
        )
        return Response(s.PartnerLinkOutputSerializer(link).data)


class PartnerPayoutDetailsApi(APIView):
    """Set where a partner's payouts go (method and account; the payout currency too if given): finance's, apart
    from the partner's set-up, so whoever sets up partners cannot redirect a partner's money. A later payout batch
    copies the details onto its lines, which another user approves (maker-checker)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=CHANGE_PAYOUT_DETAILS)

    @extend_schema(request=s.PayoutDetailsInputSerializer, responses={200: s.PartnerOutputSerializer})
    @idempotency_exempt("sets the payout details to the values given: repeating it changes nothing")
    def post(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        data = s.PayoutDetailsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partner = partner_edit(partner=partner, changes=dict(data.validated_data))
        return Response(_partner_output(partner, request))


class PartnerTokenApi(APIView):
    """The API token of the partner's own user (both created if missing), for partner integrations."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=ISSUE_TOKEN)

    @extend_schema(responses={200: s.TokenOutputSerializer})
    @takes_no_body
    @idempotency_exempt("returns the partner's one token (created once): repeating it changes nothing")
    def post(self, request: Request, code: str) -> Response:
        return Response({"token": partner_issue_token(partner=_partner_or_404(code))})


class PartnerDownlineApi(generics.GenericAPIView):
    """Every partner below this one at ``?at=`` (default now), by depth then code, paginated."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PARTNER)
    serializer_class = s.DownlineEntrySerializer
    queryset = Partner.objects.none()  # only tells the schema generator what ``code`` addresses

    @extend_schema(parameters=[AT_PARAMETER], responses={200: s.DownlineEntrySerializer(many=True)})
    def get(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        entries = [p for p, _ in partner_downline_at(partner=partner, at=_at(request))]
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(s.DownlineEntrySerializer(page, many=True).data)


class PartnerChainApi(APIView):
    """The partner and its ancestors at ``?at=`` (default now)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_PARTNER)

    @extend_schema(parameters=[AT_PARAMETER], responses={200: s.ChainOutputSerializer})
    def get(self, request: Request, code: str) -> Response:
        partner = _partner_or_404(code)
        at = _at(request)
        chain = partner_chain_at(partner=partner, at=at)
        return Response(s.ChainOutputSerializer({"partner": partner.code, "at": at, "chain": chain}).data)


# --- accounts -----------------------------------------------------------------------------------------------------


class AccountListApi(generics.ListAPIView):
    """``GET`` lists accounts with their current IB; ``POST`` upserts a list of accounts."""

    list_body = True  # its POST takes a JSON list: bulk errors name rows (core.api.parsers, core.api.bulk)

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_ACCOUNT, write=CHANGE_ACCOUNT)
    serializer_class = s.AccountOutputSerializer
    filterset_class = AccountFilter

    def get_queryset(self):
        return account_list()

    @extend_schema(
        request=s.AccountRowSerializer(many=True),
        responses={200: s.UpsertCountsSerializer},
        examples=[
            OpenApiExample(
                "One account with an IB (by its code), one without",
                request_only=True,
                value=[
                    {"server": "live1", "login": 1001, "currency": "USD", "group": "standard", "partner": "ib-1"},
                    {"server": "live1", "login": 1002, "currency": "EUR", "earns_commission": False},
                ],
            )
        ],
    )
    @idempotency_exempt("an upsert by server and login: repeating it changes nothing (counted unchanged)")
    def post(self, request: Request) -> Response:
        rows = validated_rows(s.AccountRowSerializer, request.data)
        try:
            counts = accounts_upsert(rows=rows)
        except RowErrors as exc:
            raise RowsInvalid(exc.as_list()) from exc
        return Response(counts)


def _account_or_404(server: str, login: int) -> ClientAccount:
    account = account_get(server=server, login=login)
    if account is None:
        raise Http404
    return account


class AccountDetailApi(APIView):
    """One account with its current IB and full attribution history."""

    permission_classes = [StaffPermission]
    required_permissions = requires(read=VIEW_ACCOUNT)

    @extend_schema(responses={200: s.AccountDetailOutputSerializer})
    def get(self, request: Request, server: str, login: int) -> Response:
        account = _account_or_404(server, login)
        history = list(account_attribution_history(account=account))
        return Response(s.AccountDetailOutputSerializer(account, context={"attributions": history}).data)


class AccountAttributeApi(APIView):
    """Effective-dated change of the account's IB (``partner`` null = no IB from ``effective_from``)."""

    permission_classes = [StaffPermission]
    required_permissions = requires(write=CHANGE_ACCOUNT)

    @extend_schema(
        request=s.AttributeInputSerializer,
        responses={
            200: inline_serializer(
                "AttributeOutput",
                {
                    "server": serializers.CharField(),
                    "login": serializers.IntegerField(),
                    "attribution": s.AttributionOutputSerializer(),
                },
            )
        },
    )
    @idempotency_exempt("a change to a named IB from a date: repeating it changes nothing")
    def post(self, request: Request, server: str, login: int) -> Response:
        account = _account_or_404(server, login)
        data = s.AttributeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attribution = account_attribute(
            account=account,
            partner=data.validated_data["partner"],
            effective_from=data.validated_data["effective_from"],
        )
        return Response(
            {
                "server": account.server,
                "login": account.login,
                "attribution": s.AttributionOutputSerializer(attribution).data,
            }
        )
