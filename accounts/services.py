"""Writes of user accounts."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User


class EmailTaken(Exception):
    """Someone already signed up with this email address."""


@transaction.atomic
def user_signup(*, email: str, password: str, full_name: str = "") -> User:
    """Create an account; the address is unverified until confirmed."""
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTaken(email)
    try:
        with transaction.atomic():
            return User.objects.create_user(email, password, full_name=full_name)
    except IntegrityError as exc:  # a concurrent sign-up took the address
        raise EmailTaken(email) from exc
