"""Turn a request's credentials into a :class:`Principal`.

Runs inside the request's transaction (see ``tenancy.middleware``), before
any tenant context exists, so a key is found through the one narrow database
door for that: ``atrium_api_key_lookup``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.tokens import access_token_user
from tenancy import keys
from tenancy.context import ANONYMOUS, Principal

logger = logging.getLogger(__name__)

# Seconds between two writes of a key's ``last_used_at``.
LAST_USED_RESOLUTION = 60


@dataclass(frozen=True)
class AuthResult:
    principal: Principal
    # A stable error code when credentials were given but are not valid.
    error: str = ""
    # The signed-in user, when the principal is one.
    user: User | None = None


def bearer_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_api_key(raw: str) -> AuthResult:
    parsed = keys.parse(raw)
    if parsed is None:
        # Refused on the checksum alone: no database work for made-up keys.
        return AuthResult(ANONYMOUS, "invalid_api_key")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, workspace_id, key_hash, environment, scopes,"
            " rate_limit_per_minute, is_active, expires_at, revoked_at, last_used_at"
            " FROM atrium_api_key_lookup(%s)",
            [parsed.prefix],
        )
        row = cursor.fetchone()
    if row is None:
        return AuthResult(ANONYMOUS, "invalid_api_key")

    (key_id, workspace_id, key_hash, environment, scopes, per_minute) = row[:6]
    active, expires, revoked, last_used = row[6:]
    if not keys.matches(raw, key_hash):
        return AuthResult(ANONYMOUS, "invalid_api_key")
    if revoked is not None or not active:
        return AuthResult(ANONYMOUS, "api_key_revoked")
    if expires is not None and expires <= timezone.now():
        return AuthResult(ANONYMOUS, "api_key_expired")

    principal = Principal(
        api_key_id=key_id,
        api_key_workspace_id=workspace_id,
        api_key_scopes=tuple(scopes),
        api_key_rate_limit=per_minute,
        api_key_prefix=parsed.prefix,
        is_test_key=environment == "test",
        api_key_last_used=last_used,
    )
    return AuthResult(principal)


def authenticate_access_token(token: str) -> AuthResult:
    user = access_token_user(token)
    if user is None:
        return AuthResult(ANONYMOUS, "invalid_token")
    return AuthResult(Principal(user_id=user.pk), user=user)


def authenticate_request(request: HttpRequest) -> AuthResult:
    """Resolve the principal from a bearer credential or the session.

    A bearer credential wins over a session cookie, so an API client never
    acts with a browser's identity by accident.
    """
    token = bearer_token(request)
    if token is not None:
        if keys.looks_like_key(token):
            return authenticate_api_key(token)
        return authenticate_access_token(token)

    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return AuthResult(Principal(user_id=user.pk), user=user)
    return AuthResult(ANONYMOUS)


def record_key_use(principal: Principal) -> None:
    """Note that the key was used, writing at most once a minute per key.

    The lookup already told when the key was last recorded, so most requests
    write nothing; the UPDATE's own condition settles races between
    processes. Must run inside the key's own tenant context.
    """
    if principal.api_key_id is None:
        return
    last = principal.api_key_last_used
    if last is not None and timezone.now() - last < timedelta(
        seconds=LAST_USED_RESOLUTION
    ):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE api_keys SET last_used_at = now() WHERE id = %s"
            " AND (last_used_at IS NULL"
            "      OR last_used_at < now() - make_interval(secs => %s))",
            [principal.api_key_id, LAST_USED_RESOLUTION],
        )
