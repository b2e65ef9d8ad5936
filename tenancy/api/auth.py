"""Sign up, log in, refresh, log out, and who am I — user access tokens.

Tokens come from ``accounts.tokens`` (allauth's JWT strategy). Sign-up and
log-in are rate limited per client address and per email address, and refuse
requests outright (503) when the rate limiter is unavailable: guessing
passwords must never get cheaper because Redis is down.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.services import EmailTaken, user_signup
from accounts.tokens import (
    TokenPair,
    access_token_user_id,
    token_pair_issue,
    token_pair_refresh,
    token_session_end,
)
from tenancy import ratelimit
from tenancy.api import auth_serializers as s
from tenancy.api.access import KeyNotAllowed
from tenancy.api.base import APIView
from tenancy.api.docs import ERRORS
from tenancy.authentication import bearer_token
from tenancy.errors import ConflictError
from tenancy.models import (
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
)


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "The email address or password is not correct."
    default_code = "invalid_credentials"


class InvalidRefreshToken(exceptions.AuthenticationFailed):
    default_detail = "The refresh token is not valid, used, or expired."
    default_code = "invalid_refresh_token"


def client_address(request: Request) -> str:
    """The caller's address, trusting X-Forwarded-For only from our proxies."""
    hops = int(settings.ATRIUM_TRUSTED_PROXY_COUNT)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops and forwarded:
        addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
        if len(addresses) >= hops:
            return addresses[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))


def _tokens_body(pair: TokenPair, user: User) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "user": s.UserOut(user).data,
    }


class PublicAuthView(APIView):
    """An endpoint for callers without a token yet, limited per address."""

    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_fail_closed = True

    def get_authenticate_header(self, request: Request) -> str:
        # Failed credentials answer 401 with a challenge, as elsewhere.
        return 'Bearer realm="atrium"'

    def principal_limits(self, request: Request) -> list[ratelimit.Limit]:
        per_minute = int(settings.ATRIUM_AUTH_RATE_LIMIT)
        return [ratelimit.Limit(f"auth-ip:{client_address(request)}", per_minute)]

    def limit_email(self, email: str) -> None:
        per_minute = int(settings.ATRIUM_AUTH_RATE_LIMIT)
        self.check_rate_limits(
            [ratelimit.Limit(f"auth-email:{email.lower()}", per_minute)]
        )


class SignupView(PublicAuthView):
    @extend_schema(
        operation_id="auth_signup",
        request=s.SignupIn,
        responses={201: s.TokensOut, **ERRORS},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.SignupIn(data=request.data)
        data.is_valid(raise_exception=True)
        self.limit_email(data.validated_data["email"])
        try:
            user = user_signup(**data.validated_data)
        except EmailTaken:
            raise ConflictError(
                "An account with this email address exists; log in instead.",
                field="email",
            ) from None
        return Response(
            _tokens_body(token_pair_issue(user=user), user),
            status=status.HTTP_201_CREATED,
        )


class LoginView(PublicAuthView):
    @extend_schema(
        operation_id="auth_login",
        request=s.LoginIn,
        responses={200: s.TokensOut, **ERRORS},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.LoginIn(data=request.data)
        data.is_valid(raise_exception=True)
        email = data.validated_data["email"]
        self.limit_email(email)
        user = authenticate(
            request._request, username=email, password=data.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise InvalidCredentials()
        return Response(_tokens_body(token_pair_issue(user=user), user))


class RefreshView(PublicAuthView):
    @extend_schema(
        operation_id="auth_refresh",
        request=s.RefreshIn,
        responses={200: s.TokensOut, **ERRORS},
        auth=[],
        description="Refresh tokens rotate: each works once.",
    )
    def post(self, request: Request) -> Response:
        data = s.RefreshIn(data=request.data)
        data.is_valid(raise_exception=True)
        pair = token_pair_refresh(refresh_token=data.validated_data["refresh_token"])
        if pair is None:
            raise InvalidRefreshToken()
        user_id = access_token_user_id(pair.access_token)
        user = User.objects.filter(pk=user_id).first() if user_id else None
        if user is None:
            raise InvalidRefreshToken()
        return Response(_tokens_body(pair, user))


class UserOnlyView(APIView):
    """An endpoint about the signed-in user: API keys are refused."""

    def authorize(self, request: Request) -> None:
        if self.principal.is_api_key:
            raise KeyNotAllowed()


class LogoutView(UserOnlyView):
    @extend_schema(operation_id="auth_logout", request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        token = bearer_token(request._request)
        if token is not None:
            token_session_end(access_token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(UserOnlyView):
    @extend_schema(operation_id="auth_me", responses={200: s.MeOut, **ERRORS})
    def get(self, request: Request) -> Response:
        user = self.user
        organizations = [
            {"id": m.organization_id, "name": m.organization.name, "role": m.role}
            for m in OrganizationMember.objects.filter(
                user=user, organization__deleted_at__isnull=True
            ).select_related("organization")
        ]
        managed = {
            o["id"]
            for o in organizations
            if o["role"] in (OrganizationRole.OWNER, OrganizationRole.ADMIN)
        }
        workspaces = [
            {"id": m.workspace_id, "name": m.workspace.name, "role": m.role}
            for m in WorkspaceMember.objects.filter(
                user=user, workspace__deleted_at__isnull=True
            ).select_related("workspace")
            if m.workspace.organization_id not in managed
        ]
        workspaces += [
            {"id": w.pk, "name": w.name, "role": "admin"}
            for w in Workspace.objects.filter(
                organization_id__in=managed, deleted_at__isnull=True
            )
        ]
        body = {
            **s.UserOut(user).data,
            "organizations": organizations,
            "workspaces": workspaces,
        }
        return Response(body)
