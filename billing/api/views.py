"""Usage and billing summaries of an organization."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors
from tenancy.api.access import Rule
from tenancy.api.base import OrganizationAPIView
from tenancy.api.docs import ERRORS
from tenancy.api.serializers import StrictSerializer


class UsageQuery(StrictSerializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)


class OrganizationUsageView(OrganizationAPIView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="organizations_usage",
        parameters=[
            OpenApiParameter("start", str, description="First day (YYYY-MM-DD)."),
            OpenApiParameter("end", str, description="Last day (YYYY-MM-DD)."),
        ],
        responses={200: dict, **ERRORS},
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        query = UsageQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return Response(
            selectors.usage_summary(
                organization=self.organization, **query.validated_data
            )
        )


class OrganizationBillingView(OrganizationAPIView):
    access = {"GET": Rule(role="admin")}

    @extend_schema(
        operation_id="organizations_billing", responses={200: dict, **ERRORS}
    )
    def get(self, request: Request, organization_id: uuid.UUID) -> Response:
        return Response(selectors.billing_summary(organization=self.organization))
