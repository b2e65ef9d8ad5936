"""DRF authentication that reads what the tenant middleware already decided.

The middleware resolves credentials once per request, inside the request's
transaction (see ``tenancy.middleware``); these classes only hand its result
to DRF, so ``request.auth`` is always the :class:`Principal`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenancy.authentication import bearer_token
from tenancy.context import Principal

MESSAGES = {
    "invalid_api_key": "The API key is not valid.",
    "api_key_revoked": "The API key has been revoked.",
    "api_key_expired": "The API key has expired.",
    "invalid_token": "The access token is not valid or has expired.",
}


class ApiKeyUser:
    """Stands in for ``request.user`` when a workspace API key is calling."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_anonymous = False
    pk = None
    id = None

    def __init__(self, principal: Principal):
        self.principal = principal

    def __str__(self) -> str:
        return f"API key {self.principal.api_key_prefix}"


class PrincipalAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer`` with an API key or a user access token."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        django_request = request._request
        if bearer_token(django_request) is None:
            return None  # no bearer credential: the session may authenticate

        error = getattr(django_request, "auth_error", "")
        if error:
            raise exceptions.AuthenticationFailed(MESSAGES[error], code=error)
        principal: Principal = django_request.principal  # type: ignore[attr-defined]
        if principal.is_api_key:
            return (ApiKeyUser(principal), principal)
        return (django_request.principal_user, principal)  # type: ignore[attr-defined]

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="atrium"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The dashboard's session cookie (with CSRF), for the same API."""

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        return (result[0], request._request.principal)  # type: ignore[attr-defined]
