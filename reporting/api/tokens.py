"""A partner's own API tokens (``/api/v1/me/tokens/``): named, several per partner, each revocable; the key is shown
once, when created (``partners.models.tokens``). These are the partner API's only writes, through the partners
app's token service (the ``reporting`` import contract names this module as its one exception)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.idempotency import idempotency_exempt
from partners.services.tokens import partner_token_create, partner_token_revoke

from ..selectors import me_tokens
from . import serializers as s
from .views import PartnerView


class MeTokensView(PartnerView, generics.ListAPIView):
    """The partner's live tokens (never their keys), newest first; POST creates one and answers its key, once."""

    serializer_class = s.TokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            from partners.models import PartnerToken

            return PartnerToken.objects.none()
        return me_tokens(self.partner)

    @extend_schema(request=s.TokenInputSerializer, responses={201: s.TokenCreatedSerializer})
    @idempotency_exempt("each call makes another token; a repeat's name collides with the live token (a 400)")
    def post(self, request):
        body = s.TokenInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, key = partner_token_create(partner=self.partner, name=body.validated_data["name"])
        token.key = key
        return Response(s.TokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class MeTokenView(PartnerView, APIView):
    """One of the partner's tokens: DELETE revokes it (a request with it is a 401 from then on). Another partner's
    token, a revoked one and an unknown id are the same 404."""

    @extend_schema(responses={204: None})
    def delete(self, request, token_id: int):
        partner_token_revoke(partner=self.partner, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
