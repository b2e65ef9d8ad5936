"""User access and refresh tokens (JWT), issued through django-allauth.

allauth's headless JWT strategy ties each token pair to a server-side session:
the access token carries the user id (``sub``) and an encrypted session id,
refresh tokens rotate, and deleting the session (log out) invalidates both at
once because access tokens are validated statefully. This module is the one
place Atrium touches allauth's token functions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from allauth.headless import app_settings as headless_settings
from allauth.headless.tokens.strategies.jwt import internal as jwt_tokens

# Loading the key serialisation module first avoids a lazy-import failure in
# the first token signed after start-up.
from cryptography.hazmat.primitives import serialization  # noqa: F401
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore

from accounts.models import User

BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


def _session_for(user: User) -> SessionBase:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = BACKEND
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session


def _pair(user: User, session: SessionBase, refresh_token: str) -> TokenPair:
    access = jwt_tokens.create_access_token(user, session, {})
    return TokenPair(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=headless_settings.JWT_ACCESS_TOKEN_EXPIRES_IN,
    )


def token_pair_issue(*, user: User) -> TokenPair:
    """Start a token session for ``user`` and return its first pair."""
    session = _session_for(user)
    refresh = jwt_tokens.create_refresh_token(user, session)
    session.save()
    return _pair(user, session, refresh)


def token_pair_refresh(*, refresh_token: str) -> TokenPair | None:
    """Exchange a refresh token for a new pair; the old refresh token dies."""
    validated = jwt_tokens.validate_refresh_token(refresh_token)
    if validated is None:
        return None
    user, session, payload = validated
    if not user.is_active:
        return None
    jwt_tokens.invalidate_refresh_token(session, payload)
    refresh = jwt_tokens.create_refresh_token(user, session)
    session.save()
    return _pair(user, session, refresh)


def access_token_user(access_token: str) -> User | None:
    """The active user an access token speaks for, or None if it is not valid now.

    Validation is stateful: the token's session must still exist (log out
    deletes it) and still belong to the user.
    """
    result = jwt_tokens.validate_access_token(access_token)
    if result is None:
        return None
    user = result.user
    if not isinstance(user, User) or not user.is_active:
        return None
    return user


def access_token_user_id(access_token: str) -> uuid.UUID | None:
    user = access_token_user(access_token)
    return None if user is None else user.pk


def token_session_end(*, access_token: str) -> bool:
    """Log out: delete the session behind ``access_token`` and its tokens."""
    payload = jwt_tokens.decode_token(access_token, "access")
    if payload is None:
        return False
    session = jwt_tokens.get_token_session(payload)
    if session is None:
        return False
    session.delete()
    return True
