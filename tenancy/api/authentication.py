"""DRF authentication that reads what the tenant middleware already decided."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tenancy.context import Principal

MESSAGES = {
    "invalid_api_key": "The API key is not valid.",
    "api_key_revoked": "The API key has been revoked.",
    "api_key_expired": "The API key has expired.",
    "invalid_token": "The bearer token is not valid.",
}


class PrincipalAuthentication(BaseAuthentication):
    """Bearer credentials, resolved once per request by the middleware.

    Returns ``(user_or_None, principal)``; an API key authenticates with no
    user, and ``request.auth`` is always the :class:`Principal`.
    """

    def authenticate(self, request: Request) -> tuple[Any, Principal] | None:
        django_request = request._request
        error = getattr(django_request, "auth_error", "")
        if error:
            raise exceptions.AuthenticationFailed(MESSAGES[error], code=error)

        principal: Principal | None = getattr(django_request, "principal", None)
        if principal is None or not principal.is_api_key:
            return None  # the session authenticator handles signed-in users
        return (ApiKeyUser(principal), principal)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="atrium"'


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
