"""Usage and billing of an organization; Checkout and the customer portal."""

from __future__ import annotations

import uuid
from datetime import timedelta

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors, subscriptions
from billing.models import UsageEventType
from tenancy.api.access import NotFound, Rule
from tenancy.api.base import OrganizationAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer
from tenancy.models import PlanTier

MAX_RANGE = timedelta(days=366)


class UsageQuery(StrictSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)
    workspace = serializers.UUIDField(required=False)
    agent = serializers.UUIDField(required=False)
    event_type = serializers.ChoiceField(choices=UsageEventType.choices, required=False)
    success = serializers.BooleanField(required=False, allow_null=True, default=None)
    tool = serializers.RegexField(r"^[a-z_]{1,64}$", required=False)

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("start"), attrs.get("end")
        if start and end:
            if start > end:
                raise serializers.ValidationError(
                    {"end": ["Must not be before start."]}, code="bad_range"
                )
            if end - start > MAX_RANGE:
                raise serializers.ValidationError(
                    {"end": ["The range may span at most 366 days."]},
                    code="range_too_long",
                )
        return attrs


class CheckoutIn(StrictSerializer):
    plan = serializers.ChoiceField(
        choices=[PlanTier.STARTER, PlanTier.PRO, PlanTier.ENTERPRISE]
    )


class RedirectOut(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.URLField(help_text="Send the customer's browser here.")


class OrganizationUsageView(OrganizationAPIView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="organizations_usage",
        parameters=[
            OpenApiParameter("start", str, description="First day (YYYY-MM-DD)."),
            OpenApiParameter("end", str, description="Last day (YYYY-MM-DD)."),
            OpenApiParameter("workspace", uuid.UUID, description="One workspace."),
            OpenApiParameter("agent", uuid.UUID, description="One agent."),
            OpenApiParameter(
                "event_type", str, enum=UsageEventType.values, description="One type."
            ),
            OpenApiParameter(
                "success", bool, description="Only succeeded (or failed) requests."
            ),
            OpenApiParameter("tool", str, description="Requests that called it."),
        ],
        responses={200: dict, **ERRORS},
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        query = UsageQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        workspace_id = filters.pop("workspace", None)
        if (
            workspace_id is not None
            and not self.organization.workspaces.filter(pk=workspace_id).exists()
        ):
            raise NotFound("No such workspace.")
        return Response(
            selectors.usage_summary(
                organization=self.organization,
                workspace_id=workspace_id,
                agent_id=filters.pop("agent", None),
                **filters,
            )
        )


class OrganizationBillingView(OrganizationAPIView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="organizations_billing", responses={200: dict, **ERRORS}
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        return Response(selectors.billing_summary(organization=self.organization))


class OrganizationCheckoutView(OrganizationAPIView):
    """Start upgrading: a Stripe Checkout session for a paid plan."""

    # Only owners change billing.
    access = {"POST": Rule(role="owner")}

    @extend_schema(
        operation_id="organizations_billing_checkout",
        request=CheckoutIn,
        responses={201: RedirectOut, **ERRORS},
    )
    def post(self, request: Request, organization_id: uuid.UUID) -> Response:
        data = CheckoutIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = subscriptions.checkout_session_create(
            organization=self.organization, plan_tier=data.validated_data["plan"]
        )
        return Response({"id": session.id, "url": session.url}, status=201)


class OrganizationPortalView(OrganizationAPIView):
    """Manage payment methods, invoices and cancellation in Stripe's portal."""

    access = {"POST": Rule(role="owner")}

    @extend_schema(
        operation_id="organizations_billing_portal",
        request=None,
        responses={201: RedirectOut, **ERRORS},
    )
    def post(self, request: Request, organization_id: uuid.UUID) -> Response:
        if request.data:
            StrictSerializer(data=request.data).is_valid(raise_exception=True)
        session = subscriptions.portal_session_create(organization=self.organization)
        return Response({"id": session.id, "url": session.url}, status=201)
