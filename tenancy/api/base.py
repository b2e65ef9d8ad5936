"""The base views every API endpoint builds on.

``OrganizationAPIView`` and ``WorkspaceAPIView`` resolve the organization or
workspace named in the URL for the authenticated principal (404 if it cannot
see it), enforce the view's per-method ``access`` map, apply rate limits, and
scope every queryset to that organization or workspace. A view cannot forget
any of it: it only declares ``access`` and, for lists, ``get_base_queryset``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import exceptions, generics
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from tenancy import quotas, ratelimit
from tenancy.api.access import (
    ORGANIZATION_RANK,
    WORKSPACE_RANK,
    KeyNotAllowed,
    OrganizationAccess,
    Rule,
    WorkspaceAccess,
    enforce,
    organization_access,
    workspace_access,
)
from tenancy.context import Principal
from tenancy.models import Organization, Workspace
from tenancy.observability import annotate


class RateLimited(exceptions.Throttled):
    default_code = "rate_limited"


class RateLimiterUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Too many requests could not be ruled out; try again shortly."
    default_code = "rate_limiter_unavailable"


class APIView(generics.GenericAPIView):
    """Authentication, rate limits and rate-limit headers for every endpoint.

    ``initial`` runs: authentication; ``resolve`` (the organization or
    workspace in the URL, 404 if invisible); one atomic check of every rate
    limit that applies; ``authorize`` (the ``access`` map, 403); and
    ``after_checks`` (quotas).
    """

    access: ClassVar[dict[str, Rule]] = {}
    # Sign-up, log-in and key creation refuse requests when the limiter is down.
    rate_limit_fail_closed: ClassVar[bool] = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self._limit_headers: dict[str, str] = {}
        super().initial(request, *args, **kwargs)
        try:
            self.resolve(**kwargs)
        except exceptions.NotFound:
            # Probing for ids still costs the caller its own requests.
            self.check_rate_limits(self.principal_limits(request))
            raise
        self.check_rate_limits(self.principal_limits(request) + self.scope_limits())
        self.authorize(request)
        self.after_checks()

    def resolve(self, **kwargs: Any) -> None:
        """Find what the URL names for the principal; raise NotFound if unseen."""

    def scope_limits(self) -> list[ratelimit.Limit]:
        return []

    def authorize(self, request: Request) -> None:
        """Apply the ``access`` map; views without one only need a principal."""

    def after_checks(self) -> None:
        """Checks that count against quotas once the request is admitted."""

    @property
    def principal(self) -> Principal:
        return self.request.auth  # type: ignore[return-value]

    @property
    def user(self) -> User:
        """The signed-in user; API keys are refused where one is needed."""
        user = self.request.user
        if not isinstance(user, User):
            raise KeyNotAllowed()
        return user

    def principal_limits(self, request: Request) -> list[ratelimit.Limit]:
        principal = request.auth
        if not isinstance(principal, Principal):
            return []
        if principal.is_api_key:
            name = f"key:{principal.api_key_id}"
            return [ratelimit.Limit(name, principal.api_key_rate_limit)]
        return [ratelimit.Limit(f"user:{principal.user_id}", user_rate_limit())]

    def check_rate_limits(self, limits: list[ratelimit.Limit]) -> None:
        if not limits:
            return
        try:
            decision = ratelimit.hit(limits, fail_closed=self.rate_limit_fail_closed)
        except ratelimit.RateLimiterUnavailable:
            raise RateLimiterUnavailable() from None
        self._limit_headers = decision.headers()
        if not decision.allowed:
            raise RateLimited(wait=decision.retry_after)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        for header, value in getattr(self, "_limit_headers", {}).items():
            response[header] = value
        return response


def user_rate_limit() -> int:
    return int(settings.ATRIUM_USER_RATE_LIMIT)


class OrganizationAPIView(APIView):
    """An endpoint under ``/v1/organizations/{organization_id}/``."""

    organization_access: OrganizationAccess

    def resolve(self, **kwargs: Any) -> None:
        self.organization_access = organization_access(
            self.principal, kwargs["organization_id"]
        )
        annotate(organization_id=self.organization.pk)

    def authorize(self, request: Request) -> None:
        enforce(
            self.access.get(request.method or ""),
            self.principal,
            self.organization_access.role,
            ORGANIZATION_RANK,
        )

    @property
    def organization(self) -> Organization:
        return self.organization_access.organization


class WorkspaceAPIView(APIView):
    """An endpoint under ``/v1/workspaces/{workspace_id}/``.

    Counts the request against the workspace's plan rate limit and the
    organization's monthly request quota.
    """

    workspace_access: WorkspaceAccess

    def resolve(self, **kwargs: Any) -> None:
        self.workspace_access = workspace_access(self.principal, kwargs["workspace_id"])
        annotate(
            organization_id=self.workspace.organization_id,
            workspace_id=self.workspace.pk,
        )

    def scope_limits(self) -> list[ratelimit.Limit]:
        per_minute = quotas.workspace_rate_limit(self.workspace.organization)
        return [ratelimit.Limit(f"workspace:{self.workspace.pk}", per_minute)]

    def authorize(self, request: Request) -> None:
        enforce(
            self.access.get(request.method or ""),
            self.principal,
            self.workspace_access.role,
            WORKSPACE_RANK,
        )

    def after_checks(self) -> None:
        quotas.monthly_request_count(
            self.workspace.organization, is_test=self.principal.is_test_key
        )

    @property
    def workspace(self) -> Workspace:
        return self.workspace_access.workspace

    def get_base_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Any]:
        # Explicit workspace scoping on top of row-level security.
        return self.get_base_queryset().filter(workspace=self.workspace)
