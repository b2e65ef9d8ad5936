"""An organization's own model-provider keys, over HTTP.

Keys go in and never come out: responses show only a hint (the last four
characters) and whether a key is stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors, services
from agents.models import ModelProvider, ProviderCredential
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import OrganizationAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer

MANAGE = Rule(role="admin")
PROVIDERS = [
    ModelProvider.OPENAI.value,
    ModelProvider.ANTHROPIC.value,
    ModelProvider.OPENAI_COMPATIBLE.value,
]


class CredentialIn(StrictSerializer):
    api_key = serializers.RegexField(
        r"^\S{8,500}$",
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="The provider's API key; stored encrypted, never returned.",
        error_messages={"invalid": "Must be 8 to 500 characters without spaces."},
    )
    # Checked by the address guard in the service, which also admits the
    # single-label names (`vllm`) of allow-listed internal servers.
    base_url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text=(
            "The server to use instead of the provider's (or the platform's): "
            "http(s) at a public address, or at a host the operator allows. "
            "Other addresses are refused with `provider_url_refused`."
        ),
    )

    def validate_base_url(self, value: str) -> str:
        return value.rstrip("/")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        provider = self.context["provider"]
        if provider != ModelProvider.OPENAI_COMPATIBLE and not attrs.get("api_key"):
            raise serializers.ValidationError(
                {"api_key": ["This provider needs a key."]}, code="required"
            )
        if not attrs.get("api_key") and not attrs.get("base_url"):
            raise serializers.ValidationError(
                {"base_url": ["Give a key, a base URL or both."]}, code="required"
            )
        return attrs


class CredentialOut(serializers.ModelSerializer):
    has_api_key = serializers.SerializerMethodField()

    class Meta:
        model = ProviderCredential
        fields = [
            "provider",
            "has_api_key",
            "api_key_hint",
            "base_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_api_key(self, credential: ProviderCredential) -> bool:
        return bool(credential.api_key_sealed)


class ProviderCredentialListView(OrganizationAPIView):
    access = {"GET": MANAGE}

    @extend_schema(
        operation_id="organizations_provider_credentials_list",
        responses={200: CredentialOut(many=True), **ERRORS},
        description=(
            "The organization's own provider keys (hints only). Agents of every "
            "workspace use them instead of the platform's keys."
        ),
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        credentials = selectors.provider_credential_list(
            organization_id=self.organization.pk
        )
        return Response(CredentialOut(credentials, many=True).data)


class ProviderCredentialDetailView(OrganizationAPIView):
    access = {"GET": MANAGE, "PUT": MANAGE, "DELETE": MANAGE}

    def _provider(self, provider: str) -> str:
        if provider not in PROVIDERS:
            raise NotFound("No such provider.")
        return provider

    def _credential(self, provider: str) -> ProviderCredential:
        found = (
            selectors.provider_credential_list(organization_id=self.organization.pk)
            .filter(provider=self._provider(provider))
            .first()
        )
        if found is None:
            raise NotFound("No credential is stored for this provider.")
        return found

    @extend_schema(
        operation_id="organizations_provider_credentials_get",
        responses={200: CredentialOut, **ERRORS},
    )
    def get(
        self, request: Request, organization_id: uuid.UUID, provider: str
    ) -> Response:
        return Response(CredentialOut(self._credential(provider)).data)

    @extend_schema(
        operation_id="organizations_provider_credentials_set",
        request=CredentialIn,
        responses={200: CredentialOut, 201: CredentialOut, **ERRORS},
        description="Store or replace the organization's key for the provider.",
    )
    def put(
        self, request: Request, organization_id: uuid.UUID, provider: str
    ) -> Response:
        provider = self._provider(provider)
        data = CredentialIn(data=request.data, context={"provider": provider})
        data.is_valid(raise_exception=True)
        credential, created = services.provider_credential_set(
            organization=self.organization,
            provider=provider,
            api_key=data.validated_data.get("api_key", ""),
            base_url=data.validated_data.get("base_url", ""),
        )
        return Response(
            CredentialOut(credential).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="organizations_provider_credentials_delete",
        responses={204: None, **ERRORS},
    )
    def delete(
        self, request: Request, organization_id: uuid.UUID, provider: str
    ) -> Response:
        services.provider_credential_delete(credential=self._credential(provider))
        return Response(status=status.HTTP_204_NO_CONTENT)
