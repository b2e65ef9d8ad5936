"""Webhook endpoints and their deliveries over HTTP (docs/webhooks.md).

Workspace admins manage them, and API keys with the ``webhooks`` scope. The
signing secret appears in the responses that create or rotate it, and in no
other.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenancy import webhooks
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer
from tenancy.data_models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

ADMIN_OR_KEY = Rule(role="admin", scope="webhooks")


class WebhookEndpointOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "disabled_reason",
            "created_at",
            "updated_at",
            "secret_rotated_at",
        ]
        read_only_fields = fields


class WebhookEndpointSecretOut(WebhookEndpointOut):
    secret = serializers.CharField(
        help_text="The signing secret. Shown once, in this response only."
    )

    class Meta(WebhookEndpointOut.Meta):
        fields = [*WebhookEndpointOut.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateIn(StrictSerializer):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
    )
    description = serializers.CharField(max_length=500, required=False, default="")
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateIn(StrictSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        allow_empty=False,
        required=False,
    )
    description = serializers.CharField(max_length=500, required=False)
    is_active = serializers.BooleanField(required=False)


class WebhookAttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "status_code",
            "duration_ms",
            "response_excerpt",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class WebhookDeliveryOut(serializers.ModelSerializer):
    event_id = serializers.UUIDField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    replay_of = serializers.UUIDField(source="replay_of_id", read_only=True)
    attempt_log = WebhookAttemptOut(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "next_attempt_at",
            "replay_of",
            "created_at",
            "completed_at",
            "attempt_log",
        ]
        read_only_fields = fields


class _EndpointView(WorkspaceAPIView):
    def get_base_queryset(self) -> Any:
        return WebhookEndpoint.objects.order_by("-created_at")

    def endpoint(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = self.get_queryset().filter(pk=endpoint_id).first()
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        return endpoint


class WebhookListView(_EndpointView):
    access = {"GET": ADMIN_OR_KEY, "POST": ADMIN_OR_KEY}

    @extend_schema(
        operation_id="workspaces_webhooks_list",
        responses={200: WebhookEndpointOut(many=True), **ERRORS},
    )
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookEndpointOut(page, many=True).data)

    @extend_schema(
        operation_id="workspaces_webhooks_create",
        request=WebhookEndpointCreateIn,
        responses={201: WebhookEndpointSecretOut, **ERRORS},
        description=(
            "Register an endpoint. The response carries its signing secret, "
            "which is never shown again. URLs that resolve to private, "
            "loopback or link-local addresses are refused "
            "(`webhook_url_refused`)."
        ),
    )
    def post(self, request: Request, workspace_id: uuid.UUID) -> Response:
        data = WebhookEndpointCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        created = webhooks.webhook_endpoint_create(
            workspace=self.workspace,
            actor_id=self.principal.user_id,
            **data.validated_data,
        )
        body = {**WebhookEndpointOut(created.endpoint).data, "secret": created.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(_EndpointView):
    access = {"GET": ADMIN_OR_KEY, "PATCH": ADMIN_OR_KEY, "DELETE": ADMIN_OR_KEY}

    @extend_schema(
        operation_id="workspaces_webhooks_get",
        responses={200: WebhookEndpointOut, **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Response:
        return Response(WebhookEndpointOut(self.endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="workspaces_webhooks_update",
        request=WebhookEndpointUpdateIn,
        responses={200: WebhookEndpointOut, **ERRORS},
        description="Setting `is_active` to true re-enables a disabled endpoint.",
    )
    def patch(
        self, request: Request, workspace_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Response:
        data = WebhookEndpointUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.webhook_endpoint_update(
            endpoint=self.endpoint(endpoint_id), fields=dict(data.validated_data)
        )
        return Response(WebhookEndpointOut(endpoint).data)

    @extend_schema(
        operation_id="workspaces_webhooks_delete", responses={204: None, **ERRORS}
    )
    def delete(
        self, request: Request, workspace_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Response:
        webhooks.webhook_endpoint_delete(endpoint=self.endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateView(_EndpointView):
    access = {"POST": ADMIN_OR_KEY}

    @extend_schema(
        operation_id="workspaces_webhooks_rotate_secret",
        request=None,
        responses={200: WebhookEndpointSecretOut, **ERRORS},
        description=(
            "Replace the signing secret at once. The response carries the new "
            "secret, which is never shown again."
        ),
    )
    def post(
        self, request: Request, workspace_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Response:
        rotated = webhooks.webhook_secret_rotate(endpoint=self.endpoint(endpoint_id))
        return Response(
            {**WebhookEndpointOut(rotated.endpoint).data, "secret": rotated.secret}
        )


class _DeliveryView(WorkspaceAPIView):
    def get_base_queryset(self) -> Any:
        return (
            WebhookDelivery.objects.select_related("event")
            .prefetch_related("attempt_log")
            .order_by("-created_at")
        )


class WebhookDeliveriesView(_DeliveryView):
    access = {"GET": ADMIN_OR_KEY}

    @extend_schema(
        operation_id="workspaces_webhooks_deliveries_list",
        responses={200: WebhookDeliveryOut(many=True), **ERRORS},
    )
    def get(
        self, request: Request, workspace_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> Response:
        deliveries = self.get_queryset().filter(endpoint_id=endpoint_id)
        if not WebhookEndpoint.objects.filter(
            workspace=self.workspace, pk=endpoint_id
        ).exists():
            raise NotFound("No such webhook endpoint.")
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliveryOut(page, many=True).data)


class WebhookDeliveryReplayView(_DeliveryView):
    access = {"POST": ADMIN_OR_KEY}

    @extend_schema(
        operation_id="workspaces_webhooks_deliveries_replay",
        request=None,
        responses={202: WebhookDeliveryOut, **ERRORS},
        description=(
            "Send the delivery's event to its endpoint again, as a new delivery "
            "with the same event id."
        ),
    )
    def post(
        self,
        request: Request,
        workspace_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> Response:
        delivery = (
            self.get_queryset().filter(endpoint_id=endpoint_id, pk=delivery_id).first()
        )
        if delivery is None:
            raise NotFound("No such delivery.")
        replay = webhooks.webhook_delivery_replay(delivery=delivery)
        replay = self.get_queryset().get(pk=replay.pk)
        return Response(
            WebhookDeliveryOut(replay).data, status=status.HTTP_202_ACCEPTED
        )
